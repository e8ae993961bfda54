// [log]: level, line format and the periodic summary of the agent's log.
#include "sections.hpp"

namespace mailcanary::config::detail {

void read_log(TableReader& r, LogConfig& out) {
  r.read("level", out.level,
         {{"debug", LogLevel::debug},
          {"info", LogLevel::info},
          {"warn", LogLevel::warn},
          {"error", LogLevel::error}});
  r.read("format", out.format,
         {{"text", LogFormat::text}, {"logfmt", LogFormat::logfmt}, {"json", LogFormat::json}});
  r.read("summary_interval", out.summary_interval, DurationRule::non_negative);
  r.reject_unknown();
}

}  // namespace mailcanary::config::detail
