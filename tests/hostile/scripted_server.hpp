// A line-based server playing a script, for the hostile suite: it sends `greeting`, then
// hands each command line (CRLF stripped) to the handler; what the handler leaves to
// the fallback gets the protocol's ordinary answer. Connections are served one at a
// time, on 127.0.0.1 at a kernel-chosen port. Sends give up once the server stops, so
// a script that floods or drips forever ends with the test.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hostile {

// One connection, as the handler sees it.
struct Conn {
  int fd = -1;
  int number = 0;  // 1 for the first connection
  const std::atomic<bool>* stop = nullptr;

  /// Sends everything (false once the client is gone or the server stops).
  bool send(const std::string& data) const;
  /// Sends `data` a byte at a time, `gap` apart, until done, the client is gone, or the
  /// server stops (a slow drip).
  bool drip(const std::string& data, std::chrono::milliseconds gap) const;
  /// Sends `chunk` again and again until the client is gone or the server stops.
  void flood(const std::string& chunk) const;
  /// Waits until the client hangs up or the server stops, reading nothing.
  void hold() const;
  /// Waits until the client sends something (true), hangs up, or the server stops.
  bool await_bytes() const;
  /// Ends the connection with a TCP reset instead of a FIN.
  void reset() const;
};

enum class Reply { done, fallback, close };

class ScriptedServer {
 public:
  using Handler = std::function<Reply(Conn&, const std::string& line)>;
  using Fallback = std::function<bool(Conn&, const std::string& line)>;  // false: close

  ScriptedServer(std::string greeting, Handler handler, Fallback fallback);
  ~ScriptedServer();
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  std::uint16_t port() const { return static_cast<std::uint16_t>(port_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_; }
  std::vector<std::string> lines() const;

 private:
  void serve();
  void converse(Conn& conn);

  std::string greeting_;
  Handler handler_;
  Fallback fallback_;
  int listen_fd_ = -1;
  int port_ = 0;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
  std::thread thread_;
};

}  // namespace hostile
