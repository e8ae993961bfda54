// IMAP server answers as the mailbox reader consumes them. The input's first byte picks
// how the rest is cut into pieces (as recv() would return them; pieces_of()), the rest
// is everything the server sends on the connection: the greeting and the answers to
// LOGIN, SELECT, NOOP, UID SEARCH, UID FETCH, UID STORE, EXPUNGE, in the reader's order.
//
// 1. ImapShape alone (tight limits and the reader's): its verdict is the same whether the
//    bytes arrive at once, byte by byte or in pieces, and it names the byte it refused.
// 2. ResponseGuard with those limits: it refuses in the piece holding that byte.
// 3. The real reader (make_mailbox_reader) against the script through the test hook of
//    open_mailbox_stream(): the guard, then libetpan's IMAP parser, then the reader's
//    use of what it parsed. It finds only wanted canaries, with bounded headers, and its
//    errors are one printable line naming the mailbox.
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "../probes/src/mailbox_tls_guard.hpp"
#include "../probes/src/readers.hpp"
#include "fuzz_mailstream.hpp"
#include "mailcanary/probes/canary.hpp"
#include "mailcanary/probes/mailbox.hpp"

namespace {

using namespace mailcanary;
using probes::ImapShape;
using probes::ResponseGuard;

// The key and the canary the seeds carry (fuzz/corpus/fuzz_imap_answer).
constexpr std::string_view kKey = "fuzz-hmac-key";
constexpr std::string_view kWanted = "mc1-6750a1b2-00112233445566778899aabbccddeeff";

struct Verdict {
  std::string error;   // "" when nothing was refused
  std::size_t at = 0;  // the byte refused (byte by byte) or the start of its piece
};

Verdict shape_verdict(const ImapShape::Limits& limits,
                      const std::vector<std::string_view>& pieces) {
  ImapShape shape(limits);
  std::size_t offset = 0;
  for (auto piece : pieces) {
    if (std::string error = shape.feed(piece); !error.empty()) {
      return {std::move(error), offset};
    }
    offset += piece.size();
  }
  return {};
}

// Whether `v` (fed in `pieces`) refused in the piece holding the byte `bytewise` did.
bool same_place(const Verdict& v, const Verdict& bytewise,
                const std::vector<std::string_view>& pieces) {
  if (v.error.empty() || bytewise.error.empty()) {
    return v.error.empty() == bytewise.error.empty();
  }
  std::size_t start = 0;
  for (auto piece : pieces) {
    if (start == v.at) {
      return bytewise.at >= start && bytewise.at < start + piece.size();
    }
    start += piece.size();
  }
  return false;
}

void check_shape(std::string_view script, std::uint8_t pattern, const ImapShape::Limits& limits) {
  const auto bytes = fuzz::pieces_of(script, 1);
  const auto bytewise = shape_verdict(limits, bytes);
  if (!bytewise.error.empty()) {
    FUZZ_CHECK(bytewise.at < script.size());
  }
  for (std::uint8_t p : {std::uint8_t{0}, pattern}) {
    const auto pieces = fuzz::pieces_of(script, p);
    const auto v = shape_verdict(limits, pieces);
    FUZZ_CHECK(v.error == bytewise.error);
    FUZZ_CHECK(same_place(v, bytewise, pieces));
  }

  // The guard adds the answer's size; an answer of `script` alone sees the same shape.
  ResponseGuard::Limits guard_limits;
  guard_limits.max_answer_bytes = 1u << 20;
  guard_limits.imap = limits;
  ResponseGuard guard(guard_limits, ResponseGuard::TimePoint{});
  guard.command_sent(ResponseGuard::TimePoint{});
  const auto pieces = fuzz::pieces_of(script, pattern);
  Verdict g;
  std::size_t offset = 0;
  for (auto piece : pieces) {
    if (std::string error = guard.received(piece); !error.empty()) {
      g = {std::move(error), offset};
      break;
    }
    offset += piece.size();
  }
  FUZZ_CHECK(g.error == bytewise.error);
  FUZZ_CHECK(same_place(g, bytewise, pieces));
}

void check_error(const probes::MailboxError& e) {
  fuzz::note(std::string("error: ") + e.what());
  const std::string_view what = e.what();
  FUZZ_CHECK(what.rfind("imap imap.example.test:143: ", 0) == 0);
  FUZZ_CHECK(fuzz::printable(what));
}

void check_found(const std::vector<probes::FoundCanary>& found,
                 const std::set<std::string>& wanted) {
  for (const auto& f : found) {
    fuzz::note("found " + f.id + " in " + f.folder);
    FUZZ_CHECK(wanted.count(f.id) == 1);
    FUZZ_CHECK(f.folder == "INBOX" || f.folder == "Junk");
    FUZZ_CHECK(f.headers.size() <= probes::kMaxHeaderBytes);
  }
}

void run_reader(std::string_view script, std::uint8_t pattern) {
  config::MailboxConfig cfg;
  cfg.name = "fuzz";
  cfg.protocol = config::MailboxProtocol::imap;
  cfg.server = {"imap.example.test", 143};
  cfg.tls = config::TlsMode::none;
  cfg.user = "canary";
  cfg.password = "secret";
  cfg.idle = false;
  cfg.junk_folders = {"Junk"};
  const std::set<std::string> wanted = {std::string(kWanted), "mc1-0-not-sent"};

  fuzz::ScriptedServer::serve(script, pattern);
  auto reader = probes::make_mailbox_reader(cfg, std::string(kKey));
  try {
    check_found(reader->scan(wanted), wanted);
  } catch (const probes::MailboxError& e) {
    check_error(e);
  }
  try {
    for (const auto& b : reader->scan_bounces(wanted)) {
      fuzz::note("bounce " + b.id + ": " + b.summary);
      FUZZ_CHECK(wanted.count(b.id) == 1);
    }
  } catch (const probes::MailboxError& e) {
    check_error(e);
  }
  reader.reset();  // LOGOUT on a session still up, into the script's end
  // One session for both scans, or a second one when the first went away in between.
  FUZZ_CHECK(fuzz::ScriptedServer::connections() <= 2);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const auto pattern = data[0];
  const auto script = fuzz::as_text(data + 1, size - 1);

  ImapShape::Limits tight;
  tight.max_literal_bytes = 64;
  tight.max_line_bytes = 200;
  tight.max_depth = 6;
  tight.max_untagged = 12;
  tight.max_items = 300;
  check_shape(script, pattern, tight);
  check_shape(script, pattern, ImapShape::Limits{});

  run_reader(script, pattern);
  return 0;
}
