// Watches a Maildir's new/ and cur/ with inotify for a fixed time and prints how long
// messages stayed unseen and how long until they were removed:
//   appeared   IN_CREATE or IN_MOVED_TO in new/ (virtual(8) writes in tmp/, renames into new/)
//   left new   IN_MOVED_FROM in new/ (Dovecot moves a message to cur/ when a session
//              first sees it)
//   deleted    IN_DELETE in new/ or cur/ (the reader expunged it)
// Messages are matched by the base name before the first ':' (cur/ names carry flags).
// Benchmark helper for bench/confirm_cost.sh; figures, not a test.
// Usage: bench_maildir_watch MAILDIR SECONDS
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC on Linux

// Bounds: more messages than this in one run means something else is wrong.
constexpr std::size_t kMaxMessages = 200000;
constexpr std::size_t kBufferBytes = 64 * 1024;

struct Message {
  std::optional<Clock::time_point> appeared;
  std::optional<Clock::time_point> left_new;
  std::optional<Clock::time_point> deleted;
  int renames_in_cur = 0;  // flag changes (cur/x:2,A -> cur/x:2,B)
};

struct Counters {
  std::size_t events = 0;
  std::size_t overflows = 0;
  std::size_t dropped = 0;  // messages not tracked: kMaxMessages reached
  std::size_t created_in_cur = 0;
};

std::string base_name(const char* name) {
  const char* colon = std::strchr(name, ':');
  return colon ? std::string(name, colon) : std::string(name);
}

double ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// Nearest-rank percentile of sorted values (p in 0..1).
double percentile(const std::vector<double>& sorted, double p) {
  std::size_t rank = static_cast<std::size_t>(p * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void print_delays(const char* what, std::vector<double> v) {
  if (v.empty()) {
    std::printf("  %-24s n=0\n", what);
    return;
  }
  std::sort(v.begin(), v.end());
  std::printf("  %-24s n=%zu median %.1f ms, p99 %.1f ms, max %.1f ms\n", what, v.size(),
              percentile(v, 0.5), percentile(v, 0.99), v.back());
}

class Watch {
 public:
  Watch(int fd, int wd_new, int wd_cur) : fd_(fd), wd_new_(wd_new), wd_cur_(wd_cur) {}

  void handle(const inotify_event& ev, Clock::time_point now) {
    ++counters_.events;
    if (ev.mask & IN_Q_OVERFLOW) {
      ++counters_.overflows;
      return;
    }
    if (ev.len == 0 || (ev.wd != wd_new_ && ev.wd != wd_cur_)) {
      return;
    }
    Message* m = find(base_name(ev.name));
    if (!m) {
      return;
    }
    const bool in_new = ev.wd == wd_new_;
    if (in_new && (ev.mask & (IN_CREATE | IN_MOVED_TO)) && !m->appeared) {
      m->appeared = now;
    } else if (in_new && (ev.mask & IN_MOVED_FROM) && !m->left_new) {
      m->left_new = now;
    } else if (ev.mask & IN_DELETE) {
      m->deleted = now;
    } else if (!in_new && (ev.mask & IN_MOVED_FROM)) {
      ++m->renames_in_cur;
    } else if (!in_new && (ev.mask & IN_CREATE)) {
      ++counters_.created_in_cur;
    }
  }

  // Reads what is queued (at most kMaxReads buffers; poll brings the rest); false on a
  // read error.
  bool drain() {
    constexpr int kMaxReads = 64;
    alignas(inotify_event) static char buf[kBufferBytes];
    for (int i = 0; i < kMaxReads; ++i) {
      const ssize_t n = read(fd_, buf, sizeof buf);
      if (n <= 0) {
        return n == 0 || errno == EAGAIN || errno == EINTR;
      }
      const auto now = Clock::now();
      for (ssize_t at = 0; at + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + at);
        handle(*ev, now);
        at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      }
    }
    return true;
  }

  void report(double seconds) const {
    std::vector<double> seen, removed;
    std::size_t appeared = 0, left = 0, deleted = 0, still_new = 0, renames = 0;
    std::size_t unknown_start = 0;  // left or deleted without an appearance in the window
    for (const auto& [name, m] : messages_) {
      renames += static_cast<std::size_t>(m.renames_in_cur);
      if (!m.appeared) {
        ++unknown_start;
        continue;
      }
      ++appeared;
      if (m.left_new) {
        ++left;
        seen.push_back(ms(*m.left_new - *m.appeared));
      } else if (!m.deleted) {
        ++still_new;
      }
      if (m.deleted) {
        ++deleted;
        removed.push_back(ms(*m.deleted - *m.appeared));
      }
    }
    std::printf(
        "maildir watch (inotify, %.0f s): %zu appeared in new/, %zu left new/, "
        "%zu deleted, %zu still in new/ at the end\n",
        seconds, appeared, left, deleted, still_new);
    print_delays("seen by mailbox session", std::move(seen));
    print_delays("removed", std::move(removed));
    std::printf(
        "  other: %zu flag renames in cur/, %zu files created in cur/, %zu messages "
        "that appeared before the watch, %zu events, %zu queue overflows, %zu untracked\n",
        renames, counters_.created_in_cur, unknown_start, counters_.events, counters_.overflows,
        counters_.dropped);
  }

 private:
  Message* find(const std::string& name) {
    auto it = messages_.find(name);
    if (it != messages_.end()) {
      return &it->second;
    }
    if (messages_.size() >= kMaxMessages) {
      ++counters_.dropped;
      return nullptr;
    }
    return &messages_[name];
  }

  int fd_;
  int wd_new_;
  int wd_cur_;
  Counters counters_;
  std::unordered_map<std::string, Message> messages_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MAILDIR SECONDS\n", argv[0]);
    return 2;
  }
  const std::string maildir = argv[1];
  const double seconds = std::atof(argv[2]);
  if (seconds <= 0 || seconds > 86400) {
    std::fprintf(stderr, "maildir_watch: SECONDS must be in (0, 86400]\n");
    return 2;
  }
  const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    std::perror("maildir_watch: inotify_init1");
    return 1;
  }
  const auto mask = IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE;
  const int wd_new = inotify_add_watch(fd, (maildir + "/new").c_str(), mask);
  const int wd_cur = inotify_add_watch(fd, (maildir + "/cur").c_str(), mask);
  if (wd_new < 0 || wd_cur < 0) {
    std::fprintf(stderr, "maildir_watch: cannot watch %s/new and /cur: %s\n", maildir.c_str(),
                 std::strerror(errno));
    return 1;
  }
  Watch watch(fd, wd_new, wd_cur);
  // The caller waits for this line before it starts its window.
  std::fprintf(stderr, "maildir_watch: watching %s\n", maildir.c_str());

  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(seconds));
  for (auto now = Clock::now(); now < deadline; now = Clock::now()) {
    const auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    pollfd p{fd, POLLIN, 0};
    const int timeout = static_cast<int>(std::clamp<long long>(left_ms.count(), 1, 1000));
    const int r = poll(&p, 1, timeout);
    if (r < 0 && errno != EINTR) {
      std::perror("maildir_watch: poll");
      return 1;
    }
    if (r > 0 && !watch.drain()) {
      std::perror("maildir_watch: read");
      return 1;
    }
  }
  watch.drain();
  close(fd);
  watch.report(seconds);
  return 0;
}
