// Private: bounds on what a mailbox server may send in answer to one command.
//
// libetpan reads a whole response into memory before parsing it, allocates an IMAP
// literal's announced size up front ({1000000000} means a 1 GB buffer), recurses once
// per parenthesis, and a server that keeps sending never trips its inactivity timeout.
// The readers put this guard between libetpan and the connection (see
// mailbox_tls_stream.hpp): it counts the bytes of each answer, checks the shape of IMAP
// answers as they arrive (imap_shape.hpp) and the listings and sequence of POP3 answers
// (pop3_shape.hpp), and cuts the connection as soon as an answer grows too large, breaks
// a limit of its shape, or takes too long.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "imap_shape.hpp"
#include "pop3_shape.hpp"

namespace mailcanary::probes {

class ResponseGuard {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  struct Limits {
    std::size_t max_answer_bytes = 4u << 20;           // everything received for one command
    std::chrono::milliseconds max_answer_time{30000};  // from the command to its last byte
    std::size_t max_lines = 0;              // lines in one answer (POP3's listings); 0: any number
    std::optional<ImapShape::Limits> imap;  // IMAP: its shape checked too, and its greeting
    std::optional<Pop3Shape::Limits> pop3;  // POP3: its shape checked too
  };

  ResponseGuard(Limits limits, TimePoint now);

  /// A command (or part of one), `command`, was sent: a new answer begins.
  void command_sent(TimePoint now, std::string_view command = {});
  /// Before waiting for more bytes: "" or why the answer is too late.
  std::string check_time(TimePoint now) const;
  /// When the answer being waited for is too late.
  TimePoint deadline() const { return deadline_; }
  /// Bytes of the answer arrived: "" or why they are refused. Once refused, the
  /// connection must be dropped (the guard's literal tracking has lost its place).
  ///
  /// Besides the limits, IMAP greetings (the first line, before any command) that
  /// libetpan 1.9.4 mishandles are refused (found by fuzz/fuzz_imap_answer): one saying
  /// BYE (libetpan leaks its parse, up to a line per connection attempt) or carrying a
  /// PERMANENTFLAGS or BADCHARSET code (parsed with a null parser context, it crashes:
  /// "* OK [PERMANENTFLAGS ()] hi" is enough).
  std::string received(std::string_view bytes);

 private:
  std::string greeting(std::string_view bytes);

  Limits limits_;
  TimePoint deadline_;
  std::size_t answer_bytes_ = 0;
  std::size_t answer_lines_ = 0;
  std::optional<ImapShape> shape_;
  std::optional<Pop3Shape> pop3_;
  bool in_greeting_ = false;   // IMAP, before the first command
  std::string greeting_line_;  // bounded by the shape's line limit
};

}  // namespace mailcanary::probes
