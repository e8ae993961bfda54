// One long-lived reader per mailbox (and bounce mailbox) for the agent: canaries are
// added as they are accepted, each is decided once (found, bounced, not found,
// reader_failed) and handed to the callback on the watcher's own thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/clock.hpp"
#include "mailcanary/probes/mailbox.hpp"

namespace mailcanary::agent {

class MailboxWatcher {
 public:
  using Decided = std::function<void(const std::string& canary_id, const probes::Confirmation&)>;
  /// Reports after each scan whether it worked, and the readers' reconnects so far (the
  /// mailbox's and the bounce mailbox's), for logs and metrics.
  using Health =
      std::function<void(bool read_ok, const std::string& error, std::uint64_t reconnects)>;

  MailboxWatcher(const config::MailboxConfig& mailbox, const config::MailboxConfig* bounces,
                 const std::string& hmac_key, probes::Clock& clock, Decided decided, Health health);
  /// Stops the thread; canaries still open stay open (the caller persisted them).
  ~MailboxWatcher();
  MailboxWatcher(const MailboxWatcher&) = delete;
  MailboxWatcher& operator=(const MailboxWatcher&) = delete;

  void add(const probes::PendingCanary& p);
  std::size_t open_count() const;

 private:
  void run();

  config::MailboxConfig mailbox_;
  probes::Clock& clock_;
  Decided decided_;
  Health health_;
  std::unique_ptr<probes::MailboxReader> reader_;
  std::unique_ptr<probes::MailboxReader> bounces_;
  probes::CanaryWaiter waiter_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<probes::PendingCanary> incoming_;
  std::size_t open_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace mailcanary::agent
