// Private: the protocol readers behind make_mailbox_reader().
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "mailcanary/probes/canary.hpp"
#include "mailcanary/probes/mailbox.hpp"

namespace mailcanary::probes {

std::unique_ptr<MailboxReader> make_imap_reader(const config::MailboxConfig& cfg,
                                                const std::string& hmac_key);
std::unique_ptr<MailboxReader> make_pop3_reader(const config::MailboxConfig& cfg,
                                                const std::string& hmac_key);

/// Whether `id` (a verified canary of ours that nobody waits for) is a leftover to
/// remove: made longer than cfg.leftover_after before `now`, and found canaries are
/// deleted at all.
inline bool is_leftover(const std::string& id, const config::MailboxConfig& cfg,
                        std::chrono::system_clock::time_point now) {
  if (!cfg.delete_found || cfg.leftover_after <= std::chrono::milliseconds(0)) {
    return false;
  }
  const auto made = canary_id_time(id);
  return made && now - *made > cfg.leftover_after;
}

/// Waits shorter than this are sleeps, not IDLE (entering and leaving IDLE costs more).
inline constexpr std::chrono::milliseconds kShortestIdle{50};

/// Largest header block read per message: a hostile 1 MB header is cut, not stored.
inline constexpr std::size_t kMaxHeaderBytes = 64 * 1024;

}  // namespace mailcanary::probes
