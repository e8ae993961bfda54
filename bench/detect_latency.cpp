// Benchmark: how fast the mailbox reader confirms a canary once it has landed.
//
// For each canary: send it through the test bed's accepting Postfix listener, note the
// moment Postfix writes the file into the Maildir (inotify on new/), and the moment the
// reader reports the canary found. Prints median and p99 of (reported - landed) per
// reader mode, and the process CPU seconds per confirmed canary.
//
// Needs the test bed running (tests/testbed/testbed.sh start). Usage:
//   detect_latency [COUNT] [TESTBED_DIR]
#include <sys/inotify.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mailcanary/probes/canary.hpp"
#include "mailcanary/probes/mailbox.hpp"
#include "mailcanary/probes/smtp.hpp"

using namespace mailcanary;
using Clock = std::chrono::steady_clock;

namespace {

std::string read_secret(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  std::string v = s.str();
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) {
    v.pop_back();
  }
  return v;
}

// Records when files appear in a Maildir's new/ folder.
class LandingWatch {
 public:
  explicit LandingWatch(const std::string& dir) {
    fd_ = inotify_init1(IN_NONBLOCK);
    inotify_add_watch(fd_, dir.c_str(), IN_MOVED_TO | IN_CREATE);
    thread_ = std::thread([this] { run(); });
  }
  ~LandingWatch() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  // Waits (bounded) for the next landing after `since`; returns its time.
  std::optional<Clock::time_point> next_after(Clock::time_point since) {
    for (int i = 0; i < 20000; ++i) {
      {
        std::lock_guard lock(mutex_);
        for (auto t : landed_) {
          if (t >= since) {
            return t;
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(250));
    }
    return std::nullopt;
  }
  void clear() {
    std::lock_guard lock(mutex_);
    landed_.clear();
  }

 private:
  void run() {
    alignas(inotify_event) char buf[4096];
    while (!stop_) {
      ssize_t n = read(fd_, buf, sizeof buf);
      if (n > 0) {
        std::lock_guard lock(mutex_);
        landed_.push_back(Clock::now());
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    }
  }
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<Clock::time_point> landed_;
  std::thread thread_;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Mode {
  const char* name;
  bool idle;
  std::chrono::milliseconds poll_interval;
  std::chrono::milliseconds first_look;
};

}  // namespace

int main(int argc, char** argv) {
  const int count = argc > 1 ? std::atoi(argv[1]) : 200;
  const std::string run = argc > 2 ? argv[2] : "/tmp/mailcanary-testbed";
  const std::string src = MAILCANARY_SOURCE_DIR;
  const std::string key = read_secret(src + "/tests/testbed/secrets/hmac.key");

  config::MailboxConfig mb;
  mb.name = "bench";
  mb.server = {"127.0.0.1", 1143};
  mb.user = "canary";
  mb.password = read_secret(src + "/tests/testbed/secrets/canary.pass");

  probes::SmtpRequest req;
  req.address = {"127.0.0.11", 2525};
  req.smtp.from = "bounces@example.test";
  req.smtp.helo = "bench.example.test";
  req.smtp.attempts = 1;
  req.smtp.timeout = std::chrono::seconds(5);
  req.rcpt = "canary@example.test";

  LandingWatch watch(run + "/mail/canary/Maildir/new");
  probes::SystemClock clock;
  probes::SystemRandom random;

  const Mode modes[] = {
      {"idle (push only)", true, std::chrono::seconds(5), std::chrono::seconds(5)},
      {"polling 1s", false, std::chrono::seconds(1), std::chrono::seconds(1)},
      {"idle + looks at 2,4,8.. ms (default)", true, std::chrono::seconds(5),
       std::chrono::milliseconds(2)},
  };
  std::printf("detection latency: Maildir write -> reader reports, %d canaries per mode\n", count);
  std::printf("%-30s %10s %10s %10s %14s\n", "mode", "median ms", "p99 ms", "max ms",
              "cpu ms/canary");
  for (const auto& mode : modes) {
    mb.idle = mode.idle;
    mb.poll_interval = mode.poll_interval;
    auto reader = probes::make_mailbox_reader(mb, key);
    reader->prepare();
    std::vector<double> latencies;
    const double cpu0 = cpu_seconds();
    for (int i = 0; i < count; ++i) {
      watch.clear();
      std::string id = probes::new_canary_id(clock.wall());
      req.message = probes::build_canary_message(
          {id, req.smtp.from, req.rcpt, "bench", "127.0.0.11:2525", "", "bench", clock.wall()},
          key);
      auto before = Clock::now();
      auto sent = probes::send_smtp(req, clock, random);
      if (!sent.last.verdict.accepted) {
        std::fprintf(stderr, "send failed: %s\n", sent.last.verdict.detail.c_str());
        return 1;
      }
      auto accepted = Clock::now();
      probes::WaitPolicy policy{mode.poll_interval, mode.first_look};
      auto res = probes::await_canaries(
          *reader, nullptr, {{id, accepted, accepted + std::chrono::seconds(30)}}, policy, clock);
      auto reported = Clock::now();
      auto landed = watch.next_after(before);
      if (res[id].state != probes::Confirmation::State::found || !landed) {
        std::fprintf(stderr, "canary %s not confirmed\n", id.c_str());
        return 1;
      }
      latencies.push_back(std::chrono::duration<double, std::milli>(reported - *landed).count());
    }
    const double cpu = (cpu_seconds() - cpu0) / count * 1000;
    std::printf("%-30s %10.1f %10.1f %10.1f %14.2f\n", mode.name, percentile(latencies, 0.5),
                percentile(latencies, 0.99), percentile(latencies, 1.0), cpu);
  }
  return 0;
}
