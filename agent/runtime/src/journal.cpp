#include "mailcanary/agent/runtime/journal.hpp"

#include "mailcanary/agent/runtime/log_format.hpp"

#ifdef MAILCANARY_HAVE_SYSTEMD
#include <systemd/sd-journal.h>
#endif

namespace mailcanary::agent {

std::string journal_message(const LogLine& line, config::LogFormat format) {
  std::string text = format_log_line(line, {}, format, true);
  // "<N>" first and '\n' last, as format_log_line writes them for the journal's stream.
  const auto body = text.find('>') + 1;
  text = text.substr(body, text.size() - body - 1);
  static const std::string kName = "mailcanary: ";
  if (format == config::LogFormat::text && text.compare(0, kName.size(), kName) == 0) {
    text.erase(0, kName.size());
  }
  return text;
}

#ifdef MAILCANARY_HAVE_SYSTEMD

bool send_to_journal(const LogLine& line, config::LogFormat format) {
  const std::string message = journal_message(line, format);
  return sd_journal_send("MESSAGE=%s", message.c_str(), "PRIORITY=%d", syslog_priority(line.level),
                         "SYSLOG_IDENTIFIER=mailcanary", nullptr) == 0;
}

#else

bool send_to_journal(const LogLine&, config::LogFormat) {
  return false;
}

#endif

}  // namespace mailcanary::agent
