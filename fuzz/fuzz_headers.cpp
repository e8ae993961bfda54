// A delivered message's header block: Received and Authentication-Results (evidence),
// Date, header unfolding. The input is the header block; each of its lines is also
// tried as an RFC 5322 date.
#include <chrono>
#include <cmath>
#include <ctime>
#include <string>

#include "fuzz_support.hpp"
#include "mailcanary/probes/evidence.hpp"
#include "mailcanary/probes/mailbox.hpp"

namespace {

using namespace mailcanary::probes;
using mailcanary::fuzz::printable;

// "Tue, 14 Nov 2023 22:13:20 +0000", written independently of the parser under test.
std::string format_date(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

void check_date(std::string_view text) {
  const auto when = parse_rfc5322_date(text);
  if (!when) {
    return;
  }
  // A parsed date prints and parses back to the same instant (whole seconds). Years
  // under 1000 do not: two- and three-digit years are read as 19xx/20xx (RFC 5322 4.3).
  const std::time_t tt = std::chrono::system_clock::to_time_t(*when);
  std::tm tm{};
  if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 < 1000) {
    return;
  }
  const auto again = parse_rfc5322_date(format_date(*when));
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(std::chrono::floor<std::chrono::seconds>(*again) ==
             std::chrono::floor<std::chrono::seconds>(*when));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = mailcanary::fuzz::as_text(data, size);

  const Evidence e = parse_evidence(text);
  FUZZ_CHECK(e.hops.size() <= 32);
  FUZZ_CHECK(e.received_by.size() <= 512 && printable(e.received_by));
  FUZZ_CHECK(e.authentication_results.size() <= 512 && printable(e.authentication_results));
  for (const auto& hop : e.hops) {
    FUZZ_CHECK(hop.from.size() <= 512 && printable(hop.from));
    FUZZ_CHECK(hop.by.size() <= 512 && printable(hop.by));
    FUZZ_CHECK(!hop.seconds || std::isfinite(*hop.seconds));
  }
  if (!e.hops.empty()) {
    FUZZ_CHECK(e.hops.back().by == e.received_by);
  }

  for (const auto* name : {"Received", "received", "X-Mailcanary-Id", "Date"}) {
    const auto values = header_values(text, name, 4);
    FUZZ_CHECK(values.size() <= 4);
    for (const auto& v : values) {
      FUZZ_CHECK(v.find('\n') == std::string::npos);
    }
  }
  for (auto line : mailcanary::fuzz::lines_of(text, 64)) {
    check_date(line);
  }
  return 0;
}
