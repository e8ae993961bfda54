// End to end with a real Prometheus (Debian's /usr/bin/prometheus): it scrapes an agent that
// probes test-bed members with varied results (ok, temp_fail, perm_fail, lost, one target
// in maintenance, a failing Alertmanager, a config reload) and loads the repo's rules file.
// Checked against it: every metric family the exporter declares has data in Prometheus;
// every metric the dashboard and the rules name is one the agent exports; every PromQL
// expression of the Grafana dashboard (variables substituted) runs and returns data; the
// dashboard's template variables list the test's targets and members; every rule of the
// rules file is loaded, evaluates with health "ok", and its query runs.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "support.hpp"
#include "token_server.hpp"

namespace {

constexpr const char* kPromAddress = "127.0.0.1:19090";
const std::string kPromBase = std::string("http://") + kPromAddress;

const std::vector<std::string> kVip1Members = {"127.0.0.11:2525", "127.0.0.12:2525",
                                               "127.0.0.13:2525", "127.0.0.14:2525"};

// GET `base + path` with URL-encoded query parameters; the body parsed as JSON, or
// {"status":"unparseable","raw":BODY} when it is not JSON.
nlohmann::json get_json(const std::string& base, const std::string& path,
                        const std::vector<std::pair<std::string, std::string>>& params = {}) {
  std::vector<std::string> argv{"/usr/bin/curl", "-s", "-G", "--max-time", "5"};
  for (const auto& [k, v] : params) {
    argv.push_back("--data-urlencode");
    argv.push_back(k + "=" + v);
  }
  argv.push_back(base + path);
  auto r = itest::run_command(argv, std::chrono::seconds(10));
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return {{"status", "unparseable"}, {"raw", r.out + r.err}};
  }
  return j;
}

std::string http_body(const std::string& url) {
  return itest::run_command({"/usr/bin/curl", "-s", "--max-time", "5", url},
                            std::chrono::seconds(10))
      .out;
}

nlohmann::json prom_query(const std::string& expr) {
  return get_json(kPromBase, "/api/v1/query", {{"query", expr}});
}

bool has_result(const nlohmann::json& answer) {
  return answer.value("status", "") == "success" && answer.contains("data") &&
         answer["data"].contains("result") && answer["data"]["result"].is_array() &&
         !answer["data"]["result"].empty();
}

// A TCP port on 127.0.0.1 that refuses connections: bound, never listening. Kept bound
// for the test's life so nobody else takes it. Stands in for an unreachable Alertmanager.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      socklen_t len = sizeof addr;
      getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
      port_ = ntohs(addr.sin_port);
    }
  }
  ~RefusingPort() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A Prometheus child process on kPromAddress scraping `agent_address` every second and
// evaluating the repo's rules file every second. Killed and reaped by the destructor.
class Prometheus {
 public:
  Prometheus(const std::string& agent_address, const std::string& rules_file) {
    dir_ = itest::write_temp_file("prom.dir", "") + ".d";
    std::filesystem::create_directories(dir_);
    const std::string config = dir_ + "/prometheus.yml";
    std::ofstream(config) << "global:\n"
                             "  scrape_interval: 1s\n"
                             "  scrape_timeout: 1s\n"
                             "  evaluation_interval: 1s\n"
                             "rule_files:\n"
                             "  - \""
                          << rules_file
                          << "\"\n"
                             "scrape_configs:\n"
                             "  - job_name: mailcanary\n"
                             "    honor_labels: true\n"
                             "    static_configs:\n"
                             "      - targets: [\""
                          << agent_address << "\"]\n";
    log_ = dir_ + "/prometheus.log";
    pid_ = fork();
    if (pid_ == 0) {
      FILE* out = freopen(log_.c_str(), "a", stderr);
      FILE* out2 = freopen(log_.c_str(), "a", stdout);
      (void)out;
      (void)out2;
      execl("/usr/bin/prometheus", "prometheus", ("--config.file=" + config).c_str(),
            ("--storage.tsdb.path=" + dir_ + "/data").c_str(),
            (std::string("--web.listen-address=") + kPromAddress).c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~Prometheus() { stop(); }
  Prometheus(const Prometheus&) = delete;
  Prometheus& operator=(const Prometheus&) = delete;

  // Waits (bounded) for /-/ready; false when it did not come up or exited.
  bool wait_ready(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto r =
          itest::run_command({"/usr/bin/curl", "-sf", "--max-time", "2", kPromBase + "/-/ready"},
                             std::chrono::seconds(5));
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;  // it exited (bad config, port taken): its log says why
        return false;
      }
      if (r.exit_code == 0) {
        return true;  // ours answered: it is still running
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  std::string log() const { return itest::read_file(log_); }

  void stop() {
    if (pid_ <= 0) {
      return;
    }
    kill(pid_, SIGTERM);
    int st = 0;
    for (int i = 0; i < 100; ++i) {  // up to 10 s for a clean shutdown
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &st, 0);
    pid_ = -1;
  }

 private:
  std::string dir_;
  std::string log_;
  pid_t pid_ = -1;
};

std::string rfc3339_utc(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// vip3 submits with an OAuth2 token from `token_url` (the mailcanary_oauth2_* series).
std::string agent_config(int alertmanager_port, const std::string& token_url,
                         const std::string& secret_file) {
  const std::time_t now = std::time(nullptr);
  std::string members;
  for (const auto& m : kVip1Members) {
    members += (members.empty() ? "\"" : ", \"") + m + "\"";
  }
  return itest::agent_config_head("prom", "instance = \"probe-itest\"\n") +
         "[slg]\nlatency_slo = \"3s\"\nlost_after = \"3s\"\noutage_window = \"2s\"\n"
         "recover_after = 1\nhealth_fail_after = 2\n\n"
         "[[maintenance]]\ntargets = [\"vip2\"]\nstart = \"" +
         rfc3339_utc(now - 3600) + "\"\nend = \"" + rfc3339_utc(now + 3600) +
         "\"\n\n"
         "[alertmanager]\nurls = [\"http://127.0.0.1:" +
         std::to_string(alertmanager_port) +
         "\"]\n\n"
         "[[target]]\nname = \"vip1\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n"
         "members = [" +
         members +
         "]\n\n"
         "[[target]]\nname = \"vip2\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n"
         "members = [\"127.0.0.11:2525\"]\n\n"
         "[[oauth2]]\nname = \"idp\"\ntoken_url = \"" +
         token_url + "\"\nclient_id = \"mc-client\"\nclient_secret_file = \"" + secret_file +
         "\"\n\n"
         "[[target]]\nname = \"vip3\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n"
         "members = [\"127.0.0.22:2587\"]\nuser = \"canary\"\nauth = \"oauthbearer\"\n"
         "oauth2 = \"idp\"\n";
}

// Metric families the exporter declares, read from its source: name -> is a histogram.
std::map<std::string, bool> exporter_families() {
  // Every series is declared in the metrics view: every "mailcanary_..." name written
  // there. Whether a family
  // is a histogram is taken from /metrics (see the caller).
  std::map<std::string, bool> out;
  std::regex re(R"re("(mailcanary_[a-z_]+)")re");
  for (const char* file : {"/agent/http/src/metrics_view.cpp"}) {
    const std::string src = itest::read_file(itest::source_dir() + file);
    for (std::sregex_iterator it(src.begin(), src.end(), re), end; it != end; ++it) {
      out[(*it)[1].str()] = false;
    }
  }
  return out;
}

// Families the agent declares on /metrics ("# TYPE name type"): name -> is a histogram.
std::map<std::string, bool> served_families(const std::string& metrics) {
  std::map<std::string, bool> out;
  std::regex re(R"(# TYPE (mailcanary_\w+) (\w+))");
  for (std::sregex_iterator it(metrics.begin(), metrics.end(), re), end; it != end; ++it) {
    out[(*it)[1].str()] = (*it)[2].str() == "histogram";
  }
  return out;
}

// The series name to query for a family: a histogram's _bucket.
std::string series_of(const std::string& family, bool histogram) {
  return histogram ? family + "_bucket" : family;
}

// Every mailcanary_* metric name in a PromQL text (recording-rule names use ':').
std::set<std::string> metric_names_in(const std::string& expr) {
  std::set<std::string> out;
  std::regex re(R"(\bmailcanary_[A-Za-z0-9_]+)");
  for (std::sregex_iterator it(expr.begin(), expr.end(), re), end; it != end; ++it) {
    out.insert(it->str());
  }
  return out;
}

// Grafana's variable references: $name, ${name}, ${name:format}, [[name]].
std::string substitute(const std::string& text, const std::map<std::string, std::string>& vars) {
  std::regex re(R"(\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+))");
  std::string out;
  auto last = text.cbegin();
  for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it) {
    const auto& m = *it;
    std::string name = m[1].matched ? m[1].str() : m[2].matched ? m[2].str() : m[3].str();
    out.append(last, m[0].first);
    auto v = vars.find(name);
    out += v == vars.end() ? m[0].str() : v->second;  // unknown: left, so it is caught
    last = m[0].second;
  }
  out.append(last, text.cend());
  return out;
}

void collect_exprs(const nlohmann::json& panels, const std::string& where,
                   std::vector<std::pair<std::string, std::string>>& out) {
  if (!panels.is_array()) {
    return;
  }
  for (const auto& p : panels) {
    const std::string title = where + "/" + p.value("title", std::string("?"));
    if (p.contains("targets") && p["targets"].is_array()) {
      for (const auto& t : p["targets"]) {
        if (t.contains("expr")) {
          out.emplace_back(title, t["expr"].get<std::string>());
        }
      }
    }
    if (p.contains("panels")) {
      collect_exprs(p["panels"], title, out);  // a collapsed row keeps its panels inside
    }
  }
}

// Polls `done` (bounded) every 250 ms; true once it held.
template <typename F>
bool wait_until(F done, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int i = 0; i < 1000 && std::chrono::steady_clock::now() < deadline; ++i) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return done();
}

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) {
    out += (out.empty() ? "" : ", ") + x;
  }
  return out;
}

}  // namespace

TEST_CASE("a real Prometheus scrapes the agent and runs the dashboard's and rules' PromQL",
          "[integration][prometheus]") {
  const auto started = std::chrono::steady_clock::now();
  const std::string rules_file =
      itest::source_dir() + "/dashboards/prometheus/mailcanary-rules.yml";
  const std::string dashboard_file = itest::source_dir() + "/dashboards/grafana/mailcanary.json";

  RefusingPort alertmanager;
  REQUIRE(alertmanager.port() > 0);
  // Dovecot checks the tokens with it.
  const auto token_options = itest::TokenServer::for_testbed(std::chrono::seconds(600));
  itest::TokenServer token_server(token_options);
  const std::string config_path = itest::write_temp_file(
      "prom-agent.toml",
      agent_config(alertmanager.port(), token_server.token_url(),
                   itest::write_temp_file("prom-idp.secret", token_options.client_secret)));
  itest::AgentProcess agent(config_path);
  const std::string agent_address = agent.http_address();
  REQUIRE(!agent_address.empty());
  // A reload, so mailcanary_config_reloads_total has a series.
  kill(agent.pid(), SIGHUP);
  CHECK(agent.wait_for_log("config reloaded from", std::chrono::seconds(10)));

  // The fixed port must be free: another Prometheus there would answer for ours.
  REQUIRE(itest::run_command({"/usr/bin/curl", "-s", "--max-time", "2", kPromBase + "/-/ready"},
                             std::chrono::seconds(5))
              .exit_code == 7);  // curl: connection refused
  Prometheus prom(agent_address, rules_file);
  {
    bool ready = prom.wait_ready(std::chrono::seconds(30));
    INFO("prometheus log:\n" << prom.log());
    REQUIRE(ready);
  }

  // The scrape target is up.
  nlohmann::json targets;
  bool up = wait_until(
      [&] {
        targets = get_json(kPromBase, "/api/v1/targets", {{"state", "active"}});
        if (targets.value("status", "") != "success") {
          return false;
        }
        for (const auto& t : targets["data"]["activeTargets"]) {
          if (t.value("scrapeUrl", "").find(agent_address) != std::string::npos &&
              t.value("health", "") == "up") {
            return true;
          }
        }
        return false;
      },
      std::chrono::seconds(20));
  {
    INFO("targets: " << targets.dump());
    REQUIRE(up);
  }

  // Varied results reach Prometheus: one member per class, the maintenance target, the
  // alarm of the failing member and the failed Alertmanager sends it causes.
  const std::vector<std::string> events = {
      R"(mailcanary_probes_total{target="vip1",member="127.0.0.11:2525",class="ok"} > 0)",
      R"(mailcanary_probes_total{target="vip1",member="127.0.0.12:2525",class="temp_fail"} > 0)",
      R"(mailcanary_probes_total{target="vip1",member="127.0.0.13:2525",class="perm_fail"} > 0)",
      R"(mailcanary_probes_total{target="vip1",member="127.0.0.14:2525",class="lost"} > 0)",
      R"(mailcanary_in_maintenance{target="vip2",member="127.0.0.11:2525"} == 1)",
      R"(mailcanary_probes_total{target="vip3",member="127.0.0.22:2587",class="ok"} > 0)",
      R"(mailcanary_oauth2_token_up{oauth2="idp"} == 1)",
      R"(mailcanary_alarm{target="vip1",member="127.0.0.12:2525"} == 1)",
      R"(mailcanary_member_up{target="vip1",member="127.0.0.14:2525"} == 0)",
      R"(mailcanary_alertmanager_send_failures_total > 0)",
      R"(mailcanary_config_reloads_total{result="success"} > 0)",
  };
  for (const auto& e : events) {
    bool seen = wait_until([&] { return has_result(prom_query(e)); }, std::chrono::seconds(30));
    INFO("expected to become true: " << e << "\nagent log:\n" << agent.log());
    CHECK(seen);
  }

  // ---- a. every metric family has data in Prometheus.
  const auto from_source = exporter_families();
  const auto served = served_families(http_body("http://" + agent_address + "/metrics"));
  CHECK(from_source.size() >= 8);
  for (const auto& [name, histogram] : from_source) {
    INFO("declared in agent/http/src/metrics_view.cpp but not served on /metrics: " << name);
    CHECK(served.count(name) == 1);
  }
  std::map<std::string, bool> families = from_source;
  for (const auto& [name, histogram] : served) {
    families[name] = histogram;
  }
  const std::vector<std::string> design = {"mailcanary_probes_total",
                                           "mailcanary_delivery_latency_seconds_bucket",
                                           "mailcanary_smtp_stage_duration_seconds_bucket",
                                           "mailcanary_member_up",
                                           "mailcanary_alarm",
                                           "mailcanary_in_maintenance",
                                           "mailcanary_last_success_timestamp_seconds",
                                           "mailcanary_canaries_in_flight"};
  std::set<std::string> to_query(design.begin(), design.end());
  for (const auto& [name, histogram] : families) {
    to_query.insert(series_of(name, histogram));
  }
  auto names = get_json(kPromBase, "/api/v1/label/__name__/values");
  REQUIRE(names.value("status", "") == "success");
  for (const auto& n : names["data"]) {
    if (n.get<std::string>().rfind("mailcanary_", 0) == 0) {
      to_query.insert(n.get<std::string>());
    }
  }
  for (const auto& series : to_query) {
    // At least 3 scrapes of it, so rate() and increase() over it have something to use.
    bool history = wait_until(
        [&] { return has_result(prom_query("count_over_time(" + series + "[1m]) >= 3")); },
        std::chrono::seconds(15));
    nlohmann::json answer = prom_query(series);
    bool data = history && has_result(answer);
    INFO("metric without data in Prometheus: " << series << "\nanswer: " << answer.dump());
    CHECK(data);
  }

  // Every metric the dashboard and the rules name is one the agent exports.
  std::set<std::string> exported;
  for (const auto& [name, histogram] : families) {
    exported.insert(name);
    if (histogram) {
      for (const char* suffix : {"_bucket", "_count", "_sum"}) {
        exported.insert(name + suffix);
      }
    }
  }

  // ---- b. the Grafana dashboard.
  const auto dashboard = nlohmann::json::parse(itest::read_file(dashboard_file));
  std::vector<std::pair<std::string, std::string>> exprs;  // panel title, expr
  collect_exprs(dashboard.value("panels", nlohmann::json::array()), "", exprs);
  if (dashboard.contains("rows")) {  // the old schema
    for (const auto& row : dashboard["rows"]) {
      collect_exprs(row.value("panels", nlohmann::json::array()), "", exprs);
    }
  }
  REQUIRE(exprs.size() >= 10);

  std::string member_regex;
  for (const auto& mm : kVip1Members) {
    member_regex += (member_regex.empty() ? "" : "|") + mm;
  }
  const std::map<std::string, std::string> vars = {
      {"target", "vip1|vip2"},   {"member", member_regex},  {"window", "1m"},
      {"__rate_interval", "1m"}, {"__interval", "1m"},      {"__range", "1m"},
      {"__range_s", "60"},       {"__interval_ms", "60000"}};
  const std::map<std::string, std::string> label_values_vars = {{"target", "vip1"}};

  // The template variables: label_values(metric, label) checked through the label API.
  const std::map<std::string, std::set<std::string>> expected_values = {
      {"target", {"vip1", "vip2", "vip3"}},
      {"member", std::set<std::string>(kVip1Members.begin(), kVip1Members.end())}};
  int variables_checked = 0;
  for (const auto& v : dashboard["templating"]["list"]) {
    const std::string name = v.value("name", "");
    const std::string type = v.value("type", "");
    INFO("dashboard variable $" << name << " (" << type << ")");
    if (type == "datasource" || type == "constant" || type == "textbox") {
      continue;
    }
    if (type != "query") {
      CHECK(vars.count(name) == 1);  // an interval/custom variable the exprs may use
      continue;
    }
    std::string query =
        v["query"].is_object() ? v["query"].value("query", "") : v["query"].get<std::string>();
    std::smatch lv;
    REQUIRE(std::regex_match(query, lv, std::regex(R"(\s*label_values\((.+),\s*(\w+)\s*\)\s*)")));
    const std::string selector = substitute(lv[1].str(), label_values_vars);
    const std::string label = lv[2].str();
    INFO("label_values(" << selector << ", " << label << ")");
    CHECK(selector.find('$') == std::string::npos);
    auto answer =
        get_json(kPromBase, "/api/v1/label/" + label + "/values", {{"match[]", selector}});
    INFO("answer: " << answer.dump());
    REQUIRE(answer.value("status", "") == "success");
    std::set<std::string> got;
    for (const auto& x : answer["data"]) {
      got.insert(x.get<std::string>());
    }
    REQUIRE(expected_values.count(name) == 1);
    CHECK(join(got) == join(expected_values.at(name)));
    ++variables_checked;
  }
  CHECK(variables_checked >= 2);

  std::set<std::string> dashboard_metrics;
  for (const auto& [title, raw] : exprs) {
    const std::string expr = substitute(raw, vars);
    INFO("dashboard panel " << title << "\nexpr: " << raw << "\nas run: " << expr);
    CHECK(expr.find('$') == std::string::npos);
    for (const auto& n : metric_names_in(expr)) {
      dashboard_metrics.insert(n);
      INFO("metric " << n << " is not exported by the agent");
      CHECK(exported.count(n) == 1);
    }
    auto answer = prom_query(expr);
    INFO("answer: " << answer.dump());
    CHECK(answer.value("status", "") == "success");
    CHECK(has_result(answer));  // the test bed gives every panel something to show
  }

  // ---- c. the rules file, as Prometheus loaded it.
  int expr_lines = 0;
  {
    std::istringstream in(itest::read_file(rules_file));
    std::string line;
    const std::regex expr_line(R"(^\s*-?\s*expr:)");
    while (std::getline(in, line)) {
      expr_lines += std::regex_search(line, expr_line) ? 1 : 0;
    }
  }
  REQUIRE(expr_lines >= 1);
  nlohmann::json rules;
  auto all_rules = [&] {
    std::vector<nlohmann::json> out;
    if (rules.value("status", "") == "success") {
      for (const auto& g : rules["data"]["groups"]) {
        for (const auto& r : g["rules"]) {
          out.push_back(r);
        }
      }
    }
    return out;
  };
  bool evaluated = wait_until(
      [&] {
        rules = get_json(kPromBase, "/api/v1/rules");
        auto list = all_rules();
        if (list.empty()) {
          return false;
        }
        for (const auto& r : list) {
          if (r.value("health", "unknown") == "unknown" ||
              r.value("lastEvaluation", "").rfind("0001-", 0) == 0) {
            return false;
          }
        }
        return true;
      },
      std::chrono::seconds(20));
  {
    INFO("rules: " << rules.dump() << "\nprometheus log:\n" << prom.log());
    REQUIRE(evaluated);
  }
  const auto loaded = all_rules();
  CHECK(static_cast<int>(loaded.size()) >= expr_lines);
  for (const auto& g : rules["data"]["groups"]) {
    CHECK(g.value("file", "") == rules_file);
  }
  for (const auto& r : loaded) {
    const std::string query = r.value("query", "");
    INFO("rule " << r.value("name", "?") << " (" << r.value("type", "?") << ")\nquery: " << query);
    CHECK(r.value("health", "") == "ok");
    CHECK(r.value("lastError", "") == "");
    for (const auto& n : metric_names_in(query)) {
      INFO("metric " << n << " is not exported by the agent");
      CHECK(exported.count(n) == 1);
    }
    auto answer = prom_query(query);
    INFO("answer: " << answer.dump());
    CHECK(answer.value("status", "") == "success");
    if (r.value("type", "") == "recording") {
      // The rule produced its series from the agent's data.
      nlohmann::json recorded;
      bool produced =
          wait_until([&] { return has_result(recorded = prom_query(r.value("name", ""))); },
                     std::chrono::seconds(10));
      INFO("recorded series: " << recorded.dump());
      CHECK(produced);
    }
  }

  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started)
          .count();
  WARN("checked " << to_query.size() << " metric series, " << exprs.size()
                  << " dashboard expressions, " << variables_checked << " dashboard variables, "
                  << loaded.size() << " rules (" << expr_lines << " expr: lines) in " << seconds
                  << " s");
  prom.stop();
  CHECK(agent.stop() == 0);
}
