// [slg] error-budget keys (objective, burn_rate, burn_long_window, burn_short_window,
// burn_min_results): values, defaults, per-target overrides, and one bad config per
// rule with its exact FILE:LINE:COL message.
#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "config_messages.hpp"
#include "mailcanary/config/config.hpp"
#include "temp_dir.hpp"

namespace {

using namespace mailcanary::config;
using namespace std::chrono_literals;

class Files {
 public:
  Files() {
    std::ofstream(dir_.path() / "hmac.key") << "00112233445566778899aabbccddeeff\n";
    std::ofstream(dir_.path() / "canary.pass") << "pw\n";
  }
  /// `text` first (its line numbers are the file's), then the rest of a valid config.
  LoadResult load(const std::string& text) const {
    return load_config_string(
        text +
            "\n[agent]\nhmac_key_file = \"hmac.key\"\n[smtp]\nfrom = \"canary@example.test\"\n"
            "[[mailbox]]\nname = \"inbox\"\nserver = \"127.0.0.1:1143\"\nuser = \"canary\"\n"
            "password_file = \"canary.pass\"\n"
            "[[target]]\nname = \"t1\"\ndomain = \"example.test\"\nrcpt = \"c@example.test\"\n"
            "mailbox = \"inbox\"\n",
        (dir_.path() / "c.toml").string());
  }

 private:
  mailcanary::testing::TempDir dir_;
};

using mailcanary::testing::messages;

}  // namespace

TEST_CASE("the error budget's defaults are the SRE workbook's first tier", "[config][burn]") {
  Files files;
  const auto r = files.load("");
  REQUIRE(r.ok());
  const auto& slg = r.config->targets[0].slg;
  CHECK(slg.objective == Approx(0.995));
  CHECK(slg.burn_rate == Approx(14.4));
  CHECK(slg.burn_long_window == 1h);
  CHECK(slg.burn_short_window == 5min);
  CHECK(slg.burn_min_results == 10);
}

TEST_CASE("the error budget's keys, in [slg] and per target", "[config][burn]") {
  Files files;
  const auto r = files.load(
      "[slg]\nobjective = \"99.9%\"\nburn_rate = 6\nburn_long_window = \"6h\"\n"
      "burn_short_window = \"30m\"\nburn_min_results = 30\n"
      "[[target]]\nname = \"t2\"\ndomain = \"example.test\"\nrcpt = \"c@example.test\"\n"
      "mailbox = \"inbox\"\n[target.slg]\nburn_rate = 0\nobjective = \"98.25%\"\n");
  INFO(messages(r).size());
  REQUIRE(r.ok());
  const auto& t2 = r.config->targets[0].slg;  // listed first
  CHECK(t2.burn_rate == 0);
  CHECK(t2.objective == Approx(0.9825));
  CHECK(t2.burn_long_window == 6h);  // inherited
  const auto& t1 = r.config->find_target("t1")->slg;
  CHECK(t1.objective == Approx(0.999));
  CHECK(t1.burn_rate == Approx(6));
  CHECK(t1.burn_short_window == 30min);
  CHECK(t1.burn_min_results == 30);
}

TEST_CASE("bad error-budget keys: one clear error each, at the key", "[config][burn]") {
  Files files;
  const std::string obj =
      ": slg.objective: must be a percentage above 0 and below 100, like \"99.5%\"";
  const std::vector<std::pair<std::string, std::string>> cases{
      {"[slg]\nobjective = \"99.5\"\n", "c.toml:2:13" + obj},
      {"[slg]\nobjective = \"100%\"\n", "c.toml:2:13" + obj},
      {"[slg]\nobjective = \"0%\"\n", "c.toml:2:13" + obj},
      {"[slg]\nobjective = \"ninety%\"\n", "c.toml:2:13" + obj},
      {"[slg]\nobjective = 99.5\n", "c.toml:2:13" + obj},
      {"[slg]\nburn_rate = -1\n",
       "c.toml:2:13: slg.burn_rate: must be a number, 0 (no burn-rate alarms) or more, like "
       "14.4"},
      {"[slg]\nburn_rate = \"fast\"\n",
       "c.toml:2:13: slg.burn_rate: must be a number, 0 (no burn-rate alarms) or more, like "
       "14.4"},
      {"[slg]\nburn_rate = 300\n",
       "c.toml:2:13: slg.burn_rate: burn_rate x (1 - objective) must be below 1 (a failure "
       "ratio above 100% never happens); lower burn_rate or raise objective"},
      {"[slg]\nburn_short_window = \"2h\"\n",
       "c.toml:2:21: slg.burn_short_window: must be shorter than burn_long_window (1h)"},
      {"[slg]\nburn_min_results = 0\n",
       "c.toml:2:20: slg.burn_min_results: must be at least 1, got 0"},
  };
  for (const auto& [text, expected] : cases) {
    INFO(text);
    const auto r = files.load(text);
    const auto got = messages(r);
    REQUIRE(got.size() == 1);
    CHECK(got[0].substr(got[0].find("c.toml")) == expected);
  }
}
