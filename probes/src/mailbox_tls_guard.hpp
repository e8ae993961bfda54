// Private: bounds on what a mailbox server may send in answer to one command.
//
// libetpan reads a whole response line into memory before parsing it and allocates an
// IMAP literal's announced size up front ({1000000000} means a 1 GB buffer), and a
// server that keeps sending never trips its inactivity timeout. The readers put this
// guard between libetpan and the connection (see mailbox_tls_stream.hpp): it counts the
// bytes of each answer, follows IMAP literals, and cuts the connection as soon as an
// answer grows too large, announces a literal over the limit, or takes too long.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mailcanary::probes {

class ResponseGuard {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  struct Limits {
    std::size_t max_answer_bytes = 16u << 20;  // everything received for one command
    std::uint64_t max_literal_bytes = 0;       // largest IMAP literal; 0: not IMAP, no tracking
    std::chrono::milliseconds max_answer_time{30000};  // from the command to its last byte
  };

  ResponseGuard(Limits limits, TimePoint now);

  /// A command (or part of one) was sent: a new answer begins.
  void command_sent(TimePoint now);
  /// Before waiting for more bytes: "" or why the answer is too late.
  std::string check_time(TimePoint now) const;
  /// Bytes of the answer arrived: "" or why they are refused. Once refused, the
  /// connection must be dropped (the guard's literal tracking has lost its place).
  std::string received(std::string_view bytes);

 private:
  enum class Brace { none, digits, closed, cr };
  void scan_line_byte(char c, std::string& error);

  Limits limits_;
  TimePoint deadline_;
  std::size_t answer_bytes_ = 0;
  Brace brace_ = Brace::none;
  std::uint64_t number_ = 0;
  int digits_ = 0;
  std::uint64_t literal_left_ = 0;
};

}  // namespace mailcanary::probes
