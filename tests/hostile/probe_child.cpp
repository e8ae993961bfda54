#include "probe_child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

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

ProbeRun run_probe(const std::string& name, const ProbeSetup& setup,
                   std::chrono::seconds hard_limit) {
  const std::string config = write_probe_config(setup);
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  const auto start = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    execl(MAILCANARY_BINARY, MAILCANARY_BINARY, "probe", "--config", config.c_str(), "--json",
          "--verbose", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  ProbeRun run;
  const auto deadline = start + hard_limit;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_pipes = 2;
  bool killed = false;
  while (open_pipes > 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      kill(pid, SIGKILL);
      killed = true;
      break;
    }
    if (poll(fds, 2, static_cast<int>(left)) <= 0) {
      continue;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !fds[i].revents) {
        continue;
      }
      char buf[8192];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_pipes;
        continue;
      }
      std::string& sink = i == 0 ? run.out : run.err;
      if (sink.size() < (4u << 20)) {
        sink.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) {
      close(f.fd);
    }
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  run.peak_rss_kib = usage.ru_maxrss;
  run.rc = killed ? -1 : (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  std::istringstream lines(run.out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.front() == '{') {
      run.result = nlohmann::json::parse(line, nullptr, false);
    }
  }
  std::string cls = killed ? "(killed)" : "(none)";
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
  return 256 * 1024;
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

}  // namespace hostile
