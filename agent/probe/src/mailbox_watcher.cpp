#include "mailcanary/agent/probe/mailbox_watcher.hpp"

#include <algorithm>

#include "mailcanary/probes/isolated_reader.hpp"

namespace mailcanary::agent {
namespace {

std::unique_ptr<probes::MailboxReader> make_reader(const config::MailboxConfig& mailbox,
                                                   const std::string& hmac_key,
                                                   const std::string& binary,
                                                   std::shared_ptr<probes::TokenSource> tokens) {
  auto reader = binary.empty() ? probes::make_mailbox_reader(mailbox, hmac_key)
                               : probes::make_isolated_mailbox_reader(mailbox, hmac_key, binary);
  if (mailbox.auth != config::AuthMethod::password && tokens) {
    reader = probes::with_oauth2_login(std::move(reader), std::move(tokens));
  }
  return reader;
}

}  // namespace

config::MailboxConfig reading_config(const config::Config& cfg, const config::MailboxConfig& mb) {
  config::MailboxConfig reading = mb;
  for (const auto& t : cfg.targets) {
    if (t.mailbox == mb.name || t.bounce_mailbox == mb.name) {
      reading.leftover_after = std::max(reading.leftover_after, t.slg.lost_after);
    }
  }
  return reading;
}

MailboxWatcher::MailboxWatcher(const config::MailboxConfig& mailbox,
                               const config::MailboxConfig* bounces, const std::string& hmac_key,
                               probes::Clock& clock, Decided decided, Health health,
                               Options options)
    : mailbox_(mailbox),
      clock_(clock),
      decided_(std::move(decided)),
      health_(std::move(health)),
      reader_(make_reader(mailbox, hmac_key, options.reader_binary, options.tokens)),
      bounces_(bounces
                   ? make_reader(*bounces, hmac_key, options.reader_binary, options.bounce_tokens)
                   : nullptr),
      // Looks at growing gaps after each acceptance, as in `probe` (probes::WaitPolicy).
      waiter_(*reader_, bounces_.get(),
              probes::WaitPolicy{mailbox.poll_interval, std::chrono::milliseconds(2),
                                 // Canaries stay open through a refused login too
                                 // (Dovecot refuses logins while it shuts down).
                                 /*permanent_error_decides=*/options.login_first}),
      options_(options) {
  thread_ = std::thread([this] { run(); });
}

MailboxWatcher::~MailboxWatcher() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    if (waiting_) {
      reader_->interrupt();
    }
  }
  wake_.notify_all();
  {
    // The thread removes what it found and ends; one stuck in a call (a reader process
    // that does not answer a login) is cut short after stop_grace rather than after the
    // call's own 300 s backstop.
    std::unique_lock lock(mutex_);
    if (!wake_.wait_for(lock, options_.stop_grace, [&] { return finished_; })) {
      reader_->stop();
      if (bounces_) {
        bounces_->stop();
      }
    }
  }
  thread_.join();
}

void MailboxWatcher::add(const probes::PendingCanary& p) {
  {
    std::lock_guard lock(mutex_);
    incoming_.push_back(p);
    ++open_;
    if (waiting_) {
      reader_->interrupt();  // its first look is due in milliseconds
    }
  }
  wake_.notify_all();
}

std::size_t MailboxWatcher::open_count() const {
  std::lock_guard lock(mutex_);
  return open_;
}

void MailboxWatcher::login_first() {
  try {
    reader_->prepare();
  } catch (const probes::MailboxError& e) {
    // A transient failure is retried by the first scan.
    if (e.permanent()) {
      refused_ = e.what();
    }
  }
}

std::vector<std::pair<std::string, probes::Confirmation>> MailboxWatcher::take_incoming() {
  // Caller holds mutex_.
  std::vector<std::pair<std::string, probes::Confirmation>> decided;
  for (const auto& p : incoming_) {
    if (refused_.empty()) {
      waiter_.add(p);
    } else {
      probes::Confirmation c;
      c.state = probes::Confirmation::State::reader_failed;
      c.error = refused_;
      decided.emplace_back(p.id, std::move(c));
    }
  }
  incoming_.clear();
  return decided;
}

void MailboxWatcher::run() {
  if (options_.login_first) {
    login_first();
  }
  bool pushed = false;  // the server said the mailbox changed: look now
  for (;;) {
    std::vector<std::pair<std::string, probes::Confirmation>> decided;
    {
      std::unique_lock lock(mutex_);
      if (incoming_.empty() && waiter_.empty() && found_unflushed_) {
        // Nothing to wait for. Found canaries are removed together a second after the
        // first was found (a batch costs the server one STORE and one EXPUNGE), unless
        // the next canary's scan removes them first.
        const bool more = wake_.wait_for(
            lock, kFlushAfter, [&] { return stop_ || !incoming_.empty() || !waiter_.empty(); });
        if (!more) {
          lock.unlock();
          flush_quietly();
          lock.lock();
          found_unflushed_ = false;
        }
      }
      // Then nothing happens until a canary is added (no scans, no IDLE).
      wake_.wait(lock, [&] { return stop_ || !incoming_.empty() || !waiter_.empty(); });
      if (stop_) {
        break;
      }
      decided = take_incoming();
    }
    if (pushed || waiter_.due(clock_)) {
      for (auto& d : waiter_.step(clock_)) {  // nothing open (e.g. refused): no scan
        found_unflushed_ = found_unflushed_ || d.second.state == probes::Confirmation::State::found;
        decided.push_back(std::move(d));
      }
      report(decided);
    } else if (!decided.empty()) {
      report(decided);
    }
    pushed = false;
    {
      std::lock_guard lock(mutex_);
      open_ -= decided.size();
      if (stop_) {
        break;
      }
      if (!incoming_.empty() || waiter_.empty()) {
        continue;  // new canaries: take them in before waiting
      }
      waiting_ = true;
    }
    const auto wait = waiter_.next_wait(clock_);
    if (wait.count() > 0) {
      pushed = reader_->wait(clock_, wait);
    }
    std::lock_guard lock(mutex_);
    waiting_ = false;
  }
  flush_quietly();  // canaries found are not left behind when the watcher goes
  {
    std::lock_guard lock(mutex_);
    finished_ = true;
  }
  wake_.notify_all();
}

void MailboxWatcher::report(const std::vector<std::pair<std::string, probes::Confirmation>>& d) {
  bool read_failed = waiter_.last_scan_failed();
  std::string error = read_failed ? waiter_.last_error() : "";
  for (const auto& [id, c] : d) {
    if (c.state == probes::Confirmation::State::reader_failed) {
      read_failed = true;
      error = c.error;
    }
    decided_(id, c);
  }
  if (health_) {
    probes::ReaderCounters counters;
    for (const auto* r : {reader_.get(), bounces_.get()}) {
      if (r) {
        counters.reconnects += r->reconnects();
        counters.commands += r->commands();
        counters.leftovers_removed += r->leftovers_removed();
      }
    }
    health_(!read_failed, error, counters);
  }
}

void MailboxWatcher::flush_quietly() {
  try {
    reader_->flush();
  } catch (const probes::MailboxError&) {
    // Still marked \Deleted or not: the next scan's flush tries again.
  }
}

}  // namespace mailcanary::agent
