#include "mailbox_tls_guard.hpp"

#include <algorithm>
#include <limits>

namespace mailcanary::probes {

ResponseGuard::ResponseGuard(Limits limits, TimePoint now)
    : limits_(limits), deadline_(now + limits.max_answer_time) {}

void ResponseGuard::command_sent(TimePoint now) {
  answer_bytes_ = 0;
  deadline_ = now + limits_.max_answer_time;
}

std::string ResponseGuard::check_time(TimePoint now) const {
  if (now <= deadline_) {
    return "";
  }
  return "no complete answer within " +
         std::to_string(
             std::chrono::duration_cast<std::chrono::seconds>(limits_.max_answer_time).count()) +
         " s";
}

std::string ResponseGuard::received(std::string_view bytes) {
  answer_bytes_ += bytes.size();
  if (answer_bytes_ > limits_.max_answer_bytes) {
    return "the server sent more than " + std::to_string(limits_.max_answer_bytes) +
           " bytes in answer to one command";
  }
  if (limits_.max_literal_bytes == 0) {
    return "";
  }
  std::string error;
  std::size_t i = 0;
  while (i < bytes.size() && error.empty()) {
    if (literal_left_ > 0) {
      const auto skip = static_cast<std::size_t>(
          std::min<std::uint64_t>(literal_left_, static_cast<std::uint64_t>(bytes.size() - i)));
      literal_left_ -= skip;
      i += skip;
      continue;
    }
    scan_line_byte(bytes[i++], error);
  }
  return error;
}

// Follows "{N}" CRLF at the end of a line, the only place an IMAP literal is announced
// (libetpan also accepts "{N} " without the CRLF: a Lotus Domino quirk). The N bytes
// after it are the literal's content and are skipped, so a "{N}" inside a message is
// never taken for an announcement.
void ResponseGuard::scan_line_byte(char c, std::string& error) {
  const auto start = [this](char ch) {
    if (ch == '{') {
      brace_ = Brace::digits;
      number_ = 0;
      digits_ = 0;
    } else {
      brace_ = Brace::none;
    }
  };
  const auto announce = [this, &error](bool crlf) {
    brace_ = Brace::none;
    if (digits_ > 19 || number_ > limits_.max_literal_bytes) {
      error = "the server announced a " +
              (digits_ > 19 ? std::string("20-digit") : std::to_string(number_)) +
              "-byte literal (limit " + std::to_string(limits_.max_literal_bytes) + ")";
      return;
    }
    if (crlf) {
      literal_left_ = number_;
    }
  };
  switch (brace_) {
    case Brace::none:
      start(c);
      return;
    case Brace::digits:
      if (c >= '0' && c <= '9') {
        if (digits_ < 19) {
          number_ = number_ * 10 + static_cast<std::uint64_t>(c - '0');
        }
        ++digits_;
        return;
      }
      if (c == '}' && digits_ > 0) {
        brace_ = Brace::closed;
        return;
      }
      start(c);
      return;
    case Brace::closed:
      if (c == '\r') {
        brace_ = Brace::cr;
      } else if (c == '\n') {
        announce(true);
      } else if (c == ' ') {
        announce(false);
      } else {
        start(c);
      }
      return;
    case Brace::cr:
      if (c == '\n') {
        announce(true);
      } else {
        start(c);
      }
      return;
  }
}

}  // namespace mailcanary::probes
