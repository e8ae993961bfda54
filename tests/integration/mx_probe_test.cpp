// MX mode end to end: `mailcanary probe` resolves each domain through the test bed's
// unbound, then probes every MX host at its own address.
#include <catch2/catch.hpp>
#include <map>

#include "support.hpp"

TEST_CASE("MX targets are discovered through DNS and every MX host is probed",
          "[integration][probe][dns]") {
  std::string cfg =
      itest::testbed_config_head() + "[dns]\nservers = [\"127.0.0.53:5353\"]\ntimeout = \"3s\"\n\n";
  for (auto [name, domain] :
       {std::pair{"two", "twomx.test"}, std::pair{"implicit", "amx.test"},
        std::pair{"nx", "nx.test"}, std::pair{"null", "nullmx.test"},
        std::pair{"servfail", "servfail.test"}, std::pair{"noaddr", "noaddr.test"}}) {
    cfg += std::string("[[target]]\nname = \"") + name + "\"\ndomain = \"" + domain +
           "\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n";
  }
  auto r =
      itest::mailcanary({"probe", "--config", itest::write_temp_file("mx.toml", cfg), "--json"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  std::map<std::string, nlohmann::json> by_member;
  for (auto& j : itest::json_lines(r.out)) {
    by_member[j["target"].get<std::string>() + " " + j["member"].get<std::string>()] = j;
  }
  // twomx.test: MX 10 mx1 (127.0.0.11, delivers), MX 20 mx2 (127.0.0.12, 451 at RCPT).
  REQUIRE(by_member.count("two mx1.twomx.test:2525"));
  CHECK(by_member["two mx1.twomx.test:2525"]["class"] == "ok");
  REQUIRE(by_member.count("two mx2.twomx.test:2525"));
  CHECK(by_member["two mx2.twomx.test:2525"]["class"] == "temp_fail");
  CHECK(by_member["two mx2.twomx.test:2525"]["stage"] == "rcpt");
  // No MX: the domain's own address (implicit MX).
  REQUIRE(by_member.count("implicit amx.test:2525"));
  CHECK(by_member["implicit amx.test:2525"]["class"] == "ok");
  // Resolution failures are results of the domain itself.
  CHECK(by_member["nx nx.test"]["class"] == "dns_perm_fail");
  CHECK(by_member["nx nx.test"]["stage"] == "dns");
  CHECK(by_member["nx nx.test"]["detail"].get<std::string>().find("NXDOMAIN") != std::string::npos);
  CHECK(by_member["null nullmx.test"]["class"] == "dns_perm_fail");
  CHECK(by_member["null nullmx.test"]["detail"].get<std::string>().find("null MX") !=
        std::string::npos);
  CHECK(by_member["servfail servfail.test"]["class"] == "dns_temp_fail");
  // An MX host without any address.
  REQUIRE(by_member.count("noaddr ghost.noaddr.test:2525"));
  CHECK(by_member["noaddr ghost.noaddr.test:2525"]["class"] == "unreachable");
  CHECK(by_member["noaddr ghost.noaddr.test:2525"]["stage"] == "dns");
  CHECK(r.exit_code == 2);
}
