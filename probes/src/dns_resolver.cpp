// MX discovery policy: MX, then A/AAAA of every exchange, the implicit MX, null MX,
// and which failures are temporary. Questions go through the cache to the transport.
#include <ares.h>
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <type_traits>

#include "mailcanary/probes/dns.hpp"

namespace mailcanary::probes {
namespace {

using TimePoint = std::chrono::steady_clock::time_point;

std::string normalize(std::string name) {
  if (!name.empty() && name.back() == '.') {
    name.pop_back();
  }
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name;
}

/// Host name syntax: 1..253 characters, labels of 1..63 letters, digits, '-' or '_'.
bool valid_domain(const std::string& name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  std::size_t label = 0;
  for (const char c : name) {
    if (c == '.') {
      if (label == 0) {
        return false;
      }
      label = 0;
      continue;
    }
    const auto u = static_cast<unsigned char>(c);
    if (!(std::isalnum(u) || c == '-' || c == '_') || ++label > 63) {
      return false;
    }
  }
  return label > 0;
}

/// "<what> for NAME (TYPE) from SERVERS: MESSAGE"
std::string describe(std::string_view what, const DnsQuestion& q, const std::string& servers,
                     const std::string& message) {
  std::string s = std::string(what) + " for " + q.name + " (" + std::string(to_string(q.type)) +
                  ") from " + servers;
  if (!message.empty()) {
    s += ": " + message;
  }
  return s;
}

std::string too_large() {
  return "answer too large (more than " + std::to_string(Resolver::kMaxRecords) + " records)";
}

struct MxParse {
  std::vector<MxRecord> records;
  std::string error;  // a malformed or oversized answer
};

MxParse parse_mx(const DnsReply& reply) {
  MxParse out;
  ares_mx_reply* list = nullptr;
  const int rc =
      ares_parse_mx_reply(reply.packet.data(), static_cast<int>(reply.packet.size()), &list);
  if (rc == ARES_ENODATA) {
    return out;  // NOERROR, but no MX among the answers
  }
  if (rc != ARES_SUCCESS) {
    out.error = ares_strerror(rc);
    return out;
  }
  const auto ttl = static_cast<std::uint32_t>(cache_ttl(reply).count());
  for (auto* mx = list; mx != nullptr; mx = mx->next) {
    if (out.records.size() == Resolver::kMaxRecords) {
      out.records.clear();
      out.error = too_large();
      break;
    }
    out.records.push_back(MxRecord{normalize(mx->host != nullptr ? mx->host : ""),
                                   static_cast<int>(mx->priority), ttl});
  }
  ares_free_data(list);
  return out;
}

/// Appends the addresses of an A (ares_addrttl) or AAAA (ares_addr6ttl) answer parsed
/// by `parse`; returns an error text, empty if fine.
template <class Record>
std::string parse_address_records(const DnsReply& reply,
                                  int (*parse)(const unsigned char*, int, hostent**, Record*, int*),
                                  std::vector<std::string>& out) {
  constexpr int kRoom = static_cast<int>(Resolver::kMaxRecords) + 1;
  Record records[kRoom];
  int n = kRoom;
  const int rc =
      parse(reply.packet.data(), static_cast<int>(reply.packet.size()), nullptr, records, &n);
  if (rc == ARES_ENODATA) {
    return "";
  }
  if (rc != ARES_SUCCESS) {
    return ares_strerror(rc);
  }
  if (n >= kRoom) {
    return too_large();
  }
  char text[INET6_ADDRSTRLEN] = {};
  for (int i = 0; i < n; ++i) {
    const char* written;
    if constexpr (std::is_same_v<Record, ares_addrttl>) {
      written = inet_ntop(AF_INET, &records[i].ipaddr, text, sizeof text);
    } else {
      written = inet_ntop(AF_INET6, &records[i].ip6addr, text, sizeof text);
    }
    if (written != nullptr) {
      out.emplace_back(text);
    }
  }
  return "";
}

/// Appends the addresses of an A or AAAA answer; returns an error text, empty if fine.
std::string parse_addresses(const DnsReply& reply, DnsType type, std::vector<std::string>& out) {
  return type == DnsType::a
             ? parse_address_records<ares_addrttl>(reply, ares_parse_a_reply, out)
             : parse_address_records<ares_addr6ttl>(reply, ares_parse_aaaa_reply, out);
}

struct HostLookup {
  std::vector<std::string> addresses;
  std::string temp_error;  // a lookup failed in a way that may pass
  std::string detail;      // why addresses is empty
};

HostLookup host_addresses(const std::string& host, const DnsReply& a, const DnsReply& aaaa,
                          const std::string& servers) {
  HostLookup out;
  std::string nxdomain;
  for (const auto& [reply, type] : {std::pair{&a, DnsType::a}, std::pair{&aaaa, DnsType::aaaa}}) {
    const DnsQuestion q{host, type};
    switch (reply->status) {
      case DnsReply::Status::answer:
        if (auto err = parse_addresses(*reply, type, out.addresses);
            !err.empty() && out.temp_error.empty()) {
          out.temp_error = describe("bad answer", q, servers, err);
        }
        break;
      case DnsReply::Status::nodata:
        break;
      case DnsReply::Status::nxdomain:
        if (nxdomain.empty()) {
          nxdomain = describe("NXDOMAIN", q, servers, reply->message);
        }
        break;
      case DnsReply::Status::failed:
        if (out.temp_error.empty()) {
          out.temp_error = describe(reply->what, q, servers, reply->message);
        }
        break;
    }
  }
  if (out.addresses.empty()) {
    out.detail = !out.temp_error.empty() ? out.temp_error
                 : !nxdomain.empty()     ? nxdomain
                                         : "no A or AAAA record for " + host;
  }
  return out;
}

DnsOutcome fail(ResultClass cls, std::string detail) {
  DnsOutcome out;
  out.ok = false;
  out.cls = cls;
  out.detail = std::move(detail);
  return out;
}

}  // namespace

std::string_view to_string(DnsType t) {
  switch (t) {
    case DnsType::a:
      return "A";
    case DnsType::mx:
      return "MX";
    case DnsType::aaaa:
      return "AAAA";
  }
  return "?";
}

Resolver::Resolver(const config::DnsConfig& cfg, Clock& clock)
    : Resolver(make_cares_transport(cfg, clock), cfg.timeout, clock) {}

Resolver::Resolver(std::unique_ptr<DnsTransport> transport, std::chrono::milliseconds timeout,
                   Clock& clock)
    : transport_(std::move(transport)), timeout_(timeout), clock_(clock) {}

Resolver::~Resolver() = default;

std::vector<DnsReply> Resolver::lookup(const std::vector<DnsQuestion>& questions,
                                       TimePoint deadline) {
  std::vector<DnsReply> out(questions.size());
  std::vector<DnsQuestion> ask;
  std::vector<std::size_t> from(questions.size());  // index into `ask` for each miss
  std::vector<bool> hit(questions.size(), false);
  {
    const std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    for (std::size_t i = 0; i < questions.size(); ++i) {
      if (auto cached = cache_.get(questions[i], now)) {
        out[i] = std::move(*cached);
        hit[i] = true;
        continue;
      }
      const auto same = std::find_if(ask.begin(), ask.end(), [&](const DnsQuestion& q) {
        return q.name == questions[i].name && q.type == questions[i].type;
      });
      from[i] = static_cast<std::size_t>(same - ask.begin());
      if (same == ask.end()) {
        ask.push_back(questions[i]);
      }
    }
  }
  if (ask.empty()) {
    return out;
  }
  queries_sent_ += ask.size();
  auto replies = transport_->ask(ask, deadline);
  replies.resize(ask.size());  // a transport that answers too little: failed replies
  {
    const std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    for (std::size_t j = 0; j < ask.size(); ++j) {
      cache_.put(ask[j], replies[j], now);
    }
  }
  for (std::size_t i = 0; i < questions.size(); ++i) {
    if (!hit[i]) {
      out[i] = replies[from[i]];
    }
  }
  return out;
}

DnsOutcome Resolver::resolve_mx(const std::string& domain, Random& random) {
  const TimePoint deadline = clock_.now() + timeout_;
  const std::string servers = transport_->servers();
  const std::string name = normalize(domain);
  if (!valid_domain(name)) {
    return fail(ResultClass::dns_perm_fail, "invalid domain name \"" + domain + "\"");
  }

  // The domain's own addresses: the implicit MX when it has no MX records.
  auto implicit = [&]() {
    const auto r = lookup({{name, DnsType::a}, {name, DnsType::aaaa}}, deadline);
    auto host = host_addresses(name, r[0], r[1], servers);
    if (host.addresses.empty()) {
      return !host.temp_error.empty()
                 ? fail(ResultClass::dns_temp_fail,
                        "no MX and no address for " + name + ": " + host.temp_error)
                 : fail(ResultClass::dns_perm_fail, "no MX and no A/AAAA record for " + name);
    }
    DnsOutcome out;
    out.ok = true;
    out.cls = ResultClass::ok;
    out.implicit_mx = true;
    out.hosts.push_back(ResolvedHost{name, 0, std::move(host.addresses), ""});
    return out;
  };

  const DnsQuestion mxq{name, DnsType::mx};
  const DnsReply mx = lookup({mxq}, deadline)[0];
  switch (mx.status) {
    case DnsReply::Status::failed:
      return fail(ResultClass::dns_temp_fail, describe(mx.what, mxq, servers, mx.message));
    case DnsReply::Status::nxdomain:
      return fail(ResultClass::dns_perm_fail, describe("NXDOMAIN", mxq, servers, mx.message));
    case DnsReply::Status::nodata:
      return implicit();
    case DnsReply::Status::answer:
      break;
  }
  MxParse parsed = parse_mx(mx);
  if (!parsed.error.empty()) {
    return fail(ResultClass::dns_temp_fail, describe("bad answer", mxq, servers, parsed.error));
  }
  if (parsed.records.empty()) {
    return implicit();
  }
  if (is_null_mx(parsed.records)) {
    return fail(ResultClass::dns_perm_fail, "null MX (RFC 7505): " + name + " accepts no mail");
  }
  // A root exchange next to real ones (RFC 7505 forbids it) names no host: drop it.
  std::erase_if(parsed.records, [](const MxRecord& r) { return r.exchange.empty(); });
  if (parsed.records.empty()) {
    return fail(ResultClass::dns_perm_fail,
                "no usable MX for " + name + ": every exchange is the root (\".\")");
  }

  const auto records = order_mx(std::move(parsed.records), random);
  std::vector<DnsQuestion> questions;
  for (const auto& r : records) {
    questions.push_back({r.exchange, DnsType::a});
    questions.push_back({r.exchange, DnsType::aaaa});
  }
  const auto replies = lookup(questions, deadline);

  DnsOutcome out;
  std::string first_temp;
  std::string first_detail;
  bool any_address = false;
  for (std::size_t i = 0; i < records.size(); ++i) {
    auto host = host_addresses(records[i].exchange, replies[2 * i], replies[2 * i + 1], servers);
    any_address = any_address || !host.addresses.empty();
    if (host.addresses.empty()) {
      if (first_temp.empty()) {
        first_temp = host.temp_error;
      }
      if (first_detail.empty()) {
        first_detail = host.detail;
      }
    }
    out.hosts.push_back(ResolvedHost{records[i].exchange, records[i].preference,
                                     std::move(host.addresses), std::move(host.detail)});
  }
  if (!any_address) {
    // Not ok, but the hosts stay listed (each with its reason) for the caller's report.
    out.cls = first_temp.empty() ? ResultClass::dns_perm_fail : ResultClass::dns_temp_fail;
    out.detail = "no address for any MX of " + name + ": " +
                 (first_temp.empty() ? first_detail : first_temp);
    return out;
  }
  out.ok = true;
  out.cls = ResultClass::ok;
  return out;
}

}  // namespace mailcanary::probes
