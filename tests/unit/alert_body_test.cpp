// The MailFlowOutage body the agent pushes to Alertmanager: labels that two agents
// watching one member share (so Alertmanager makes one alert of an HA pair's two), and
// what a person needs in the annotations and the link back to the agent.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "mailcanary/agent/notify/alertmanager.hpp"

using namespace mailcanary::agent;

namespace {

const SysTime kAt =
    SysTime(std::chrono::sys_days(std::chrono::year(2026) / 12 / 5)) + std::chrono::hours(10);

AlertInfo outage(const std::string& instance, const std::string& cls, const std::string& stage) {
  AlertInfo a;
  a.target = "vip1";
  a.member = "127.0.0.12:2525";
  a.cls = cls;
  a.instance = instance;
  a.stage = stage;
  a.smtp_code = cls == "temp_fail" ? 451 : 0;
  a.detail = "451 4.7.1 Try again later";
  a.starts_at = kAt;
  return a;
}

nlohmann::json body(const AlertInfo& a, const AlertLinks& links) {
  const auto all =
      nlohmann::json::parse(alert_body(a, false, kAt, std::chrono::seconds(300), links));
  REQUIRE(all.size() == 1);
  return all[0];
}

}  // namespace

TEST_CASE("two agents' alerts for one member have the same labels", "[alertmanager]") {
  const auto a = body(outage("probe-a", "temp_fail", "rcpt"), {"http://a.example:9478", "", "a"});
  const auto b = body(outage("probe-b", "timeout", "data"), {"http://b.example:9478", "", "b"});
  CHECK(a["labels"] == b["labels"]);
  CHECK(a["labels"] == nlohmann::json{{"alertname", "MailFlowOutage"},
                                      {"target", "vip1"},
                                      {"member", "127.0.0.12:2525"},
                                      {"severity", "critical"}});
  // Who saw what is in the annotations.
  CHECK(a["annotations"]["agent"] == "probe-a");
  CHECK(b["annotations"]["agent"] == "probe-b");
  CHECK(a["annotations"]["class"] == "temp_fail");
  CHECK(b["annotations"]["class"] == "timeout");
}

TEST_CASE("a pushed alert has a summary, a description and a link to the member's status",
          "[alertmanager]") {
  const auto a = body(
      outage("", "temp_fail", "rcpt"),
      {"https://probe.example.net:9478", "https://wiki.example/rb#mailflowoutage", "probe-host"});
  const auto& ann = a["annotations"];
  CHECK(ann["summary"] == "Mail flow outage: vip1 member 127.0.0.12:2525");
  const std::string description = ann["description"];
  CHECK(description.find("since 2026-12-05T10:00:00Z") != std::string::npos);
  CHECK(description.find("temp_fail at stage rcpt (451): 451 4.7.1 Try again later") !=
        std::string::npos);
  CHECK(ann["runbook_url"] == "https://wiki.example/rb#mailflowoutage");
  CHECK(ann["agent"] == "probe-host");  // no [agent] instance: the host name
  CHECK(a["generatorURL"] == "https://probe.example.net:9478/status/vip1/127.0.0.12%3A2525");
}

TEST_CASE("without links: no generatorURL and no runbook_url", "[alertmanager]") {
  const auto a = body(outage("probe-a", "lost", "mailbox"), {});
  CHECK_FALSE(a.contains("generatorURL"));
  CHECK_FALSE(a["annotations"].contains("runbook_url"));
}

TEST_CASE("an IPv6 member is encoded in the link; a mailbox alert links to /status",
          "[alertmanager]") {
  auto v6 = outage("", "lost", "mailbox");
  v6.member = "[::1]:25";
  CHECK(body(v6, {"http://h:1", "", "h"})["generatorURL"] ==
        "http://h:1/status/vip1/%5B%3A%3A1%5D%3A25");

  AlertInfo box;
  box.target = "mailbox";
  box.member = "inbox";
  box.cls = "mailbox_error";
  box.detail = "LOGIN refused";
  box.starts_at = kAt;
  const auto m = body(box, {"http://h:1", "", "h"});
  CHECK(m["generatorURL"] == "http://h:1/status");
  CHECK(m["annotations"]["summary"] == "mailcanary cannot read mailbox inbox");
  CHECK(m["labels"]["severity"] == "critical");
}

TEST_CASE("a burn-rate alarm says so, with its ratios; the labels stay those of an outage",
          "[alertmanager][burn]") {
  AlertInfo a = outage("probe-a", "temp_fail", "rcpt");
  a.rule = "burn_rate";
  a.short_ratio = 1.0 / 3;
  a.long_ratio = 0.4;
  const auto j = body(a, {"http://a.example:9478", "", "a"});
  const auto plain =
      body(outage("probe-a", "temp_fail", "rcpt"), {"http://a.example:9478", "", "a"});
  CHECK(j["labels"] == plain["labels"]);
  const auto& ann = j["annotations"];
  CHECK(ann["rule"] == "burn_rate");
  CHECK(ann["short_window_failure_ratio"] == "0.3333");
  CHECK(ann["long_window_failure_ratio"] == "0.4000");
  CHECK(ann["description"].get<std::string>().find(
            "fail too often for the error budget: 33.3% of the probes in the short window and "
            "40.0% in the long one") != std::string::npos);
  // The queued form keeps the rule and the ratios (an alert sent after a restart).
  const auto back = decode_alert(encode_alert(a));
  REQUIRE(back);
  CHECK(*back == a);
}
