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
  probe
      ->add_option("--format", a.format,
                   "text: a line per member; json: an object per member; nagios: the "
                   "monitoring-plugins output (state line, perfdata, worst member first)")
      ->check(CLI::IsMember({"text", "json", "nagios"}))
      ->capture_default_str();
  probe->add_flag_callback(
      "--json", [&a] { a.format = "json"; }, "the same as --format json");
  probe
      ->add_option("-t,--timeout", a.timeout,
                   "overall deadline: members without a result then are reported as such "
                   "(default: 50 with --format nagios, none otherwise)")
      ->check(CLI::PositiveNumber)
      ->type_name("SECONDS");
  probe
      ->add_option("--warning", a.warning,
                   "WARNING when an ok canary's delivery time is outside this range "
                   "(plugin range syntax: 10, 10:, ~:10, 10:20, @10:20; seconds)")
      ->type_name("RANGE");
  probe->add_option("--critical", a.critical, "CRITICAL likewise")->type_name("RANGE");
  probe->add_option("--timeout-state", a.timeout_state, "the state of members cut by the deadline")
      ->check(CLI::IsMember({"unknown", "critical"}, CLI::ignore_case))
      ->capture_default_str();
  probe->add_flag("--verbose", a.verbose, "with each member's SMTP transcript");
  probe->footer(
      "Exit codes (monitoring-plugin style): 0 ok, 1 warning (late, temp_fail, or the\n"
      "delivery time outside --warning), 2 critical (any other failure, or outside --critical),\n"
      "3 unknown (config or usage error, or members without a result at the -t deadline).");

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
