#include "mailcanary/agent/probe/probe_run.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <thread>

#include "mailcanary/probes/canary.hpp"
#include "mailcanary/probes/classify.hpp"
#include "mailcanary/probes/mailbox.hpp"
#include "mailcanary/probes/smtp.hpp"

namespace mailcanary::agent {

using probes::ResultClass;
using probes::Stage;

namespace {

std::string local_hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) {
    return "localhost";
  }
  return buf;
}

}  // namespace

ProbeResult send_canary(const config::Config& cfg, const MemberRef& m, probes::Clock& clock,
                        std::chrono::steady_clock::time_point& accepted_at) {
  const auto& t = *m.target;
  ProbeResult r;
  r.target = t.name;
  r.member = m.member;
  r.canary_id = probes::new_canary_id(clock.wall());
  probes::CanaryMessage msg{r.canary_id, t.smtp.from,        t.rcpt,           t.name,
                            m.member,    cfg.agent.instance, local_hostname(), clock.wall()};
  probes::SmtpRequest req{
      {}, m.host, t.smtp, t.rcpt, probes::build_canary_message(msg, cfg.agent.hmac_key)};
  probes::SystemRandom random;
  probes::SmtpOutcome outcome;
  // Like an MTA: the next address of the host when one cannot be reached at all.
  for (const auto& address : m.addresses) {
    req.address = address;
    outcome = probes::send_smtp(req, clock, random);
    const auto& v = outcome.last.verdict;
    if (!(v.cls == ResultClass::unreachable && v.stage == Stage::connect)) {
      break;
    }
  }
  accepted_at = clock.now();
  const auto& v = outcome.last.verdict;
  r.cls = v.cls;
  r.stage = v.stage;
  r.smtp_code = v.smtp_code;
  r.enhanced_code = v.enhanced_code;
  r.detail = v.detail;
  r.attempts = outcome.attempts;
  r.smtp_seconds = outcome.last.seconds;
  r.queue_id = outcome.last.queue_id;
  r.transcript = std::move(outcome.last.transcript);
  r.stage_times = std::move(outcome.last.stage_times);
  return r;
}

namespace {

// The canaries that share a mailbox (and a bounce mailbox) are awaited together by one
// reader: one login, one scan for all of them.
struct MailboxGroup {
  const config::MailboxConfig* mailbox = nullptr;
  std::unique_ptr<probes::MailboxReader> reader;
  std::unique_ptr<probes::MailboxReader> bounces;  // null: no bounce_mailbox
  std::string refused;  // a login refused before sending: final for this run
  std::vector<std::size_t> members;
};

using GroupKey = std::pair<std::string, std::string>;  // mailbox, bounce mailbox

std::map<GroupKey, MailboxGroup> make_groups(const config::Config& cfg,
                                             const std::vector<MemberRef>& members) {
  std::map<GroupKey, MailboxGroup> groups;
  for (std::size_t i = 0; i < members.size(); ++i) {
    const auto& t = *members[i].target;
    auto& g = groups[{t.mailbox, t.bounce_mailbox}];
    if (!g.reader) {
      g.mailbox = cfg.find_mailbox(t.mailbox);
      g.reader = probes::make_mailbox_reader(*g.mailbox, cfg.agent.hmac_key);
      if (!t.bounce_mailbox.empty()) {
        g.bounces =
            probes::make_mailbox_reader(*cfg.find_mailbox(t.bounce_mailbox), cfg.agent.hmac_key);
      }
    }
    g.members.push_back(i);
  }
  return groups;
}

}  // namespace

namespace {

void await_group(MailboxGroup& g, std::vector<ProbeResult>& results,
                 const std::vector<MemberRef>& members,
                 const std::vector<std::chrono::steady_clock::time_point>& accepted_at,
                 probes::Clock& clock) {
  std::vector<probes::PendingCanary> pending;
  std::vector<std::size_t> accepted;
  for (auto i : g.members) {
    if (awaits_mailbox(results[i])) {
      pending.push_back({results[i].canary_id, accepted_at[i],
                         accepted_at[i] + members[i].target->slg.lost_after});
      accepted.push_back(i);
    }
  }
  if (pending.empty()) {
    return;
  }
  std::map<std::string, probes::Confirmation> confirmed;
  if (!g.refused.empty()) {
    for (const auto& p : pending) {
      auto& c = confirmed[p.id];
      c.state = probes::Confirmation::State::reader_failed;
      c.error = g.refused;
    }
  } else {
    // Look every 10 ms for the first 2 s after a canary was accepted: on loopback or a
    // LAN that confirms within milliseconds of delivery, where IDLE alone may lag.
    probes::WaitPolicy policy{g.mailbox->poll_interval, std::chrono::seconds(2),
                              std::chrono::milliseconds(10)};
    confirmed = probes::await_canaries(*g.reader, g.bounces.get(), pending, policy, clock);
  }
  for (auto i : accepted) {
    apply_confirmation(results[i], *members[i].target, g.mailbox->folder,
                       confirmed[results[i].canary_id]);
  }
}

}  // namespace

std::vector<ProbeResult> run_probes(const config::Config& cfg,
                                    const std::vector<MemberRef>& members, probes::Clock& clock) {
  std::vector<ProbeResult> results(members.size());
  std::vector<std::chrono::steady_clock::time_point> accepted_at(members.size());
  auto groups = make_groups(cfg, members);

  // Readers log in while the canaries are being sent, so the login does not count into
  // the delivery time. A transient failure here is retried by the first scan.
  std::vector<std::jthread> logins;
  for (auto& [key, group] : groups) {
    logins.emplace_back([g = &group] {
      try {
        g->reader->prepare();
      } catch (const probes::MailboxError& e) {
        if (e.permanent()) {
          g->refused = e.what();
        }
      }
    });
  }

  // Send: at most `concurrency` conversations at once; a slow member delays no other.
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < members.size(); i = next++) {
      results[i] = send_canary(cfg, members[i], clock, accepted_at[i]);
    }
  };
  const std::size_t n_threads =
      std::min<std::size_t>(members.size(), static_cast<std::size_t>(cfg.agent.concurrency));
  {
    std::vector<std::jthread> pool;
    for (std::size_t i = 0; i < n_threads; ++i) {
      pool.emplace_back(worker);
    }
  }
  logins.clear();  // joins

  // Confirm: each group waits for all of its accepted canaries at once.
  {
    std::vector<std::jthread> waits;
    for (auto& [key, group] : groups) {
      waits.emplace_back(
          [&, g = &group] { await_group(*g, results, members, accepted_at, clock); });
    }
  }
  return results;
}

}  // namespace mailcanary::agent
