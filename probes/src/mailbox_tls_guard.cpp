#include "mailbox_tls_guard.hpp"

#include <algorithm>

namespace mailcanary::probes {

ResponseGuard::ResponseGuard(Limits limits, TimePoint now)
    : limits_(limits), deadline_(now + limits.max_answer_time) {
  if (limits_.imap) {
    shape_.emplace(*limits_.imap);
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
  if (pop3_) {
    return pop3_->feed(bytes);
  }
  return shape_ ? shape_->feed(bytes) : "";
}

}  // namespace mailcanary::probes
