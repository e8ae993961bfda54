// The config's value syntaxes on their own: durations ("1h30m") and endpoints
// ("host:port", "[v6]:port"). The first byte picks the default port.
#include <string>

#include "fuzz_support.hpp"
#include "mailcanary/config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mailcanary::config;
  if (size == 0) {
    return 0;
  }
  constexpr int kDefaultPorts[] = {0, 25, 993, 65535, 65536, -1};
  const int default_port = kDefaultPorts[data[0] % std::size(kDefaultPorts)];
  const std::string text(mailcanary::fuzz::as_text(data + 1, size - 1));

  if (const auto d = parse_duration(text)) {
    FUZZ_CHECK(d->count() >= 0);
    const std::string shown = format_duration(*d);
    FUZZ_CHECK(parse_duration(shown) == *d);
  }
  if (const auto e = parse_endpoint(text, default_port)) {
    FUZZ_CHECK(e->port >= 1);
    FUZZ_CHECK(!e->host.empty());
    // The canonical form parses back to the same endpoint, port required or not.
    FUZZ_CHECK(parse_endpoint(e->to_string(), 0) == *e);
    FUZZ_CHECK(parse_endpoint(e->to_string(), default_port) == *e);
  }
  return 0;
}
