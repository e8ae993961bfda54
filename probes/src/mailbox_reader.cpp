#include "mailcanary/probes/mailbox.hpp"
#include "readers.hpp"

namespace mailcanary::probes {

std::unique_ptr<MailboxReader> make_mailbox_reader(const config::MailboxConfig& cfg,
                                                   const std::string& hmac_key) {
  if (cfg.protocol == config::MailboxProtocol::pop3) {
    return make_pop3_reader(cfg, hmac_key);
  }
  return make_imap_reader(cfg, hmac_key);
}

}  // namespace mailcanary::probes
