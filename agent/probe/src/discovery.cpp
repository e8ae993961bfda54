#include "mailcanary/agent/probe/discovery.hpp"

#include <stdexcept>

namespace mailcanary::agent {
namespace {

using probes::ResultClass;
using probes::Stage;

ProbeResult dns_failure(const config::TargetConfig& t, std::string member, ResultClass cls,
                        std::string detail) {
  ProbeResult r;
  r.target = t.name;
  r.member = std::move(member);
  r.cls = cls;
  r.stage = Stage::dns;
  r.detail = std::move(detail);
  return r;
}

void add_vip_members(const config::TargetConfig& t, const std::string& filter, Discovery& out) {
  if (t.vip) {
    std::string label = t.vip->to_string();
    if (filter.empty() || filter == label) {
      out.members.push_back({&t, label, {*t.vip}, t.host});
    }
  }
  for (std::size_t i = 0; i < t.members.size(); ++i) {
    if (filter.empty() || filter == t.members[i]) {
      out.members.push_back({&t, t.members[i], {t.member_endpoints[i]}, t.host});
    }
  }
}

void add_mx_members(const config::TargetConfig& t, const std::string& filter,
                    probes::Resolver& resolver, probes::Random& random, Discovery& out) {
  auto outcome = resolver.resolve_mx(t.domain, random);
  if (!outcome.ok && outcome.hosts.empty()) {
    if (filter.empty() || filter == t.domain) {
      out.failures.push_back(dns_failure(t, t.domain, outcome.cls, outcome.detail));
    }
    return;
  }
  const auto port = static_cast<std::uint16_t>(t.smtp.port);
  for (const auto& host : outcome.hosts) {
    std::string label = config::Endpoint{host.exchange, port}.to_string();
    if (!filter.empty() && filter != label) {
      continue;
    }
    if (host.addresses.empty()) {
      out.failures.push_back(
          dns_failure(t, label, ResultClass::unreachable,
                      host.detail.empty() ? "no address for " + host.exchange : host.detail));
      continue;
    }
    MemberRef m{&t, label, {}, host.exchange};
    for (const auto& a : host.addresses) {
      m.addresses.push_back({a, port});
    }
    out.members.push_back(std::move(m));
  }
}

}  // namespace

Discovery discover(const config::Config& cfg, const std::string& target_filter,
                   const std::string& member_filter, probes::Resolver& resolver,
                   probes::Random& random) {
  Discovery out;
  bool target_seen = false;
  for (const auto& t : cfg.targets) {
    if (!target_filter.empty() && t.name != target_filter) {
      continue;
    }
    target_seen = true;
    if (t.is_mx_mode()) {
      add_mx_members(t, member_filter, resolver, random, out);
    } else {
      add_vip_members(t, member_filter, out);
    }
  }
  if (!target_filter.empty() && !target_seen) {
    throw std::invalid_argument("--target " + target_filter + ": no such target in the config");
  }
  if (!member_filter.empty() && out.members.empty() && out.failures.empty()) {
    throw std::invalid_argument("--member " + member_filter + ": no such member");
  }
  return out;
}

}  // namespace mailcanary::agent
