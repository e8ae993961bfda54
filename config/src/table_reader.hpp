// Typed, position-aware access to one TOML table.
//
// Every accessor records its key as known; reject_unknown() then reports the keys no
// accessor asked for. Accessors leave their output untouched when the key is absent
// and report (and leave it untouched) when the value has the wrong type or range, so
// a reader fills defaults first and overlays the file's values on top.
#pragma once

#include <toml++/toml.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "diagnostics.hpp"

namespace mailcanary::config::detail {

enum class DurationRule { positive, non_negative };

template <class E>
struct Choice {
  std::string_view name;
  E value;
};

/// One string of an array, with where it was written and its key path ("x.members[2]").
struct StringItem {
  std::string value;
  Location where;
  std::string path;
};

class TableReader {
 public:
  /// `path` is the table's key path: "" for the root, "smtp", "target[1].slg". A null
  /// `table` reads as an empty table located at `fallback`.
  TableReader(const toml::table* table, std::string path, Location fallback, Diagnostics& diag);
  TableReader(const toml::table& table, std::string path, Diagnostics& diag);

  const std::string& path() const { return path_; }
  std::string key_path(std::string_view key) const;
  Location where() const { return where_; }
  /// Where the key's value is written; the table's position when the key is absent.
  Location where(std::string_view key) const;
  bool has(std::string_view key) const { return table_->contains(key); }
  Diagnostics& diag() { return diag_; }

  /// Reports "PATH: missing required key 'KEY'" at the table when the key is absent.
  void require(std::string_view key);

  /// Reports "KEYPATH: message" at the key (at the table when absent).
  void error(std::string_view key, const std::string& message);
  /// Reports "PATH: message" at the table.
  void error_here(const std::string& message);

  const toml::node* node(std::string_view key);
  std::optional<std::string> string(std::string_view key);

  bool read(std::string_view key, std::string& out);
  bool read(std::string_view key, bool& out);
  bool read(std::string_view key, int& out, long long min, long long max);
  bool read(std::string_view key, Duration& out, DurationRule rule);
  bool read(std::string_view key, std::vector<std::string>& out);

  template <class E>
  bool read(std::string_view key, E& out, std::initializer_list<Choice<E>> choices) {
    const auto text = string(key);
    if (!text) {
      return false;
    }
    std::vector<std::string_view> names;
    for (const auto& choice : choices) {
      if (choice.name == *text) {
        out = choice.value;
        return true;
      }
      names.push_back(choice.name);
    }
    report_bad_choice(key, names, *text);
    return false;
  }

  /// The strings of an array; nullopt when absent or when any element is not a string.
  std::optional<std::vector<StringItem>> string_items(std::string_view key);

  /// A sub-table; null when absent or not a table (reported).
  const toml::table* table(std::string_view key);
  /// The tables of an array of tables ([[key]]); empty when absent.
  std::vector<const toml::table*> tables(std::string_view key);

  /// Reports every key of the table that no accessor asked for.
  void reject_unknown();

 private:
  void mark(std::string_view key);
  void type_error(std::string_view key, const toml::node& node, std::string_view expected);
  void report_bad_choice(std::string_view key, const std::vector<std::string_view>& names,
                         const std::string& got);

  const toml::table* table_;
  std::string path_;
  Location where_;
  Diagnostics& diag_;
  std::vector<std::string> known_;
};

/// "a string", "an integer", ... for messages.
std::string_view type_name(const toml::node& node);

}  // namespace mailcanary::config::detail
