// mailcanary: run | probe | check-config (options in cli_args.cpp), and the hidden
// mailbox-reader command the agent starts its reader processes with.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "mailcanary/agent/runtime/agent.hpp"
#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/clock.hpp"
#include "mailcanary/probes/isolated_reader.hpp"
#include "probe_command.hpp"

namespace {

constexpr int kExitUnknown = 3;
// The running binary, for the mailbox readers' processes: still this version after a
// package upgrade replaced the file.
constexpr const char* kReaderBinary = "/proc/self/exe";

using mailcanary::cli::Args;

std::optional<mailcanary::config::Config> load(const std::string& path) {
  auto loaded = mailcanary::config::load_config_file(path);
  for (const auto& e : loaded.errors) {
    std::cerr << e.to_string() << "\n";
  }
  if (!loaded.ok()) {
    return std::nullopt;
  }
  return std::move(*loaded.config);
}

int cmd_check_config(const Args& a) {
  auto cfg = load(a.config);
  if (!cfg) {
    return 2;
  }
  std::size_t members = 0;
  for (const auto& t : cfg->targets) {
    members += t.members.size() + (t.vip ? 1 : 0);
  }
  std::cout << a.config << ": ok (" << cfg->targets.size() << " targets, " << members
            << " VIP members, " << cfg->mailboxes.size() << " mailboxes)\n";
  return 0;
}

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};

extern "C" void on_signal(int sig) {
  if (sig == SIGHUP) {
    g_reload = true;
  } else {
    g_stop = true;
  }
}

int cmd_run(const Args& a) {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  mailcanary::probes::SystemClock clock;
  std::unique_ptr<mailcanary::agent::Agent> agent;
  try {
    agent = std::make_unique<mailcanary::agent::Agent>(
        mailcanary::agent::AgentOptions{a.config, a.fresh_state, kReaderBinary}, clock);
  } catch (const std::exception& e) {
    std::cerr << "mailcanary run: " << e.what() << "\n";
    return 2;
  }
  try {
    agent->run(g_stop, g_reload);
  } catch (const std::exception& e) {
    std::cerr << "mailcanary run: " << e.what() << "\n";
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The mailbox readers' child processes (probes/isolated_reader.hpp), not for people:
  // started by the agent with their socket on fd 3.
  if (argc == 2 && std::strcmp(argv[1], "mailbox-reader") == 0) {
    return mailcanary::probes::serve_mailbox_reader(3);
  }
  const auto parsed = mailcanary::cli::parse_command_line(argc, argv);
  if (!parsed.args) {
    return parsed.exit_code;
  }
  const Args& args = *parsed.args;
  try {
    if (args.command == "check-config") {
      return cmd_check_config(args);
    }
    if (args.command == "probe") {
      return mailcanary::cli::run_probe_command(args, kReaderBinary);
    }
    if (args.command == "run") {
      return cmd_run(args);
    }
  } catch (const std::exception& e) {
    std::cerr << "mailcanary: " << e.what() << "\n";
    return kExitUnknown;
  }
  return kExitUnknown;  // parse_command_line() accepts no other command
}
