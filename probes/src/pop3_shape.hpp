// Private: a streaming check of POP3 answers, byte by byte, before libetpan parses them.
//
// libetpan (1.9.4, read_list/read_uidl) stores each message of a LIST listing at the
// index the server names, minus one, unchecked: "0 100" is written at index 4294967295,
// far outside its array; "-1 100" or a 20-digit number (strtol's LONG_MAX, 4294967295
// once unsigned) grows the array in a loop that never ends (its size doubles past 2^32
// to 0); "10000000 100" grows it to 128 MiB; in a UIDL listing "0 x" reads at index
// 4294967295; a gap ("1", then "3") leaves a slot of uninitialised memory that is read
// later, a repeated number leaks (both found by fuzz/fuzz_pop3_answer). Pop3Shape lets
// through only listing lines numbered 1, 2, 3, ... in order, up to a limit (a listing
// is asked for once per session, before any DELE, so the server has no gap to show).
//
// libetpan also reads ahead: bytes a server sends early (with the answer to PASS, say)
// would be parsed as the answer to the next command (LIST) without ever having been
// checked as one. POP3 is strictly one answer per command, so once an answer is complete
// (one line, or for CAPA, TOP, RETR and the LIST/UIDL listings "+OK" to a line "."),
// any byte before the next command is refused.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mailcanary::probes {

class Pop3Shape {
 public:
  struct Limits {
    std::uint32_t max_message = 5000;  // the largest message number a listing may name
  };

  explicit Pop3Shape(Limits limits) : limits_(limits) {}

  /// Bytes of a command were sent (a whole command, or a part of one): its answer is next.
  void command_sent(std::string_view bytes);
  /// The next bytes from the server: "" or what is wrong with them. After a refusal the
  /// shape has lost its place: the connection must be dropped.
  std::string feed(std::string_view bytes);

 private:
  enum class Kind { single, multi, listing };  // what kind of answer the command gets
  enum class Part { status, body, done };
  std::string byte(char c);
  std::string line_end();
  std::string check_number();

  Limits limits_;
  std::string verb_;        // of the command being sent, upper case (at most 8 bytes)
  bool verb_ended_ = true;  // a space or the line end came after the verb
  bool has_arguments_ = false;
  bool command_ended_ = true;  // its line feed was sent
  Kind kind_ = Kind::single;   // the greeting
  Part part_ = Part::status;
  bool ok_ = false;           // the status line starts with '+'
  std::size_t column_ = 0;    // bytes of the current line so far
  bool dot_line_ = false;     // the current line ends a multi-line answer
  bool numbered_ = false;     // the listing line's message number was checked
  bool has_rest_ = false;     // something follows the number on the listing line
  std::string number_;        // the listing line up to its first space (at most 24 bytes)
  std::uint32_t listed_ = 0;  // lines of the listing so far
};

}  // namespace mailcanary::probes
