// The IMAP shape pre-check (probes/src/imap_shape.hpp): each limit refuses what breaks
// it, with the limit named, and lets through what real servers send.
#include <catch2/catch.hpp>
#include <string>

#include "../../probes/src/imap_shape.hpp"

namespace {

using mailcanary::probes::ImapShape;

ImapShape::Limits small() {
  ImapShape::Limits l;
  l.max_literal_bytes = 100;
  l.max_line_bytes = 200;
  l.max_depth = 4;
  l.max_untagged = 3;
  l.max_items = 50;
  return l;
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    out += s;
  }
  return out;
}

}  // namespace

TEST_CASE("what Dovecot answers passes with the default limits", "[mailbox][shape]") {
  ImapShape shape(ImapShape::Limits{});
  CHECK(shape.feed("* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
                   "LITERAL+ STARTTLS AUTH=PLAIN] Dovecot ready.\r\n") == "");
  shape.command_sent();
  CHECK(shape.feed("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
                   "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] "
                   "Flags permitted.\r\n* 3 EXISTS\r\n* 0 RECENT\r\n"
                   "* OK [UIDVALIDITY 1700000000] UIDs valid\r\n* OK [UIDNEXT 4] Predicted\r\n"
                   "a2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n") == "");
  shape.command_sent();
  const std::string header = "X-Mailcanary-Id: mc1-abc (with \"quotes\" and {5} braces)\r\n\r\n";
  CHECK(shape.feed("* 3 FETCH (UID 3 BODY[HEADER.FIELDS (X-MAILCANARY-ID RECEIVED)] {" +
                   std::to_string(header.size()) + "}\r\n" + header + ")\r\na3 OK Fetch\r\n") ==
        "");
  shape.command_sent();
  CHECK(shape.feed("* 1 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") "
                   "NIL NIL \"7bit\" 12 1 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL "
                   "\"7bit\" 300 (NIL \"subj\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" "
                   "\"plain\" NIL NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL) 10 NIL NIL NIL NIL) "
                   "\"mixed\" (\"boundary\" \"b\") NIL NIL NIL))\r\na4 OK\r\n") == "");
}

TEST_CASE("nesting deeper than the limit is refused, in a line or across reads",
          "[mailbox][shape]") {
  ImapShape shape(small());
  CHECK(shape.feed("* 1 FETCH ((((x))))\r\n") == "");  // 4 deep: at the limit
  CHECK(shape.feed("* 1 FETCH ((((") == "");
  CHECK(shape.feed("(") == "a response nested deeper than 4 parentheses");
  // 20,000 deep, the BODYSTRUCTURE that overflowed libetpan's stack, with the defaults.
  ImapShape deep(ImapShape::Limits{});
  CHECK(deep.feed("* 1 FETCH (BODYSTRUCTURE " + std::string(20000, '(')) ==
        "a response nested deeper than 64 parentheses");
}

TEST_CASE("parentheses in quoted strings and literals are not nesting", "[mailbox][shape]") {
  ImapShape shape(small());
  CHECK(shape.feed("* 1 FETCH (X \"((((((\\\"((((\" {10}\r\n((((((((((") == "");
  CHECK(shape.feed(")\r\n") == "");
  // A line end closes everything: the next response starts at depth 0.
  CHECK(shape.feed("* 2 FETCH (((\r\n* 3 FETCH (((\r\n") == "");
}

TEST_CASE("a line longer than the limit is refused; literal content does not count",
          "[mailbox][shape]") {
  ImapShape shape(small());
  CHECK(shape.feed("* 1 FETCH (BODY[] {90}\r\n" + std::string(90, 'x') + ")\r\n") == "");
  CHECK(shape.feed("* OK " + std::string(190, 'x')) == "");
  CHECK(shape.feed(std::string(10, 'x')) == "a response line longer than 200 bytes");
}

TEST_CASE("untagged responses beyond the limit per command are refused", "[mailbox][shape]") {
  ImapShape shape(small());
  CHECK(shape.feed("* OK x\r\n* OK x\r\n* OK x\r\n") == "");
  CHECK(shape.feed("* OK x\r\n") == "more than 3 untagged responses to one command");
  ImapShape fresh(small());
  CHECK(fresh.feed("* OK x\r\n* OK x\r\n* OK x\r\n") == "");
  fresh.command_sent();
  CHECK(fresh.feed("* OK x\r\n* OK x\r\n") == "");
}

TEST_CASE("items beyond the limit per answer are refused: a long SEARCH", "[mailbox][shape]") {
  ImapShape shape(small());
  CHECK(shape.feed("* SEARCH" + repeat(" 1", 48) + "\r\n") == "");  // *, SEARCH, 48: 50
  CHECK(shape.feed("a1 OK") == "more than 50 items in answer to one command");
  ImapShape defaults(ImapShape::Limits{});
  CHECK(defaults.feed("* SEARCH" + repeat(" 1", 40000)) ==
        "more than 32768 items in answer to one command");
}

TEST_CASE("literal announcements: limit, 20 digits, Domino form, split reads", "[mailbox][shape]") {
  ImapShape shape(small());
  CHECK(shape.feed("* 1 FETCH (BODY[] {101}\r\n") ==
        "the server announced a 101-byte literal (limit 100)");
  ImapShape huge(small());
  CHECK(huge.feed("* 1 FETCH (BODY[] {99999999999999999999999}\r\n") ==
        "the server announced a 20-digit-byte literal (limit 100)");
  ImapShape domino(small());
  CHECK(domino.feed("* 1 FETCH (BODY[] {5000} ") ==
        "the server announced a 5000-byte literal (limit 100)");
  ImapShape split(small());
  std::string why;
  for (char c : std::string("* 1 FETCH (BODY[] {{101}\r\n")) {
    if (why = split.feed(std::string(1, c)); !why.empty()) {
      break;
    }
  }
  CHECK(why == "the server announced a 101-byte literal (limit 100)");
  // In a quoted string, or not at a line's end, braces announce nothing.
  ImapShape quoted(small());
  CHECK(quoted.feed("* OK \"{5000}\" {5000}x and {12\r\n") == "");
}
