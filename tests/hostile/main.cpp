// The hostile suite's runner: Catch2's, then the table of every `mailcanary probe` run
// (case, class, stage, time, peak RSS), printed and written to hostile-table.md.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <fstream>
#include <iostream>

#include "probe_child.hpp"

int main(int argc, char* argv[]) {
  hostile::start_launcher();
  const int failed = Catch::Session().run(argc, argv);
  // The [latency] cases run as a test of their own (hostile_latency) and record no run:
  // their process leaves the table of the other one alone.
  if (hostile::recorded_runs() > 0) {
    const std::string t = hostile::table();
    std::cout << "\n" << t;
    std::ofstream("hostile-table.md") << t;
  }
  return failed;
}
