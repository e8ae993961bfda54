#include "mailcanary/agent/probe/plugin_output.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace mailcanary::agent {
namespace {

constexpr const char* kStateWord[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

bool number(std::string_view s, double& out) {
  if (s.empty()) {
    return false;
  }
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs", s);
  return buf;
}

// A perfdata label: quoted, without the characters the grammar reserves.
std::string label(const std::string& target, const std::string& member, const char* what) {
  std::string l = target + "/" + member + " " + what;
  std::replace(l.begin(), l.end(), '\'', '_');
  std::replace(l.begin(), l.end(), '=', '_');
  return "'" + l + "'";
}

// Text for a plugin line: one line, no '|' (it starts the perfdata).
std::string clean(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') {
      c = ' ';
    } else if (c == '|') {
      c = '/';
    }
  }
  return s;
}

struct Member {
  std::string target, member;
  int state = 3;
  std::string line;  // after the state word
  std::string cls;   // in the summary: the class, or why an ok member is not OK
  std::optional<double> delivery, smtp;
};

}  // namespace

bool PluginRange::alerts(double value) const {
  const bool within = value >= start && value <= end;
  return inside ? within : !within;
}

std::optional<PluginRange> parse_plugin_range(std::string_view text, std::string& error) {
  PluginRange r;
  r.text = std::string(text);
  std::string_view t = text;
  if (!t.empty() && t.front() == '@') {
    r.inside = true;
    t.remove_prefix(1);
  }
  const auto colon = t.find(':');
  const std::string_view low = colon == std::string_view::npos ? "" : t.substr(0, colon);
  const std::string_view high = colon == std::string_view::npos ? t : t.substr(colon + 1);
  bool ok = true;
  if (colon != std::string_view::npos) {
    if (low == "~") {
      r.start = -std::numeric_limits<double>::infinity();
    } else {
      ok = number(low, r.start);
    }
  }
  if (ok && !(colon != std::string_view::npos && high.empty())) {
    ok = number(high, r.end);
  }
  if (!ok || text.empty() || r.start > r.end) {
    error = "\"" + std::string(text) +
            "\" is not a range like 10, 10:, ~:10, 10:20 or @10:20 (seconds)";
    return std::nullopt;
  }
  return r;
}

PluginReport plugin_report(const std::vector<ProbeResult>& results,
                           const std::vector<std::pair<std::string, std::string>>& unresolved,
                           const PluginOptions& options) {
  std::vector<Member> members;
  for (const auto& r : results) {
    Member m{r.target,
             r.member,
             probes::plugin_severity(r.cls),
             "",
             std::string(probes::to_string(r.cls)),
             std::nullopt,
             std::nullopt};
    if (r.stage != probes::Stage::dns) {
      m.smtp = r.smtp_seconds;
    }
    std::string line = r.target + " " + r.member + " " + m.cls;
    if (r.cls == probes::ResultClass::ok && r.delivery_seconds) {
      m.delivery = *r.delivery_seconds;
      if (options.critical && options.critical->alerts(*m.delivery)) {
        m.state = 2;
      } else if (options.warning && options.warning->alerts(*m.delivery)) {
        m.state = 1;
      }
      if (m.state != 0) {
        m.cls = "delivery " + seconds(*m.delivery);  // not "ok" in a list of what is not
      }
      line += " delivery=" + seconds(*m.delivery);
    } else {
      line += " stage=" + std::string(probes::to_string(r.stage));
      if (r.smtp_code != 0) {
        line += " code=" + std::to_string(r.smtp_code);
      }
    }
    if (m.smtp) {
      line += " smtp=" + seconds(*m.smtp);
    }
    if (r.cls != probes::ResultClass::ok && !r.detail.empty()) {
      line += " (" + r.detail + ")";
    }
    m.line = clean(line);
    members.push_back(std::move(m));
  }
  for (const auto& [target, member] : unresolved) {
    members.push_back({target, member, options.timeout_state,
                       clean(target + " " + member + " no result before the timeout"), "no result",
                       std::nullopt, std::nullopt});
  }
  std::stable_sort(members.begin(), members.end(), [](const Member& a, const Member& b) {
    return plugin_state_rank(a.state) > plugin_state_rank(b.state);
  });

  PluginReport report;
  report.code = members.empty() ? 3 : members.front().state;
  std::string summary;
  const auto bad = static_cast<std::size_t>(
      std::count_if(members.begin(), members.end(), [](const Member& m) { return m.state != 0; }));
  if (members.empty()) {
    summary = "no member to probe";
  } else if (bad == 0) {
    double slowest = 0;
    for (const auto& m : members) {
      slowest = std::max(slowest, m.delivery.value_or(0));
    }
    summary = std::to_string(members.size()) + (members.size() == 1 ? " member" : " members") +
              " ok, slowest delivery " + seconds(slowest);
  } else {
    summary = std::to_string(bad) + " of " + std::to_string(members.size()) + " members not ok:";
    for (std::size_t i = 0; i < bad && i < 3; ++i) {
      summary +=
          (i ? ", " : " ") + members[i].target + "/" + members[i].member + " " + members[i].cls;
    }
    if (bad > 3) {
      summary += ", ...";
    }
  }
  std::string perf;
  for (const auto& m : members) {
    perf += " " + label(m.target, m.member, "delivery") + "=" +
            (m.delivery ? seconds(*m.delivery) : std::string("U")) + ";" +
            (options.warning ? options.warning->text : "") + ";" +
            (options.critical ? options.critical->text : "") + ";0;";
    if (m.smtp) {
      perf += " " + label(m.target, m.member, "smtp") + "=" + seconds(*m.smtp) + ";;;0;";
    }
  }
  report.text = "MAILCANARY " + std::string(kStateWord[report.code]) + " - " + clean(summary) +
                " |" + perf + "\n";
  for (const auto& m : members) {
    report.text += std::string(kStateWord[m.state]) + ": " + m.line + "\n";
  }
  return report;
}

}  // namespace mailcanary::agent
