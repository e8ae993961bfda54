#include "probe_command.hpp"

#include <chrono>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "mailcanary/agent/probe/discovery.hpp"
#include "mailcanary/agent/probe/plugin_output.hpp"
#include "mailcanary/agent/probe/probe_run.hpp"
#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/clock.hpp"

namespace mailcanary::cli {
namespace {

constexpr int kUnknown = 3;

// A problem before any probe: one line. The nagios format puts it on stdout as a state
// line too, since schedulers show only stdout.
int unknown(const Args& a, const std::string& what) {
  std::cerr << "mailcanary probe: " << what << "\n";
  if (a.format == "nagios") {
    std::string line = what;
    for (char& c : line) {
      c = (c == '|' || c == '\n') ? ' ' : c;
    }
    std::cout << "MAILCANARY UNKNOWN - " << line << "\n";
  }
  return kUnknown;
}

std::optional<agent::PluginOptions> plugin_options(const Args& a, std::string& error) {
  agent::PluginOptions o;
  o.timeout_state = a.timeout_state == "critical" ? 2 : 3;  // CLI11 gave the lower case
  for (auto [text, range, name] : {std::tuple{&a.warning, &o.warning, "--warning"},
                                   std::tuple{&a.critical, &o.critical, "--critical"}}) {
    if (text->empty()) {
      continue;
    }
    std::string why;
    *range = agent::parse_plugin_range(*text, why);
    if (!*range) {
      error = std::string(name) + ": " + why;
      return std::nullopt;
    }
  }
  return o;
}

void print_results(const Args& a, const agent::ProbeRun& run) {
  for (const auto& r : run.results) {
    if (a.format == "json") {
      std::cout << agent::to_json(r, a.verbose) << "\n";
      continue;
    }
    std::cout << agent::to_text(r) << "\n";
    if (a.verbose) {
      for (const auto& line : r.transcript) {
        std::cout << "    " << line << "\n";
      }
    }
  }
  for (const auto& [target, member] : run.unresolved) {
    if (a.format == "json") {
      std::cout << R"({"target":)" << nlohmann::json(target).dump() << R"(,"member":)"
                << nlohmann::json(member).dump() << R"(,"class":null,"unresolved":true})"
                << "\n";
    } else {
      std::cout << target << " " << member << " unresolved (no result before the deadline)\n";
    }
  }
}

}  // namespace

int run_probe_command(const Args& a, const char* reader_binary) {
  probes::SystemClock clock;
  const double timeout = a.timeout > 0 ? a.timeout : a.format == "nagios" ? kNagiosTimeout : 0;
  const auto deadline =
      timeout > 0
          ? std::optional(clock.now() + std::chrono::duration_cast<std::chrono::nanoseconds>(
                                            std::chrono::duration<double>(timeout)))
          : std::nullopt;
  std::string error;
  const auto options = plugin_options(a, error);
  if (!options) {
    return unknown(a, error);
  }
  auto loaded = config::load_config_file(a.config);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) {
      std::cerr << e.to_string() << "\n";
    }
    return unknown(a, "the config " + a.config + " is not valid (" +
                          std::to_string(loaded.errors.size()) + " errors, on stderr)");
  }
  const config::Config& cfg = *loaded.config;
  probes::SystemRandom random;
  agent::Discovery found;
  try {
    probes::Resolver resolver(cfg.dns, clock);
    found = agent::discover(cfg, a.target, a.member, resolver, random);
  } catch (const std::invalid_argument& e) {
    return unknown(a, e.what());
  }
  agent::ProbeRun run;
  if (deadline) {
    run = agent::run_probes_until(cfg, found.members, clock, *deadline, reader_binary);
  } else {
    run.results = agent::run_probes(cfg, found.members, clock, reader_binary);
  }
  run.results.insert(run.results.end(), found.failures.begin(), found.failures.end());

  if (a.format == "nagios") {
    const auto report = agent::plugin_report(run.results, run.unresolved, *options);
    std::cout << report.text << std::flush;
    return report.code;
  }
  print_results(a, run);
  std::cout.flush();
  if (run.results.empty() && run.unresolved.empty()) {
    return 0;  // nothing to probe (a config without targets): as before plugin mode
  }
  // The plugin report ranks like plugin_exit_code() and adds the unresolved members and
  // the ranges: one code for every format.
  return agent::plugin_report(run.results, run.unresolved, *options).code;
}

}  // namespace mailcanary::cli
