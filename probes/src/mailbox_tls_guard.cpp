#include "mailbox_tls_guard.hpp"

#include <algorithm>
#include <cctype>

#include "ascii.hpp"

namespace mailcanary::probes {

ResponseGuard::ResponseGuard(Limits limits, TimePoint now)
    : limits_(limits), deadline_(now + limits.max_answer_time) {
  if (limits_.imap) {
    shape_.emplace(*limits_.imap);
    in_greeting_ = true;
  }
  if (limits_.pop3) {
    pop3_.emplace(*limits_.pop3);
  }
}

void ResponseGuard::command_sent(TimePoint now, std::string_view command) {
  answer_bytes_ = 0;
  answer_lines_ = 0;
  deadline_ = now + limits_.max_answer_time;
  if (shape_) {
    shape_->command_sent();
  }
  in_greeting_ = false;
  greeting_line_.clear();
  if (pop3_) {
    pop3_->command_sent(command);
  }
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
  if (limits_.max_lines > 0) {
    // libetpan keeps a structure of several hundred bytes per line of a POP3 listing.
    answer_lines_ += static_cast<std::size_t>(std::count(bytes.begin(), bytes.end(), '\n'));
    if (answer_lines_ > limits_.max_lines) {
      return "the server sent more than " + std::to_string(limits_.max_lines) +
             " lines in answer to one command";
    }
  }
  if (std::string error = greeting(bytes); !error.empty()) {
    return error;
  }
  if (pop3_) {
    return pop3_->feed(bytes);
  }
  return shape_ ? shape_->feed(bytes) : "";
}

std::string ResponseGuard::greeting(std::string_view bytes) {
  if (!in_greeting_) {
    return "";
  }
  const auto nl = bytes.find('\n');
  const std::size_t room = limits_.imap->max_line_bytes + 1 - greeting_line_.size();
  greeting_line_.append(bytes.substr(0, std::min(nl, room)));
  if (nl == std::string_view::npos) {
    return "";
  }
  in_greeting_ = false;
  std::string upper = greeting_line_;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) {
    return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  });
  if (upper.rfind("* BYE", 0) == 0) {
    std::string_view text = std::string_view(greeting_line_).substr(5);
    while (!text.empty() && text.front() == ' ') {
      text.remove_prefix(1);
    }
    if (!text.empty() && text.back() == '\r') {
      text.remove_suffix(1);
    }
    return "the server refused the session: " + printable_ascii(text, 200);
  }
  for (std::string_view code : {"PERMANENTFLAGS", "BADCHARSET"}) {
    if (upper.find(code) != std::string::npos) {
      return "a greeting with a " + std::string(code) + " code (libetpan cannot parse it)";
    }
  }
  return "";
}

}  // namespace mailcanary::probes
