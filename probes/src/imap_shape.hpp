// Private: a streaming pre-check of IMAP responses, byte by byte, before libetpan parses
// them.
//
// libetpan parses a whole answer (every untagged response up to the tagged one) into
// memory, allocating tens of bytes per number or atom, recursing once per parenthesis,
// and allocating a literal's announced size up front. Measured: a BODYSTRUCTURE nested
// 20,000 deep overflowed the thread's stack; a 10 MiB "* SEARCH 1 1 1 ..." line took
// 403 MiB. ImapShape follows the syntax that matters for that (literals, quoted
// strings, parentheses, line ends, untagged responses, items) and names the first limit
// an answer breaks, so the connection is cut before libetpan has read the excess. A NUL
// byte outside a literal is refused too (libetpan parses lines as C strings), and so is
// a PERMANENTFLAGS response code that is not a plain flag list: libetpan 1.9.4 crashes
// freeing one it fails to parse (fuzz_imap_answer: a NUL, or "((\Answered", in it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mailcanary::probes {

class ImapShape {
 public:
  struct Limits {
    std::uint64_t max_literal_bytes = 1u << 20;  // one literal's announced size
    std::size_t max_line_bytes = 128 * 1024;     // one line, literal contents excluded
    int max_depth = 64;                          // parentheses open at once
    std::size_t max_untagged = 5000;             // untagged responses to one command
    std::size_t max_items = 32768;               // atoms, numbers, strings and lists in one answer
  };

  explicit ImapShape(Limits limits) : limits_(limits) {}

  /// A command was sent: the per-answer counts start again.
  void command_sent();
  /// The next bytes from the server: "" or which limit they break. After a refusal the
  /// shape has lost its place: the connection must be dropped.
  std::string feed(std::string_view bytes);

 private:
  enum class Brace { none, digits, closed, cr };
  std::string byte(char c);
  std::string line_end();
  std::string brace(char c);
  std::string announce(bool crlf);
  std::string item(char c);
  std::string check_code() const;

  Limits limits_;
  std::uint64_t literal_left_ = 0;
  Brace brace_ = Brace::none;
  std::uint64_t number_ = 0;
  int digits_ = 0;
  bool in_quote_ = false;
  bool escaped_ = false;
  bool line_start_ = true;
  bool in_item_ = false;
  std::size_t line_bytes_ = 0;
  int depth_ = 0;
  std::size_t untagged_ = 0;
  std::size_t items_ = 0;
  std::string head_;  // the response's first bytes outside literals (kHeadBytes at most)
  static constexpr std::size_t kHeadBytes = 4096;
};

}  // namespace mailcanary::probes
