// mailcanary command line: run | probe | check-config | --version | --help
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "mailcanary/agent/probe/discovery.hpp"
#include "mailcanary/agent/probe/probe_run.hpp"
#include "mailcanary/agent/runtime/agent.hpp"
#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/clock.hpp"
#include "mailcanary/probes/isolated_reader.hpp"

namespace {

constexpr int kExitUnknown = 3;
// The running binary, for the mailbox readers' processes: still this version after a
// package upgrade replaced the file.
constexpr const char* kReaderBinary = "/proc/self/exe";

const char* const kUsage =
    "usage:\n"
    "  mailcanary run --config FILE [--fresh-state]\n"
    "  mailcanary probe --config FILE [--target NAME] [--member ADDR] [--json] [--verbose]\n"
    "  mailcanary check-config FILE\n"
    "  mailcanary --version | --help\n"
    "\n"
    "probe exit codes: 0 ok, 1 warning (late, temp_fail), 2 critical, 3 unknown\n"
    "check-config exit codes: 0 valid, 2 invalid\n";

struct Args {
  std::string command;
  std::string config;
  std::string target;
  std::string member;
  bool json = false;
  bool fresh_state = false;
  bool verbose = false;
};

// Throws std::invalid_argument with a message naming the bad argument.
Args parse_args(int argc, char** argv) {
  Args a;
  std::vector<std::string> rest(argv + 1, argv + argc);
  if (rest.empty()) {
    throw std::invalid_argument("no command given");
  }
  a.command = rest[0];
  for (std::size_t i = 1; i < rest.size(); ++i) {
    const std::string& arg = rest[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= rest.size()) {
        throw std::invalid_argument(arg + " needs a value");
      }
      return rest[++i];
    };
    if (arg == "--config") {
      a.config = value();
    } else if (arg == "--target") {
      a.target = value();
    } else if (arg == "--member") {
      a.member = value();
    } else if (arg == "--json") {
      a.json = true;
    } else if (arg == "--verbose") {
      a.verbose = true;
    } else if (arg == "--fresh-state" && a.command == "run") {
      a.fresh_state = true;
    } else if (a.command == "check-config" && a.config.empty() && arg[0] != '-') {
      a.config = arg;
    } else {
      throw std::invalid_argument("unknown argument '" + arg + "'");
    }
  }
  return a;
}

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
  if (a.config.empty()) {
    std::cerr << "mailcanary check-config: no config file given\n" << kUsage;
    return 2;
  }
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

int cmd_probe(const Args& a) {
  if (a.config.empty()) {
    std::cerr << "mailcanary probe: --config FILE is required\n";
    return kExitUnknown;
  }
  auto cfg = load(a.config);
  if (!cfg) {
    return kExitUnknown;
  }
  mailcanary::probes::SystemClock clock;
  mailcanary::probes::SystemRandom random;
  mailcanary::agent::Discovery found;
  try {
    mailcanary::probes::Resolver resolver(cfg->dns, clock);
    found = mailcanary::agent::discover(*cfg, a.target, a.member, resolver, random);
  } catch (const std::invalid_argument& e) {
    std::cerr << "mailcanary probe: " << e.what() << "\n";
    return kExitUnknown;
  }
  auto results = mailcanary::agent::run_probes(*cfg, found.members, clock, kReaderBinary);
  results.insert(results.end(), found.failures.begin(), found.failures.end());
  for (const auto& r : results) {
    if (a.json) {
      std::cout << mailcanary::agent::to_json(r, a.verbose) << "\n";
    } else {
      std::cout << mailcanary::agent::to_text(r) << "\n";
      if (a.verbose) {
        for (const auto& line : r.transcript) {
          std::cout << "    " << line << "\n";
        }
      }
    }
  }
  std::cout.flush();
  return mailcanary::agent::plugin_exit_code(results);
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
  if (a.config.empty()) {
    std::cerr << "mailcanary run: --config FILE is required\n";
    return 2;
  }
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
  agent->run(g_stop, g_reload);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The mailbox readers' child processes (probes/isolated_reader.hpp), not for people:
  // started by the agent with their socket on fd 3.
  if (argc == 2 && std::strcmp(argv[1], "mailbox-reader") == 0) {
    return mailcanary::probes::serve_mailbox_reader(3);
  }
  if (argc >= 2 && (std::strcmp(argv[1], "--version") == 0)) {
    std::cout << "mailcanary " << MAILCANARY_VERSION << "\n";
    return 0;
  }
  if (argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::cout << kUsage;
    return 0;
  }
  Args args;
  try {
    args = parse_args(argc, argv);
  } catch (const std::invalid_argument& e) {
    std::cerr << "mailcanary: " << e.what() << "\n" << kUsage;
    return kExitUnknown;
  }
  try {
    if (args.command == "check-config") {
      return cmd_check_config(args);
    }
    if (args.command == "probe") {
      return cmd_probe(args);
    }
    if (args.command == "run") {
      return cmd_run(args);
    }
  } catch (const std::exception& e) {
    std::cerr << "mailcanary: " << e.what() << "\n";
    return kExitUnknown;
  }
  std::cerr << "mailcanary: unknown command '" << args.command << "'\n" << kUsage;
  return kExitUnknown;
}
