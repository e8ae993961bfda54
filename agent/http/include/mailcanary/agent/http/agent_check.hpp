// HAProxy's agent check (the `agent-check` server option), beside `option httpchk`:
// HAProxy connects to this port, sends its `agent-send` string ("TARGET/MEMBER\n") and
// reads one line back: "up ready" for a healthy member; for a member DOWN, "up drain"
// (its sessions finish, no new ones: [web] agent_check_down = "drain") or "down" (cut);
// a '#' description follows. The connection is then closed.
//
// One thread, poll(): at most kMaxClients connections, each closed kDeadline after it
// was accepted (answered with a hint when no TARGET/MEMBER came), a request line of at
// most kLineLimit bytes. A silent or hostile client costs a slot for a second, no more.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace mailcanary::agent {

class AgentCheckServer {
 public:
  /// The line for a member (render_agent_check), from the snapshot: cheap, thread-safe.
  using Answer = std::function<std::string(const std::string& target, const std::string& member)>;
  static constexpr int kMaxClients = 256;
  static constexpr std::size_t kLineLimit = 512;
  static constexpr std::chrono::milliseconds kDeadline{1000};

  /// Listens on host:port (0: any free port); connections wait in the backlog until
  /// serve(). Throws std::runtime_error naming the address when it cannot listen.
  AgentCheckServer(const std::string& host, int port);
  /// Starts answering (once).
  void serve(Answer answer);
  ~AgentCheckServer();
  AgentCheckServer(const AgentCheckServer&) = delete;
  AgentCheckServer& operator=(const AgentCheckServer&) = delete;

  int port() const { return port_; }
  /// Lines answered so far (for tests).
  std::uint64_t answered() const { return answered_.load(); }

 private:
  void loop();
  std::string answer_line(const std::string& request) const;

  Answer answer_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::atomic<std::uint64_t> answered_{0};
  std::thread thread_;
};

}  // namespace mailcanary::agent
