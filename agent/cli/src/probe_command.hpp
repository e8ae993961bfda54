// `mailcanary probe`: one canary through each selected member now, printed as text,
// JSON or monitoring-plugin output, with an optional overall deadline (-t).
#pragma once

#include "cli_args.hpp"

namespace mailcanary::cli {

/// The exit code: 0 ok, 1 warning, 2 critical, 3 unknown (monitoring-plugin style).
/// `reader_binary`: see agent::MailboxWatcherOptions.
int run_probe_command(const Args& a, const char* reader_binary);

}  // namespace mailcanary::cli
