#include "mailcanary/agent/http/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <vector>

#include "mailcanary/agent/core/text_format.hpp"

namespace mailcanary::agent {
namespace {

bool to_u64(std::string_view s, std::uint64_t& out) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::optional<std::string> read_small_file(const char* path) {
  std::ifstream in(path);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Seconds since the epoch at boot: "btime" in /proc/stat.
std::optional<std::uint64_t> boot_time() {
  std::ifstream in("/proc/stat");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("btime ", 0) == 0) {
      std::uint64_t t = 0;
      if (to_u64(std::string_view(line).substr(6), t)) {
        return t;
      }
    }
  }
  return std::nullopt;
}

std::optional<std::uint64_t> open_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) {
    return std::nullopt;
  }
  std::uint64_t n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') {
      ++n;
    }
  }
  ::closedir(d);
  return n > 0 ? n - 1 : 0;  // without the descriptor of the listing itself
}

void metric(std::string& out, const char* name, const char* help, const char* type, double value) {
  text_format::append_header(out, name, type, help);
  out += name;
  out += ' ';
  text_format::append_number(out, value);
  out += '\n';
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view line) {
  const auto close = line.rfind(')');
  if (close == std::string_view::npos || close + 2 > line.size()) {
    return std::nullopt;
  }
  // After "pid (comm) ": field 3 (state) is index 0 here.
  std::vector<std::string_view> fields;
  std::string_view rest = line.substr(close + 1);
  while (!rest.empty() && fields.size() < 24) {
    const auto start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(start);
    const auto end = rest.find_first_of(" \n");
    fields.push_back(rest.substr(0, end));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  }
  // utime is field 14, stime 15, starttime 22, vsize 23, rss 24 (proc(5)).
  if (fields.size() < 22) {
    return std::nullopt;
  }
  ProcStat s;
  std::uint64_t rss = 0;
  if (!to_u64(fields[11], s.utime_ticks) || !to_u64(fields[12], s.stime_ticks) ||
      !to_u64(fields[19], s.start_ticks) || !to_u64(fields[20], s.vsize_bytes) ||
      !to_u64(fields[21], rss)) {
    return std::nullopt;
  }
  s.rss_pages = static_cast<std::int64_t>(rss);
  return s;
}

std::string render_process_metrics() {
  std::string out;
  const long hz = ::sysconf(_SC_CLK_TCK);
  const long page = ::sysconf(_SC_PAGESIZE);
  const auto text = read_small_file("/proc/self/stat");
  const auto stat = text ? parse_proc_stat(*text) : std::nullopt;
  if (stat && hz > 0) {
    metric(out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
           "counter", static_cast<double>(stat->utime_ticks + stat->stime_ticks) / hz);
  }
  if (const auto n = open_fds()) {
    metric(out, "process_open_fds", "Number of open file descriptors.", "gauge",
           static_cast<double>(*n));
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    metric(out, "process_max_fds", "Maximum number of open file descriptors.", "gauge",
           static_cast<double>(limit.rlim_cur));
  }
  if (stat) {
    metric(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge",
           static_cast<double>(stat->vsize_bytes));
    if (page > 0) {
      metric(out, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge",
             static_cast<double>(stat->rss_pages) * static_cast<double>(page));
    }
  }
  // The boot time does not change while we run: /proc/stat is read once, not per scrape.
  static const auto boot = boot_time();
  if (boot && stat && hz > 0) {
    metric(out, "process_start_time_seconds",
           "Start time of the process since unix epoch in seconds.", "gauge",
           static_cast<double>(*boot) + static_cast<double>(stat->start_ticks) / hz);
  }
  return out;
}

}  // namespace mailcanary::agent
