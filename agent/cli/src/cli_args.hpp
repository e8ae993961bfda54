// The command line of `mailcanary`, parsed with CLI11: which command, with which options.
#pragma once

#include <optional>
#include <string>

namespace mailcanary::cli {

inline constexpr const char* kDefaultConfig = "/etc/mailcanary/mailcanary.toml";
inline constexpr int kExitUsage = 3;  // an unknown option or command: "unknown" for plugins

struct Args {
  std::string command;  // "run" | "probe" | "check-config"
  std::string config = kDefaultConfig;
  std::string target;
  std::string member;
  std::string format = "text";  // probe: "text" | "json" | "nagios"
  /// probe: the overall deadline in seconds (-t); 0: none, or kNagiosTimeout for nagios.
  double timeout = 0;
  std::string warning;   // probe --format nagios: ranges on the delivery time, seconds
  std::string critical;  // likewise
  std::string timeout_state = "unknown";  // probe: the state of members cut by -t
  bool fresh_state = false;
  bool verbose = false;
};

/// `probe --format nagios` without -t: below the 60 s that Nagios (service_check_timeout)
/// and Icinga 2 (check_timeout) give a check by default, so the plugin answers first.
inline constexpr double kNagiosTimeout = 50;

/// Parses argv. Returns the arguments, or the exit code when the program should end now:
/// 0 after --help or --version (printed on stdout), kExitUsage after a usage error (one
/// line on stderr naming the bad argument, and where to find help).
struct Parsed {
  std::optional<Args> args;
  int exit_code = 0;
};
Parsed parse_command_line(int argc, char** argv);

/// "mailcanary 0.1.0 (git 1a2b3c4d5e6f, RelWithDebInfo, GNU 12.2.0)"
std::string version_line();

}  // namespace mailcanary::cli
