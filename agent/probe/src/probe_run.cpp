#include "mailcanary/agent/probe/probe_run.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "mailcanary/agent/probe/mailbox_watcher.hpp"
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
                        std::chrono::steady_clock::time_point& accepted_at,
                        std::optional<std::chrono::steady_clock::time_point> give_up_at,
                        bool* gave_up, probes::TokenRegistry* tokens) {
  const auto& t = *m.target;
  ProbeResult r;
  r.target = t.name;
  r.member = m.member;
  r.canary_id = probes::new_canary_id(clock.wall());
  probes::CanaryMessage msg{r.canary_id, t.smtp.from,        t.rcpt,           t.name,
                            m.member,    cfg.agent.instance, local_hostname(), clock.wall()};
  probes::SmtpRequest req;
  req.host = m.host;
  req.smtp = t.smtp;
  req.rcpt = t.rcpt;
  req.message = probes::build_canary_message(msg, cfg.agent.hmac_key);
  req.give_up_at = give_up_at;
  std::shared_ptr<probes::TokenSource> source;  // held for the conversation
  if (tokens && !t.smtp.user.empty() && t.smtp.auth != config::AuthMethod::password) {
    source = tokens->source(cfg, t.smtp.oauth2);
    req.tokens = source.get();
  }
  thread_local probes::SystemRandom random;  // seeded once per worker, not per probe
  probes::SmtpOutcome outcome;
  // Like an MTA: the next address of the host when one cannot be reached at all.
  for (const auto& address : m.addresses) {
    req.address = address;
    outcome = probes::send_smtp(req, clock, random);
    const auto& v = outcome.last.verdict;
    if (outcome.gave_up || !(v.cls == ResultClass::unreachable && v.stage == Stage::connect)) {
      break;
    }
  }
  accepted_at = clock.now();
  if (gave_up) {
    *gave_up = outcome.gave_up;
  }
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

// What one run_probes() knows, shared by the SMTP workers and the watchers' threads:
// results in member order, and which members are still open.
class Board {
 public:
  Board(const std::vector<MemberRef>& members, probes::Clock& clock)
      : members_(members),
        results_(members.size()),
        decided_(members.size(), false),
        open_(members.size()),
        latest_deadline_(clock.now()) {}

  // A member's SMTP conversation ended; unless it awaits the mailbox it is decided.
  void sent(std::size_t i, ProbeResult r, const probes::PendingCanary& p) {
    {
      std::lock_guard lock(mutex_);
      if (awaits_mailbox(r)) {
        waiting_[r.canary_id] = i;
        latest_deadline_ = std::max(latest_deadline_, p.deadline);
      } else {
        --open_;
        decided_[i] = true;
      }
      results_[i] = std::move(r);
    }
    changed_.notify_all();
  }

  // A watcher decided a canary. Anything else (a lost canary turning up after all) is
  // not a decision of this run.
  void decided(const std::string& id, const probes::Confirmation& c, const std::string& folder) {
    {
      std::lock_guard lock(mutex_);
      auto it = waiting_.find(id);
      if (it == waiting_.end() || c.state == probes::Confirmation::State::found_after_lost) {
        return;
      }
      const auto i = it->second;
      apply_confirmation(results_[i], *members_[i].target, folder, c);
      decided_[i] = true;
      waiting_.erase(it);
      --open_;
    }
    changed_.notify_all();
  }

  // With a run deadline: waits until every member is decided or the deadline passes
  // (whichever is first, the watchers deciding by lost_after as in wait_all). What is
  // not decided then is unresolved, not failed: the deadline is ours, not the server's.
  ProbeRun wait_until(probes::Clock& clock, std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    const auto left = deadline - clock.now();
    changed_.wait_for(lock, std::max(left, std::chrono::steady_clock::duration::zero()),
                      [&] { return open_ == 0; });
    ProbeRun run;
    for (std::size_t i = 0; i < results_.size(); ++i) {
      if (decided_[i]) {
        run.results.push_back(results_[i]);
      } else {
        run.unresolved.emplace_back(members_[i].target->name, members_[i].member);
      }
    }
    waiting_.clear();
    open_ = 0;
    return run;
  }

  // After the last send: waits until every member is decided. The watchers decide each
  // canary at its deadline at the latest; `grace` covers a mailbox scan still under way
  // then. What is still open after that is decided here as a mailbox error.
  std::vector<ProbeResult> wait_all(probes::Clock& clock, std::chrono::milliseconds grace) {
    std::unique_lock lock(mutex_);
    const auto left = latest_deadline_ + grace - clock.now();
    changed_.wait_for(lock, std::max(left, std::chrono::steady_clock::duration::zero()),
                      [&] { return open_ == 0; });
    for (const auto& [id, i] : waiting_) {
      probes::Confirmation c;
      c.state = probes::Confirmation::State::reader_failed;
      c.error = "mailbox " + members_[i].target->mailbox + " gave no answer in time";
      apply_confirmation(results_[i], *members_[i].target, "", c);
    }
    waiting_.clear();
    open_ = 0;
    return results_;
  }

 private:
  const std::vector<MemberRef>& members_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<ProbeResult> results_;
  std::vector<bool> decided_;
  std::size_t open_;                            // members not decided yet
  std::map<std::string, std::size_t> waiting_;  // canary id -> member, awaiting the mailbox
  std::chrono::steady_clock::time_point latest_deadline_;
};

}  // namespace

namespace {

// One run: the mailbox watchers, then the sends; `deadline` cuts both short.
template <typename Finish>
auto run(const config::Config& cfg, const std::vector<MemberRef>& members, probes::Clock& clock,
         const std::string& reader_binary,
         std::optional<std::chrono::steady_clock::time_point> deadline,
         std::chrono::milliseconds stop_grace, Finish finish) {
  Board board(members, clock);          // outlives the watchers, which call into it
  probes::TokenRegistry tokens(clock);  // one token per [[oauth2]] for the whole run

  // One watcher per (mailbox, bounce mailbox): one login, one scan for all of its
  // canaries. Each logs in right away, while the canaries are being sent, so the login
  // does not count into the delivery time; a login refused then is final for this run.
  std::map<std::pair<std::string, std::string>, std::unique_ptr<MailboxWatcher>> watchers;
  std::vector<MailboxWatcher*> watcher_of(members.size());
  std::chrono::milliseconds slowest_poll{0};
  for (std::size_t i = 0; i < members.size(); ++i) {
    const auto& t = *members[i].target;
    auto& w = watchers[{t.mailbox, t.bounce_mailbox}];
    if (!w) {
      // Leftovers of earlier runs (e.g. one cut short by -t) are removed as in the agent.
      const auto mailbox = reading_config(cfg, *cfg.find_mailbox(t.mailbox));
      std::optional<config::MailboxConfig> bounces;
      if (!t.bounce_mailbox.empty()) {
        bounces = reading_config(cfg, *cfg.find_mailbox(t.bounce_mailbox));
      }
      slowest_poll = std::max(slowest_poll, std::chrono::milliseconds(mailbox.poll_interval));
      w = std::make_unique<MailboxWatcher>(
          mailbox, bounces ? &*bounces : nullptr, cfg.agent.hmac_key, clock,
          [&board, folder = mailbox.folder](const std::string& id, const probes::Confirmation& c) {
            board.decided(id, c, folder);
          },
          MailboxWatcher::Health{},
          MailboxWatcher::Options{
              .login_first = true,
              .reader_binary = reader_binary,
              .stop_grace = stop_grace,
              .tokens = tokens.source(cfg, mailbox.oauth2),
              .bounce_tokens = bounces ? tokens.source(cfg, bounces->oauth2) : nullptr});
    }
    watcher_of[i] = w.get();
  }

  // Send: at most `concurrency` conversations at once; a slow member delays no other.
  // Each accepted canary goes to its watcher as soon as its conversation ends, timed
  // from its own 250. Past the deadline no member starts, and one cut there stays
  // undecided.
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < members.size(); i = next++) {
      if (deadline && clock.now() >= *deadline) {
        continue;
      }
      std::chrono::steady_clock::time_point accepted_at;
      bool gave_up = false;
      ProbeResult r = send_canary(cfg, members[i], clock, accepted_at, deadline, &gave_up, &tokens);
      if (gave_up) {
        continue;
      }
      const probes::PendingCanary p{r.canary_id, accepted_at,
                                    accepted_at + members[i].target->slg.lost_after};
      const bool awaits = awaits_mailbox(r);
      board.sent(i, std::move(r), p);
      if (awaits) {
        watcher_of[i]->add(p);
      }
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

  auto out = finish(board, slowest_poll);
  watchers.clear();  // joins their threads; nothing they decide now counts
  return out;
}

}  // namespace

std::vector<ProbeResult> run_probes(const config::Config& cfg,
                                    const std::vector<MemberRef>& members, probes::Clock& clock,
                                    const std::string& reader_binary) {
  if (members.empty()) {
    return {};
  }
  return run(cfg, members, clock, reader_binary, std::nullopt, MailboxWatcherOptions{}.stop_grace,
             [&](Board& board, std::chrono::milliseconds slowest_poll) {
               // A scan under way at a deadline ends within the readers' I/O timeouts
               // (poll interval + 10 s per exchange): a minute past the last deadline is
               // a generous bound.
               return board.wait_all(clock, slowest_poll + std::chrono::minutes(1));
             });
}

ProbeRun run_probes_until(const config::Config& cfg, const std::vector<MemberRef>& members,
                          probes::Clock& clock, std::chrono::steady_clock::time_point deadline,
                          const std::string& reader_binary, std::chrono::milliseconds stop_grace) {
  if (members.empty()) {
    return {};
  }
  return run(
      cfg, members, clock, reader_binary, deadline, stop_grace,
      [&](Board& board, std::chrono::milliseconds) { return board.wait_until(clock, deadline); });
}

}  // namespace mailcanary::agent
