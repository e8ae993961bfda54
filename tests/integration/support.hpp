// Helpers for integration tests: run the real binary, write configs for the test bed,
// look at the test bed's Maildir and logs, and a scripted SMTP peer for replies no real
// server sends.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace itest {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs argv[0] with its arguments; kills it after `timeout` (exit_code -1 then).
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::seconds timeout = std::chrono::seconds(120));

/// `mailcanary ARGS...`
CommandResult mailcanary(const std::vector<std::string>& args);

/// Writes `text` to a fresh file in a per-process temp dir; returns its path.
std::string write_temp_file(const std::string& name, const std::string& text);

/// A listening TCP socket on 127.0.0.1:`port` (0: the kernel's choice, written back to
/// `port`); throws naming `who` if it cannot listen.
int listen_on_loopback(int& port, const char* who);

/// The next connection on `listen_fd`, or -1 once `stop_fd` is readable.
int accept_unless_stopped(int listen_fd, int stop_fd);

/// Sends all of `data` (no SIGPIPE); false once the peer is gone.
bool send_all(int fd, const std::string& data);

/// Standard base64 (RFC 4648, with padding), for SASL exchanges spoken by hand.
std::string base64(const std::string& in);

/// Parses each non-empty line of `out` as JSON.
std::vector<nlohmann::json> json_lines(const std::string& out);

std::string read_file(const std::string& path);

/// The test bed's run directory and repo paths.
std::string testbed_dir();
std::string source_dir();

/// The [agent]/[smtp]/[[mailbox]]/[slg] part of a config for the test bed; append
/// [[target]] tables to it. `mailbox_password_file` defaults to the right one.
std::string testbed_config_head(const std::string& mailbox_password_file = "");

/// The head of a `mailcanary run` config for the test bed: [agent] (listen on a free
/// port, a fresh state_dir named after `name`, interval 1s, plus `agent_extra` lines),
/// [smtp] (port 2525, timeout 2s, one attempt) and [[mailbox]] "inbox" (canary on
/// 127.0.0.1:1143, 200 ms polls). Append [slg], [[target]] and other sections.
std::string agent_config_head(const std::string& name, const std::string& agent_extra = "");

/// Files of user's Maildir (new/ and cur/) whose content contains `needle`.
std::vector<std::string> maildir_files_containing(const std::string& user,
                                                  const std::string& needle);

/// What a scripted SMTP peer answers. Each reply is sent as written (may hold several
/// CRLF-separated lines); an empty reply means: say nothing and keep the connection
/// open (a stall).
struct SmtpScript {
  std::string banner = "220 peer.test ESMTP scripted";
  std::string ehlo = "250-peer.test\r\n250 8BITMIME";
  std::string helo = "250 peer.test";
  std::string mail = "250 2.1.0 Ok";
  std::string rcpt = "250 2.1.5 Ok";
  std::string data = "354 End data with <CR><LF>.<CR><LF>";
  std::string body = "250 2.0.0 Ok: queued as SCRIPTED1";
  std::string quit = "221 2.0.0 Bye";
  /// Sent before the banner without a line end, e.g. a 10 MB line of junk.
  std::size_t junk_bytes_before_banner = 0;
};

/// A minimal SMTP server on 127.0.0.1 (kernel-chosen port) that plays a script, for
/// replies no real server sends on demand. Serves connections one at a time.
class ScriptedPeer {
 public:
  explicit ScriptedPeer(SmtpScript script);
  ~ScriptedPeer();
  ScriptedPeer(const ScriptedPeer&) = delete;
  ScriptedPeer& operator=(const ScriptedPeer&) = delete;
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_; }
  /// Commands received, in order (the message body is not included).
  std::vector<std::string> commands() const;

 private:
  void serve();
  bool converse(int fd);  // false when told to stop
  SmtpScript script_;
  int listen_fd_ = -1;
  int port_ = 0;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> commands_;
  std::thread thread_;
};

/// A TCP relay on 127.0.0.1 (kernel-chosen port) to an upstream server that can be
/// switched at run time: `forward` relays every byte; `tempfail` answers SMTP itself
/// with a 451 at RCPT (a member in outage); `discard` answers SMTP itself, accepts the
/// message (250 after the body) and drops it (a member that loses mail); `hold`
/// accepts and says nothing. A switch applies to connections accepted after it.
class SwitchableRelay {
 public:
  enum class Mode { forward, tempfail, discard, hold };
  SwitchableRelay(std::string upstream_host, int upstream_port);
  ~SwitchableRelay();
  SwitchableRelay(const SwitchableRelay&) = delete;
  SwitchableRelay& operator=(const SwitchableRelay&) = delete;
  void set_mode(Mode m) { mode_ = m; }
  /// From now on, in `forward` mode, every `n`th connection (the 1st, n+1st ...) gets a
  /// tempfail instead (a member losing 1 in n); 0: none.
  void set_fail_every(int n) {
    fail_every_ = n;
    counted_ = 0;
  }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  void serve();
  void relay(int client);
  void answer_smtp(int client, Mode mode);  // tempfail or discard
  std::string upstream_host_;
  int upstream_port_;
  std::atomic<Mode> mode_{Mode::forward};
  std::atomic<int> fail_every_{0};
  std::atomic<int> counted_{0};
  int listen_fd_ = -1;
  int port_ = 0;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex threads_mutex_;
  std::vector<std::thread> threads_;
};

/// A `mailcanary run` in the background; stopped (SIGTERM) by the destructor.
class AgentProcess {
 public:
  /// `wrapper`: a command (absolute path first) that runs the agent's command line, which
  /// follows it as arguments (e.g. unshare ... sh -c '... exec "$@"').
  AgentProcess(const std::string& config_path, const std::vector<std::string>& extra = {},
               const std::vector<std::string>& wrapper = {});
  ~AgentProcess();
  /// Waits (bounded) until the agent's log contains `needle` after the previous match
  /// (each call moves a cursor past what it found, so waits see events in order, never
  /// an older line again); true when it did.
  bool wait_for_log(const std::string& needle, std::chrono::seconds timeout);
  std::string log() const;
  /// "127.0.0.1:PORT" of the HTTP endpoints, from the start-up log line (waits up to
  /// 20 s for it); empty when it never came.
  std::string http_address();
  int stop();  // SIGTERM, waits; returns the exit status
  void kill9();
  int pid() const { return pid_; }

 private:
  int pid_ = -1;
  std::string log_path_;
  std::size_t cursor_ = 0;  // wait_for_log() looks from here
};

}  // namespace itest
