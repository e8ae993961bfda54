// Drives the agent core in a unit test: a config from TOML text, a fake time that
// moves only when told (in milliseconds), and helpers to feed results and read effects.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "mailcanary/agent/core/core.hpp"
#include "mailcanary/config/config.hpp"

namespace mailcanary::testing {

using namespace std::chrono_literals;
using agent::Effects;
using agent::ProbeResult;
using probes::ResultClass;
using probes::Stage;

/// A config with [agent], one IMAP [[mailbox]] "inbox", and `rest` appended (targets,
/// [slg], maintenance...). Secrets come from the test bed's files.
inline std::shared_ptr<const config::Config> core_config(const std::string& rest,
                                                         const std::string& agent_extra = "") {
  const std::string secrets = std::string(MAILCANARY_SOURCE_DIR) + "/tests/testbed/secrets/";
  const std::string text =
      "[agent]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"/nonexistent\"\n"
      "interval = \"10s\"\nhmac_key_file = \"" +
      secrets + "hmac.key\"\n" + agent_extra +
      "\n[smtp]\nfrom = \"canary@example.test\"\n"
      "[[mailbox]]\nname = \"inbox\"\nserver = \"127.0.0.1:1143\"\n"
      "user = \"canary\"\npassword_file = \"" +
      secrets + "canary.pass\"\n" + rest;
  auto loaded = config::load_config_string(text, "/tmp/core-test.toml");
  INFO(text);
  for (const auto& e : loaded.errors) {
    INFO(e.to_string());
  }
  REQUIRE(loaded.ok());
  return std::make_shared<const config::Config>(std::move(*loaded.config));
}

/// `[[target]]` "t" with VIP members `members` (TOML array body, e.g. "\"10.0.0.1:25\"").
inline std::string vip_target(const std::string& name, const std::string& members,
                              const std::string& extra = "") {
  return "\n[[target]]\nname = \"" + name +
         "\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\nmembers = [" + members + "]\n" +
         extra;
}

/// Every VIP member of the config, as discovery finds them.
inline agent::Discovery vip_members(const config::Config& cfg) {
  agent::Discovery d;
  for (const auto& t : cfg.targets) {
    for (std::size_t i = 0; i < t.members.size(); ++i) {
      d.members.push_back({&t, t.members[i], {t.member_endpoints[i]}, t.host});
    }
  }
  return d;
}

template <class T>
std::vector<T> all_of(const Effects& effects) {
  std::vector<T> out;
  for (const auto& e : effects) {
    if (const auto* v = std::get_if<T>(&e)) {
      out.push_back(*v);
    }
  }
  return out;
}

inline std::string log_text(const Effects& effects) {
  std::string out;
  for (const auto& l : all_of<agent::LogLine>(effects)) {
    out += l.text + "\n";
  }
  return out;
}

/// A core and its time. Starts at 2026-12-01T10:00:00Z.
struct CoreDriver {
  std::shared_ptr<const config::Config> cfg;
  agent::Core core;
  agent::Now now{
      std::chrono::steady_clock::time_point(1h),
      agent::SysTime(std::chrono::sys_days(std::chrono::year(2026) / std::chrono::December / 1)) +
          10h};

  explicit CoreDriver(std::shared_ptr<const config::Config> c) : cfg(c), core(std::move(c)) {}

  void advance(std::chrono::milliseconds d) {
    now.mono += d;
    now.wall += d;
  }
  /// Discovery answered with every VIP member.
  Effects discover() {
    core.tick(now);
    return core.discovered(vip_members(*cfg), cfg, now);
  }
  /// Moves time to the member's next slot and returns the tick's effects there (the
  /// slot is at most one interval away; steps of 1 ms).
  Effects until_started(std::chrono::milliseconds limit = 60s) {
    for (auto waited = 0ms; waited <= limit; waited += 1ms) {
      auto e = core.tick(now);
      if (!all_of<agent::StartProbe>(e).empty()) {
        return e;
      }
      advance(1ms);
    }
    FAIL("no probe started within the limit");
    return {};
  }
  /// A final SMTP result (not awaiting the mailbox) for the member.
  Effects smtp_result(const std::string& target, const std::string& member, ResultClass cls,
                      Stage stage) {
    ProbeResult r;
    r.target = target;
    r.member = member;
    r.cls = cls;
    r.stage = stage;
    r.smtp_code = cls == ResultClass::temp_fail ? 451 : 0;
    r.started_at = now.wall;
    return core.sent(std::move(r), now.mono, now);
  }
  /// An accepted canary (250 after DATA), now.
  Effects accepted(const std::string& target, const std::string& member, const std::string& id) {
    ProbeResult r;
    r.target = target;
    r.member = member;
    r.cls = ResultClass::ok;
    r.stage = Stage::done;
    r.smtp_code = 250;
    r.canary_id = id;
    r.started_at = now.wall;
    return core.sent(std::move(r), now.mono, now);
  }
  Effects found(const std::string& id, double seconds) {
    probes::Confirmation c;
    c.state = probes::Confirmation::State::found;
    c.folder = "INBOX";
    c.delivery_seconds = seconds;
    return core.confirmed(id, c, now);
  }
  const agent::MemberView* view(const std::string& target, const std::string& member) {
    snapshot_ = core.snapshot(now);
    return snapshot_->find(target, member);
  }

 private:
  std::shared_ptr<const agent::Snapshot> snapshot_;
};

}  // namespace mailcanary::testing
