// Canary tokens as a mailbox reader meets them: the X-Mailcanary-Id values of a header
// block and their signature check. Also the other way: a message built from arbitrary
// target/member/instance names still carries exactly one token, which verifies.
#include <string>

#include "fuzz_support.hpp"
#include "mailcanary/probes/canary.hpp"
#include "mailcanary/probes/mailbox.hpp"

namespace {

using namespace mailcanary::probes;
constexpr std::string_view kKey = "fuzz-key";

void check_verified(std::string_view value) {
  const auto id = verify_canary_token(value, kKey);
  if (!id) {
    return;
  }
  FUZZ_CHECK(!id->empty() && id->size() <= 128);
  FUZZ_CHECK(value.find(*id) != std::string_view::npos);
  // A verified token round-trips, and is foreign under another key.
  FUZZ_CHECK(verify_canary_token(canary_token(*id, kKey), kKey) == *id);
  FUZZ_CHECK(!verify_canary_token(value, "another key"));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = mailcanary::fuzz::as_text(data, size);
  check_verified(text);
  for (const auto& value : header_values(text, kCanaryHeader)) {
    check_verified(value);
  }

  // The lines of the input as the names a config could give.
  const auto parts = mailcanary::fuzz::lines_of(text, 6);
  auto part = [&](std::size_t i) { return i < parts.size() ? std::string(parts[i]) : ""; };
  CanaryMessage m;
  m.id = "mc1-65540000-0123456789abcdef0123456789abcdef";
  m.from = part(0);
  m.rcpt = part(1);
  m.target = part(2);
  m.member = part(3);
  m.instance = part(4);
  m.hostname = part(5);
  const std::string message = build_canary_message(m, kKey);
  const auto tokens = header_values(message, kCanaryHeader);
  FUZZ_CHECK(tokens.size() == 1);
  FUZZ_CHECK(verify_canary_token(tokens[0], kKey) == m.id);
  const auto end = message.find("\r\n\r\n");
  FUZZ_CHECK(end != std::string::npos);
  // No bare CR or LF inside the header block: a name cannot start a header of its own.
  for (std::size_t i = 0; i < end; ++i) {
    if (message[i] == '\r') {
      FUZZ_CHECK(message[i + 1] == '\n');
    } else if (message[i] == '\n') {
      FUZZ_CHECK(i > 0 && message[i - 1] == '\r');
    }
  }
  return 0;
}
