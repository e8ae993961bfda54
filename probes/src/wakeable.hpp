// Private: what the protocol readers share to make wait() end early: interrupt() from
// another thread (an eventfd), or a descriptor becoming readable (an isolated reader's
// child: the agent's wake message on its socket).
#pragma once

#include <chrono>

#include "mailcanary/probes/mailbox.hpp"

namespace mailcanary::probes {

class WakeableReader : public MailboxReader {
 public:
  WakeableReader();
  ~WakeableReader() override;
  WakeableReader(const WakeableReader&) = delete;
  WakeableReader& operator=(const WakeableReader&) = delete;

  void interrupt() override;
  void also_wake_on(int fd) override { wake_fd_ = fd; }

 protected:
  enum class Woke { timeout, server, interrupted };
  /// Waits up to `max` for `server_fd` (-1: none) to become readable, an interrupt(), or
  /// the wake descriptor; an interrupt() made before the call counts (once).
  Woke wait_for(int server_fd, std::chrono::milliseconds max);

 private:
  int event_fd_ = -1;
  int wake_fd_ = -1;
};

}  // namespace mailcanary::probes
