#include "mailbox_probe.hpp"

#include <strings.h>
#include <catch2/catch.hpp>

namespace hostile {

using namespace std::chrono_literals;

ProbeRun run_mailbox_probe(const std::string& name, ScriptedServer& mailbox,
                           const std::string& protocol, ScriptedServer& smtp,
                           const std::string& extra_mailbox) {
  ProbeSetup setup;
  setup.smtp = smtp.address();
  setup.mailbox = mailbox.address();
  setup.protocol = protocol;
  setup.extra_mailbox = (protocol == "imap" ? "idle = false\n" : "") + extra_mailbox;
  ProbeRun run = run_probe(name, setup, 90s);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  REQUIRE(run.rc >= 0);  // not killed at the hard limit
  CHECK(run.rc < 128);   // no crash (a signal shows as 128 + its number)
  REQUIRE(run.result.is_object());
  CHECK(run.peak_rss_kib < rss_bound_kib());
  return run;
}

ProbeRun probe_mailbox(const std::string& name, ScriptedServer& mailbox,
                       const std::string& protocol, const Expect& e,
                       const std::string& extra_mailbox) {
  auto smtp = smtp_server([](Conn&, const std::string&) { return Reply::fallback; });
  ProbeRun run = run_mailbox_probe(name, mailbox, protocol, smtp, extra_mailbox);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  CHECK(run.result.value("class", "") == "mailbox_error");
  CHECK(run.result.value("stage", "") == "mailbox");
  CHECK(run.result.value("detail", "").find(e.in_detail) != std::string::npos);
  CHECK(run.seconds < e.max_seconds);
  CHECK(run.seconds >= e.min_seconds);
  return run;
}

ScriptedServer::Handler CanaryRelay::smtp_handler() {
  return [this](Conn&, const std::string& line) {
    static constexpr char kField[] = "X-Mailcanary-Id:";
    if (strncasecmp(line.c_str(), kField, sizeof kField - 1) == 0) {
      std::lock_guard lock(mutex_);
      header_ = line + "\r\n";
    }
    return Reply::fallback;
  };
}

std::string CanaryRelay::header() const {
  std::lock_guard lock(mutex_);
  return header_;
}

ScriptedServer imap_at(const std::string& verb,
                       std::function<Reply(Conn&, const ImapCommand&)> then) {
  return imap_server([verb, then](Conn& conn, const std::string& line) {
    ImapCommand c = parse_imap(line);
    return c.verb == verb ? then(conn, c) : Reply::fallback;
  });
}

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (std::size_t i = 0; i < n; ++i) {
    out += s;
  }
  return out;
}

}  // namespace hostile
