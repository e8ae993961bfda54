#include "support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace itest {
namespace {

fs::path temp_root() {
  static fs::path root = [] {
    fs::path p = fs::temp_directory_path() / ("mailcanary-itest-" + std::to_string(getpid()));
    fs::create_directories(p);
    return p;
  }();
  return root;
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  static int counter = 0;
  ++counter;
  fs::path out_path = temp_root() / ("cmd" + std::to_string(counter) + ".out");
  fs::path err_path = temp_root() / ("cmd" + std::to_string(counter) + ".err");
  pid_t pid = fork();
  if (pid < 0) {
    throw std::runtime_error("fork failed");
  }
  if (pid == 0) {
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(out, 1);
    dup2(err, 2);
    std::vector<char*> args;
    for (const auto& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  CommandResult r;
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Wait for the child's exit; the poll interval only bounds how late we notice it.
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      r.out = read_file(out_path);
      r.err = read_file(err_path) + "\n(killed after timeout)";
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  return r;
}

CommandResult mailcanary(const std::vector<std::string>& args) {
  std::vector<std::string> argv{MAILCANARY_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

std::string write_temp_file(const std::string& name, const std::string& text) {
  fs::path p = temp_root() / name;
  std::ofstream(p, std::ios::binary) << text;
  return p.string();
}

std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> v;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) {
      v.push_back(nlohmann::json::parse(line));
    }
  }
  return v;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string testbed_dir() {
  return TESTBED_RUN_DIR;
}
std::string source_dir() {
  return MAILCANARY_SOURCE_DIR;
}

std::string testbed_config_head(const std::string& mailbox_password_file) {
  const std::string secrets = source_dir() + "/tests/testbed/secrets/";
  const std::string pw =
      mailbox_password_file.empty() ? secrets + "canary.pass" : mailbox_password_file;
  return "[agent]\n"
         "state_dir = \"" +
         temp_root().string() +
         "/state\"\n"
         "hmac_key_file = \"" +
         secrets +
         "hmac.key\"\n"
         "\n[smtp]\n"
         "helo = \"canary.example.test\"\n"
         "from = \"bounces@example.test\"\n"
         "port = 2525\n"
         "timeout = \"3s\"\n"
         "attempts = 2\n"
         "retry_backoff = \"100ms\"\n"
         "\n[[mailbox]]\n"
         "name = \"inbox\"\n"
         "protocol = \"imap\"\n"
         "server = \"127.0.0.1:1143\"\n"
         "user = \"canary\"\n"
         "password_file = \"" +
         pw +
         "\"\n"
         "poll_interval = \"100ms\"\n"
         "\n[slg]\n"
         "latency_slo = \"3s\"\n"
         "lost_after = \"4s\"\n\n";
}

std::vector<std::string> maildir_files_containing(const std::string& user,
                                                  const std::string& needle) {
  std::vector<std::string> hits;
  for (const char* sub : {"new", "cur"}) {
    fs::path dir = fs::path(testbed_dir()) / "mail" / user / "Maildir" / sub;
    if (!fs::exists(dir)) {
      continue;
    }
    for (const auto& e : fs::directory_iterator(dir)) {
      if (read_file(e.path()).find(needle) != std::string::npos) {
        hits.push_back(e.path());
      }
    }
  }
  return hits;
}

ScriptedPeer::ScriptedPeer(Mode mode) : mode_(mode) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 16) != 0 || pipe(stop_pipe_) != 0) {
    throw std::runtime_error("scripted peer: cannot listen");
  }
  socklen_t len = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

ScriptedPeer::~ScriptedPeer() {
  (void)!write(stop_pipe_[1], "x", 1);
  thread_.join();
  close(listen_fd_);
  close(stop_pipe_[0]);
  close(stop_pipe_[1]);
}

void ScriptedPeer::serve() {
  std::vector<int> clients;
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      continue;
    }
    if (fds[1].revents) {
      break;
    }
    int c = accept(listen_fd_, nullptr, nullptr);
    if (c < 0) {
      continue;
    }
    ++connections_;
    clients.push_back(c);
    if (mode_ == Mode::garbage_banner) {
      const char* line = "HTTP/1.1 400 Bad Request\r\n";
      (void)!write(c, line, std::strlen(line));
    }
  }
  for (int c : clients) {
    close(c);
  }
}

}  // namespace itest
