// Delivery status notifications from the bounce mailbox: any message text at all.
// Seeds carry canary tokens signed under kKey, so the fuzzer starts from DSNs that
// are recognised.
#include "fuzz_support.hpp"
#include "mailcanary/probes/canary.hpp"
#include "mailcanary/probes/dsn.hpp"

namespace {
constexpr std::string_view kKey = "fuzz-key";
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mailcanary::probes;
  using mailcanary::fuzz::printable;
  const auto text = mailcanary::fuzz::as_text(data, size);
  const auto dsn = parse_dsn(text, kKey);
  if (!dsn) {
    return 0;
  }
  // Only a final failure for a canary signed under the key is reported.
  FUZZ_CHECK(dsn->action == "failed");
  FUZZ_CHECK(!dsn->status.empty());
  FUZZ_CHECK(!dsn->canary_id.empty());
  FUZZ_CHECK(verify_canary_token(canary_token(dsn->canary_id, kKey), kKey) == dsn->canary_id);
  // Everything shown (the result's detail) is bounded, printable text.
  for (const auto* s : {&dsn->status, &dsn->diagnostic}) {
    FUZZ_CHECK(s->size() <= 300);
    FUZZ_CHECK(printable(*s));
  }
  FUZZ_CHECK(printable(dsn->canary_id));
  FUZZ_CHECK(printable(dsn->summary()));
  // Under another key the same text is foreign.
  FUZZ_CHECK(!parse_dsn(text, "another key"));
  return 0;
}
