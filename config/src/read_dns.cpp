#include "endpoint_syntax.hpp"
#include "sections.hpp"
#include "text.hpp"

namespace mailcanary::config::detail {

void read_dns(TableReader& r, DnsConfig& out) {
  constexpr int kDnsPort = 53;
  const auto servers = r.string_items("servers");
  r.read("timeout", out.timeout, DurationRule::positive);
  r.reject_unknown();

  if (!servers) {
    return;
  }
  for (const auto& item : *servers) {
    const auto endpoint = parse_endpoint(item.value, kDnsPort);
    if (!endpoint) {
      r.diag().add(item.where,
                   item.path + ": " + in_quotes(item.value) + " is not a valid host:port");
    } else if (!is_ip_address(endpoint->host)) {
      // The resolver's own address cannot come from a resolver.
      r.diag().add(item.where,
                   item.path + ": " + in_quotes(item.value) + " must be an IP address, not a name");
    } else {
      out.servers.push_back(*endpoint);
    }
  }
}

}  // namespace mailcanary::config::detail
