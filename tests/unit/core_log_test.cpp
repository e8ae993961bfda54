// What the core writes to the journal: at info a healthy member is quiet (each result is
// a debug line), state changes are lines of their own, and a periodic summary counts
// what happened. Fake time, milliseconds.
#include "core_driver.hpp"
#include "mailcanary/agent/runtime/log_format.hpp"

using namespace mailcanary::testing;
using mailcanary::agent::LogLine;
using mailcanary::agent::StartProbe;

namespace {

const std::string kA = "10.0.0.1:25";

std::string one_member(const std::string& log_section) {
  return vip_target("t", "\"" + kA + "\"", "interval = \"1s\"\n") +
         "[slg]\nlatency_slo = \"2s\"\nlost_after = \"3s\"\noutage_window = \"1s\"\n"
         "health_fail_after = 1\nrecover_after = 1\n" +
         log_section;
}

// The member's next probe, decided as `cls` (SMTP stage rcpt unless ok).
Effects probe(CoreDriver& d, ResultClass cls) {
  d.until_started();
  if (cls == ResultClass::ok) {
    static int n = 0;
    const std::string id = "c-" + std::to_string(++n);
    d.accepted("t", kA, id);
    d.advance(10ms);
    return d.found(id, 0.01);
  }
  return d.smtp_result("t", kA, cls, Stage::rcpt);
}

std::vector<LogLine> lines(const Effects& e) {
  return all_of<LogLine>(e);
}

}  // namespace

TEST_CASE("at info, results that change nothing write nothing; changes write one line",
          "[core][log]") {
  CoreDriver d(core_config(one_member("")));
  d.discover();
  CHECK(lines(probe(d, ResultClass::ok)).empty());
  CHECK(lines(probe(d, ResultClass::ok)).empty());
  auto down = lines(probe(d, ResultClass::temp_fail));
  REQUIRE(down.size() == 1);
  CHECK(down[0].level == LogLine::Level::warning);
  CHECK(down[0].text.find("health DOWN") != std::string::npos);
  // The failure goes on past the outage window: the alarm, an error line.
  Effects more;
  for (int i = 0; i < 3; ++i) {
    for (auto& e : probe(d, ResultClass::temp_fail)) {
      more.push_back(std::move(e));
    }
  }
  auto raised = lines(more);
  REQUIRE(raised.size() == 1);
  CHECK(raised[0].level == LogLine::Level::error);
  CHECK(raised[0].text.find("ALARM RAISED") != std::string::npos);
  Effects back;
  for (int i = 0; i < 3; ++i) {
    for (auto& e : probe(d, ResultClass::ok)) {
      back.push_back(std::move(e));
    }
  }
  const auto text = log_text(back);
  CHECK(text.find("health UP") != std::string::npos);
  CHECK(text.find("alarm cleared") != std::string::npos);
  for (const auto& l : lines(back)) {
    CHECK(l.level == LogLine::Level::info);
  }
  CHECK(lines(probe(d, ResultClass::ok)).empty());
}

TEST_CASE("at debug every result is a line", "[core][log]") {
  CoreDriver d(core_config(one_member("\n[log]\nlevel = \"debug\"\n")));
  d.discover();
  auto ok = lines(probe(d, ResultClass::ok));
  REQUIRE(ok.size() == 1);
  CHECK(ok[0].level == LogLine::Level::debug);
  CHECK(ok[0].text.find("t 10.0.0.1:25 ok stage=done") != std::string::npos);
}

TEST_CASE("at error, only errors", "[core][log]") {
  CoreDriver d(core_config(one_member("\n[log]\nlevel = \"error\"\n")));
  d.discover();
  CHECK(lines(probe(d, ResultClass::temp_fail)).empty());  // health DOWN is a warning
}

TEST_CASE("a summary line every summary_interval counts the results by class", "[core][log]") {
  CoreDriver d(core_config(one_member("\n[log]\nsummary_interval = \"10s\"\n")));
  d.discover();
  const auto start = d.now.mono;
  Effects all;
  // Every tick's effects are kept (the summary comes from a tick); each probe started is
  // answered at once: ok for 5 s, then temp_fail.
  for (int i = 0; i < 12000 && log_text(all).find("summary") == std::string::npos; ++i) {
    d.advance(1ms);
    for (auto& e : d.core.tick(d.now)) {
      if (std::holds_alternative<StartProbe>(e)) {
        Effects answer;
        if (d.now.mono - start < 5s) {
          const std::string id = "s-" + std::to_string(i);
          answer = d.accepted("t", kA, id);
          for (auto& r : d.found(id, 0.01)) {
            answer.push_back(std::move(r));
          }
        } else {
          answer = d.smtp_result("t", kA, ResultClass::temp_fail, Stage::rcpt);
        }
        for (auto& r : answer) {
          all.push_back(std::move(r));
        }
      }
      all.push_back(std::move(e));
    }
  }
  const auto text = log_text(all);
  INFO(text);
  const auto at = text.find("summary of the last 10 s: 1 members, ");
  REQUIRE(at != std::string::npos);
  CHECK(text.find(" results (ok ", at) != std::string::npos);
  CHECK(text.find(", temp_fail ", at) != std::string::npos);
  CHECK(text.find("1 in alarm, 1 health DOWN, 0 of 1 mailboxes unreadable, 0 canaries in flight",
                  at) != std::string::npos);
  // Exactly one, and the counts start again after it.
  CHECK(text.find("summary", at + 1) == std::string::npos);
}

TEST_CASE("summary_interval = 0 writes no summary", "[core][log]") {
  CoreDriver d(core_config(one_member("\n[log]\nsummary_interval = \"0s\"\n")));
  d.discover();
  Effects all;
  for (int i = 0; i < 30; ++i) {
    d.advance(1s);
    for (auto& e : d.core.tick(d.now)) {
      all.push_back(std::move(e));
    }
  }
  CHECK(log_text(all).find("summary") == std::string::npos);
}

TEST_CASE("an outcome that changes alarm or health is marked for an immediate write",
          "[core][batch]") {
  CoreDriver d(core_config(one_member("")));
  d.discover();
  auto outcome_of = [](const Effects& e) {
    auto all = all_of<mailcanary::agent::PersistOutcome>(e);
    REQUIRE(all.size() == 1);
    return all[0].outcome;
  };
  CHECK_FALSE(outcome_of(probe(d, ResultClass::ok)).changes_state);
  CHECK(outcome_of(probe(d, ResultClass::temp_fail)).changes_state);  // health DOWN
  bool raised = false;
  for (int i = 0; i < 5 && !raised; ++i) {
    auto e = probe(d, ResultClass::temp_fail);
    raised = log_text(e).find("ALARM RAISED") != std::string::npos;
    CHECK(outcome_of(e).changes_state == raised);
  }
  REQUIRE(raised);
  CHECK_FALSE(outcome_of(probe(d, ResultClass::temp_fail)).changes_state);  // still in alarm
}

namespace {

struct Hour {
  std::size_t results = 0;
  std::vector<LogLine> lines;
  std::size_t bytes = 0;  // as the text format writes them
};

// One hour and a second of 1,000 healthy members (interval 60s), every probe ok at once,
// with `log_section` appended to the config.
Hour healthy_hour(const std::string& log_section) {
  std::string members;
  for (int i = 0; i < 1000; ++i) {
    members += (i ? ", \"10.1." : "\"10.1.") + std::to_string(i / 250) + "." +
               std::to_string(i % 250 + 1) + ":25\"";
  }
  CoreDriver d(core_config(vip_target("t", members, "interval = \"60s\"\n") + log_section));
  d.discover();
  Hour h;
  // The core makes no line below [log] level: every line it makes is written.
  const auto keep = [&](const Effects& e) {
    for (auto& line : lines(e)) {
      h.bytes += mailcanary::agent::format_log_line(line, d.now.wall,
                                                    mailcanary::config::LogFormat::text, false)
                     .size();
      h.lines.push_back(std::move(line));
    }
  };
  for (int s = 0; s <= 3601; ++s) {
    d.advance(1s);
    const Effects tick = d.core.tick(d.now);
    keep(tick);
    for (const auto& start : all_of<StartProbe>(tick)) {
      const std::string id = "h-" + std::to_string(++h.results);
      keep(d.accepted("t", start.ref.member, id));
      keep(d.found(id, 0.01));
    }
  }
  return h;
}

}  // namespace

TEST_CASE("a healthy fleet of 1,000 members for one hour at info writes one summary line",
          "[core][log]") {
  const Hour info = healthy_hour("");  // the defaults: level info, summary_interval 1h
  const Hour debug = healthy_hour("[log]\nlevel = \"debug\"\n");  // the reference
  UNSCOPED_INFO("one hour, " << info.results << " results: at info " << info.lines.size()
                             << " lines, " << info.bytes << " bytes; at debug "
                             << debug.lines.size() << " lines, " << debug.bytes << " bytes");
  CHECK(info.results >= 59000);
  REQUIRE(info.lines.size() == 1);
  UNSCOPED_INFO(info.lines[0].text);
  CHECK(info.lines[0].text.find("summary of the last 1 h: 1000 members") != std::string::npos);
  CHECK(info.bytes < 400);
  CHECK(debug.lines.size() >= info.results);
}
