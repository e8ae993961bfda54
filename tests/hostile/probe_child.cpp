#include "probe_child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace hostile {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Row {
  std::string name;
  std::string cls;
  std::string stage;
  double seconds;
  long rss_kib;
};
std::mutex rows_mutex;
std::vector<Row> rows;

fs::path fresh_dir() {
  static int n = 0;
  fs::path dir = fs::temp_directory_path() /
                 ("mc-hostile-" + std::to_string(getpid()) + "-" + std::to_string(++n));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

std::string host_of(const std::string& hostport) {
  return hostport.substr(0, hostport.rfind(':'));
}
std::string port_of(const std::string& hostport) {
  return hostport.substr(hostport.rfind(':') + 1);
}

}  // namespace

std::string write_probe_config(const ProbeSetup& s) {
  const fs::path dir = fresh_dir();
  write(dir / "hmac.key", "hostile-suite-hmac-key-0123456789\n");
  write(dir / "mailbox.pass", "not-a-real-secret\n");
  std::string cfg =
      "[agent]\nstate_dir = \"" + (dir / "state").string() + "\"\nhmac_key_file = \"" +
      (dir / "hmac.key").string() +
      "\"\n\n[smtp]\nhelo = \"canary.example.test\"\nfrom = "
      "\"bounces@example.test\"\nport = " +
      port_of(s.smtp) + "\ntimeout = \"" + s.smtp_timeout +
      "\"\nattempts = " + std::to_string(s.attempts) + "\nretry_backoff = \"100ms\"\n" +
      s.extra_smtp + "\n[[mailbox]]\nname = \"box\"\nprotocol = \"" + s.protocol +
      "\"\nserver = \"" + s.mailbox + "\"\nuser = \"canary\"\npassword_file = \"" +
      (dir / "mailbox.pass").string() + "\"\npoll_interval = \"100ms\"\n" + s.extra_mailbox +
      "\n[slg]\nlatency_slo = \"3s\"\nlost_after = \"" + s.lost_after +
      "\"\n\n[[target]]\nname = \"hostile\"\nrcpt = \"canary@example.test\"\n"
      "mailbox = \"box\"\nmembers = [\"" +
      host_of(s.smtp) + ":" + port_of(s.smtp) + "\"]\n";
  write(dir / "mailcanary.toml", cfg);
  return (dir / "mailcanary.toml").string();
}

namespace {

// The launcher: a small process forked at start. Requests and answers are fixed-size
// records on a socketpair; the probe's output goes to files next to its config.
struct Request {
  char config[512];
  char out[512];
  char err[512];
  long hard_limit_ms;
};
struct Answer {
  int rc;  // -1: killed at the hard limit
  long peak_rss_kib;
  double seconds;
};
int launcher_fd = -1;

Answer launch(const Request& req) {
  Answer a{-1, 0, 0};
  const auto start = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    int out = open(req.out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err = open(req.err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    dup2(out, 1);
    dup2(err, 2);
    // MAILCANARY_HOSTILE_BINARY: another build's binary, e.g. to show a case failing
    // without a fix.
    const char* env = std::getenv("MAILCANARY_HOSTILE_BINARY");
    const char* binary = env && *env ? env : MAILCANARY_BINARY;
    execl(binary, binary, "probe", "--config", req.config, "--json", "--verbose",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  // A pidfd becomes readable when the child ends: waited for with the hard limit.
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  pollfd p{pidfd, POLLIN, 0};
  const bool ended = pidfd >= 0 && poll(&p, 1, static_cast<int>(req.hard_limit_ms)) > 0;
  if (!ended) {
    kill(pid, SIGKILL);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  if (pidfd >= 0) {
    close(pidfd);
  }
  a.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  a.peak_rss_kib = usage.ru_maxrss;
  a.rc = !ended ? -1 : (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return a;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.substr(0, 4u << 20);
}

void copy_into(char (&dst)[512], const std::string& src) {
  if (src.size() >= sizeof dst) {
    throw std::runtime_error("path too long for the launcher: " + src);
  }
  std::memcpy(dst, src.c_str(), src.size() + 1);
}

}  // namespace

void start_launcher() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    throw std::runtime_error("socketpair failed");
  }
  if (fork() == 0) {
    close(fds[0]);
#if defined(MAILCANARY_SANITIZED)
    // ASan keeps up to 256 MiB of freed memory in quarantine: charged to RSS, it would
    // hide what the probe itself holds.
    const char* asan = std::getenv("ASAN_OPTIONS");
    const std::string options = std::string(asan ? asan : "") + ":quarantine_size_mb=16";
    setenv("ASAN_OPTIONS", options.c_str(), 1);
#endif
    Request req{};
    // Ends when the test process closes its end (or dies).
    while (recv(fds[1], &req, sizeof req, 0) == static_cast<ssize_t>(sizeof req)) {
      Answer a = launch(req);
      send(fds[1], &a, sizeof a, MSG_NOSIGNAL);
    }
    _exit(0);
  }
  close(fds[1]);
  launcher_fd = fds[0];
}

ProbeRun run_probe(const std::string& name, const ProbeSetup& setup,
                   std::chrono::seconds hard_limit) {
  const fs::path config = write_probe_config(setup);
  Request req{};
  copy_into(req.config, config.string());
  copy_into(req.out, (config.parent_path() / "stdout").string());
  copy_into(req.err, (config.parent_path() / "stderr").string());
  req.hard_limit_ms = static_cast<long>(hard_limit.count()) * 1000;
  Answer a{-1, 0, 0};
  static std::mutex launcher_mutex;  // one request at a time
  {
    std::lock_guard lock(launcher_mutex);
    if (launcher_fd < 0 || send(launcher_fd, &req, sizeof req, MSG_NOSIGNAL) != sizeof req ||
        recv(launcher_fd, &a, sizeof a, 0) != sizeof a) {
      throw std::runtime_error("the probe launcher is gone (start_launcher() not called?)");
    }
  }
  ProbeRun run;
  run.rc = a.rc;
  run.seconds = a.seconds;
  run.peak_rss_kib = a.peak_rss_kib;
  run.out = slurp(config.parent_path() / "stdout");
  run.err = slurp(config.parent_path() / "stderr");
  std::istringstream lines(run.out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.front() == '{') {
      run.result = nlohmann::json::parse(line, nullptr, false);
    }
  }
  std::string cls = a.rc < 0 ? "(killed)" : "(none)";
  std::string stage;
  if (run.result.is_object()) {
    cls = run.result.value("class", "?");
    stage = run.result.value("stage", "");
  }
  std::lock_guard lock(rows_mutex);
  rows.push_back({name, cls, stage, run.seconds, run.peak_rss_kib});
  return run;
}

long rss_bound_kib() {
#if defined(MAILCANARY_SANITIZED)
  return 512 * 1024;
#else
  return 48 * 1024;
#endif
}

std::string table() {
  std::lock_guard lock(rows_mutex);
  std::ostringstream out;
  out << "| case | class | stage | time (s) | peak RSS (MiB) |\n|---|---|---|---|---|\n";
  for (const auto& r : rows) {
    char figures[64];
    std::snprintf(figures, sizeof figures, "%.2f | %.1f", r.seconds,
                  static_cast<double>(r.rss_kib) / 1024.0);
    out << "| " << r.name << " | " << r.cls << " | " << r.stage << " | " << figures << " |\n";
  }
  return out.str();
}

std::size_t recorded_runs() {
  std::lock_guard lock(rows_mutex);
  return rows.size();
}

}  // namespace hostile
