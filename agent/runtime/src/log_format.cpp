#include "mailcanary/agent/runtime/log_format.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "mailcanary/agent/core/time_text.hpp"

namespace mailcanary::agent {
namespace {

const char* level_name(LogLine::Level l) {
  switch (l) {
    case LogLine::Level::debug:
      return "debug";
    case LogLine::Level::info:
      return "info";
    case LogLine::Level::warning:
      return "warn";
    case LogLine::Level::error:
      return "error";
  }
  return "info";
}

// Milliseconds, UTC: 2026-12-05T19:30:00.123Z.
std::string precise_time(SysTime at) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch());
  const std::string whole = rfc3339(SysTime(std::chrono::duration_cast<SysTime::duration>(
      std::chrono::duration_cast<std::chrono::seconds>(ms))));
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms.count() % 1000));
  return whole.substr(0, whole.size() - 1) + frac + "Z";
}

// Text and logfmt: control characters (a line end above all) become escapes.
std::string escaped(const std::string& text, bool quote_marks) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else if (quote_marks && (c == '"' || c == '\\')) {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace

int syslog_priority(LogLine::Level level) {
  switch (level) {
    case LogLine::Level::debug:
      return 7;
    case LogLine::Level::info:
      return 6;
    case LogLine::Level::warning:
      return 4;
    case LogLine::Level::error:
      return 3;
  }
  return 6;
}

std::string format_log_line(const LogLine& line, SysTime at, config::LogFormat format,
                            bool journal) {
  std::string out;
  if (journal) {
    out = "<" + std::to_string(syslog_priority(line.level)) + ">";
  }
  switch (format) {
    case config::LogFormat::text:
      if (!journal) {
        out += rfc3339(at) + " ";
      }
      out += "mailcanary: " + escaped(line.text, false);
      break;
    case config::LogFormat::logfmt:
      if (!journal) {
        out += "time=" + precise_time(at) + " ";
      }
      out += std::string("level=") + level_name(line.level) + " msg=\"" + escaped(line.text, true) +
             "\"";
      break;
    case config::LogFormat::json: {
      nlohmann::ordered_json j;
      if (!journal) {
        j["time"] = precise_time(at);
      }
      j["level"] = level_name(line.level);
      j["msg"] = line.text;
      // Bytes that are not UTF-8 (a server's reply) become U+FFFD, never an exception.
      out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      break;
    }
  }
  out += '\n';
  return out;
}

bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (!stream) {
    return false;
  }
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) {
    return false;
  }
  struct stat st {};
  return ::fstat(2, &st) == 0 && static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

}  // namespace mailcanary::agent
