#include "pop3_shape.hpp"

#include <cctype>

namespace mailcanary::probes {

void Pop3Shape::command_sent(std::string_view bytes) {
  if (command_ended_) {
    verb_.clear();
    verb_ended_ = false;
    has_arguments_ = false;
  }
  for (char c : bytes) {
    if (c == '\r' || c == '\n') {
      verb_ended_ = true;
    } else if (c == ' ') {
      has_arguments_ = has_arguments_ || !verb_.empty();
      verb_ended_ = true;
    } else if (!verb_ended_ && verb_.size() < 8) {
      verb_ += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
  }
  command_ended_ = !bytes.empty() && bytes.back() == '\n';
  // RFC 1939: LIST and UIDL without an argument, TOP and RETR answer "+OK" with lines
  // ending in "."; RFC 2449: CAPA too. Every other command the readers send gets a line.
  if ((verb_ == "LIST" || verb_ == "UIDL") && !has_arguments_) {
    kind_ = Kind::listing;
  } else if (verb_ == "CAPA" || verb_ == "TOP" || verb_ == "RETR") {
    kind_ = Kind::multi;
  } else {
    kind_ = Kind::single;
  }
  part_ = Part::status;
  ok_ = false;
  column_ = 0;
  dot_line_ = false;
  numbered_ = false;
  has_rest_ = false;
  number_.clear();
  listed_ = 0;
}

std::string Pop3Shape::feed(std::string_view bytes) {
  for (char c : bytes) {
    if (std::string error = byte(c); !error.empty()) {
      return error;
    }
  }
  return "";
}

std::string Pop3Shape::byte(char c) {
  if (part_ == Part::done) {
    return "the server sent data after the end of its answer";
  }
  const std::size_t column = column_++;
  if (c == '\n') {
    return line_end();
  }
  if (part_ == Part::status) {
    if (column == 0) {
      ok_ = c == '+';
    }
    return "";
  }
  // libetpan ends a multi-line answer at a line that is "." once its CRLF is removed, or
  // "." and a NUL (a C string); a line starting ".\r" ends it here too, stricter.
  if (column == 0) {
    dot_line_ = c == '.';
  } else if (column == 1 && dot_line_) {
    dot_line_ = c == '\r' || c == '\0';
  }
  if (kind_ != Kind::listing) {
    return "";
  }
  if (numbered_) {
    has_rest_ = has_rest_ || (c != ' ' && c != '\r');
    return "";
  }
  if (c == ' ') {
    numbered_ = true;
    return check_number();
  }
  if (number_.size() < 24) {
    number_ += c;
  }
  return "";
}

std::string Pop3Shape::line_end() {
  std::string error;
  if (part_ == Part::status) {
    part_ = ok_ && kind_ != Kind::single ? Part::body : Part::done;
  } else if (dot_line_) {
    part_ = Part::done;
  } else if (kind_ == Kind::listing) {
    if (!numbered_) {
      if (!number_.empty() && number_.back() == '\r') {
        number_.pop_back();
      }
      error = check_number();
    }
    // libetpan reads the size (LIST) or unique id (UIDL) after the number unchecked:
    // "1" alone on a line crashed it (fuzz_pop3_answer, hour run).
    if (error.empty() && !has_rest_) {
      error = "the " + std::string(verb_ == "UIDL" ? "UIDL" : "LIST") +
              " listing line of message " + std::to_string(listed_) +
              " has nothing after its number";
    }
  }
  column_ = 0;
  dot_line_ = false;
  numbered_ = false;
  has_rest_ = false;
  number_.clear();
  return error;
}

// The message number a listing line starts with must be a plain decimal from 1 to the
// limit (libetpan reads it with strtol: a sign, spaces, any size would pass), one more
// than the line before's.
std::string Pop3Shape::check_number() {
  std::uint64_t n = 0;
  bool digits = !number_.empty() && number_.size() <= 10;
  for (char c : number_) {
    digits = digits && c >= '0' && c <= '9';
    if (digits) {
      n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
  }
  const std::string listing = verb_ == "UIDL" ? "UIDL" : "LIST";
  if (digits && n >= 1 && n <= limits_.max_message) {
    if (n == listed_ + 1u) {
      ++listed_;
      return "";
    }
    return "the " + listing + " listing names message " + std::to_string(n) + " after " +
           std::to_string(listed_) + " (expected " + std::to_string(listed_ + 1u) +
           ": messages are listed 1, 2, 3, ... in order)";
  }
  std::string shown;
  for (char c : number_.substr(0, 20)) {
    const auto u = static_cast<unsigned char>(c);
    shown += u >= 0x20 && u < 0x7f ? c : '?';
  }
  if (number_.size() > 20) {
    shown += "...";
  }
  return "the " + listing + " listing names message \"" + shown + "\" (expected 1 to " +
         std::to_string(limits_.max_message) + ")";
}

}  // namespace mailcanary::probes
