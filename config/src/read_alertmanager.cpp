#include "sections.hpp"
#include "text.hpp"

namespace mailcanary::config::detail {
namespace {

bool is_http_url(std::string_view url) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (url.size() > scheme.size() && url.substr(0, scheme.size()) == scheme) {
      return url.find_first_of(" \t\r\n") == std::string_view::npos;
    }
  }
  return false;
}

}  // namespace

bool read_http_url(TableReader& r, std::string_view key, std::string& out) {
  if (!r.read(key, out)) {
    return false;
  }
  if (!is_http_url(out)) {
    r.error(key, "expected an http:// or https:// URL, got " + in_quotes(out));
    return false;
  }
  return true;
}

void read_alertmanager(TableReader& r, AlertmanagerConfig& out) {
  const auto urls = r.string_items("urls");
  read_http_url(r, "runbook_url", out.runbook_url);
  r.reject_unknown();
  if (!urls) {
    return;
  }
  for (const auto& item : *urls) {
    if (is_http_url(item.value)) {
      out.urls.push_back(item.value);
    } else {
      r.diag().add(item.where, item.path + ": expected an http:// or https:// URL, got " +
                                   in_quotes(item.value));
    }
  }
}

}  // namespace mailcanary::config::detail
