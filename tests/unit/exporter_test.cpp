// The exporter's series: per-member or per-target histograms, the last delivery gauge,
// and retirement of a member's series. No network; reads the rendered text.
#include <catch2/catch.hpp>

#include "mailcanary/agent/http/exporter.hpp"

using mailcanary::agent::Exporter;
using mailcanary::agent::ProbeResult;
using mailcanary::probes::ResultClass;
using mailcanary::probes::Stage;

namespace {

ProbeResult delivered(const std::string& member, double seconds) {
  ProbeResult r;
  r.target = "vip1";
  r.member = member;
  r.cls = ResultClass::ok;
  r.delivery_seconds = seconds;
  r.stage_times = {{Stage::connect, 0.001}, {Stage::rcpt, 0.002}};
  return r;
}

bool has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

}  // namespace

TEST_CASE("histograms are per member by default, and the last delivery is a gauge", "[exporter]") {
  Exporter e("", "1.0");
  e.record_probe(delivered("a:25", 0.3));
  e.record_probe(delivered("b:25", 2.0));
  const auto text = e.render();
  CHECK(has(text, "mailcanary_delivery_latency_seconds_count{member=\"a:25\",target=\"vip1\"} 1"));
  CHECK(has(text,
            "mailcanary_smtp_stage_duration_seconds_count{member=\"b:25\",stage=\"rcpt\","
            "target=\"vip1\"} 1"));
  CHECK(has(text, "mailcanary_last_delivery_seconds{member=\"a:25\",target=\"vip1\"} 0.3"));
  CHECK(has(text, "mailcanary_last_delivery_seconds{member=\"b:25\",target=\"vip1\"} 2"));

  e.retire_member("vip1", "a:25");
  const auto after = e.render();
  CHECK_FALSE(has(after, "member=\"a:25\""));
  CHECK(has(after, "mailcanary_last_delivery_seconds{member=\"b:25\",target=\"vip1\"} 2"));
}

TEST_CASE("with histograms per target, members share them and keep their own gauges",
          "[exporter]") {
  Exporter e("probe-1", "1.0", false);
  e.record_probe(delivered("a:25", 0.3));
  e.record_probe(delivered("b:25", 2.0));
  const auto text = e.render();
  CHECK(has(text,
            "mailcanary_delivery_latency_seconds_count{instance=\"probe-1\",target=\"vip1\"} 2"));
  CHECK(has(text,
            "mailcanary_smtp_stage_duration_seconds_count{instance=\"probe-1\","
            "stage=\"connect\",target=\"vip1\"} 2"));
  CHECK_FALSE(has(text, "mailcanary_delivery_latency_seconds_count{instance=\"probe-1\",member="));
  CHECK_FALSE(
      has(text, "mailcanary_smtp_stage_duration_seconds_bucket{instance=\"probe-1\",member="));
  CHECK(has(text,
            "mailcanary_last_delivery_seconds{instance=\"probe-1\",member=\"a:25\","
            "target=\"vip1\"} 0.3"));
  CHECK(has(text,
            "mailcanary_probes_total{class=\"ok\",instance=\"probe-1\",member=\"b:25\","
            "target=\"vip1\"} 1"));

  // Retiring a member keeps the shared histograms.
  e.retire_member("vip1", "a:25");
  const auto after = e.render();
  CHECK_FALSE(has(after, "member=\"a:25\""));
  CHECK(has(after,
            "mailcanary_delivery_latency_seconds_count{instance=\"probe-1\",target=\"vip1\"} 2"));
}
