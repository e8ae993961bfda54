#include "mailcanary/config/config.hpp"

namespace mailcanary::config {

const MailboxConfig* Config::find_mailbox(const std::string& name) const {
  for (const auto& mailbox : mailboxes) {
    if (mailbox.name == name) {
      return &mailbox;
    }
  }
  return nullptr;
}

const TargetConfig* Config::find_target(const std::string& name) const {
  for (const auto& target : targets) {
    if (target.name == name) {
      return &target;
    }
  }
  return nullptr;
}

const OAuth2Config* Config::find_oauth2(const std::string& name) const {
  for (const auto& entry : oauth2) {
    if (entry.name == name) {
      return &entry;
    }
  }
  return nullptr;
}

}  // namespace mailcanary::config
