// A parser of the monitoring-plugins guidelines' output grammar, for the unit test of
// the plugin report and the integration test of `probe --format nagios`.
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <regex>
#include <sstream>
#include <string>

namespace plugin_grammar {

// The guidelines' grammar: "TEXT | PERFDATA" on the first line, where TEXT has no '|'
// and PERFDATA is space-separated 'label'=value[UOM];[warn];[crit];[min];[max].
inline void check_grammar(const std::string& text, int code) {
  std::istringstream in(text);
  std::string first;
  REQUIRE(std::getline(in, first));
  static const char* kWord[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
  const std::string head = std::string("MAILCANARY ") + kWord[code] + " - ";
  REQUIRE(first.rfind(head, 0) == 0);
  const auto bar = first.find(" | ");
  REQUIRE(bar != std::string::npos);
  CHECK(first.find('|') == bar + 1);  // exactly one '|'
  static const std::regex item(
      R"('[^'=]+'=(U|-?[0-9]+(\.[0-9]+)?(s|%|B|KB|MB|TB|c)?)(;[^; ]*){0,4})");
  std::istringstream perf(first.substr(bar + 3));
  int items = 0;
  for (std::string token; perf >> token;) {
    // A quoted label may hold spaces: join until the token has its closing quote.
    while (std::count(token.begin(), token.end(), '\'') < 2) {
      std::string more;
      REQUIRE(perf >> more);
      token += " " + more;
    }
    INFO(token);
    CHECK(std::regex_match(token, item));
    ++items;
  }
  CHECK(items > 0);
  for (std::string line; std::getline(in, line);) {
    CHECK(line.find('|') == std::string::npos);  // long output: no second perfdata
  }
}

}  // namespace plugin_grammar

using plugin_grammar::check_grammar;
