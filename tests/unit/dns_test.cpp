// MX discovery without the network: ordering rules, the TTL cache on a fake clock, and
// the resolver's rules over a transport that returns hand-built DNS packets.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fake_clock.hpp"
#include "mailcanary/probes/dns.hpp"

using namespace mailcanary::probes;
using mailcanary::testing::FakeClock;
using namespace std::chrono_literals;

namespace {

// ------------------------------------------------------------------ randomness

/// Returns the scripted values in a loop.
class ScriptedRandom final : public Random {
 public:
  explicit ScriptedRandom(std::vector<double> values) : values_(std::move(values)) {}
  double uniform01() override { return values_[next_++ % values_.size()]; }

 private:
  std::vector<double> values_;
  std::size_t next_ = 0;
};

/// A small deterministic generator (LCG), for "many different draws".
class LcgRandom final : public Random {
 public:
  double uniform01() override {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state_ >> 11) / 9007199254740992.0;  // 2^53
  }

 private:
  std::uint64_t state_ = 42;
};

std::vector<std::string> exchanges(const std::vector<MxRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) {
    out.push_back(r.exchange);
  }
  return out;
}

// ------------------------------------------------------------------ DNS packets

using Bytes = std::vector<unsigned char>;

void put16(Bytes& b, unsigned v) {
  b.push_back(static_cast<unsigned char>(v >> 8));
  b.push_back(static_cast<unsigned char>(v));
}
void put32(Bytes& b, std::uint32_t v) {
  put16(b, v >> 16);
  put16(b, v & 0xFFFF);
}
void put_name(Bytes& b, const std::string& name) {
  std::size_t start = 0;
  while (start < name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos) {
      dot = name.size();
    }
    b.push_back(static_cast<unsigned char>(dot - start));
    b.insert(b.end(), name.begin() + static_cast<long>(start),
             name.begin() + static_cast<long>(dot));
    start = dot + 1;
  }
  b.push_back(0);
}

struct Rr {
  std::string name;
  DnsType type;
  std::uint32_t ttl;
  Bytes rdata;
  std::uint16_t raw_type = 0;  // overrides `type` when set (e.g. SOA = 6)
};

Bytes mx_rdata(int preference, const std::string& exchange) {
  Bytes b;
  put16(b, static_cast<unsigned>(preference));
  put_name(b, exchange);
  return b;
}
Bytes a_rdata(const std::string& ip) {
  Bytes b(4);
  REQUIRE(inet_pton(AF_INET, ip.c_str(), b.data()) == 1);
  return b;
}
Bytes aaaa_rdata(const std::string& ip) {
  Bytes b(16);
  REQUIRE(inet_pton(AF_INET6, ip.c_str(), b.data()) == 1);
  return b;
}
Rr soa(std::uint32_t ttl, std::uint32_t minimum) {
  Bytes b;
  put_name(b, "ns.test");
  put_name(b, "hostmaster.test");
  for (std::uint32_t v : {1U, 3600U, 600U, 86400U, minimum}) {
    put32(b, v);
  }
  return Rr{"test", DnsType::a, ttl, b, 6};
}

/// A response to `qname`/`qtype` with RCODE `rcode` and the given sections.
Bytes packet(const std::string& qname, DnsType qtype, int rcode, const std::vector<Rr>& answers,
             const std::vector<Rr>& authority = {}) {
  Bytes b;
  put16(b, 0x1234);
  put16(b, 0x8180u | static_cast<unsigned>(rcode));  // QR RD RA
  put16(b, 1);
  put16(b, static_cast<unsigned>(answers.size()));
  put16(b, static_cast<unsigned>(authority.size()));
  put16(b, 0);
  put_name(b, qname);
  put16(b, static_cast<unsigned>(qtype));
  put16(b, 1);
  for (const auto* section : {&answers, &authority}) {
    for (const auto& rr : *section) {
      put_name(b, rr.name);
      put16(b, rr.raw_type != 0 ? rr.raw_type : static_cast<unsigned>(rr.type));
      put16(b, 1);
      put32(b, rr.ttl);
      put16(b, static_cast<unsigned>(rr.rdata.size()));
      b.insert(b.end(), rr.rdata.begin(), rr.rdata.end());
    }
  }
  return b;
}

DnsReply answer(const std::string& name, DnsType type, std::vector<Rr> rrs) {
  return DnsReply{DnsReply::Status::answer, "", "", packet(name, type, 0, rrs)};
}
DnsReply mx_answer(const std::string& name, std::uint32_t ttl,
                   const std::vector<std::pair<int, std::string>>& mx) {
  std::vector<Rr> rrs;
  for (const auto& [pref, host] : mx) {
    rrs.push_back(Rr{name, DnsType::mx, ttl, mx_rdata(pref, host)});
  }
  return answer(name, DnsType::mx, rrs);
}
DnsReply a_answer(const std::string& name, std::uint32_t ttl, const std::string& ip) {
  return answer(name, DnsType::a, {Rr{name, DnsType::a, ttl, a_rdata(ip)}});
}
DnsReply aaaa_answer(const std::string& name, std::uint32_t ttl, const std::string& ip) {
  return answer(name, DnsType::aaaa, {Rr{name, DnsType::aaaa, ttl, aaaa_rdata(ip)}});
}
DnsReply nodata(const std::string& name, DnsType type) {
  return DnsReply{DnsReply::Status::nodata, "", "DNS server returned answer with no data",
                  packet(name, type, 0, {}, {soa(300, 60)})};
}
DnsReply nxdomain(const std::string& name, DnsType type) {
  return DnsReply{DnsReply::Status::nxdomain, "", "Domain name not found",
                  packet(name, type, 3, {}, {soa(300, 60)})};
}
DnsReply servfail() {
  return DnsReply{DnsReply::Status::failed, "SERVFAIL", "Server failure", {}};
}

// ------------------------------------------------------------------ transport

/// Answers from a table; a question not in the table gets NXDOMAIN. Counts questions.
class TableTransport final : public DnsTransport {
 public:
  std::map<std::pair<std::string, DnsType>, DnsReply> table;
  std::vector<DnsQuestion> asked;
  std::vector<std::chrono::steady_clock::time_point> deadlines;

  void set(const std::string& name, DnsType type, DnsReply reply) {
    table[{name, type}] = std::move(reply);
  }
  std::vector<DnsReply> ask(const std::vector<DnsQuestion>& questions,
                            std::chrono::steady_clock::time_point deadline) override {
    deadlines.push_back(deadline);
    std::vector<DnsReply> out;
    for (const auto& q : questions) {
      asked.push_back(q);
      const auto it = table.find({q.name, q.type});
      out.push_back(it != table.end() ? it->second : nxdomain(q.name, q.type));
    }
    return out;
  }
  std::string servers() const override { return "fake"; }
};

struct Fixture {
  FakeClock clock;
  TableTransport* transport = nullptr;  // owned by resolver
  std::unique_ptr<Resolver> resolver;
  ScriptedRandom random{{0.0}};

  Fixture() {
    auto t = std::make_unique<TableTransport>();
    transport = t.get();
    resolver = std::make_unique<Resolver>(std::move(t), 2s, clock);
  }
  DnsOutcome resolve(const std::string& domain) { return resolver->resolve_mx(domain, random); }

  /// twomx.test: MX 10 mx1 (A), MX 20 mx2 (A + AAAA); MX TTL 60 s, addresses 300 s.
  void add_twomx() {
    transport->set("twomx.test", DnsType::mx,
                   mx_answer("twomx.test", 60, {{20, "mx2.twomx.test"}, {10, "mx1.twomx.test"}}));
    transport->set("mx1.twomx.test", DnsType::a, a_answer("mx1.twomx.test", 300, "127.0.0.11"));
    transport->set("mx1.twomx.test", DnsType::aaaa, nodata("mx1.twomx.test", DnsType::aaaa));
    transport->set("mx2.twomx.test", DnsType::a, a_answer("mx2.twomx.test", 300, "127.0.0.12"));
    transport->set("mx2.twomx.test", DnsType::aaaa, aaaa_answer("mx2.twomx.test", 300, "::1"));
  }
};

}  // namespace

// ------------------------------------------------------------------ ordering

TEST_CASE("order_mx puts lower preferences first", "[dns]") {
  ScriptedRandom random({0.5});
  const auto ordered = order_mx({{"c", 30, 0}, {"a", 10, 0}, {"b", 20, 0}}, random);
  CHECK(exchanges(ordered) == std::vector<std::string>{"a", "b", "c"});
  CHECK(ordered[0].preference == 10);
  CHECK(ordered[2].preference == 30);
}

TEST_CASE("order_mx shuffles equal preferences with the injected random, keeping all", "[dns]") {
  const std::vector<MxRecord> records{{"a", 10, 0}, {"b", 10, 0}, {"c", 10, 0}, {"z", 20, 0}};
  ScriptedRandom low({0.0});
  ScriptedRandom high({0.99});
  const auto one = exchanges(order_mx(records, low));
  const auto other = exchanges(order_mx(records, high));
  CHECK(one == std::vector<std::string>{"b", "c", "a", "z"});
  CHECK(other == std::vector<std::string>{"a", "b", "c", "z"});

  // Many draws: every host comes first sometimes; the set and the order of the
  // preference groups never change.
  LcgRandom lcg;
  std::map<std::string, int> first;
  for (int i = 0; i < 300; ++i) {
    auto order = exchanges(order_mx(records, lcg));
    ++first[order[0]];
    CHECK(order[3] == "z");
    std::sort(order.begin(), order.end());
    CHECK(order == std::vector<std::string>{"a", "b", "c", "z"});
  }
  CHECK(first.size() == 3);
  for (const auto& [host, n] : first) {
    INFO(host);
    CHECK(n > 50);
  }
}

TEST_CASE("order_mx tolerates a random source outside [0, 1)", "[dns]") {
  ScriptedRandom bad({1.0, -0.5, 7.0});
  const auto ordered = order_mx({{"a", 10, 0}, {"b", 10, 0}, {"c", 10, 0}}, bad);
  auto names = exchanges(ordered);
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("is_null_mx: a single MX 0 with the root as exchange (RFC 7505)", "[dns]") {
  CHECK(is_null_mx({{"", 0, 300}}));
  CHECK(is_null_mx({{".", 0, 300}}));
  CHECK_FALSE(is_null_mx({{"", 10, 300}}));
  CHECK_FALSE(is_null_mx({{"", 0, 300}, {"mx.test", 10, 300}}));
  CHECK_FALSE(is_null_mx({{"mx.test", 0, 300}}));
  CHECK_FALSE(is_null_mx({}));
}

// ------------------------------------------------------------------ cache

TEST_CASE("cache_ttl: smallest answer TTL, capped at an hour", "[dns]") {
  auto two = answer("x.test", DnsType::a,
                    {Rr{"x.test", DnsType::a, 300, a_rdata("127.0.0.1")},
                     Rr{"x.test", DnsType::a, 120, a_rdata("127.0.0.2")}});
  CHECK(cache_ttl(two) == 120s);
  CHECK(cache_ttl(a_answer("x.test", 86400, "127.0.0.1")) == 3600s);
  CHECK(cache_ttl(a_answer("x.test", 0, "127.0.0.1")) == 0s);
  CHECK(cache_ttl(a_answer("x.test", 0x80000001U, "127.0.0.1")) == 0s);  // RFC 2181 8
}

TEST_CASE("cache_ttl: negative answers for the SOA's negative TTL, at most 30 s", "[dns]") {
  auto with_soa = [](std::uint32_t ttl, std::uint32_t minimum) {
    return DnsReply{DnsReply::Status::nxdomain, "", "",
                    packet("x.test", DnsType::mx, 3, {}, {soa(ttl, minimum)})};
  };
  CHECK(cache_ttl(with_soa(300, 10)) == 10s);
  CHECK(cache_ttl(with_soa(5, 600)) == 5s);
  CHECK(cache_ttl(with_soa(300, 600)) == 30s);
  CHECK(cache_ttl(DnsReply{DnsReply::Status::nodata, "", "",
                           packet("x.test", DnsType::mx, 0, {})}) == 30s);
}

TEST_CASE("cache_ttl: failures and unreadable packets are not cached", "[dns]") {
  CHECK(cache_ttl(servfail()) == 0s);
  auto cut = a_answer("x.test", 300, "127.0.0.1");
  cut.packet.resize(cut.packet.size() - 3);
  CHECK(cache_ttl(cut) == 0s);
  CHECK(cache_ttl(DnsReply{DnsReply::Status::answer, "", "", {}}) == 0s);
  CHECK(cache_ttl(DnsReply{DnsReply::Status::answer, "", "", Bytes(12, 0xFF)}) == 0s);
}

TEST_CASE("DnsCache keeps a reply until its TTL passes", "[dns]") {
  FakeClock clock;
  DnsCache cache;
  const DnsQuestion q{"x.test", DnsType::a};
  cache.put(q, a_answer("x.test", 10, "127.0.0.1"), clock.now());
  REQUIRE(cache.get(q, clock.now()));
  CHECK(cache.get(q, clock.now())->status == DnsReply::Status::answer);
  CHECK_FALSE(cache.get({"x.test", DnsType::aaaa}, clock.now()));
  clock.advance(9999ms);
  CHECK(cache.get(q, clock.now()));
  clock.advance(1ms);
  CHECK_FALSE(cache.get(q, clock.now()));
  CHECK(cache.size() == 0);

  cache.put(q, servfail(), clock.now());
  CHECK_FALSE(cache.get(q, clock.now()));
}

TEST_CASE("DnsCache is bounded: expired entries go first, then the soonest to expire", "[dns]") {
  FakeClock clock;
  DnsCache cache(2);
  cache.put({"short.test", DnsType::a}, a_answer("short.test", 5, "127.0.0.1"), clock.now());
  cache.put({"long.test", DnsType::a}, a_answer("long.test", 100, "127.0.0.1"), clock.now());
  cache.put({"mid.test", DnsType::a}, a_answer("mid.test", 50, "127.0.0.1"), clock.now());
  CHECK(cache.size() == 2);
  CHECK_FALSE(cache.get({"short.test", DnsType::a}, clock.now()));
  CHECK(cache.get({"long.test", DnsType::a}, clock.now()));
  CHECK(cache.get({"mid.test", DnsType::a}, clock.now()));

  clock.advance(60s);  // mid.test has expired: it makes room, long.test stays
  cache.put({"new.test", DnsType::a}, a_answer("new.test", 100, "127.0.0.1"), clock.now());
  CHECK(cache.size() == 2);
  CHECK(cache.get({"long.test", DnsType::a}, clock.now()));
  CHECK(cache.get({"new.test", DnsType::a}, clock.now()));
}

// ------------------------------------------------------------------ resolver

TEST_CASE("resolve_mx: hosts in preference order with IPv4 and IPv6 addresses", "[dns]") {
  Fixture f;
  f.add_twomx();
  const auto r = f.resolve("TwoMX.Test.");
  INFO(r.detail);
  REQUIRE(r.ok);
  CHECK(r.cls == ResultClass::ok);
  CHECK_FALSE(r.implicit_mx);
  REQUIRE(r.hosts.size() == 2);
  CHECK(r.hosts[0].exchange == "mx1.twomx.test");
  CHECK(r.hosts[0].preference == 10);
  CHECK(r.hosts[0].addresses == std::vector<std::string>{"127.0.0.11"});
  CHECK(r.hosts[1].exchange == "mx2.twomx.test");
  CHECK(r.hosts[1].addresses == std::vector<std::string>{"127.0.0.12", "::1"});
  CHECK(f.resolver->queries_sent() == 5);
  // One deadline for the whole call: now + the configured timeout.
  REQUIRE(f.transport->deadlines.size() == 2);
  CHECK(f.transport->deadlines[0] == f.clock.now() + 2s);
  CHECK(f.transport->deadlines[1] == f.clock.now() + 2s);
}

TEST_CASE("resolve_mx: answers come from the cache until their TTL passes", "[dns]") {
  Fixture f;
  f.add_twomx();
  REQUIRE(f.resolve("twomx.test").ok);
  REQUIRE(f.resolve("twomx.test").ok);
  CHECK(f.resolver->queries_sent() == 5);
  f.clock.advance(29s);
  REQUIRE(f.resolve("twomx.test").ok);
  CHECK(f.resolver->queries_sent() == 5);

  auto asked_since = [&](std::size_t from) {
    std::set<std::string> out;
    for (std::size_t i = from; i < f.transport->asked.size(); ++i) {
      out.insert(f.transport->asked[i].name + "/" +
                 std::string(to_string(f.transport->asked[i].type)));
    }
    return out;
  };
  f.clock.advance(2s);  // 31 s: mx1's NODATA for AAAA (negative, 30 s) has expired
  REQUIRE(f.resolve("twomx.test").ok);
  CHECK(asked_since(5) == std::set<std::string>{"mx1.twomx.test/AAAA"});
  f.clock.advance(30s);  // 61 s: the MX (TTL 60) too; the addresses (TTL 300) stay
  REQUIRE(f.resolve("twomx.test").ok);
  CHECK(asked_since(6) == std::set<std::string>{"twomx.test/MX", "mx1.twomx.test/AAAA"});
  CHECK(f.resolver->queries_sent() == 8);
}

TEST_CASE("resolve_mx: equal preferences are shuffled on every call, cached or not", "[dns]") {
  Fixture f;
  f.transport->set("equal.test", DnsType::mx,
                   mx_answer("equal.test", 300, {{10, "a.test"}, {10, "b.test"}}));
  f.transport->set("a.test", DnsType::a, a_answer("a.test", 300, "127.0.0.11"));
  f.transport->set("b.test", DnsType::a, a_answer("b.test", 300, "127.0.0.12"));
  ScriptedRandom low({0.0});
  ScriptedRandom high({0.99});
  const auto one = f.resolver->resolve_mx("equal.test", low);
  const auto other = f.resolver->resolve_mx("equal.test", high);
  REQUIRE(one.ok);
  REQUIRE(other.ok);
  CHECK(one.hosts[0].exchange == "b.test");
  CHECK(other.hosts[0].exchange == "a.test");
  CHECK(f.resolver->queries_sent() == 5);
}

TEST_CASE("resolve_mx: NXDOMAIN is permanent and cached briefly", "[dns]") {
  Fixture f;
  const auto r = f.resolve("nx.test");
  CHECK_FALSE(r.ok);
  CHECK(r.cls == ResultClass::dns_perm_fail);
  CHECK(r.detail == "NXDOMAIN for nx.test (MX) from fake: Domain name not found");
  f.resolve("nx.test");
  CHECK(f.resolver->queries_sent() == 1);
  f.clock.advance(31s);
  f.resolve("nx.test");
  CHECK(f.resolver->queries_sent() == 2);
}

TEST_CASE("resolve_mx: SERVFAIL is temporary, carries the resolver's message, is not cached",
          "[dns]") {
  Fixture f;
  f.transport->set("sf.test", DnsType::mx, servfail());
  const auto r = f.resolve("sf.test");
  CHECK_FALSE(r.ok);
  CHECK(r.cls == ResultClass::dns_temp_fail);
  CHECK(r.detail == "SERVFAIL for sf.test (MX) from fake: Server failure");
  f.resolve("sf.test");
  CHECK(f.resolver->queries_sent() == 2);
}

TEST_CASE("resolve_mx: no MX records, the domain's own address is the implicit MX", "[dns]") {
  Fixture f;
  f.transport->set("amx.test", DnsType::mx, nodata("amx.test", DnsType::mx));
  f.transport->set("amx.test", DnsType::a, a_answer("amx.test", 300, "127.0.0.11"));
  f.transport->set("amx.test", DnsType::aaaa, nodata("amx.test", DnsType::aaaa));
  const auto r = f.resolve("amx.test");
  INFO(r.detail);
  REQUIRE(r.ok);
  CHECK(r.implicit_mx);
  REQUIRE(r.hosts.size() == 1);
  CHECK(r.hosts[0].exchange == "amx.test");
  CHECK(r.hosts[0].preference == 0);
  CHECK(r.hosts[0].addresses == std::vector<std::string>{"127.0.0.11"});
}

TEST_CASE("resolve_mx: no MX and no address is permanent, unless a lookup failed", "[dns]") {
  Fixture f;
  f.transport->set("empty.test", DnsType::mx, nodata("empty.test", DnsType::mx));
  f.transport->set("empty.test", DnsType::a, nodata("empty.test", DnsType::a));
  f.transport->set("empty.test", DnsType::aaaa, nodata("empty.test", DnsType::aaaa));
  auto r = f.resolve("empty.test");
  CHECK(r.cls == ResultClass::dns_perm_fail);
  CHECK(r.detail == "no MX and no A/AAAA record for empty.test");

  f.transport->set("flaky.test", DnsType::mx, nodata("flaky.test", DnsType::mx));
  f.transport->set("flaky.test", DnsType::a, servfail());
  f.transport->set("flaky.test", DnsType::aaaa, nodata("flaky.test", DnsType::aaaa));
  r = f.resolve("flaky.test");
  CHECK(r.cls == ResultClass::dns_temp_fail);
  CHECK(r.detail ==
        "no MX and no address for flaky.test: SERVFAIL for flaky.test (A) from fake: "
        "Server failure");
}

TEST_CASE("resolve_mx: a null MX is permanent", "[dns]") {
  Fixture f;
  f.transport->set("nullmx.test", DnsType::mx, mx_answer("nullmx.test", 300, {{0, ""}}));
  const auto r = f.resolve("nullmx.test");
  CHECK_FALSE(r.ok);
  CHECK(r.cls == ResultClass::dns_perm_fail);
  CHECK(r.detail == "null MX (RFC 7505): nullmx.test accepts no mail");
  CHECK(f.resolver->queries_sent() == 1);
}

TEST_CASE("resolve_mx: a root exchange next to real ones is dropped", "[dns]") {
  Fixture f;
  f.transport->set("mixed.test", DnsType::mx,
                   mx_answer("mixed.test", 300, {{0, ""}, {10, "mx.mixed.test"}}));
  f.transport->set("mx.mixed.test", DnsType::a, a_answer("mx.mixed.test", 300, "127.0.0.11"));
  const auto r = f.resolve("mixed.test");
  REQUIRE(r.ok);
  REQUIRE(r.hosts.size() == 1);
  CHECK(r.hosts[0].exchange == "mx.mixed.test");
}

TEST_CASE("resolve_mx: a host without address is kept with a reason", "[dns]") {
  Fixture f;
  f.transport->set("half.test", DnsType::mx,
                   mx_answer("half.test", 300, {{10, "ghost.half.test"}, {20, "mx.half.test"}}));
  f.transport->set("mx.half.test", DnsType::a, a_answer("mx.half.test", 300, "127.0.0.12"));
  const auto r = f.resolve("half.test");
  INFO(r.detail);
  REQUIRE(r.ok);
  REQUIRE(r.hosts.size() == 2);
  CHECK(r.hosts[0].exchange == "ghost.half.test");
  CHECK(r.hosts[0].addresses.empty());
  CHECK(r.hosts[0].detail == "NXDOMAIN for ghost.half.test (A) from fake: Domain name not found");
  CHECK(r.hosts[1].addresses == std::vector<std::string>{"127.0.0.12"});
  CHECK(r.hosts[1].detail.empty());
}

TEST_CASE("resolve_mx: no address for any MX is permanent, or temporary if a lookup failed",
          "[dns]") {
  Fixture f;
  f.transport->set("noaddr.test", DnsType::mx,
                   mx_answer("noaddr.test", 300, {{10, "ghost.noaddr.test"}}));
  auto r = f.resolve("noaddr.test");
  CHECK(r.cls == ResultClass::dns_perm_fail);
  CHECK(r.detail ==
        "no address for any MX of noaddr.test: NXDOMAIN for ghost.noaddr.test (A) "
        "from fake: Domain name not found");
  REQUIRE(r.hosts.size() == 1);  // still listed, for the caller's report

  f.transport->set("tmp.test", DnsType::mx,
                   mx_answer("tmp.test", 300, {{10, "a.tmp.test"}, {20, "b.tmp.test"}}));
  f.transport->set("b.tmp.test", DnsType::aaaa, servfail());
  r = f.resolve("tmp.test");
  CHECK(r.cls == ResultClass::dns_temp_fail);
  CHECK(r.detail ==
        "no address for any MX of tmp.test: SERVFAIL for b.tmp.test (AAAA) from fake: "
        "Server failure");
}

TEST_CASE("resolve_mx: malformed answers are temporary failures, never a crash", "[dns]") {
  Fixture f;
  auto cut = mx_answer("cut.test", 300, {{10, "mx.cut.test"}});
  cut.packet.resize(cut.packet.size() - 4);
  f.transport->set("cut.test", DnsType::mx, cut);
  auto r = f.resolve("cut.test");
  CHECK(r.cls == ResultClass::dns_temp_fail);
  CHECK_THAT(r.detail, Catch::StartsWith("bad answer for cut.test (MX) from fake: "));

  f.transport->set("junk.test", DnsType::mx,
                   DnsReply{DnsReply::Status::answer, "", "", Bytes(7, 0xC0)});
  r = f.resolve("junk.test");
  CHECK(r.cls == ResultClass::dns_temp_fail);
  CHECK_THAT(r.detail, Catch::StartsWith("bad answer for junk.test (MX)"));

  f.transport->set("empty.test", DnsType::mx, DnsReply{DnsReply::Status::answer, "", "", {}});
  r = f.resolve("empty.test");
  CHECK(r.cls == ResultClass::dns_temp_fail);

  // A malformed A answer: the host is kept without address, the reason is temporary.
  f.transport->set("badaddr.test", DnsType::mx,
                   mx_answer("badaddr.test", 300, {{10, "mx.badaddr.test"}}));
  auto bad_a = a_answer("mx.badaddr.test", 300, "127.0.0.1");
  bad_a.packet.resize(bad_a.packet.size() - 2);
  f.transport->set("mx.badaddr.test", DnsType::a, bad_a);
  r = f.resolve("badaddr.test");
  CHECK(r.cls == ResultClass::dns_temp_fail);
  CHECK_THAT(r.detail, Catch::Contains("bad answer for mx.badaddr.test (A)"));
}

TEST_CASE("resolve_mx: oversized answers are temporary failures", "[dns]") {
  Fixture f;
  std::vector<std::pair<int, std::string>> many;
  for (int i = 0; i < 101; ++i) {
    many.emplace_back(10, "mx" + std::to_string(i) + ".big.test");
  }
  f.transport->set("big.test", DnsType::mx, mx_answer("big.test", 300, many));
  auto r = f.resolve("big.test");
  CHECK(r.cls == ResultClass::dns_temp_fail);
  CHECK(r.detail ==
        "bad answer for big.test (MX) from fake: answer too large (more than 100 "
        "records)");

  std::vector<Rr> addresses;
  for (int i = 0; i < 200; ++i) {
    addresses.push_back(
        Rr{"mx.wide.test", DnsType::a, 300, a_rdata("10.0." + std::to_string(i) + ".1")});
  }
  f.transport->set("wide.test", DnsType::mx, mx_answer("wide.test", 300, {{10, "mx.wide.test"}}));
  f.transport->set("mx.wide.test", DnsType::a, answer("mx.wide.test", DnsType::a, addresses));
  r = f.resolve("wide.test");
  CHECK(r.cls == ResultClass::dns_temp_fail);
  CHECK_THAT(r.detail, Catch::Contains("answer too large"));

  // Exactly the limit is fine.
  many.pop_back();
  f.transport->set("full.test", DnsType::mx, mx_answer("full.test", 300, many));
  r = f.resolve("full.test");
  CHECK(r.cls == ResultClass::dns_perm_fail);  // 100 hosts, none with an address
  CHECK(r.hosts.size() == 100);
}

TEST_CASE("resolve_mx: mangled packets never crash and never count as ok blindly", "[dns]") {
  LcgRandom lcg;
  auto pick = [&](std::size_t n) {
    return std::min(static_cast<std::size_t>(lcg.uniform01() * static_cast<double>(n)), n - 1);
  };
  const auto mx = mx_answer("fuzz.test", 300, {{10, "mx.fuzz.test"}, {20, "mx2.fuzz.test"}});
  const auto a = a_answer("mx.fuzz.test", 300, "127.0.0.11");
  for (int i = 0; i < 2000; ++i) {
    Fixture f;
    auto mangled_mx = mx;
    auto mangled_a = a;
    for (auto* p : {&mangled_mx.packet, &mangled_a.packet}) {
      if (i % 3 == 0) {
        p->resize(pick(p->size()));
      } else {
        for (int k = 0; k < 1 + i % 3; ++k) {
          (*p)[pick(p->size())] = static_cast<unsigned char>(pick(256));
        }
      }
    }
    f.transport->set("fuzz.test", DnsType::mx, mangled_mx);
    f.transport->set("mx.fuzz.test", DnsType::a, mangled_a);
    const auto r = f.resolve("fuzz.test");
    INFO("iteration " << i << ": " << r.detail);
    CHECK((r.cls == ResultClass::ok || r.cls == ResultClass::dns_temp_fail ||
           r.cls == ResultClass::dns_perm_fail));
    CHECK(r.ok == (r.cls == ResultClass::ok));
    if (r.ok) {
      CHECK_FALSE(r.hosts.empty());
    } else {
      CHECK_FALSE(r.detail.empty());
    }
  }
}

TEST_CASE("resolve_mx: an invalid domain name is permanent and asks nothing", "[dns]") {
  Fixture f;
  std::string too_long;  // valid labels, 305 characters
  for (int i = 0; i < 5; ++i) {
    too_long += std::string(60, 'y') + ".";
  }
  too_long += "test";
  const std::vector<std::string> names{
      "", ".", "a..b", "has space.test", std::string(64, 'x') + ".test", too_long};
  for (const auto& bad : names) {
    INFO(bad);
    const auto r = f.resolve(bad);
    CHECK(r.cls == ResultClass::dns_perm_fail);
    CHECK_THAT(r.detail, Catch::StartsWith("invalid domain name"));
  }
  CHECK(f.resolver->queries_sent() == 0);
}

TEST_CASE("to_string(DnsType) names the record types", "[dns]") {
  CHECK(to_string(DnsType::a) == "A");
  CHECK(to_string(DnsType::aaaa) == "AAAA");
  CHECK(to_string(DnsType::mx) == "MX");
}
