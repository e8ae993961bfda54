// Benchmark: the agent's HTTP side at scale, on loopback. Needs no test bed.
//
// Builds a snapshot of MEMBERS members of realistic data (results of several classes, SMTP
// stage timings, delivery latencies, hops, member status: every series the agent exports
// per member), serves it with the agent's WebServer on 127.0.0.1:0 and prints:
//   - the /metrics body: series (lines not starting with #), bytes;
//   - render time in-process (render_metrics), median and p99 over RUNS runs;
//   - full scrape through the socket with libcurl (request to last byte), median and p99;
//   - /health/TARGET/MEMBER requests per second measured by wrk (16 connections, keep-alive
//     then "Connection: close" as HAProxy checks), the server's threads pinned to CPU 0
//     and wrk to CPU 1 (skipped when WRK_SECONDS is 0).
// Goals: scrape under 100 ms at 10,000 members; /health over 5,000 requests/s on one core.
//
// Usage: http_scale [MEMBERS=1000] [RUNS=20] [WRK_SECONDS=5] [HISTOGRAMS=member|target]
// (HISTOGRAMS: the [agent] histograms setting: per-member or per-target histograms).
#include <curl/curl.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mailcanary/agent/core/alarm.hpp"
#include "mailcanary/agent/core/result.hpp"
#include "mailcanary/agent/core/time_text.hpp"
#include "mailcanary/agent/http/gzip.hpp"
#include "mailcanary/agent/http/views.hpp"
#include "mailcanary/agent/http/web_server.hpp"

using namespace mailcanary;
using Clock = std::chrono::steady_clock;
using probes::ResultClass;
using probes::Stage;

namespace {

constexpr const char* kTarget = "vip1";

double percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string member_name(int i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "smtp%05d.example.test:25", i);
  return buf;
}

// Deterministic jitter in [0, 1).
struct Jitter {
  unsigned long long s;
  double next() {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(s >> 11) / 9007199254740992.0;
  }
};

// The stages a real SMTP session records (no AUTH), in order.
constexpr Stage kStages[] = {Stage::connect,  Stage::banner, Stage::ehlo,
                             Stage::starttls, Stage::mail,   Stage::rcpt,
                             Stage::data,     Stage::body,   Stage::quit};

agent::ProbeResult result(const std::string& member, ResultClass cls, Stage failed_at,
                          std::optional<double> delivery, Jitter& j) {
  agent::ProbeResult r;
  r.target = kTarget;
  r.member = member;
  r.cls = cls;
  r.stage = failed_at;
  r.attempts = 1;
  r.delivery_seconds = delivery;
  for (Stage s : kStages) {
    r.stage_times.push_back({s, 0.0005 + 0.02 * j.next()});
    r.smtp_seconds += r.stage_times.back().seconds;
    if (s == failed_at) {
      break;
    }
  }
  if (delivery) {
    r.hops.push_back({"bench.example.test", "mx-in.example.test", 0.3 + j.next()});
    r.hops.push_back({"mx-in.example.test", "imap.example.test", 0.1 + j.next()});
  }
  return r;
}

// Every series the agent exports for a member: a few results of different classes and
// its status, as the core's snapshot holds them after those probes.
std::shared_ptr<const agent::MemberView> feed(const std::string& member, int i, bool per_member,
                                              agent::TargetView& target) {
  Jitter j{static_cast<unsigned long long>(i) + 1};
  const auto now = std::chrono::system_clock::now();
  std::vector<agent::ProbeResult> results;
  for (int k = 0; k < 4; ++k) {
    results.push_back(result(member, ResultClass::ok, Stage::done, 1.5 + 3 * j.next(), j));
  }
  results.push_back(result(member, ResultClass::late, Stage::done, 75 + 30 * j.next(), j));
  results.push_back(result(member, ResultClass::temp_fail, Stage::rcpt, std::nullopt, j));
  results.push_back(result(member, ResultClass::lost, Stage::done, std::nullopt, j));
  if (i % 50 == 0) {
    results.push_back(result(member, ResultClass::unreachable, Stage::connect, std::nullopt, j));
    results.push_back(result(member, ResultClass::unreachable, Stage::connect, std::nullopt, j));
  }
  auto m = std::make_shared<agent::MemberView>();
  m->target = kTarget;
  m->member = member;
  m->labels = std::make_shared<const agent::SeriesLabels>(
      agent::make_series_labels("mc-bench-1", &member, kTarget));
  if (per_member) {
    m->histograms.emplace();
  }
  for (const auto& r : results) {
    m->probes[static_cast<std::size_t>(r.cls)] += 1;
    (m->histograms ? *m->histograms : target.histograms).observe(r);
    if (r.delivery_seconds) {
      m->last_delivery = r.delivery_seconds;
    }
    if (!r.hops.empty()) {
      m->hops.clear();
      for (const auto& hop : r.hops) {
        m->hops.push_back(hop.seconds);
      }
    }
  }
  auto& status = m->status;
  status.last_success_at = now - std::chrono::seconds(60 + i % 240);
  status.last_probe_at = now - std::chrono::seconds(i % 60);
  status.last_class = results.back().cls;
  if (i % 50 == 0) {
    status.health_up = false;
    status.health_since = now - std::chrono::minutes(7);
    status.last_failure_class = ResultClass::unreachable;
    status.last_failure_at = *status.last_probe_at;
    status.consecutive_failures = 2;
    status.in_alarm = i % 100 == 0;
  }
  status.in_maintenance = i % 200 == 0;
  m->last = results.back();
  return m;
}

agent::WebServer::Handlers handlers(const agent::Snapshot& s) {
  return {[&s] { return agent::render_metrics(s, "0.0.0-bench"); },
          [&s] { return agent::render_status(s, std::chrono::system_clock::now()); },
          [&s](const std::string& t, const std::string& m) {
            auto h = agent::render_health(s, t, m);
            return agent::WebServer::Response{h.code, "text/plain; charset=utf-8", h.body};
          },
          {},
          {},
          {}};
}

struct FamilySize {
  std::string name;
  std::size_t series = 0;
  std::size_t bytes = 0;
};

// Series (lines not starting with #) and their bytes per family ("# TYPE" starts one).
std::vector<FamilySize> family_sizes(const std::string& body) {
  std::vector<FamilySize> out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t end = body.find('\n', pos);
    if (end == std::string::npos) {
      end = body.size();
    }
    if (body.compare(pos, 7, "# TYPE ") == 0) {
      std::size_t name_end = body.find(' ', pos + 7);
      out.push_back({body.substr(pos + 7, name_end - pos - 7)});
    } else if (end > pos && body[pos] != '#' && !out.empty()) {
      ++out.back().series;
      out.back().bytes += end - pos + 1;
    }
    pos = end + 1;
  }
  std::sort(out.begin(), out.end(),
            [](const FamilySize& a, const FamilySize& b) { return a.bytes > b.bytes; });
  return out;
}

std::size_t count_bytes(char*, std::size_t size, std::size_t n, void* total) {
  *static_cast<std::size_t*>(total) += size * n;
  return size * n;
}

struct Scrape {
  bool ok = false;
  double total_ms = 0;
  double first_byte_ms = 0;
  std::size_t bytes = 0;
};

Scrape scrape(CURL* curl, const std::string& url) {
  Scrape s;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, count_bytes);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s.bytes);
  auto t0 = Clock::now();
  CURLcode rc = curl_easy_perform(curl);
  s.total_ms = ms_since(t0);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  double ttfb = 0;
  curl_easy_getinfo(curl, CURLINFO_STARTTRANSFER_TIME, &ttfb);
  s.first_byte_ms = ttfb * 1000;
  s.ok = rc == CURLE_OK && code == 200;
  return s;
}

// Pins the calling thread (and the threads it starts later) to one CPU.
bool pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0;
}

// Runs wrk against `url` (16 connections), prints its output, returns Requests/sec (0 if
// not found).
double run_wrk(const std::string& url, int seconds, bool pinned, const std::string& extra) {
  const std::string cmd = std::string(pinned ? "taskset -c 1 " : "") + "wrk -t1 -c16 -d" +
                          std::to_string(seconds) + "s " + extra + url + " 2>&1";
  std::printf("  $ %s\n", cmd.c_str());
  std::FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    return 0;
  }
  double rps = 0;
  char line[512];
  for (int i = 0; i < 200 && std::fgets(line, sizeof line, p); ++i) {
    const std::string l(line);
    for (const char* keep : {"Latency ", "requests in", "errors", "Non-2xx", "Requests/sec"}) {
      if (l.find(keep) != std::string::npos) {
        std::printf("  | %s", line);
        break;
      }
    }
    std::sscanf(line, " Requests/sec: %lf", &rps);
  }
  pclose(p);
  return rps;
}

}  // namespace

int main(int argc, char** argv) {
  const int members = argc > 1 ? std::max(1, std::atoi(argv[1])) : 1000;
  const int runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 20;
  const int wrk_seconds = argc > 3 ? std::max(0, std::atoi(argv[3])) : 5;
  const std::string histograms = argc > 4 ? argv[4] : "member";

  agent::Snapshot snapshot;
  snapshot.instance = "mc-bench-1";
  snapshot.per_member_histograms = histograms != "target";
  auto target = std::make_shared<agent::TargetView>();
  target->target = kTarget;
  target->labels = std::make_shared<const agent::SeriesLabels>(
      agent::make_series_labels("mc-bench-1", nullptr, kTarget));
  auto t0 = Clock::now();
  std::vector<std::string> names;
  for (int i = 1; i <= members; ++i) {
    names.push_back(member_name(i));
  }
  std::sort(names.begin(), names.end());  // a snapshot's members are in (target, member) order
  for (std::size_t i = 0; i < names.size(); ++i) {
    snapshot.members.push_back(
        feed(names[i], static_cast<int>(i) + 1, snapshot.per_member_histograms, *target));
  }
  if (!snapshot.per_member_histograms) {
    snapshot.targets.push_back(target);
  }
  snapshot.in_flight = static_cast<std::size_t>(members);
  snapshot.mailboxes.push_back({"inbox", {}, true, 0});
  snapshot.reloads_ok = 1;
  std::printf("http scale: %d members (target %s), histograms per %s, fed in %.0f ms\n", members,
              kTarget, histograms == "target" ? "target" : "member", ms_since(t0));

  // In-process render.
  std::vector<double> render_ms;
  std::string body;
  for (int i = 0; i < runs; ++i) {
    auto t = Clock::now();
    body = agent::render_metrics(snapshot, "0.0.0-bench");
    render_ms.push_back(ms_since(t));
  }
  const auto families = family_sizes(body);
  std::size_t series = 0;
  for (const auto& f : families) {
    series += f.series;
  }
  std::printf("/metrics body: %zu series, %zu bytes (%.2f MiB), %.0f bytes/member\n", series,
              body.size(), static_cast<double>(body.size()) / 1048576.0,
              static_cast<double>(body.size()) / members);
  for (std::size_t i = 0; i < families.size() && i < 6; ++i) {
    std::printf("  %-48s %8.1f series/member %5.1f%% of bytes\n", families[i].name.c_str(),
                static_cast<double>(families[i].series) / members,
                100.0 * static_cast<double>(families[i].bytes) / static_cast<double>(body.size()));
  }
  std::printf("%-34s %10s %10s %10s\n", "", "median ms", "p99 ms", "max ms");
  std::printf("%-34s %10.1f %10.1f %10.1f\n", "render (in-process)", percentile(render_ms, 0.5),
              percentile(render_ms, 0.99), percentile(render_ms, 1.0));
  // gzip of that body (what a scraper asking for it costs the render thread besides).
  std::vector<double> gzip_ms;
  std::size_t packed_size = 0;
  for (int i = 0; i < runs; ++i) {
    auto t = Clock::now();
    auto packed = agent::http::gzip(body);
    gzip_ms.push_back(ms_since(t));
    packed_size = packed ? packed->size() : 0;
  }
  std::printf(
      "%-34s %10.1f %10.1f %10.1f   (%zu bytes, %.1fx smaller)\n", "gzip of the body",
      percentile(gzip_ms, 0.5), percentile(gzip_ms, 0.99), percentile(gzip_ms, 1.0), packed_size,
      packed_size ? static_cast<double>(body.size()) / static_cast<double>(packed_size) : 0);

  // Scrape through the socket.
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int failures = 0;
  {
    agent::WebServer web("127.0.0.1", 0, handlers(snapshot));
    const std::string url = "http://127.0.0.1:" + std::to_string(web.port()) + "/metrics";
    CURL* curl = curl_easy_init();
    std::vector<double> total_ms, first_ms;
    for (int i = 0; i < runs; ++i) {
      Scrape s = scrape(curl, url);
      if (!s.ok || s.bytes < body.size() / 2) {
        ++failures;
        continue;
      }
      total_ms.push_back(s.total_ms);
      first_ms.push_back(s.first_byte_ms);
    }
    curl_easy_cleanup(curl);
    std::printf("%-34s %10.1f %10.1f %10.1f\n", "scrape, first byte (libcurl)",
                percentile(first_ms, 0.5), percentile(first_ms, 0.99), percentile(first_ms, 1.0));
    std::printf("%-34s %10.1f %10.1f %10.1f\n", "scrape, complete (libcurl)",
                percentile(total_ms, 0.5), percentile(total_ms, 0.99), percentile(total_ms, 1.0));
    if (failures) {
      std::printf("scrape failures: %d of %d\n", failures, runs);
    }
    std::printf("scrape median %.1f ms at %d members (goal: under 100 ms at 10,000)\n",
                percentile(total_ms, 0.5), members);
  }
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  std::printf("peak RSS: %.0f MiB\n", static_cast<double>(u.ru_maxrss) / 1024.0);

  // /health requests per second: the server's threads on CPU 0, wrk on CPU 1.
  if (wrk_seconds > 0) {
    const bool pinned = pin_to(0);
    agent::WebServer web("127.0.0.1", 0, handlers(snapshot));
    const std::string url = "http://127.0.0.1:" + std::to_string(web.port()) + "/health/" +
                            kTarget + "/" + member_name(1);
    std::printf("/health: server %s, wrk %s\n", pinned ? "pinned to CPU 0" : "NOT pinned",
                pinned ? "on CPU 1" : "unpinned");
    // Keep-alive (wrk's default), then a new connection per request as HAProxy checks do.
    const double keep = run_wrk(url, wrk_seconds, pinned, "");
    const double close = run_wrk(url, wrk_seconds, pinned, "-H 'Connection: close' ");
    std::printf(
        "/health requests/s: %.0f keep-alive, %.0f Connection: close (goal: over 5,000 "
        "on one core)\n",
        keep, close);
  }
  curl_global_cleanup();
  return failures ? 1 : 0;
}
