// A real HAProxy (Debian's haproxy) in front of two members asks the agent about each
// one (option httpchk to /health/TARGET/MEMBER, as dashboards/haproxy/haproxy.cfg does):
// a member that accepts mail and drops it leaves the pool once the agent calls it lost,
// no mail sent to the VIP meanwhile is lost, and the member returns when it recovers.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>

#include "support.hpp"

namespace {

constexpr const char* kVipHost = "127.0.0.10";
constexpr const char* kVip = "127.0.0.10:2525";
constexpr const char* kGoodMember = "127.0.0.11:2525";

using namespace std::chrono_literals;

// One server's line of "show stat".
struct ServerStat {
  std::string status;        // UP, DOWN, ...
  std::string check_status;  // L7OK, L7STS, ...
  std::string check_code;    // the agent's HTTP status
  long sessions = 0;         // stot: connections HAProxy sent to it
};

class Haproxy {
 public:
  // `servers` are named as the members are written in the mailcanary config.
  // `send_extra` is appended to the http-check send line (headers), `check_extra` to
  // default-server (e.g. check-ssl).
  // `check_uri` is what the HTTP check asks; `server_extra` is appended to each server
  // line, "{name}" replaced by the server's name (e.g. an agent-check).
  Haproxy(int agent_port, const std::vector<std::string>& servers,
          const std::string& send_extra = "", const std::string& check_extra = "",
          const std::string& check_uri = "/health/%[be_name]/%[srv_name]",
          const std::string& server_extra = "") {
    dir_ = itest::write_temp_file("haproxy.dir", "") + ".d";
    std::filesystem::create_directories(dir_);
    std::string cfg = "global\n  nbthread 1\n  stats socket " + socket_path() +
                      " mode 600 level admin\n  stats timeout 10s\n"
                      "  log stderr format raw local0\n\n"
                      "defaults\n  mode tcp\n  log global\n  option tcplog\n"
                      "  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n"
                      "  timeout check 2s\n\n"
                      "frontend smtp_vip1\n  bind " +
                      std::string(kVip) +
                      "\n  default_backend vip1\n\n"
                      "backend vip1\n  balance roundrobin\n  option httpchk\n"
                      "  http-check send meth GET uri-lf " +
                      check_uri + " ver HTTP/1.1 hdr Host 127.0.0.1" + send_extra +
                      "\n"
                      "  http-check expect status 200\n"
                      "  default-server check addr 127.0.0.1 port " +
                      std::to_string(agent_port) + " inter 500ms fall 1 rise 1" + check_extra +
                      "\n";
    for (const auto& s : servers) {
      cfg += "  server " + s + " " + s +
             std::regex_replace(server_extra, std::regex("\\{name\\}"), s) + "\n";
    }
    cfg_path_ = dir_ + "/haproxy.cfg";
    std::filesystem::copy_file(itest::write_temp_file("haproxy.cfg", cfg), cfg_path_,
                               std::filesystem::copy_options::overwrite_existing);
    auto check = itest::run_command({"/usr/sbin/haproxy", "-c", "-f", cfg_path_});
    INFO(cfg << check.out << check.err);
    REQUIRE(check.exit_code == 0);

    pid_ = fork();
    if (pid_ == 0) {
      std::string log = dir_ + "/haproxy.log";
      FILE* out = freopen(log.c_str(), "a", stdout);
      FILE* err = freopen(log.c_str(), "a", stderr);
      (void)out;
      (void)err;
      execl("/usr/sbin/haproxy", "haproxy", "-db", "-f", cfg_path_.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    // Ready when its stats socket answers (bounded).
    for (int i = 0; i < 200; ++i) {
      if (command("show info\n").find("Name: HAProxy") != std::string::npos) {
        return;
      }
      std::this_thread::sleep_for(50ms);
    }
    FAIL("haproxy did not start: " << log());
  }

  ~Haproxy() {
    if (pid_ <= 0) {
      return;
    }
    kill(pid_, SIGTERM);
    int st = 0;
    bool gone = false;
    for (int i = 0; i < 500 && !gone; ++i) {  // 5 s for a clean stop, then SIGKILL
      gone = waitpid(pid_, &st, WNOHANG) != 0;
      if (!gone) {
        std::this_thread::sleep_for(10ms);
      }
    }
    if (!gone) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &st, 0);
    }
  }

  Haproxy(const Haproxy&) = delete;
  Haproxy& operator=(const Haproxy&) = delete;

  std::string socket_path() const { return dir_ + "/admin.sock"; }
  std::string log() const { return itest::read_file(dir_ + "/haproxy.log"); }

  // One command over the runtime API's unix socket; its whole answer ("" on error).
  std::string command(const std::string& cmd) const {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_path().c_str(), sizeof addr.sun_path - 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        send(fd, cmd.data(), cmd.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(cmd.size())) {
      close(fd);
      return "";
    }
    // HAProxy closes the connection after answering one command (bounded: 2 s idle,
    // 1000 reads).
    std::string answer;
    char buf[8192];
    for (int i = 0; i < 1000; ++i) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 2000) <= 0) {
        break;
      }
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        break;
      }
      answer.append(buf, static_cast<std::size_t>(n));
    }
    close(fd);
    return answer;
  }

  // "show stat" of backend vip1, by server name.
  std::map<std::string, ServerStat> servers() const {
    std::map<std::string, ServerStat> result;
    std::istringstream in(command("show stat\n"));
    std::string line;
    std::map<std::string, std::size_t> column;
    while (std::getline(in, line)) {
      std::vector<std::string> fields;
      std::istringstream fs(line.rfind("# ", 0) == 0 ? line.substr(2) : line);
      for (std::string f; std::getline(fs, f, ',');) {
        fields.push_back(f);
      }
      if (line.rfind("# ", 0) == 0) {
        for (std::size_t i = 0; i < fields.size(); ++i) {
          column[fields[i]] = i;
        }
        continue;
      }
      auto field = [&](const char* name) -> std::string {
        auto c = column.find(name);
        return c == column.end() || c->second >= fields.size() ? "" : fields[c->second];
      };
      if (field("pxname") != "vip1" || field("svname") == "BACKEND") {
        continue;
      }
      ServerStat s;
      s.status = field("status");
      s.check_status = field("check_status");
      s.check_code = field("check_code");
      s.sessions = field("stot").empty() ? 0 : std::stol(field("stot"));
      result[field("svname")] = s;
    }
    return result;
  }

  std::string show_stat() const { return command("show stat\n"); }

  // Waits (bounded, polling every 100 ms) until HAProxy's view of `server` is `status`
  // with a check answered `code` by the agent.
  bool wait_server(const std::string& server, const std::string& status, const std::string& code,
                   std::chrono::seconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto all = servers();
      auto s = all.find(server);
      if (s != all.end() && s->second.status == status && s->second.check_code == code) {
        return true;
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

 private:
  std::string dir_;
  std::string cfg_path_;
  pid_t pid_ = -1;
};

std::string http_get(const std::string& url) {
  return itest::run_command({"/usr/bin/curl", "-s", "--max-time", "5", url}, 10s).out;
}

// Waits (bounded, polling every 100 ms) until the agent's health answer for `member`
// starts with `prefix`.
bool wait_agent_health(const std::string& base, const std::string& member,
                       const std::string& prefix, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (http_get(base + "/health/vip1/" + member).rfind(prefix, 0) == 0) {
      return true;
    }
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

// Sends one message carrying `token` to the VIP.
void send_to_vip(const std::string& token) {
  auto r = itest::run_command(
      {"/usr/bin/swaks", "--server", kVipHost, "--port", "2525", "--helo",
       "haproxy-test.example.test", "--to", "canary@example.test", "--from", "someone@example.test",
       "--header", "Subject: " + token, "--body", token, "--timeout", "10", "--silent", "2"},
      30s);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

// Waits (bounded) until every token is in the canary Maildir; returns those missing.
std::vector<std::string> wait_in_maildir(const std::vector<std::string>& tokens,
                                         std::chrono::seconds timeout) {
  std::vector<std::string> missing = tokens;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!missing.empty() && std::chrono::steady_clock::now() < deadline) {
    std::vector<std::string> still;
    for (const auto& t : missing) {
      if (itest::maildir_files_containing("canary", t).empty()) {
        still.push_back(t);
      }
    }
    missing = still;
    if (!missing.empty()) {
      std::this_thread::sleep_for(100ms);
    }
  }
  return missing;
}

void remove_from_maildir(const std::vector<std::string>& tokens) {
  for (const auto& t : tokens) {
    for (const auto& f : itest::maildir_files_containing("canary", t)) {
      std::filesystem::remove(f);  // tidy up for the tests after this one
    }
  }
}

}  // namespace

TEST_CASE("HAProxy asks the agent: a member that drops mail leaves the pool, no VIP mail is lost",
          "[integration][haproxy]") {
  itest::SwitchableRelay relay("127.0.0.11", 2525);
  const std::string dropper = relay.address();
  std::string cfg = itest::agent_config_head("haproxy") +
                    "[slg]\nlatency_slo = \"3s\"\nlost_after = \"4s\"\nhealth_fail_after = 2\n\n" +
                    "[[target]]\nname = \"vip1\"\nvip = \"" + kVip +
                    "\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n" + "members = [\"" +
                    kGoodMember + "\", \"" + dropper + "\"]\n";
  itest::AgentProcess agent(itest::write_temp_file("haproxy.toml", cfg));
  const std::string address = agent.http_address();
  REQUIRE(!address.empty());
  const int agent_port = std::stoi(address.substr(address.rfind(':') + 1));
  const std::string base = "http://" + address;

  Haproxy haproxy(agent_port, {kGoodMember, dropper});

  // Both members have delivered a canary, and HAProxy's checks got 200 UP for each.
  REQUIRE(agent.wait_for_log(std::string(kGoodMember) + " ok stage=done", 20s));
  REQUIRE(agent.wait_for_log(dropper + " ok stage=done", 20s));
  CHECK(haproxy.wait_server(kGoodMember, "UP", "200", 20s));
  CHECK(haproxy.wait_server(dropper, "UP", "200", 20s));
  {
    INFO(haproxy.show_stat());
    auto s = haproxy.servers();
    REQUIRE(s.size() == 2);
    CHECK(s[kGoodMember].check_status == "L7OK");
    CHECK(s[dropper].check_status == "L7OK");
  }

  // The member starts accepting mail and dropping it: lost twice, DOWN for the agent,
  // and HAProxy follows the agent's 503.
  relay.set_mode(itest::SwitchableRelay::Mode::discard);
  REQUIRE(wait_agent_health(base, dropper, "DOWN lost since ", 60s));
  {
    INFO("agent log:\n" << agent.log() << "\nhaproxy stats:\n" << haproxy.show_stat());
    REQUIRE(haproxy.wait_server(dropper, "DOWN", "503", 60s));
  }
  CHECK(http_get(base + "/health/vip1/" + std::string(kGoodMember)) == "UP\n");
  auto before = haproxy.servers();
  CHECK(before[dropper].check_status == "L7STS");
  CHECK(before[kGoodMember].status == "UP");

  // Mail sent to the VIP meanwhile all goes to the good member and arrives.
  const std::string run =
      std::to_string(getpid()) + "-" +
      std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  std::vector<std::string> tokens;
  for (int i = 0; i < 10; ++i) {
    tokens.push_back("haproxy-vip-down-" + run + "-" + std::to_string(i));
    send_to_vip(tokens.back());
  }
  auto during = haproxy.servers();
  {
    INFO("haproxy stats:\n" << haproxy.show_stat() << "\nhaproxy log:\n" << haproxy.log());
    CHECK(during[dropper].status == "DOWN");
    CHECK(during[dropper].sessions == before[dropper].sessions);
    CHECK(during[kGoodMember].sessions >= before[kGoodMember].sessions + 10);
    auto missing = wait_in_maildir(tokens, 30s);
    INFO(missing.size() << " of 10 missing, e.g. " << (missing.empty() ? "" : missing.front()));
    CHECK(missing.empty());
  }
  remove_from_maildir(tokens);

  // The member forwards again: UP for the agent after a good probe, and for HAProxy.
  relay.set_mode(itest::SwitchableRelay::Mode::forward);
  REQUIRE(wait_agent_health(base, dropper, "UP", 60s));
  {
    INFO("agent log:\n" << agent.log() << "\nhaproxy stats:\n" << haproxy.show_stat());
    REQUIRE(haproxy.wait_server(dropper, "UP", "200", 60s));
  }
  // Back in rotation: of four (or more) connections in a row, round robin gives it some.
  auto back = haproxy.servers();
  std::vector<std::string> after_tokens;
  for (int i = 0; i < 4; ++i) {
    after_tokens.push_back("haproxy-vip-up-" + run + "-" + std::to_string(i));
    send_to_vip(after_tokens.back());
  }
  {
    INFO("haproxy stats:\n" << haproxy.show_stat());
    CHECK(haproxy.servers()[dropper].sessions > back[dropper].sessions);
    CHECK(wait_in_maildir(after_tokens, 30s).empty());
  }
  remove_from_maildir(after_tokens);
  CHECK(agent.stop() == 0);
}

TEST_CASE("HAProxy checks an agent serving HTTPS with basic auth, as in the example config",
          "[integration][haproxy][web]") {
  const std::string dir = itest::write_temp_file("haproxy-web.dir", "") + ".d";
  std::filesystem::create_directories(dir);
  auto cert =
      itest::run_command({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                          "-keyout", dir + "/web.key", "-out", dir + "/web.crt", "-days", "2",
                          "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"});
  REQUIRE(cert.exit_code == 0);
  auto users = itest::run_command(
      {"/usr/bin/htpasswd", "-Bbc", "-C", "5", dir + "/web.users", "haproxy", "check-pass"});
  REQUIRE(users.exit_code == 0);
  const std::string cfg =
      itest::agent_config_head("haproxy-web") + "[web]\ntls_cert_file = \"" + dir +
      "/web.crt\"\ntls_key_file = \"" + dir + "/web.key\"\nbasic_auth_users_file = \"" + dir +
      "/web.users\"\n\n[slg]\nlatency_slo = \"3s\"\nlost_after = \"4s\"\nhealth_fail_after = "
      "2\n\n" +
      "[[target]]\nname = \"vip1\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n" +
      "members = [\"" + kGoodMember + "\", \"127.0.0.13:2525\"]\n";
  itest::AgentProcess agent(itest::write_temp_file("haproxy-web.toml", cfg));
  const std::string address = agent.http_address();
  REQUIRE(!address.empty());
  REQUIRE(agent.wait_for_log("127.0.0.13:2525 perm_fail", 20s));
  // The header and TLS lines of dashboards/haproxy/haproxy.cfg ("haproxy:check-pass").
  Haproxy haproxy(std::stoi(address.substr(address.rfind(':') + 1)),
                  {kGoodMember, "127.0.0.13:2525"},
                  " hdr Authorization \"Basic aGFwcm94eTpjaGVjay1wYXNz\"",
                  " check-ssl verify required ca-file " + dir + "/web.crt");
  INFO("agent log:\n" << agent.log() << "\nhaproxy log:\n" << haproxy.log());
  // The good member is UP by a 200 over TLS; the 550 member DOWN by the agent's 503 (with
  // a wrong password both would be DOWN by 401).
  CHECK(haproxy.wait_server(kGoodMember, "UP", "200", 30s));
  CHECK(haproxy.wait_server("127.0.0.13:2525", "DOWN", "503", 30s));
  CHECK(agent.stop() == 0);
}

TEST_CASE("HAProxy's agent check drains a member the agent calls DOWN, the other stays UP",
          "[integration][haproxy][agentcheck]") {
  const std::string cfg = itest::agent_config_head("haproxy-agent") +
                          "[web]\nagent_check_listen = \"127.0.0.1:0\"\n\n"
                          "[slg]\nhealth_fail_after = 1\n\n"
                          "[[target]]\nname = \"vip1\"\nrcpt = \"canary@example.test\"\n"
                          "mailbox = \"inbox\"\nmembers = [\"" +
                          std::string(kGoodMember) + "\", \"127.0.0.13:2525\"]\n";
  itest::AgentProcess agent(itest::write_temp_file("haproxy-agent.toml", cfg));
  const std::string address = agent.http_address();
  REQUIRE(!address.empty());
  REQUIRE(agent.wait_for_log("127.0.0.13:2525 perm_fail", 20s));
  std::smatch m;
  const std::string log = agent.log();
  REQUIRE(std::regex_search(log, m, std::regex("HAProxy agent check on 127\\.0\\.0\\.1:(\\d+)")));
  // The HTTP check asks only whether the agent runs (/healthz); the agent check carries
  // each member's state: "up ready", or "up drain" for the one the agent calls DOWN.
  Haproxy haproxy(std::stoi(address.substr(address.rfind(':') + 1)),
                  {kGoodMember, "127.0.0.13:2525"}, "", "", "/healthz",
                  " agent-check agent-addr 127.0.0.1 agent-port " + m[1].str() +
                      " agent-inter 500ms agent-send \"vip1/{name}\\n\"");
  const bool good_up = haproxy.wait_server(kGoodMember, "UP", "200", 30s);
  const bool drained = haproxy.wait_server("127.0.0.13:2525", "DRAIN (agent)", "200", 30s);
  INFO("agent log:\n" << agent.log() << "\nhaproxy stats:\n" << haproxy.show_stat());
  CHECK(good_up);
  CHECK(drained);
  CHECK(agent.stop() == 0);
}
