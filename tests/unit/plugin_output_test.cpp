// `probe --format nagios`: the monitoring-plugins guidelines' output, exit code and
// threshold ranges. The output is checked with a parser of the guidelines' grammar.
#include <catch2/catch.hpp>

#include "../plugin_grammar.hpp"
#include "mailcanary/agent/probe/plugin_output.hpp"

using namespace mailcanary::agent;
using mailcanary::probes::ResultClass;
using mailcanary::probes::Stage;

namespace {

ProbeResult result(const std::string& member, ResultClass cls, std::optional<double> delivery,
                   Stage stage = Stage::done, int code = 250, const std::string& detail = "") {
  ProbeResult r;
  r.target = "vip1";
  r.member = member;
  r.cls = cls;
  r.stage = stage;
  r.smtp_code = code;
  r.smtp_seconds = 0.012;
  r.delivery_seconds = delivery;
  r.detail = detail;
  return r;
}

PluginRange range(const std::string& text) {
  std::string error;
  auto r = parse_plugin_range(text, error);
  INFO(error);
  REQUIRE(r.has_value());
  return *r;
}

}  // namespace

TEST_CASE("plugin ranges follow the guidelines' syntax", "[plugin]") {
  CHECK(range("10").alerts(11));
  CHECK_FALSE(range("10").alerts(10));
  CHECK(range("10").alerts(-1));
  CHECK(range("10:").alerts(9.9));
  CHECK_FALSE(range("10:").alerts(1e9));
  CHECK(range("~:10").alerts(10.5));
  CHECK_FALSE(range("~:10").alerts(-1e9));
  CHECK(range("10:20").alerts(21));
  CHECK_FALSE(range("10:20").alerts(15));
  CHECK(range("@10:20").alerts(15));
  CHECK_FALSE(range("@10:20").alerts(21));
  CHECK(range("0.5").alerts(0.75));
  std::string error;
  for (const char* bad : {"", "abc", "20:10", "1:2:3", "@", "~", ":"}) {
    INFO(bad);
    CHECK_FALSE(parse_plugin_range(bad, error).has_value());
    CHECK(error.find("is not a range") != std::string::npos);
  }
}

TEST_CASE("all ok: OK, the slowest delivery, perfdata per member", "[plugin]") {
  const auto r = plugin_report({result("127.0.0.11:2525", ResultClass::ok, 0.016),
                                result("127.0.0.12:2525", ResultClass::ok, 0.021)},
                               {}, {});
  CHECK(r.code == 0);
  check_grammar(r.text, 0);
  CHECK(plugin_report({result("127.0.0.11:2525", ResultClass::ok, 0.016)}, {}, {})
            .text.rfind("MAILCANARY OK - 1 member ok, slowest delivery 0.016s | ", 0) == 0);
  CHECK(r.text.rfind("MAILCANARY OK - 2 members ok, slowest delivery 0.021s | "
                     "'vip1/127.0.0.11:2525 delivery'=0.016s;;;0; "
                     "'vip1/127.0.0.11:2525 smtp'=0.012s;;;0;",
                     0) == 0);
  CHECK(r.text.find("\nOK: vip1 127.0.0.12:2525 ok delivery=0.021s smtp=0.012s\n") !=
        std::string::npos);
}

TEST_CASE("thresholds on the delivery time: WARNING and CRITICAL", "[plugin]") {
  PluginOptions o;
  o.warning = range("0.02");
  o.critical = range("0.5");
  const auto warn = plugin_report(
      {result("a:25", ResultClass::ok, 0.016), result("b:25", ResultClass::ok, 0.03)}, {}, o);
  CHECK(warn.code == 1);
  check_grammar(warn.text, 1);
  CHECK(warn.text.find("'vip1/b:25 delivery'=0.030s;0.02;0.5;0;") != std::string::npos);
  // The worst member first in the long output.
  CHECK(warn.text.find("\nWARNING: vip1 b:25") < warn.text.find("\nOK: vip1 a:25"));
  // The summary says why an ok canary is not OK.
  CHECK(warn.text.rfind("MAILCANARY WARNING - 1 of 2 members not ok: vip1/b:25 delivery 0.030s |",
                        0) == 0);
  const auto crit = plugin_report({result("b:25", ResultClass::ok, 0.75)}, {}, o);
  CHECK(crit.code == 2);
}

TEST_CASE("failures: the worst first, class and stage, no '|' from a server's reply", "[plugin]") {
  const auto r = plugin_report({result("127.0.0.11:2525", ResultClass::ok, 0.016),
                                result("127.0.0.12:2525", ResultClass::temp_fail, std::nullopt,
                                       Stage::rcpt, 451, "451 4.7.1 greylisted | try later"),
                                result("127.0.0.13:2525", ResultClass::perm_fail, std::nullopt,
                                       Stage::rcpt, 550, "550 5.7.1 Relaying denied")},
                               {}, {});
  CHECK(r.code == 2);
  check_grammar(r.text, 2);
  CHECK(r.text.rfind("MAILCANARY CRITICAL - 2 of 3 members not ok: vip1/127.0.0.13:2525 "
                     "perm_fail, vip1/127.0.0.12:2525 temp_fail | ",
                     0) == 0);
  CHECK(r.text.find("'vip1/127.0.0.13:2525 delivery'=U;;;0;") != std::string::npos);
  CHECK(r.text.find("\nCRITICAL: vip1 127.0.0.13:2525 perm_fail stage=rcpt code=550 smtp=0.012s "
                    "(550 5.7.1 Relaying denied)\n") != std::string::npos);
  CHECK(r.text.find("(451 4.7.1 greylisted / try later)") != std::string::npos);
}

TEST_CASE("members without a result at the deadline: UNKNOWN, or the --timeout-state", "[plugin]") {
  const std::vector<std::pair<std::string, std::string>> waiting{{"vip1", "127.0.0.14:2525"}};
  const auto r = plugin_report({result("127.0.0.11:2525", ResultClass::ok, 0.016)}, waiting, {});
  CHECK(r.code == 3);
  check_grammar(r.text, 3);
  CHECK(r.text.find("\nUNKNOWN: vip1 127.0.0.14:2525 no result before the timeout\n") !=
        std::string::npos);
  CHECK(r.text.find("'vip1/127.0.0.14:2525 delivery'=U;;;0;") != std::string::npos);
  CHECK(r.text.rfind("MAILCANARY UNKNOWN - 1 of 2 members not ok: vip1/127.0.0.14:2525 no result |",
                     0) == 0);
  PluginOptions critical;
  critical.timeout_state = 2;
  CHECK(plugin_report({}, waiting, critical).code == 2);
  CHECK(plugin_report({}, {}, {}).code == 3);  // nothing probed: UNKNOWN
}
