#include "support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
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

// A listening socket on 127.0.0.1 at a port the kernel picks (returned in `port`).
}  // namespace

int listen_on_loopback(int& port, const char* who) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 64) != 0) {
    close(fd);
    throw std::runtime_error(std::string(who) +
                             ": cannot listen on 127.0.0.1:" + std::to_string(port));
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

int accept_unless_stopped(int listen_fd, int stop_fd) {
  for (;;) {
    pollfd fds[2] = {{listen_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      continue;
    }
    if (fds[1].revents) {
      return -1;
    }
    const int c = accept(listen_fd, nullptr, nullptr);
    if (c >= 0) {
      return c;
    }
  }
}

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

std::string base64(const std::string& in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) {
      v |= static_cast<unsigned char>(in[i + 1]) << 8;
    }
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string testbed_dir() {
  return TESTBED_RUN_DIR;
}
std::string source_dir() {
  return MAILCANARY_SOURCE_DIR;
}

std::string agent_config_head(const std::string& name, const std::string& agent_extra) {
  const std::string secrets = source_dir() + "/tests/testbed/secrets/";
  return "[agent]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"" + write_temp_file(name + ".dir", "") +
         ".state\"\ninterval = \"1s\"\nhmac_key_file = \"" + secrets + "hmac.key\"\n" +
         agent_extra +
         // Each probe's result is a debug line; these tests wait for them.
         "\n[log]\nlevel = \"debug\"\n"
         "\n[smtp]\nfrom = \"bounces@example.test\"\nport = 2525\ntimeout = \"2s\"\n"
         "attempts = 1\n\n[[mailbox]]\nname = \"inbox\"\nserver = \"127.0.0.1:1143\"\n"
         "user = \"canary\"\npassword_file = \"" +
         secrets + "canary.pass\"\npoll_interval = \"200ms\"\n\n";
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
         "\n[log]\nlevel = \"debug\"\n"  // each result is a debug line; tests wait for them
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

ScriptedPeer::ScriptedPeer(SmtpScript script) : script_(std::move(script)) {
  listen_fd_ = listen_on_loopback(port_, "scripted peer");
  if (pipe(stop_pipe_) != 0) {
    throw std::runtime_error("scripted peer: pipe failed");
  }
  thread_ = std::thread([this] { serve(); });
}

ScriptedPeer::~ScriptedPeer() {
  (void)!write(stop_pipe_[1], "x", 1);
  thread_.join();
  close(listen_fd_);
  close(stop_pipe_[0]);
  close(stop_pipe_[1]);
}

std::vector<std::string> ScriptedPeer::commands() const {
  std::lock_guard lock(mutex_);
  return commands_;
}

void ScriptedPeer::serve() {
  for (;;) {
    const int c = accept_unless_stopped(listen_fd_, stop_pipe_[0]);
    if (c < 0) {
      return;
    }
    ++connections_;
    bool go_on = converse(c);
    close(c);
    if (!go_on) {
      return;
    }
  }
}

bool send_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  return true;
}

namespace {

bool send_reply(int fd, const std::string& reply) {
  return reply.empty() || send_all(fd, reply + "\r\n");
}

}  // namespace

bool ScriptedPeer::converse(int fd) {
  if (script_.junk_bytes_before_banner > 0) {
    std::string junk(64 * 1024, 'A');
    for (std::size_t sent = 0; sent < script_.junk_bytes_before_banner; sent += junk.size()) {
      if (!send_all(fd, junk)) {
        break;  // the client gave up on us: fine
      }
    }
  }
  if (!send_reply(fd, script_.banner)) {
    return true;
  }
  std::string buffer;
  bool in_body = false;
  bool stalled = script_.banner.empty();
  for (;;) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      continue;
    }
    if (fds[1].revents) {
      return false;
    }
    char chunk[4096];
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) {
      return true;  // client closed
    }
    if (stalled) {
      continue;  // swallow everything, answer nothing
    }
    buffer.append(chunk, static_cast<std::size_t>(n));
    if (in_body) {
      auto end = buffer.find("\r\n.\r\n");
      if (end == std::string::npos) {
        continue;
      }
      buffer.erase(0, end + 5);
      in_body = false;
      stalled = script_.body.empty();
      send_reply(fd, script_.body);
    }
    std::size_t eol;
    while (!in_body && !stalled && (eol = buffer.find("\r\n")) != std::string::npos) {
      std::string line = buffer.substr(0, eol);
      buffer.erase(0, eol + 2);
      {
        std::lock_guard lock(mutex_);
        commands_.push_back(line);
      }
      std::string verb = line.substr(0, 4);
      for (auto& ch : verb) {
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      }
      const std::string* reply = &script_.quit;
      if (verb == "EHLO") {
        reply = &script_.ehlo;
      } else if (verb == "HELO") {
        reply = &script_.helo;
      } else if (verb == "MAIL") {
        reply = &script_.mail;
      } else if (verb == "RCPT") {
        reply = &script_.rcpt;
      } else if (verb == "DATA") {
        reply = &script_.data;
        in_body = script_.data.rfind("354", 0) == 0;
      } else if (verb == "RSET" || verb == "NOOP") {
        static const std::string ok = "250 2.0.0 Ok";
        reply = &ok;
      }
      stalled = reply->empty();
      send_reply(fd, *reply);
      if (verb == "QUIT") {
        return true;
      }
    }
  }
}

AgentProcess::AgentProcess(const std::string& config_path, const std::vector<std::string>& extra,
                           const std::vector<std::string>& wrapper) {
  static int counter = 0;
  log_path_ = (temp_root() / ("agent" + std::to_string(++counter) + ".log")).string();
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<std::string> args = wrapper;
    for (const std::string& a : {std::string(MAILCANARY_BINARY), std::string("run"),
                                 std::string("--config"), config_path}) {
      args.push_back(a);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
}

AgentProcess::~AgentProcess() {
  if (pid_ > 0) {
    stop();
  }
}

std::string AgentProcess::http_address() {
  // A start-up line: looked for from the start of the log, the cursor stays.
  static const std::regex re("HTTP endpoints on (https://)?(127\\.0\\.0\\.1:\\d+)");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = log();
    std::smatch m;
    if (std::regex_search(text, m, re)) {
      return m[2].str();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return "";
}

std::string AgentProcess::log() const {
  return read_file(log_path_);
}

bool AgentProcess::wait_for_log(const std::string& needle, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Polls the log file: the agent's output is the event we wait for.
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto at = log().find(needle, cursor_); at != std::string::npos) {
      cursor_ = at + needle.size();
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int AgentProcess::stop() {
  if (pid_ <= 0) {
    return -1;
  }
  kill(pid_, SIGTERM);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void AgentProcess::kill9() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
}

}  // namespace itest
