// A pure model of one SMTP conversation as seen from the client side.
//
// The transport (libcurl) feeds it what happened: the TCP connection came up, a command
// went out, a reply line came in. It tracks the stage in progress, assembles multi-line
// replies, remembers the reply that failed the session, keeps a bounded transcript with
// secrets masked, and times each stage. No sockets, no clocks: timestamps are passed in.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailcanary/probes/result.hpp"

namespace mailcanary::probes {

/// One complete SMTP reply (all lines of a multi-line reply).
struct SmtpReply {
  int code = 0;               // 200..599; 0 if the reply was not valid SMTP
  std::string enhanced_code;  // RFC 3463 "x.y.z" when the first line carries one
  std::string text;           // the lines' texts joined with " / ", bounded
  Stage stage = Stage::banner;
};

/// Parses one reply line "250-text" / "250 text" / "250". Returns nullopt when the line
/// is not SMTP (no three-digit code, or a bad separator).
struct ReplyLine {
  int code = 0;
  bool last = false;  // "250 " ends the reply, "250-" continues it
  std::string_view text;
};
std::optional<ReplyLine> parse_reply_line(std::string_view line);

/// Extracts an RFC 3463 enhanced status code ("4.7.1") at the start of `text`, if the
/// class digit matches the reply code's first digit. Empty if there is none.
std::string parse_enhanced_code(std::string_view text, int reply_code);

class SmtpSession {
 public:
  using Clock = std::chrono::steady_clock;

  static constexpr std::size_t kMaxTranscriptLines = 400;
  static constexpr std::size_t kMaxLineBytes = 512;
  static constexpr std::size_t kMaxReplyTextBytes = 300;

  explicit SmtpSession(Clock::time_point start);

  void on_connected(Clock::time_point t);
  void on_command(std::string_view line, Clock::time_point t);
  void on_reply_line(std::string_view line, Clock::time_point t);
  void on_info(std::string_view text);
  void on_finished(Clock::time_point t);

  /// The stage the conversation broke in. A QUIT that the client sends after a problem
  /// does not count: the stage before it does.
  Stage stage() const { return stage_ == Stage::quit ? stage_before_quit_ : stage_; }
  bool connected() const { return connected_; }
  /// The reply (>= 400) that ended the session, if the server refused something.
  const std::optional<SmtpReply>& failure_reply() const { return failure_; }
  /// The last complete reply before any QUIT, whatever its code.
  const std::optional<SmtpReply>& last_reply() const { return last_; }
  /// The reply to the end of data (the "250 2.0.0 Ok: queued as X" line), if any.
  const std::optional<SmtpReply>& body_reply() const { return body_reply_; }
  /// True when a line that is not SMTP came from the server.
  bool saw_garbage() const { return garbage_; }
  const std::string& garbage_sample() const { return garbage_sample_; }

  /// "C: EHLO x" / "S: 250 ok" / "* text" lines, secrets masked, bounded.
  const std::vector<std::string>& transcript() const { return transcript_; }

  struct StageTime {
    Stage stage;
    double seconds;
  };
  /// How long each stage took, in the order they happened (valid after on_finished).
  const std::vector<StageTime>& stage_times() const { return stage_times_; }

 private:
  void enter(Stage s, Clock::time_point t);
  void add_transcript(std::string line);

  Stage stage_ = Stage::connect;
  Stage stage_before_quit_ = Stage::connect;
  Clock::time_point stage_start_;
  bool connected_ = false;
  bool in_auth_exchange_ = false;
  bool garbage_ = false;
  std::string garbage_sample_;
  std::optional<SmtpReply> partial_;
  std::optional<SmtpReply> last_;
  std::optional<SmtpReply> failure_;
  std::optional<SmtpReply> body_reply_;
  std::vector<std::string> transcript_;
  std::size_t transcript_dropped_ = 0;
  std::vector<StageTime> stage_times_;
};

}  // namespace mailcanary::probes
