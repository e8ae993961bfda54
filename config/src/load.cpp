// load_config_*: parse, read each section (defaults, overlay, unknown keys, checks within
// the table), reject unknown sections, then check across sections.
#include "diagnostics.hpp"
#include "files.hpp"
#include "mailcanary/config/config.hpp"
#include "sections.hpp"
#include "text.hpp"

namespace mailcanary::config {
namespace {

using detail::TableReader;

// A [section]; absent reads as empty (so its required keys are reported), while a
// section of the wrong type is reported once and skipped.
template <class Read>
void section(TableReader& top, std::string_view key, Read&& read) {
  const toml::table* table = top.table(key);
  if (top.has(key) && !table) {
    return;
  }
  TableReader reader(table, std::string(key), top.diag().start_of_file(), top.diag());
  read(reader);
}

// Each [[section]] table, with its indexed key path.
template <class Read>
void sections(TableReader& top, std::string_view key, Read&& read) {
  std::size_t index = 0;
  for (const toml::table* table : top.tables(key)) {
    TableReader reader(*table, std::string(key) + "[" + std::to_string(index++) + "]", top.diag());
    read(reader);
  }
}

void read_config(const toml::table& root, Config& config, detail::Diagnostics& diag) {
  detail::SourceMap sources;
  const detail::LoadContext ctx{std::filesystem::path(config.path).parent_path(), sources};
  TableReader top(root, "", diag);
  section(top, "agent", [&](TableReader& r) { detail::read_agent(r, config.agent, ctx); });
  section(top, "web", [&](TableReader& r) { detail::read_web(r, config.web, ctx); });
  section(top, "log", [&](TableReader& r) { detail::read_log(r, config.log); });
  section(top, "dns", [&](TableReader& r) { detail::read_dns(r, config.dns); });
  section(top, "smtp", [&](TableReader& r) { detail::read_smtp(r, config.smtp, ctx); });
  section(top, "slg", [&](TableReader& r) { detail::read_slg(r, config.slg); });
  sections(top, "mailbox",
           [&](TableReader& r) { config.mailboxes.push_back(detail::read_mailbox(r, ctx)); });
  sections(top, "oauth2",
           [&](TableReader& r) { config.oauth2.push_back(detail::read_oauth2(r, ctx)); });
  // After [smtp] and [slg]: targets start from their values.
  sections(top, "target",
           [&](TableReader& r) { config.targets.push_back(detail::read_target(r, config, ctx)); });
  sections(top, "maintenance",
           [&](TableReader& r) { config.maintenance.push_back(detail::read_maintenance(r, ctx)); });
  section(top, "alertmanager",
          [&](TableReader& r) { detail::read_alertmanager(r, config.alertmanager); });
  top.reject_unknown();
  detail::validate(config, sources, diag);
}

}  // namespace

LoadResult load_config_string(const std::string& text, const std::string& path) {
  detail::Diagnostics diag(path);
  LoadResult result;
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    diag.add(diag.at(e.source()), "syntax error: " + std::string(e.description()));
    result.errors = diag.take_sorted();
    return result;
  }
  Config config;
  config.path = path;
  read_config(root, config, diag);
  if (diag.empty()) {
    result.config = std::move(config);
  }
  result.errors = diag.take_sorted();
  return result;
}

LoadResult load_config_file(const std::string& path) {
  std::string error;
  auto text = detail::read_file(path, error);
  if (text && text->size() > detail::kMaxFileBytes) {
    text.reset();
    error = detail::in_quotes(path) + " is too large for a config (over 64 MiB)";
  }
  if (!text) {
    LoadResult result;
    result.errors.push_back({Location{path, 0, 0}, error});
    return result;
  }
  return load_config_string(*text, path);
}

}  // namespace mailcanary::config
