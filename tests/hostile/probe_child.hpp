// Runs the real `mailcanary probe` against the suite's scripted servers, in a child
// process, and measures what the suite asserts on: how long it took, its peak resident
// memory (from wait4's rusage, the child alone), its exit code, and the JSON result.
// Every run is also recorded for the table the suite prints at its end.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hostile {

struct ProbeSetup {
  std::string smtp;                 // host:port of the SMTP server the member is
  std::string mailbox;              // host:port of the mailbox server
  std::string protocol = "imap";    // of the mailbox
  std::string smtp_timeout = "2s";  // the stage timeout T
  int attempts = 1;
  std::string lost_after = "4s";
  std::string extra_smtp;     // more lines for [smtp]
  std::string extra_mailbox;  // more lines for [[mailbox]]
};

struct ProbeRun {
  int rc = -1;  // the exit code; -1: killed at the hard limit
  std::string out;
  std::string err;
  double seconds = 0;
  long peak_rss_kib = 0;
  nlohmann::json result;  // the member's JSON line (null if there was none)
};

/// Forks the process that starts every probe, while this process is still small: a
/// child's peak RSS (rusage) includes the memory of the process it was forked from, so
/// children forked from the test process itself would be charged for its servers'
/// buffers. Call first thing in main().
void start_launcher();

/// The config `setup` describes (a VIP target "hostile" with one member, the mailbox
/// "box"), written to a fresh temporary folder.
std::string write_probe_config(const ProbeSetup& setup);

/// Runs `mailcanary probe --config ... --json --verbose`; kills it at `hard_limit`.
/// Records the run under `name` for the table.
ProbeRun run_probe(const std::string& name, const ProbeSetup& setup,
                   std::chrono::seconds hard_limit);

/// Bounds the suite states for every run: peak RSS (larger in sanitizer builds, whose
/// shadow memory and quarantine count into it).
long rss_bound_kib();

/// The table of every recorded run: case, class, stage, seconds, peak RSS.
std::string table();

/// How many runs were recorded (none in a run of the [latency] cases alone).
std::size_t recorded_runs();

}  // namespace hostile
