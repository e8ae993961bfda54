// MX discovery against the test bed's real DNS server (unbound on 127.0.0.53:5353,
// tests/testbed/dns.sh; the zone is in tests/testbed/dns/unbound.conf.in).
// These tests call mailcanary::probes::Resolver directly.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "mailcanary/probes/dns.hpp"

using namespace mailcanary;
using probes::ResultClass;
using std::chrono::milliseconds;

namespace {

const char* const kHint = "is the test bed DNS running? tests/testbed/dns.sh start";

/// The real steady clock, shifted by a settable offset: lets a test age the cache
/// without sleeping while c-ares still sees real time pass.
class ShiftedClock final : public probes::Clock {
 public:
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::now() + offset_;
  }
  std::chrono::system_clock::time_point wall() const override {
    return std::chrono::system_clock::now() + offset_;
  }
  void sleep_for(milliseconds) override {}
  void advance(milliseconds d) { offset_ += d; }

 private:
  milliseconds offset_{0};
};

config::DnsConfig dns_config(std::vector<config::Endpoint> servers,
                             milliseconds timeout = std::chrono::seconds(2)) {
  config::DnsConfig cfg;
  cfg.servers = std::move(servers);
  cfg.timeout = timeout;
  return cfg;
}

config::DnsConfig testbed_dns() {
  return dns_config({{"127.0.0.53", 5353}});
}

bool host_has_ipv6_loopback() {
  std::ifstream in("/proc/net/if_inet6");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("00000000000000000000000000000001 ", 0) == 0) {
      return true;
    }
  }
  return false;
}

/// A DNS "server" on 127.0.0.1 (kernel-chosen UDP port) that answers what no real
/// server sends on demand: nothing at all, an answer to another question, or an MX
/// record whose data runs past its end.
class ScriptedDnsPeer {
 public:
  enum class Mode { silent, wrong_question, bad_rdata };

  explicit ScriptedDnsPeer(Mode mode) : mode_(mode) {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedDnsPeer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  ScriptedDnsPeer(const ScriptedDnsPeer&) = delete;
  ScriptedDnsPeer& operator=(const ScriptedDnsPeer&) = delete;

  config::Endpoint endpoint() const { return {"127.0.0.1", port_}; }
  int queries() const { return queries_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) {
        continue;
      }
      unsigned char q[512];
      sockaddr_in from{};
      socklen_t len = sizeof from;
      const auto n = recvfrom(fd_, q, sizeof q, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 12) {
        continue;
      }
      ++queries_;
      std::vector<unsigned char> r(q, q + n);  // header and question of the query
      r[2] |= 0x80;                            // QR
      switch (mode_) {
        case Mode::silent:
          continue;
        case Mode::wrong_question:
          r.resize(12);
          for (const char* label : {"other", "test"}) {
            r.push_back(static_cast<unsigned char>(std::strlen(label)));
            r.insert(r.end(), label, label + std::strlen(label));
          }
          r.insert(r.end(), {0, 0, 15, 0, 1});  // root, MX, IN
          break;
        case Mode::bad_rdata:
          r[7] = 1;  // ANCOUNT
          // name: pointer to the question; MX IN, TTL 300, RDLENGTH 6: preference 10
          // and a label that claims 50 bytes where 3 follow.
          r.insert(r.end(), {0xC0, 12, 0, 15, 0, 1, 0, 0, 1, 44, 0, 6, 0, 10, 50, 'a', 'b', 'c'});
          break;
      }
      sendto(fd_, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }

  Mode mode_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::thread thread_;
};

}  // namespace

TEST_CASE("twomx.test: both MX hosts in preference order with IPv4 and IPv6 addresses",
          "[integration][dns]") {
  probes::SystemClock clock;
  probes::SystemRandom random;
  probes::Resolver resolver(testbed_dns(), clock);
  const auto r = resolver.resolve_mx("twomx.test", random);
  INFO(r.detail << " (" << kHint << ")");
  REQUIRE(r.ok);
  CHECK(r.cls == ResultClass::ok);
  CHECK_FALSE(r.implicit_mx);
  REQUIRE(r.hosts.size() == 2);
  CHECK(r.hosts[0].exchange == "mx1.twomx.test");
  CHECK(r.hosts[0].preference == 10);
  CHECK(r.hosts[0].addresses == std::vector<std::string>{"127.0.0.11"});
  CHECK(r.hosts[1].exchange == "mx2.twomx.test");
  CHECK(r.hosts[1].preference == 20);
  CHECK(r.hosts[1].addresses == std::vector<std::string>{"127.0.0.12", "::1"});
}

TEST_CASE("equal.test: all three hosts of preference 10, first host varies between calls",
          "[integration][dns]") {
  probes::SystemClock clock;
  probes::SystemRandom random;
  probes::Resolver resolver(testbed_dns(), clock);
  std::set<std::string> firsts;
  for (int i = 0; i < 50; ++i) {
    const auto r = resolver.resolve_mx("equal.test", random);
    INFO(r.detail << " (" << kHint << ")");
    REQUIRE(r.ok);
    REQUIRE(r.hosts.size() == 3);
    std::map<std::string, std::vector<std::string>> by_host;
    for (const auto& h : r.hosts) {
      CHECK(h.preference == 10);
      by_host[h.exchange] = h.addresses;
    }
    CHECK(by_host ==
          std::map<std::string, std::vector<std::string>>{{"a.equal.test", {"127.0.0.11"}},
                                                          {"b.equal.test", {"127.0.0.12"}},
                                                          {"c.equal.test", {"127.0.0.13"}}});
    firsts.insert(r.hosts[0].exchange);
  }
  // The chance that 50 fair shuffles all start with the same host is 3 * (1/3)^50.
  CHECK(firsts.size() > 1);
  // Shuffled from the cache: 1 MX + 3 * (A + AAAA) questions, once.
  CHECK(resolver.queries_sent() == 7);
}

TEST_CASE("one resolver serves several threads at once", "[integration][dns]") {
  probes::SystemClock clock;
  probes::Resolver resolver(testbed_dns(), clock);
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      probes::SystemRandom random;  // one per thread: Random is not shared
      for (int i = 0; i < 25; ++i) {
        const auto r = resolver.resolve_mx(t % 2 == 0 ? "equal.test" : "twomx.test", random);
        if (r.ok && (r.hosts.size() == 3 || r.hosts.size() == 2)) {
          ++good;
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  CHECK(good == 100);
}

TEST_CASE("amx.test: no MX, its own A record is the implicit MX", "[integration][dns]") {
  probes::SystemClock clock;
  probes::SystemRandom random;
  probes::Resolver resolver(testbed_dns(), clock);
  const auto r = resolver.resolve_mx("amx.test", random);
  INFO(r.detail << " (" << kHint << ")");
  REQUIRE(r.ok);
  CHECK(r.implicit_mx);
  REQUIRE(r.hosts.size() == 1);
  CHECK(r.hosts[0].exchange == "amx.test");
  CHECK(r.hosts[0].preference == 0);
  CHECK(r.hosts[0].addresses == std::vector<std::string>{"127.0.0.11"});
}

TEST_CASE("nullmx.test, nx.test and noaddr.test are permanent DNS failures", "[integration][dns]") {
  probes::SystemClock clock;
  probes::SystemRandom random;
  probes::Resolver resolver(testbed_dns(), clock);

  auto r = resolver.resolve_mx("nullmx.test", random);
  INFO(r.detail);
  CHECK_FALSE(r.ok);
  CHECK(r.cls == ResultClass::dns_perm_fail);
  CHECK(r.detail == "null MX (RFC 7505): nullmx.test accepts no mail");

  r = resolver.resolve_mx("nx.test", random);
  INFO(r.detail);
  CHECK_FALSE(r.ok);
  CHECK(r.cls == ResultClass::dns_perm_fail);
  CHECK_THAT(r.detail, Catch::StartsWith("NXDOMAIN for nx.test (MX) from 127.0.0.53:5353: "));

  r = resolver.resolve_mx("noaddr.test", random);
  INFO(r.detail);
  CHECK_FALSE(r.ok);
  CHECK(r.cls == ResultClass::dns_perm_fail);
  CHECK_THAT(r.detail, Catch::StartsWith("no address for any MX of noaddr.test: NXDOMAIN for "
                                         "ghost.noaddr.test"));
}

TEST_CASE("servfail.test is a temporary DNS failure with the resolver's message",
          "[integration][dns]") {
  probes::SystemClock clock;
  probes::SystemRandom random;
  probes::Resolver resolver(testbed_dns(), clock);
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = resolver.resolve_mx("servfail.test", random);
  INFO(r.detail);
  CHECK_FALSE(r.ok);
  CHECK(r.cls == ResultClass::dns_temp_fail);
  CHECK_THAT(r.detail, Catch::StartsWith("SERVFAIL for servfail.test (MX) from 127.0.0.53:5353: "));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
}

TEST_CASE("a dead DNS server is a temporary failure within the configured timeout",
          "[integration][dns]") {
  probes::SystemClock clock;
  probes::SystemRandom random;
  probes::Resolver resolver(dns_config({{"127.0.0.59", 5353}}, std::chrono::seconds(1)), clock);
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = resolver.resolve_mx("twomx.test", random);
  const auto took = std::chrono::steady_clock::now() - t0;
  INFO(r.detail);
  CHECK_FALSE(r.ok);
  CHECK(r.cls == ResultClass::dns_temp_fail);
  CHECK_THAT(r.detail, Catch::Contains("for twomx.test (MX) from 127.0.0.59:5353: "));
  CHECK(took < std::chrono::seconds(5));
  CHECK(took < std::chrono::milliseconds(1500));  // the 1 s budget, plus slack
}

TEST_CASE("a server that never answers is a temporary failure at the configured timeout",
          "[integration][dns]") {
  ScriptedDnsPeer peer(ScriptedDnsPeer::Mode::silent);
  probes::SystemClock clock;
  probes::SystemRandom random;
  probes::Resolver resolver(dns_config({peer.endpoint()}, std::chrono::seconds(1)), clock);
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = resolver.resolve_mx("twomx.test", random);
  const auto took = std::chrono::steady_clock::now() - t0;
  INFO(r.detail);
  CHECK(r.cls == ResultClass::dns_temp_fail);
  CHECK_THAT(r.detail, Catch::StartsWith("timeout for twomx.test (MX) from " +
                                         peer.endpoint().to_string() + ": "));
  CHECK(took >= std::chrono::milliseconds(900));
  CHECK(took < std::chrono::milliseconds(1500));
  CHECK(peer.queries() == 2);  // two tries
}

TEST_CASE("answers to another question or with broken records are temporary failures",
          "[integration][dns]") {
  probes::SystemClock clock;
  probes::SystemRandom random;
  {
    // Not an answer to what was asked: ignored (as a spoofed packet would be), so
    // the question times out.
    ScriptedDnsPeer peer(ScriptedDnsPeer::Mode::wrong_question);
    probes::Resolver resolver(dns_config({peer.endpoint()}, milliseconds(300)), clock);
    const auto r = resolver.resolve_mx("twomx.test", random);
    INFO(r.detail);
    CHECK(r.cls == ResultClass::dns_temp_fail);
    CHECK_THAT(r.detail, Catch::StartsWith("timeout for twomx.test (MX)"));
    CHECK(peer.queries() >= 1);
  }
  {
    ScriptedDnsPeer peer(ScriptedDnsPeer::Mode::bad_rdata);
    probes::Resolver resolver(dns_config({peer.endpoint()}, std::chrono::seconds(1)), clock);
    const auto r = resolver.resolve_mx("twomx.test", random);
    INFO(r.detail);
    CHECK(r.cls == ResultClass::dns_temp_fail);
    CHECK_THAT(r.detail, Catch::StartsWith("bad answer for twomx.test (MX)"));
  }
}

TEST_CASE("a dead first server: the second one answers", "[integration][dns]") {
  probes::SystemClock clock;
  probes::SystemRandom random;
  probes::Resolver resolver(dns_config({{"127.0.0.59", 5353}, {"127.0.0.53", 5353}}), clock);
  const auto r = resolver.resolve_mx("twomx.test", random);
  INFO(r.detail << " (" << kHint << ")");
  REQUIRE(r.ok);
  CHECK(r.hosts.size() == 2);
}

TEST_CASE("an IPv6 DNS server endpoint works", "[integration][dns]") {
  if (!host_has_ipv6_loopback()) {
    WARN("no ::1 on this host: IPv6 DNS server not tested");
    return;
  }
  probes::SystemClock clock;
  probes::SystemRandom random;
  probes::Resolver resolver(dns_config({{"::1", 5353}}), clock);
  const auto r = resolver.resolve_mx("twomx.test", random);
  INFO(r.detail << " (" << kHint << ")");
  REQUIRE(r.ok);
  CHECK(r.hosts.size() == 2);
}

TEST_CASE("answers are cached for their TTL", "[integration][dns]") {
  ShiftedClock clock;
  probes::SystemRandom random;
  probes::Resolver resolver(testbed_dns(), clock);

  REQUIRE(resolver.resolve_mx("twomx.test", random).ok);
  const auto after_first = resolver.queries_sent();
  CHECK(after_first == 5);  // MX, then A and AAAA of both hosts
  REQUIRE(resolver.resolve_mx("twomx.test", random).ok);
  CHECK(resolver.queries_sent() == after_first);

  // shortttl.test: MX with TTL 1 s, pointing at mx1.twomx.test (cached for 300 s).
  REQUIRE(resolver.resolve_mx("shortttl.test", random).ok);
  CHECK(resolver.queries_sent() == after_first + 1);
  clock.advance(std::chrono::seconds(2));
  const auto r = resolver.resolve_mx("shortttl.test", random);
  REQUIRE(r.ok);
  CHECK(r.hosts.at(0).addresses == std::vector<std::string>{"127.0.0.11"});
  CHECK(resolver.queries_sent() == after_first + 2);  // the MX again, not the addresses

  // Negative answers too: nx.test is asked once within 30 s.
  CHECK(resolver.resolve_mx("nx.test", random).cls == ResultClass::dns_perm_fail);
  CHECK(resolver.resolve_mx("nx.test", random).cls == ResultClass::dns_perm_fail);
  CHECK(resolver.queries_sent() == after_first + 3);
  clock.advance(std::chrono::seconds(31));
  CHECK(resolver.resolve_mx("nx.test", random).cls == ResultClass::dns_perm_fail);
  CHECK(resolver.queries_sent() == after_first + 4);
}
