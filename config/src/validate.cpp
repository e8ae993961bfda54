#include <algorithm>
#include <map>

#include "sections.hpp"
#include "text.hpp"

namespace mailcanary::config::detail {
namespace {

// Reports every name after the first occurrence of the same value.
void check_unique(const std::vector<StringItem>& names, std::string_view what, Diagnostics& diag) {
  std::map<std::string, const StringItem*> first;
  for (const auto& name : names) {
    if (name.value.empty()) {
      continue;
    }
    const auto [it, inserted] = first.emplace(name.value, &name);
    if (!inserted) {
      diag.add(name.where, name.path + ": duplicate " + std::string(what) + " name " +
                               in_quotes(name.value) + " (first defined at line " +
                               std::to_string(it->second->where.line) + ")");
    }
  }
}

void check_reference(const StringItem& ref, const std::vector<std::string>& names,
                     std::string_view section, Diagnostics& diag) {
  if (ref.value.empty() || std::find(names.begin(), names.end(), ref.value) != names.end()) {
    return;
  }
  diag.add(ref.where, ref.path + ": no " + std::string(section) + " named " + in_quotes(ref.value) +
                          did_you_mean(ref.value, names));
}

}  // namespace

void validate(const Config& config, const SourceMap& sources, Diagnostics& diag) {
  // No [[target]] is valid: the agent serves its endpoints and probes nothing, as with
  // the configuration the package installs before the operator adds targets.
  check_unique(sources.mailbox_names, "mailbox", diag);
  check_unique(sources.oauth2_names, "oauth2", diag);
  std::vector<StringItem> target_names;
  for (const auto& target : sources.targets) {
    target_names.push_back(target.name);
  }
  check_unique(target_names, "target", diag);

  std::vector<std::string> mailbox_names;
  for (const auto& mailbox : config.mailboxes) {
    mailbox_names.push_back(mailbox.name);
  }
  for (const auto& target : sources.targets) {
    check_reference(target.mailbox, mailbox_names, "[[mailbox]]", diag);
    check_reference(target.bounce_mailbox, mailbox_names, "[[mailbox]]", diag);
  }

  std::vector<std::string> oauth2_names;
  for (const auto& oauth2 : config.oauth2) {
    oauth2_names.push_back(oauth2.name);
  }
  for (const auto& ref : sources.oauth2_refs) {
    check_reference(ref, oauth2_names, "[[oauth2]]", diag);
  }

  for (std::size_t i = 0; i < config.targets.size(); ++i) {
    if (config.targets[i].smtp.from.empty()) {
      diag.add(config.targets[i].where,
               "target[" + std::to_string(i) +
                   "]: missing required key 'from' (set it in the target or in [smtp])");
    }
  }

  std::vector<std::string> target_list;
  for (const auto& target : config.targets) {
    target_list.push_back(target.name);
  }
  for (const auto& window : sources.maintenance_targets) {
    for (const auto& ref : window) {
      if (ref.value != "*") {
        check_reference(ref, target_list, "[[target]]", diag);
      }
    }
  }
}

}  // namespace mailcanary::config::detail
