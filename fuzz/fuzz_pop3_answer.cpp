// POP3 server answers as the mailbox reader consumes them. The input's first byte picks
// how the rest is cut into pieces (as recv() would return them; pieces_of()), the rest
// is everything the server sends: per scan a greeting and the answers to USER, PASS,
// LIST, UIDL, TOP n 0, DELE and QUIT, in the reader's order; the reader scans twice
// (two sessions, the second remembering the first's UIDLs).
//
// 1. ResponseGuard with tight POP3 limits (bytes, lines): it refuses in the same piece
//    whether the bytes arrive at once, byte by byte or in pieces.
// 2. The real reader (make_mailbox_reader) against the script through the test hook of
//    open_mailbox_stream(): the guard with the reader's limits, then libetpan's POP3
//    parser, then the reader's use of it. It finds only wanted canaries, with bounded
//    headers, and its errors are one printable line naming the mailbox.
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
using probes::ResponseGuard;

// The key and the canary the seeds carry (fuzz/corpus/fuzz_pop3_answer).
constexpr std::string_view kKey = "fuzz-hmac-key";
constexpr std::string_view kWanted = "mc1-6750a1b2-00112233445566778899aabbccddeeff";

// The byte where the guard first refused (byte by byte) or the start of the piece it
// refused; npos when nothing was refused.
std::size_t refused_at(const std::vector<std::string_view>& pieces) {
  ResponseGuard::Limits limits;
  limits.max_answer_bytes = 2000;
  limits.max_lines = 20;
  ResponseGuard guard(limits, ResponseGuard::TimePoint{});
  guard.command_sent(ResponseGuard::TimePoint{});
  std::size_t offset = 0;
  for (auto piece : pieces) {
    const std::string error = guard.received(piece);
    if (!error.empty()) {
      FUZZ_CHECK(fuzz::printable(error));
      return offset;
    }
    offset += piece.size();
  }
  return std::string_view::npos;
}

void check_guard(std::string_view script, std::uint8_t pattern) {
  const auto bytewise = refused_at(fuzz::pieces_of(script, 1));
  for (std::uint8_t p : {std::uint8_t{0}, pattern}) {
    const auto pieces = fuzz::pieces_of(script, p);
    const auto at = refused_at(pieces);
    FUZZ_CHECK((at == std::string_view::npos) == (bytewise == std::string_view::npos));
    if (at == std::string_view::npos) {
      continue;
    }
    std::size_t start = 0;
    for (auto piece : pieces) {
      if (start == at) {
        FUZZ_CHECK(bytewise >= start && bytewise < start + piece.size());
        break;
      }
      start += piece.size();
    }
  }
}

void check_error(const probes::MailboxError& e) {
  fuzz::note(std::string("error: ") + e.what());
  const std::string_view what = e.what();
  FUZZ_CHECK(what.rfind("pop3 pop.example.test:110: ", 0) == 0);
  FUZZ_CHECK(fuzz::printable(what));
}

void run_reader(std::string_view script, std::uint8_t pattern) {
  config::MailboxConfig cfg;
  cfg.name = "fuzz";
  cfg.protocol = config::MailboxProtocol::pop3;
  cfg.server = {"pop.example.test", 110};
  cfg.tls = config::TlsMode::none;
  cfg.user = "canary";
  cfg.password = "secret";
  cfg.idle = false;
  const std::set<std::string> wanted = {std::string(kWanted), "mc1-0-not-sent"};

  fuzz::ScriptedServer::serve(script, pattern);
  auto reader = probes::make_mailbox_reader(cfg, std::string(kKey));
  for (int scan = 0; scan < 2; ++scan) {
    try {
      for (const auto& f : reader->scan(wanted)) {
        fuzz::note("found " + f.id);
        FUZZ_CHECK(wanted.count(f.id) == 1);
        FUZZ_CHECK(f.folder == "INBOX");
        FUZZ_CHECK(f.headers.size() <= probes::kMaxHeaderBytes);
      }
    } catch (const probes::MailboxError& e) {
      check_error(e);
    }
  }
  reader.reset();
  FUZZ_CHECK(fuzz::ScriptedServer::connections() == 2);  // one session per scan
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const auto pattern = data[0];
  const auto script = fuzz::as_text(data + 1, size - 1);
  check_guard(script, pattern);
  run_reader(script, pattern);
  return 0;
}
