// The process_* metrics every Prometheus client library exports (CPU, memory, open
// descriptors, start time), read from /proc/self at each scrape.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mailcanary::agent {

/// The fields of /proc/PID/stat that process_* needs, in clock ticks and pages as the
/// kernel gives them.
struct ProcStat {
  std::uint64_t utime_ticks = 0;
  std::uint64_t stime_ticks = 0;
  std::uint64_t start_ticks = 0;  // after boot
  std::uint64_t vsize_bytes = 0;
  std::int64_t rss_pages = 0;
};

/// Parses one /proc/PID/stat line. The command name (field 2) may hold spaces and
/// parentheses: the fields are counted after its last ')'. nullopt when malformed.
std::optional<ProcStat> parse_proc_stat(std::string_view line);

/// process_cpu_seconds_total, process_open_fds, process_max_fds,
/// process_virtual_memory_bytes, process_resident_memory_bytes and
/// process_start_time_seconds of this process, in the text format; a metric whose source
/// cannot be read is left out (never a wrong value).
std::string render_process_metrics();

}  // namespace mailcanary::agent
