#include "mailcanary/probes/smtp_session.hpp"

#include "ascii.hpp"

#include <algorithm>
#include <cctype>

namespace mailcanary::probes {
namespace {

std::string_view trim_eol(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool starts_with_word(std::string_view line, std::string_view word) {
  if (line.size() < word.size()) {
    return false;
  }
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(line[i])) != word[i]) {
      return false;
    }
  }
  return line.size() == word.size() || line[word.size()] == ' ';
}

// Printable ASCII only, bounded: server text goes into JSON, logs and terminals.
// Printable, bounded, and marked when cut.
std::string sanitize(std::string_view s, std::size_t max) {
  return printable_ascii(s, max) + (s.size() > max ? "..." : "");
}

}  // namespace

std::optional<ReplyLine> parse_reply_line(std::string_view line) {
  line = trim_eol(line);
  if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0])) ||
      !std::isdigit(static_cast<unsigned char>(line[1])) ||
      !std::isdigit(static_cast<unsigned char>(line[2]))) {
    return std::nullopt;
  }
  ReplyLine r;
  r.code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (r.code < 200 || r.code > 599) {
    return std::nullopt;
  }
  if (line.size() == 3) {
    r.last = true;
    return r;
  }
  if (line[3] != ' ' && line[3] != '-') {
    return std::nullopt;
  }
  r.last = line[3] == ' ';
  r.text = line.substr(4);
  return r;
}

std::string parse_enhanced_code(std::string_view text, int reply_code) {
  // class "." subject(1-3 digits) "." detail(1-3 digits), followed by space or end.
  if (text.size() < 5 || text[0] != static_cast<char>('0' + reply_code / 100) || text[1] != '.') {
    return {};
  }
  std::size_t i = 2;
  auto digits = [&](std::size_t max) {
    std::size_t n = 0;
    while (i < text.size() && n < max && std::isdigit(static_cast<unsigned char>(text[i]))) {
      ++i;
      ++n;
    }
    return n > 0;
  };
  if (!digits(3) || i >= text.size() || text[i] != '.') {
    return {};
  }
  ++i;
  if (!digits(3)) {
    return {};
  }
  if (i < text.size() && text[i] != ' ') {
    return {};
  }
  return std::string(text.substr(0, i));
}

SmtpSession::SmtpSession(Clock::time_point start) : stage_start_(start) {}

void SmtpSession::enter(Stage s, Clock::time_point t) {
  stage_times_.push_back({stage_, std::chrono::duration<double>(t - stage_start_).count()});
  stage_ = s;
  stage_start_ = t;
}

void SmtpSession::add_transcript(std::string line) {
  if (transcript_.size() >= kMaxTranscriptLines) {
    ++transcript_dropped_;
    if (transcript_dropped_ == 1) {
      transcript_.back() = "* (transcript truncated)";
    }
    return;
  }
  transcript_.push_back(std::move(line));
}

void SmtpSession::on_connected(Clock::time_point t) {
  if (!connected_) {
    connected_ = true;
    enter(Stage::banner, t);
  }
}

void SmtpSession::on_info(std::string_view text) {
  add_transcript("* " + sanitize(trim_eol(text), kMaxLineBytes));
}

void SmtpSession::on_command(std::string_view line, Clock::time_point t) {
  line = trim_eol(line);
  std::string shown = sanitize(line, kMaxLineBytes);
  if (starts_with_word(line, "EHLO") || starts_with_word(line, "HELO")) {
    enter(Stage::ehlo, t);
  } else if (starts_with_word(line, "STARTTLS")) {
    enter(Stage::starttls, t);
  } else if (starts_with_word(line, "AUTH")) {
    enter(Stage::auth, t);
    in_auth_exchange_ = true;
    // Keep the mechanism name, mask any initial response (it carries the password).
    auto sp = line.find(' ', 5);
    if (sp != std::string_view::npos) {
      shown = sanitize(line.substr(0, sp), kMaxLineBytes) + " ****";
    }
  } else if (in_auth_exchange_) {
    shown = "****";  // a SASL continuation line
  } else if (starts_with_word(line, "MAIL")) {
    enter(Stage::mail, t);
  } else if (starts_with_word(line, "RCPT")) {
    if (stage_ != Stage::rcpt) {
      enter(Stage::rcpt, t);
    }
  } else if (starts_with_word(line, "DATA")) {
    enter(Stage::data, t);
  } else if (starts_with_word(line, "QUIT")) {
    if (stage_ != Stage::quit) {
      stage_before_quit_ = stage_;
    }
    enter(Stage::quit, t);
  }
  add_transcript("C: " + shown);
}

void SmtpSession::on_reply_line(std::string_view raw, Clock::time_point t) {
  std::string_view line = trim_eol(raw);
  auto parsed = parse_reply_line(line);
  if (!parsed || (partial_ && partial_->code != parsed->code)) {
    if (!garbage_) {
      garbage_sample_ = sanitize(line, 120);
    }
    garbage_ = true;
    partial_.reset();
    add_transcript("S? " + sanitize(line, kMaxLineBytes));
    return;
  }
  add_transcript("S: " + sanitize(line, kMaxLineBytes));
  if (!partial_) {
    partial_ = SmtpReply{};
    partial_->code = parsed->code;
    partial_->enhanced_code = parse_enhanced_code(parsed->text, parsed->code);
  }
  // Room is checked with the separator counted: a text just under the bound plus " / "
  // would leave a negative (huge, unsigned) room and let the whole line in.
  std::string& text = partial_->text;
  const std::string_view separator = text.empty() ? "" : " / ";
  if (text.size() + separator.size() < kMaxReplyTextBytes) {
    text += separator;
    text += sanitize(parsed->text, kMaxReplyTextBytes - text.size());
  }
  if (!parsed->last) {
    return;
  }
  SmtpReply reply = std::move(*partial_);
  partial_.reset();
  reply.stage = stage_;
  if (in_auth_exchange_ && reply.code != 334) {
    in_auth_exchange_ = false;
  }
  if (stage_ == Stage::body) {
    body_reply_ = reply;
  }
  if (stage_ != Stage::quit) {
    if (reply.code >= 400) {
      failure_ = reply;
    } else {
      failure_.reset();  // e.g. EHLO refused, then HELO accepted: the session went on
    }
  }
  if (stage_ != Stage::quit) {
    last_ = reply;
  }
  if (reply.code == 354 && stage_ == Stage::data) {
    enter(Stage::body, t);
  }
}

void SmtpSession::on_finished(Clock::time_point t) {
  // Close the timing of the stage in progress; the stage itself stays, it is where the
  // conversation ended.
  stage_times_.push_back({stage_, std::chrono::duration<double>(t - stage_start_).count()});
  stage_start_ = t;
}

}  // namespace mailcanary::probes
