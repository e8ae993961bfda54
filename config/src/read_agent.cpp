#include <charconv>

#include "endpoint_syntax.hpp"
#include "sections.hpp"
#include "text.hpp"

namespace mailcanary::config::detail {
namespace {

constexpr int kMaxConcurrency = 10000;
constexpr int kMaxPort = 65535;

// "i/n" with 1 <= i <= n.
bool parse_shard(std::string_view text, int& index, int& count) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return false;
  }
  const auto number = [](std::string_view s, int& out) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && s.front() != '-' && ec == std::errc{} && end == s.data() + s.size();
  };
  int i = 0;
  int n = 0;
  if (!number(text.substr(0, slash), i) || !number(text.substr(slash + 1), n) || i < 1 || i > n) {
    return false;
  }
  index = i;
  count = n;
  return true;
}

}  // namespace

bool check_listen(TableReader& r, std::string_view key, const std::string& text, Endpoint& out) {
  // Port 0 is accepted here: the OS picks a free port (useful for tests). ":PORT" (no
  // host) listens on every address, IPv6 and IPv4, as exporters' --web.listen-address.
  const bool every_address = text.starts_with(':') && text.find(':', 1) == std::string::npos;
  const auto split = split_host_port(every_address ? "any" + text : text);
  if (!split || !split->port || *split->port > kMaxPort) {
    r.error(key, in_quotes(text) + " is not a valid host:port (the port is required)");
    return false;
  }
  out = Endpoint{every_address ? "" : split->host, static_cast<std::uint16_t>(*split->port)};
  return true;
}

void read_agent(TableReader& r, AgentConfig& out, const LoadContext& ctx) {
  std::string listen;
  const bool has_listen = r.read("listen", listen);
  const bool has_state_dir = r.read("state_dir", out.state_dir);
  r.read("interval", out.interval, DurationRule::positive);
  r.read("concurrency", out.concurrency, 1, kMaxConcurrency);
  r.require("hmac_key_file");
  const bool has_key = r.read("hmac_key_file", out.hmac_key_file);
  r.read("instance", out.instance);
  r.read("histograms", out.per_member_histograms, {{"member", true}, {"target", false}});
  std::string shard;
  const bool has_shard = r.read("shard", shard);
  r.reject_unknown();

  if (has_listen) {
    check_listen(r, "listen", listen, out.listen);
  }
  if (has_state_dir) {
    if (out.state_dir.empty()) {
      r.error("state_dir", "must not be empty");
    } else {
      out.state_dir = resolve_path(ctx.config_dir, out.state_dir);
    }
  }
  if (has_shard && !parse_shard(shard, out.shard_index, out.shard_count)) {
    r.error("shard", "expected \"i/n\" with 1 <= i <= n, got " + in_quotes(shard));
  }
  if (has_key) {
    load_secret(r, "hmac_key_file", Trim::trailing_whitespace, out.hmac_key_file, out.hmac_key,
                ctx);
  }
}

}  // namespace mailcanary::config::detail
