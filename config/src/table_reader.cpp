#include "table_reader.hpp"

#include <algorithm>
#include <limits>

#include "text.hpp"

namespace mailcanary::config::detail {
namespace {

const toml::table& empty_table() {
  static const toml::table empty;
  return empty;
}

}  // namespace

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

TableReader::TableReader(const toml::table* table, std::string path, Location fallback,
                         Diagnostics& diag)
    : table_(table ? table : &empty_table()),
      path_(std::move(path)),
      where_(table ? diag.at(table->source()) : std::move(fallback)),
      diag_(diag) {}

TableReader::TableReader(const toml::table& table, std::string path, Diagnostics& diag)
    : TableReader(&table, std::move(path), Location{}, diag) {}

std::string TableReader::key_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

Location TableReader::where(std::string_view key) const {
  const toml::node* node = table_->get(key);
  return node ? diag_.at(node->source()) : where_;
}

void TableReader::mark(std::string_view key) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
    known_.emplace_back(key);
  }
}

void TableReader::require(std::string_view key) {
  mark(key);
  if (!has(key)) {
    error_here("missing required key '" + std::string(key) + "'");
  }
}

void TableReader::error(std::string_view key, const std::string& message) {
  diag_.add(where(key), key_path(key) + ": " + message);
}

void TableReader::error_here(const std::string& message) {
  diag_.add(where_, path_.empty() ? message : path_ + ": " + message);
}

void TableReader::type_error(std::string_view key, const toml::node& node,
                             std::string_view expected) {
  error(key, "expected " + std::string(expected) + ", got " + std::string(type_name(node)));
}

void TableReader::report_bad_choice(std::string_view key,
                                    const std::vector<std::string_view>& names,
                                    const std::string& got) {
  std::string list;
  for (std::size_t i = 0; i < names.size(); ++i) {
    list += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ");
    list += in_quotes(names[i]);
  }
  error(key, "expected " + list + ", got " + in_quotes(got));
}

const toml::node* TableReader::node(std::string_view key) {
  mark(key);
  return table_->get(key);
}

std::optional<std::string> TableReader::string(std::string_view key) {
  const toml::node* n = node(key);
  if (!n) {
    return std::nullopt;
  }
  if (const auto* s = n->as_string()) {
    return s->get();
  }
  type_error(key, *n, "a string");
  return std::nullopt;
}

bool TableReader::read(std::string_view key, std::string& out) {
  auto value = string(key);
  if (!value) {
    return false;
  }
  out = std::move(*value);
  return true;
}

bool TableReader::read(std::string_view key, bool& out) {
  const toml::node* n = node(key);
  if (!n) {
    return false;
  }
  if (const auto* b = n->as_boolean()) {
    out = b->get();
    return true;
  }
  type_error(key, *n, "a boolean (true or false)");
  return false;
}

bool TableReader::read(std::string_view key, int& out, long long min, long long max) {
  const toml::node* n = node(key);
  if (!n) {
    return false;
  }
  const auto* i = n->as_integer();
  if (!i) {
    type_error(key, *n, "an integer");
    return false;
  }
  const long long value = i->get();
  if (value < min || value > max) {
    const std::string got = ", got " + std::to_string(value);
    if (max == std::numeric_limits<int>::max()) {
      error(key, "must be at least " + std::to_string(min) + got);
    } else {
      error(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) + got);
    }
    return false;
  }
  out = static_cast<int>(value);
  return true;
}

bool TableReader::read(std::string_view key, Duration& out, DurationRule rule) {
  const toml::node* n = node(key);
  if (!n) {
    return false;
  }
  const auto* s = n->as_string();
  if (!s) {
    type_error(key, *n, "a duration like \"30s\"");
    return false;
  }
  const auto value = parse_duration(s->get());
  if (!value) {
    error(key, "expected a duration like \"30s\", got " + in_quotes(s->get()));
    return false;
  }
  if (rule == DurationRule::positive && value->count() <= 0) {
    error(key, "must be longer than 0s, got " + in_quotes(s->get()));
    return false;
  }
  out = *value;
  return true;
}

bool TableReader::read(std::string_view key, std::vector<std::string>& out) {
  auto items = string_items(key);
  if (!items) {
    return false;
  }
  out.clear();
  for (auto& item : *items) {
    out.push_back(std::move(item.value));
  }
  return true;
}

std::optional<std::vector<StringItem>> TableReader::string_items(std::string_view key) {
  const toml::node* n = node(key);
  if (!n) {
    return std::nullopt;
  }
  const auto* array = n->as_array();
  if (!array) {
    type_error(key, *n, "an array of strings");
    return std::nullopt;
  }
  std::vector<StringItem> items;
  bool all_strings = true;
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    const std::string path = key_path(key) + "[" + std::to_string(i) + "]";
    if (const auto* s = element.as_string()) {
      items.push_back({s->get(), diag_.at(element.source()), path});
    } else {
      diag_.add(diag_.at(element.source()),
                path + ": expected a string, got " + std::string(type_name(element)));
      all_strings = false;
    }
  }
  if (!all_strings) {
    return std::nullopt;
  }
  return items;
}

const toml::table* TableReader::table(std::string_view key) {
  const toml::node* n = node(key);
  if (!n) {
    return nullptr;
  }
  if (const auto* t = n->as_table()) {
    return t;
  }
  type_error(key, *n, "a table");
  return nullptr;
}

std::vector<const toml::table*> TableReader::tables(std::string_view key) {
  const toml::node* n = node(key);
  std::vector<const toml::table*> out;
  if (!n) {
    return out;
  }
  const auto* array = n->as_array();
  if (!array) {
    type_error(key, *n, "an array of tables like [[" + std::string(key) + "]]");
    return out;
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    if (const auto* t = element.as_table()) {
      out.push_back(t);
    } else {
      diag_.add(diag_.at(element.source()), key_path(key) + "[" + std::to_string(i) +
                                                "]: expected a table, got " +
                                                std::string(type_name(element)));
    }
  }
  return out;
}

void TableReader::reject_unknown() {
  for (const auto& [key, value] : *table_) {
    const std::string_view name = key.str();
    if (std::find(known_.begin(), known_.end(), name) != known_.end()) {
      continue;
    }
    std::string message;
    if (path_.empty()) {
      message = (value.is_table() || value.is_array_of_tables() ? "unknown section '"
                                                                : "unknown top-level key '") +
                std::string(name) + "'";
    } else {
      const bool plain = path_.find('[') == std::string::npos;
      message = "unknown key '" + std::string(name) + "' in " + (plain ? "[" + path_ + "]" : path_);
    }
    diag_.add(diag_.at(key.source()), message + did_you_mean(name, known_));
  }
}

}  // namespace mailcanary::config::detail
