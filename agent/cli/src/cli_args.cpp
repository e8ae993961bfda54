#include "cli_args.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

#include "mailcanary/build_info.hpp"

namespace mailcanary::cli {

std::string version_line() {
  return std::string("mailcanary ") + MAILCANARY_BUILD_VERSION + " (git " +
         MAILCANARY_BUILD_REVISION + ", " + MAILCANARY_BUILD_TYPE + ", " +
         MAILCANARY_BUILD_COMPILER + ")";
}

Parsed parse_command_line(int argc, char** argv) {
  Args a;
  CLI::App app("mailcanary: mail-flow monitoring probe and alerting agent", "mailcanary");
  app.set_version_flag("--version", version_line());
  app.require_subcommand(1);
  app.footer("Run 'mailcanary COMMAND --help' for a command's options and exit codes.");
  const std::string config_help = "the config file (TOML)";

  auto* run = app.add_subcommand("run", "run the agent: probe on schedule, serve HTTP");
  run->add_option("-c,--config", a.config, config_help)->capture_default_str()->type_name("FILE");
  run->add_flag("--fresh-state", a.fresh_state,
                "move an unusable state database aside (never deleted) and start empty");
  run->footer(
      "Signals: SIGHUP reloads the config, SIGTERM or SIGINT stops (state written).\n"
      "Exit codes: 0 stopped by a signal, 2 cannot start: the config, the state or the\n"
      "listen address cannot be used (one line says which and why), 3 usage error.");

  auto* probe = app.add_subcommand("probe", "send one canary through each member and wait");
  probe->add_option("-c,--config", a.config, config_help)->capture_default_str()->type_name("FILE");
  probe->add_option("--target", a.target, "only this [[target]] (by name)")->type_name("NAME");
  probe->add_option("--member", a.member, "only this member (host:port as listed)")
      ->type_name("ADDR");
  probe->add_flag("--json", a.json, "one JSON object per member instead of a line");
  probe->add_flag("--verbose", a.verbose, "with each member's SMTP transcript");
  probe->footer(
      "Exit codes (monitoring-plugin style): 0 ok, 1 warning (late, temp_fail),\n"
      "2 critical (any other failure), 3 unknown (config or usage error).");

  auto* check = app.add_subcommand("check-config", "validate a config file and exit");
  check->add_option("file,-c,--config", a.config, config_help)
      ->capture_default_str()
      ->type_name("FILE");
  check->footer(
      "Every error is printed as FILE:LINE:COL: message.\n"
      "Exit codes: 0 valid, 2 invalid, 3 usage error.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return {std::nullopt, app.exit(e)};
  } catch (const CLI::CallForAllHelp& e) {
    return {std::nullopt, app.exit(e)};
  } catch (const CLI::CallForVersion& e) {
    return {std::nullopt, app.exit(e)};
  } catch (const CLI::ParseError& e) {
    std::cerr << "mailcanary: " << e.what() << " (see mailcanary --help)\n";
    return {std::nullopt, kExitUsage};
  }
  for (const auto* sub : {run, probe, check}) {
    if (sub->parsed()) {
      a.command = sub->get_name();
    }
  }
  return {a, 0};
}

}  // namespace mailcanary::cli
