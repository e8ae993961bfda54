// Private: the protocol readers behind make_mailbox_reader().
#pragma once

#include <memory>
#include <string>

#include "mailcanary/probes/mailbox.hpp"

namespace mailcanary::probes {

std::unique_ptr<MailboxReader> make_imap_reader(const config::MailboxConfig& cfg,
                                                const std::string& hmac_key);
std::unique_ptr<MailboxReader> make_pop3_reader(const config::MailboxConfig& cfg,
                                                const std::string& hmac_key);

/// Largest header block read per message: a hostile 1 MB header is cut, not stored.
inline constexpr std::size_t kMaxHeaderBytes = 64 * 1024;

}  // namespace mailcanary::probes
