#include "imap_shape.hpp"

#include <algorithm>
#include <cctype>

namespace mailcanary::probes {

void ImapShape::command_sent() {
  untagged_ = 0;
  items_ = 0;
}

std::string ImapShape::feed(std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (literal_left_ > 0) {  // a literal's content is data, never syntax
      const auto skip = static_cast<std::size_t>(
          std::min<std::uint64_t>(literal_left_, static_cast<std::uint64_t>(bytes.size() - i)));
      literal_left_ -= skip;
      i += skip;
      continue;
    }
    if (std::string error = byte(bytes[i++]); !error.empty()) {
      return error;
    }
  }
  return "";
}

std::string ImapShape::byte(char c) {
  if (++line_bytes_ > limits_.max_line_bytes) {
    return "a response line longer than " + std::to_string(limits_.max_line_bytes) + " bytes";
  }
  if (c == '\n') {
    return line_end();
  }
  if (head_.size() < kHeadBytes) {
    head_ += c;
  }
  // IMAP allows no NUL outside a literal; libetpan reads a line as a C string, and a NUL
  // in a PERMANENTFLAGS list crashed it (fuzz_imap_answer: "(\\" NUL ")").
  if (c == '\0') {
    return "a NUL byte in a response line";
  }
  if (line_start_) {
    line_start_ = false;
    if (c == '*' && ++untagged_ > limits_.max_untagged) {
      return "more than " + std::to_string(limits_.max_untagged) +
             " untagged responses to one command";
    }
  }
  if (in_quote_) {  // no literal, list or item syntax inside a quoted string
    if (escaped_) {
      escaped_ = false;
    } else if (c == '\\') {
      escaped_ = true;
    } else if (c == '"') {
      in_quote_ = false;
    }
    return "";
  }
  if (std::string error = brace(c); !error.empty()) {
    return error;
  }
  return item(c);
}

// A line feed ends the response unless it ends a literal's announcement "{N}\r\n": then
// the N bytes follow and the same response goes on after them.
std::string ImapShape::line_end() {
  line_bytes_ = 0;
  in_item_ = false;
  if (!in_quote_ && (brace_ == Brace::closed || brace_ == Brace::cr)) {
    return announce(true);
  }
  brace_ = Brace::none;
  in_quote_ = false;
  escaped_ = false;
  depth_ = 0;
  line_start_ = true;
  std::string error = check_code();
  head_.clear();
  return error;
}

namespace {

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

// RFC 3501's ATOM-CHAR: any CHAR but atom-specials ("(" ")" "{" SP CTL "%" "*" DQUOTE
// "\" "]").
bool atom_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f && std::string_view("(){%*\"\\]").find(c) == std::string_view::npos;
}

// "(" [flag-perm *(SP flag-perm)] ")" "]" at the start of `s`, flag-perm being "\*",
// "\" atom or atom.
bool plain_flag_list(std::string_view s) {
  if (s.empty() || s.front() != '(') {
    return false;
  }
  s.remove_prefix(1);
  bool first = true;
  while (!s.empty() && s.front() != ')') {
    if (!first) {
      if (s.front() != ' ') {
        return false;
      }
      s.remove_prefix(1);
    }
    first = false;
    std::size_t n = 0;
    if (s.substr(0, 2) == "\\*") {
      n = 2;
    } else {
      const std::size_t start = !s.empty() && s.front() == '\\' ? 1 : 0;
      n = start;
      while (n < s.size() && atom_char(s[n])) {
        ++n;
      }
      if (n == start) {
        return false;
      }
    }
    s.remove_prefix(n);
  }
  return s.substr(0, 2) == ")]";
}

}  // namespace

// A status response ("* OK [...", "A1 NO [...") whose code is PERMANENTFLAGS must carry a
// plain flag list.
std::string ImapShape::check_code() const {
  std::string_view s = head_;
  const auto sp = s.find(' ');
  if (sp == std::string_view::npos) {
    return "";
  }
  s.remove_prefix(sp + 1);
  const auto sp2 = s.find(' ');
  if (sp2 == std::string_view::npos || s.substr(sp2 + 1, 1) != "[") {
    return "";
  }
  const std::string_view status = s.substr(0, sp2);
  if (!iequal(status, "OK") && !iequal(status, "NO") && !iequal(status, "BAD") &&
      !iequal(status, "PREAUTH") && !iequal(status, "BYE")) {
    return "";
  }
  s.remove_prefix(sp2 + 2);
  constexpr std::string_view kCode = "PERMANENTFLAGS";
  if (!iequal(s.substr(0, kCode.size()), kCode) ||
      (s.size() > kCode.size() && s[kCode.size()] != ' ' && s[kCode.size()] != ']')) {
    return "";
  }
  s.remove_prefix(kCode.size());
  if (s.substr(0, 1) == " " && plain_flag_list(s.substr(1))) {
    return "";
  }
  return "a PERMANENTFLAGS code that is not a plain flag list (libetpan cannot parse it)";
}

// Follows "{N}" at the end of a line, the only place a literal is announced (libetpan
// also accepts "{N} " without the CRLF: a Lotus Domino quirk).
std::string ImapShape::brace(char c) {
  switch (brace_) {
    case Brace::digits:
      if (c >= '0' && c <= '9') {
        if (digits_ < 19) {
          number_ = number_ * 10 + static_cast<std::uint64_t>(c - '0');
        }
        ++digits_;
        return "";
      }
      if (c == '}' && digits_ > 0) {
        brace_ = Brace::closed;
        return "";
      }
      brace_ = Brace::none;
      break;
    case Brace::closed:
      if (c == '\r') {
        brace_ = Brace::cr;
        return "";
      }
      if (c == ' ') {
        return announce(false);
      }
      brace_ = Brace::none;
      break;
    case Brace::cr:
      brace_ = Brace::none;
      break;
    case Brace::none:
      break;
  }
  if (c == '{') {
    brace_ = Brace::digits;
    number_ = 0;
    digits_ = 0;
  }
  return "";
}

std::string ImapShape::announce(bool crlf) {
  brace_ = Brace::none;
  if (digits_ > 19 || number_ > limits_.max_literal_bytes) {
    return "the server announced a " +
           (digits_ > 19 ? std::string("20-digit") : std::to_string(number_)) +
           "-byte literal (limit " + std::to_string(limits_.max_literal_bytes) + ")";
  }
  if (crlf) {
    literal_left_ = number_;
  }
  return "";
}

// Counts what libetpan allocates a structure for: each atom, number, string, literal and
// list; and how deep the lists nest (libetpan recurses once per level).
std::string ImapShape::item(char c) {
  bool counts = false;
  if (c == '(' || c == '[') {
    if (c == '(' && ++depth_ > limits_.max_depth) {
      return "a response nested deeper than " + std::to_string(limits_.max_depth) + " parentheses";
    }
    counts = true;
    in_item_ = false;
  } else if (c == ')' || c == ']') {
    depth_ = c == ')' ? std::max(0, depth_ - 1) : depth_;
    in_item_ = false;
  } else if (c == ' ' || c == '\r') {
    in_item_ = false;
  } else if (c == '"') {
    in_quote_ = true;
    counts = true;
    in_item_ = false;
  } else if (!in_item_) {
    in_item_ = true;
    counts = true;
  }
  if (counts && ++items_ > limits_.max_items) {
    return "more than " + std::to_string(limits_.max_items) + " items in answer to one command";
  }
  return "";
}

}  // namespace mailcanary::probes
