// MX discovery (RFC 5321 5.1, RFC 7505) with c-ares: which hosts, in which order, at
// which addresses a probe of a domain delivers to, or why it cannot.
//
// Layers, each testable alone:
//   order_mx / is_null_mx   pure ordering rules
//   DnsTransport            asks questions on the wire (c-ares), nothing else
//   DnsCache                answers per name+type for their TTL, pure (time passed in)
//   Resolver                the policy: MX, then A/AAAA, implicit MX, error classes
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/clock.hpp"
#include "mailcanary/probes/result.hpp"

namespace mailcanary::probes {

struct MxRecord {
  std::string exchange;  // lower case, no trailing dot; "" for the root (null MX)
  int preference = 0;
  std::uint32_t ttl = 0;  // seconds, the answer's TTL (capped like the cache's)
};

struct ResolvedHost {
  std::string exchange;
  int preference = 0;
  /// IPv4 then IPv6 literals (no brackets). May be empty: the host is kept so the
  /// caller can report it unreachable, with `detail` saying why.
  std::vector<std::string> addresses;
  std::string detail;  // set when addresses is empty, e.g. "NXDOMAIN for mx.x.test (A) ..."
};

struct DnsOutcome {
  bool ok = false;
  /// ok when ok; otherwise dns_temp_fail (worth retrying) or dns_perm_fail.
  ResultClass cls = ResultClass::dns_temp_fail;
  /// Why not ok, with the query name and type and the resolver library's own message,
  /// e.g. "NXDOMAIN for nx.test (MX) from 127.0.0.53:5353: Domain name not found" or
  /// "null MX (RFC 7505): nullmx.test accepts no mail".
  std::string detail;
  /// No MX records: the domain itself is the only host (RFC 5321 5.1).
  bool implicit_mx = false;
  /// In delivery order. Also filled when no MX host has an address (not ok), so the
  /// caller can report each host with its reason.
  std::vector<ResolvedHost> hosts;
};

/// RFC 7505: exactly one MX, preference 0, exchange the root ("" or ".").
bool is_null_mx(const std::vector<MxRecord>& records);

/// Delivery order (RFC 5321 5.1): preference ascending; hosts of equal preference in
/// a random order drawn from `random` (Fisher-Yates). Keeps every record.
std::vector<MxRecord> order_mx(std::vector<MxRecord> records, Random& random);

// ---------------------------------------------------------------------------------
// One question and its answer: the seam between the resolver's rules and the wire.

enum class DnsType : std::uint16_t { a = 1, mx = 15, aaaa = 28 };
std::string_view to_string(DnsType t);  // "A", "MX", "AAAA"

struct DnsQuestion {
  std::string name;  // lower case, no trailing dot
  DnsType type = DnsType::mx;
};

struct DnsReply {
  enum class Status {
    answer,    // NOERROR with records: `packet` holds them
    nodata,    // NOERROR without records of the type (RFC 2308 NODATA)
    nxdomain,  // the name does not exist
    failed,    // no usable answer: SERVFAIL, REFUSED, timeout, unreachable server, ...
  };
  Status status = Status::failed;
  /// For failed: a short cause ("SERVFAIL", "REFUSED", "timeout", "connection refused").
  std::string what;
  /// The resolver library's own text (ares_strerror), e.g. "Server failure".
  std::string message;
  /// The server's answer as received (empty when failed). Kept whole so TTLs and the
  /// SOA of negative answers can be read from it.
  std::vector<unsigned char> packet;
};

/// Asks DNS servers. Implementations must be safe to call from several threads.
class DnsTransport {
 public:
  virtual ~DnsTransport() = default;
  /// Asks every question at once and returns one reply per question, in order. Returns
  /// by `deadline` (steady clock); a question unanswered by then is failed "timeout".
  virtual std::vector<DnsReply> ask(const std::vector<DnsQuestion>& questions,
                                    std::chrono::steady_clock::time_point deadline) = 0;
  /// The servers asked, for messages: "127.0.0.53:5353" or "the system resolver".
  virtual std::string servers() const = 0;
};

/// The c-ares transport: `cfg.servers` (IPv4 or IPv6 with ports) or, when empty, the
/// system configuration (/etc/resolv.conf). UDP, TCP on truncation; 2 tries per server
/// with a per-try timeout sized so all tries fit before the deadline. A fresh channel
/// per ask() call, so calls never share state. `clock` measures the deadline.
std::unique_ptr<DnsTransport> make_cares_transport(const config::DnsConfig& cfg, Clock& clock);

// ---------------------------------------------------------------------------------
// Cache.

/// How long a reply may be reused: an answer for the smallest TTL in its answer
/// section (capped at DnsCache::kMaxTtl); NXDOMAIN/NODATA for the SOA's negative TTL
/// (min of SOA TTL and MINIMUM, RFC 2308), capped at kMaxNegativeTtl, which is also
/// the time when the reply has no SOA; a failed reply or an unreadable packet: 0
/// (never cached). A TTL with the top bit set counts as 0 (RFC 2181 8).
std::chrono::seconds cache_ttl(const DnsReply& reply);

/// Replies per question for their cache_ttl(). Bounded: when full, expired entries
/// go first, then the one that would expire soonest. Not thread-safe (the Resolver
/// holds a mutex); names are compared as given (the Resolver passes lower case).
class DnsCache {
 public:
  static constexpr std::size_t kDefaultCapacity = 10000;
  static constexpr std::chrono::seconds kMaxTtl{3600};
  static constexpr std::chrono::seconds kMaxNegativeTtl{30};

  explicit DnsCache(std::size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  /// The reply stored for `q` if it has not expired at `now`.
  std::optional<DnsReply> get(const DnsQuestion& q, std::chrono::steady_clock::time_point now);
  /// Stores `reply` until now + cache_ttl(reply); nothing if that is 0.
  void put(const DnsQuestion& q, const DnsReply& reply, std::chrono::steady_clock::time_point now);
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    DnsReply reply;
    std::chrono::steady_clock::time_point expires;
  };
  void make_room(std::chrono::steady_clock::time_point now);
  std::size_t capacity_;
  std::map<std::pair<std::string, DnsType>, Entry> entries_;
};

// ---------------------------------------------------------------------------------

/// MX discovery for one agent. Thread-safe: the cache is behind a mutex and each
/// call asks on its own c-ares channel. resolve_mx() returns within the configured
/// [dns] timeout (for all its questions together), plus scheduling slack.
///
/// Outcome rules:
///  - MX records: each exchange resolved to A and AAAA; an exchange without any
///    address is kept with empty `addresses` and a `detail`. No address for any
///    exchange: dns_perm_fail "no address for any MX of X: <first host's reason>"
///    (dns_temp_fail if a lookup failed temporarily).
///  - A root exchange (".") next to other MX records names no host and is dropped.
///  - No MX (NODATA): the domain's own A/AAAA, implicit_mx, exchange = domain,
///    preference 0; none either: dns_perm_fail.
///  - Null MX (RFC 7505), NXDOMAIN, an invalid domain name: dns_perm_fail.
///  - SERVFAIL, REFUSED, timeouts, unreachable servers, malformed or oversized answers
///    (more than kMaxRecords records): dns_temp_fail.
class Resolver {
 public:
  static constexpr std::size_t kMaxRecords = 100;  // per answer (MX, A or AAAA)

  /// c-ares with `cfg.servers` (or the system resolver) and `cfg.timeout`.
  Resolver(const config::DnsConfig& cfg, Clock& clock);
  /// Any transport (tests use canned replies). `timeout` bounds each resolve_mx().
  Resolver(std::unique_ptr<DnsTransport> transport, std::chrono::milliseconds timeout,
           Clock& clock);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  /// The hosts to deliver mail for `domain` to, in delivery order (shuffled among equal
  /// preferences with `random`, anew on every call, cached or not).
  DnsOutcome resolve_mx(const std::string& domain, Random& random);

  /// Questions sent to the transport so far (cache hits are not counted).
  std::uint64_t queries_sent() const { return queries_sent_.load(); }

 private:
  std::vector<DnsReply> lookup(const std::vector<DnsQuestion>& questions,
                               std::chrono::steady_clock::time_point deadline);
  std::unique_ptr<DnsTransport> transport_;
  std::chrono::milliseconds timeout_;
  Clock& clock_;
  std::mutex mutex_;
  DnsCache cache_;
  std::atomic<std::uint64_t> queries_sent_{0};
};

}  // namespace mailcanary::probes
