// Under systemd the agent's log lines go to the journal as native entries (sd-journal's
// sd_journal_send): MESSAGE, PRIORITY and SYSLOG_IDENTIFIER are fields of their own, so
// `journalctl -p warning` and `-o json` need no parsing of the text. When the journal
// cannot take an entry, the line goes to stderr with its "<N>" priority prefix instead.
#pragma once

#include "mailcanary/agent/core/effects.hpp"
#include "mailcanary/config/config.hpp"

namespace mailcanary::agent {

/// The entry's MESSAGE: the line as `format` writes it under the journal (no time, no
/// priority prefix, no "mailcanary: " in text: the journal shows the identifier).
std::string journal_message(const LogLine& line, config::LogFormat format);

/// Sends the line as a journal entry; false when built without libsystemd or when the
/// journal's socket did not take it.
bool send_to_journal(const LogLine& line, config::LogFormat format);

}  // namespace mailcanary::agent
