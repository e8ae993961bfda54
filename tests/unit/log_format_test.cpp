// [log] format: one line per event in text, logfmt or JSON; under the journal a priority
// prefix and no time of our own.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "mailcanary/agent/runtime/log_format.hpp"

using mailcanary::agent::format_log_line;
using mailcanary::agent::LogLine;
using mailcanary::config::LogFormat;

namespace {

const mailcanary::agent::SysTime kAt{std::chrono::milliseconds(1'796'498'465'123)};
const LogLine kRefused{LogLine::Level::error,
                       "config reload refused, keeping the running config:\n"
                       "a.toml:3:1: x \"quoted\" \\ back\na.toml:4:1: y"};

}  // namespace

TEST_CASE("text: one line with the time, a multi-line text escaped", "[logformat]") {
  const auto line = format_log_line(kRefused, kAt, LogFormat::text, false);
  CHECK(line ==
        "2026-12-05T19:21:05Z mailcanary: config reload refused, keeping the running config:"
        "\\na.toml:3:1: x \"quoted\" \\ back\\na.toml:4:1: y\n");
  CHECK(std::count(line.begin(), line.end(), '\n') == 1);
}

TEST_CASE("logfmt: time with milliseconds, level and a quoted msg", "[logformat]") {
  const auto line = format_log_line(LogLine{LogLine::Level::warning, "health \"DOWN\"\tnow"}, kAt,
                                    LogFormat::logfmt, false);
  CHECK(line == "time=2026-12-05T19:21:05.123Z level=warn msg=\"health \\\"DOWN\\\"\\tnow\"\n");
}

TEST_CASE("json: an object per line, any bytes made valid UTF-8", "[logformat]") {
  const auto line = format_log_line(kRefused, kAt, LogFormat::json, false);
  REQUIRE(std::count(line.begin(), line.end(), '\n') == 1);
  auto j = nlohmann::json::parse(line);
  CHECK(j["time"] == "2026-12-05T19:21:05.123Z");
  CHECK(j["level"] == "error");
  CHECK(j["msg"] == kRefused.text);
  const auto odd = format_log_line(LogLine{LogLine::Level::info, "server said \xff\xfe"}, kAt,
                                   LogFormat::json, false);
  CHECK(nlohmann::json::parse(odd)["msg"] == "server said \xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_CASE("under the journal: the syslog priority first and no time", "[logformat]") {
  CHECK(format_log_line(LogLine{LogLine::Level::info, "started"}, kAt, LogFormat::text, true) ==
        "<6>mailcanary: started\n");
  CHECK(format_log_line(LogLine{LogLine::Level::debug, "r"}, kAt, LogFormat::text, true) ==
        "<7>mailcanary: r\n");
  CHECK(format_log_line(LogLine{LogLine::Level::warning, "w"}, kAt, LogFormat::logfmt, true) ==
        "<4>level=warn msg=\"w\"\n");
  const auto j = format_log_line(LogLine{LogLine::Level::error, "e"}, kAt, LogFormat::json, true);
  REQUIRE(j.rfind("<3>{", 0) == 0);
  CHECK(nlohmann::json::parse(j.substr(3)).count("time") == 0);
}

TEST_CASE("stderr is the journal when $JOURNAL_STREAM names its device and inode", "[logformat]") {
  const std::string path = "/tmp/mailcanary-journal-test." + std::to_string(::getpid());
  const int file = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  REQUIRE(file >= 0);
  const int saved = ::dup(2);
  REQUIRE(::dup2(file, 2) == 2);
  struct stat st {};
  REQUIRE(::fstat(2, &st) == 0);
  const std::string mine = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::unsetenv("JOURNAL_STREAM");
  const bool unset = mailcanary::agent::stderr_is_journal();
  ::setenv("JOURNAL_STREAM", mine.c_str(), 1);
  const bool same = mailcanary::agent::stderr_is_journal();
  ::setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":1").c_str(), 1);
  const bool other = mailcanary::agent::stderr_is_journal();
  ::setenv("JOURNAL_STREAM", "garbage", 1);
  const bool garbage = mailcanary::agent::stderr_is_journal();
  ::unsetenv("JOURNAL_STREAM");
  ::dup2(saved, 2);
  ::close(saved);
  ::close(file);
  ::unlink(path.c_str());
  CHECK_FALSE(unset);
  CHECK(same);
  CHECK_FALSE(other);  // e.g. stderr redirected away from the journal by a wrapper
  CHECK_FALSE(garbage);
}
