#include "mailcanary/agent/probe_run.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "mailcanary/probes/canary.hpp"
#include "mailcanary/probes/classify.hpp"
#include "mailcanary/probes/mailbox.hpp"
#include "mailcanary/probes/smtp.hpp"

namespace mailcanary::agent {

using probes::ResultClass;
using probes::Stage;

std::vector<MemberRef> select_members(const config::Config& cfg, const std::string& target,
                                      const std::string& member) {
  std::vector<MemberRef> out;
  bool target_seen = false;
  for (const auto& t : cfg.targets) {
    if (!target.empty() && t.name != target) {
      continue;
    }
    target_seen = true;
    if (t.is_mx_mode()) {
      continue;  // MX discovery comes with the DNS probe step
    }
    if (t.vip) {
      std::string label = t.vip->to_string();
      if (member.empty() || member == label) {
        out.push_back({&t, label, *t.vip});
      }
    }
    for (std::size_t i = 0; i < t.members.size(); ++i) {
      if (member.empty() || member == t.members[i]) {
        out.push_back({&t, t.members[i], t.member_endpoints[i]});
      }
    }
  }
  if (!target.empty() && !target_seen) {
    throw std::invalid_argument("--target " + target + ": no such target in the config");
  }
  if (out.empty()) {
    throw std::invalid_argument(member.empty() ? "no members to probe (MX targets need DNS "
                                                 "discovery, not available yet)"
                                               : "--member " + member + ": no such member");
  }
  return out;
}

namespace {

std::string local_hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) {
    return "localhost";
  }
  return buf;
}

ProbeResult send_one(const config::Config& cfg, const MemberRef& m, probes::Clock& clock,
                     std::chrono::steady_clock::time_point& accepted_at) {
  const auto& t = *m.target;
  ProbeResult r;
  r.target = t.name;
  r.member = m.member;
  r.canary_id = probes::new_canary_id(clock.wall());
  probes::CanaryMessage msg{r.canary_id, t.smtp.from,        t.rcpt,           t.name,
                            m.member,    cfg.agent.instance, local_hostname(), clock.wall()};
  probes::SmtpRequest req{m.address, t.host, t.smtp, t.rcpt,
                          probes::build_canary_message(msg, cfg.agent.hmac_key)};
  probes::SystemRandom random;
  auto outcome = probes::send_smtp(req, clock, random);
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

}  // namespace

std::vector<ProbeResult> run_probes(const config::Config& cfg,
                                    const std::vector<MemberRef>& members, probes::Clock& clock) {
  std::vector<ProbeResult> results(members.size());
  std::vector<std::chrono::steady_clock::time_point> accepted_at(members.size());

  // One reader per mailbox, logging in while the canaries are being sent so the login
  // does not count into the delivery time. A failure here is retried by the first scan.
  std::map<std::string, std::unique_ptr<probes::MailboxReader>> readers;
  for (const auto& m : members) {
    auto& reader = readers[m.target->mailbox];
    if (!reader) {
      reader =
          probes::make_mailbox_reader(*cfg.find_mailbox(m.target->mailbox), cfg.agent.hmac_key);
    }
  }
  // A refused login is final for this run: no point logging in again to hear it twice.
  std::map<std::string, std::string> refused;
  std::mutex refused_mutex;
  std::vector<std::jthread> logins;
  for (auto& [name, reader] : readers) {
    logins.emplace_back([&, name = name, r = reader.get()] {
      try {
        r->prepare();
      } catch (const probes::MailboxError& e) {
        if (e.permanent()) {
          std::lock_guard lock(refused_mutex);
          refused[name] = e.what();
        }
      }
    });
  }

  // Send: at most `concurrency` conversations at once; a slow member delays no other.
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < members.size(); i = next++) {
      results[i] = send_one(cfg, members[i], clock, accepted_at[i]);
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

  // Confirm: each reader waits for all of its accepted canaries at once.
  std::map<std::string, std::vector<std::size_t>> by_mailbox;
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (results[i].stage == Stage::done && results[i].cls == ResultClass::ok) {
      by_mailbox[members[i].target->mailbox].push_back(i);
    }
  }
  std::vector<std::jthread> waits;
  for (auto& [name, indexes] : by_mailbox) {
    waits.emplace_back([&, name = name, idx = indexes] {
      const auto* mb = cfg.find_mailbox(name);
      std::vector<probes::PendingCanary> pending;
      for (auto i : idx) {
        pending.push_back({results[i].canary_id, accepted_at[i],
                           accepted_at[i] + members[i].target->slg.lost_after});
      }
      auto& reader = readers.at(name);
      // Look every 10 ms for the first 2 s after a canary was accepted: on loopback or a
      // LAN that confirms within milliseconds of delivery, where IDLE alone may lag.
      probes::WaitPolicy policy{mb->poll_interval, std::chrono::seconds(2),
                                std::chrono::milliseconds(10)};
      std::map<std::string, probes::Confirmation> confirmed;
      if (auto it = refused.find(name); it != refused.end()) {
        for (const auto& p : pending) {
          probes::Confirmation failed;
          failed.state = probes::Confirmation::State::reader_failed;
          failed.error = it->second;
          confirmed[p.id] = failed;
        }
      } else {
        confirmed = probes::await_canaries(*reader, pending, policy, clock);
      }
      for (auto i : idx) {
        auto& r = results[i];
        const auto& c = confirmed[r.canary_id];
        probes::Arrival arrival = probes::Arrival::not_found;
        switch (c.state) {
          case probes::Confirmation::State::found:
            arrival = probes::Arrival::found;
            r.delivery_seconds = c.delivery_seconds;
            {
              auto evidence = probes::parse_evidence(c.headers);
              r.received_by = std::move(evidence.received_by);
              r.authentication_results = std::move(evidence.authentication_results);
              r.hops = std::move(evidence.hops);
            }
            break;
          case probes::Confirmation::State::not_found:
            r.detail = "accepted (" + r.detail + ") but not found in mailbox " + name + " within " +
                       std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                          members[i].target->slg.lost_after)
                                          .count()) +
                       "s";
            break;
          case probes::Confirmation::State::reader_failed:
            arrival = probes::Arrival::reader_failed;
            r.detail = c.error;
            break;
        }
        auto d = probes::classify_delivery(arrival, c.delivery_seconds,
                                           members[i].target->slg.latency_slo);
        r.cls = d.cls;
        r.stage = d.stage;
      }
    });
  }
  waits.clear();  // joins
  return results;
}

int plugin_exit_code(const std::vector<ProbeResult>& results) {
  int worst = 0;
  for (const auto& r : results) {
    int s = probes::plugin_severity(r.cls);
    // Critical outranks unknown: a failing target matters more than a blind reader.
    if (s == 2 || (worst != 2 && s > worst)) {
      worst = s;
    }
  }
  return worst;
}

}  // namespace mailcanary::agent
