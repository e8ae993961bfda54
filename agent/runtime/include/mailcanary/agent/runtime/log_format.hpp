// How a log line is written ([log] format), one line per event: a text that spans lines
// (a refused config's errors) is escaped, never split. Under systemd, stderr goes to the
// journal: each line starts with its syslog priority ("<6>", which journald reads as the
// entry's priority) and carries no time of its own (the journal has it).
#pragma once

#include <string>

#include "mailcanary/agent/core/effects.hpp"
#include "mailcanary/agent/core/records.hpp"
#include "mailcanary/config/config.hpp"

namespace mailcanary::agent {

/// The syslog priority of a level: debug 7, info 6, warning 4, error 3.
int syslog_priority(LogLine::Level level);

/// The line, ending with '\n':
///   text    2026-12-05T19:30:00Z mailcanary: member t 10.0.0.1:25 added
///   logfmt  time=2026-12-05T19:30:00.123Z level=info msg="member t 10.0.0.1:25 added"
///   json    {"time":"2026-12-05T19:30:00.123Z","level":"info","msg":"member t ..."}
/// `journal`: "<N>" first (debug 7, info 6, warning 4, error 3), no time.
std::string format_log_line(const LogLine& line, SysTime at, config::LogFormat format,
                            bool journal);

/// True when stderr is connected to the journal: $JOURNAL_STREAM names stderr's
/// device and inode (how systemd says it, see systemd.exec(5)).
bool stderr_is_journal();

}  // namespace mailcanary::agent
