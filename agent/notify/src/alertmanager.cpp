#include "mailcanary/agent/notify/alertmanager.hpp"
#include "mailcanary/agent/core/time_text.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

namespace mailcanary::agent {
namespace {

size_t discard(char*, size_t size, size_t n, void*) {
  return size * n;
}

// Every byte but A-Z a-z 0-9 - . _ ~ as %XX: a path segment of generatorURL.
std::string url_encode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// "33.3%"
std::string percent(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", ratio * 100);
  return buf;
}

// "0.3333"
std::string ratio_text(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", ratio);
  return buf;
}

}  // namespace

std::string alert_body(const AlertInfo& a, bool resolved, SysTime now,
                       std::chrono::seconds firing_ttl, const AlertLinks& links) {
  const bool mailbox = a.target == "mailbox" && a.cls == "mailbox_error";
  const std::string agent = a.instance.empty() ? links.agent : a.instance;
  std::string last = a.cls;
  if (!a.stage.empty()) {
    last += " at stage " + a.stage;
  }
  if (a.smtp_code != 0) {
    last += " (" + std::to_string(a.smtp_code) + ")";
  }
  nlohmann::json annotations{
      {"summary", mailbox ? "mailcanary cannot read mailbox " + a.member
                          : "Mail flow outage: " + a.target + " member " + a.member},
      {"description",
       mailbox ? "mailcanary has failed to read mailbox " + a.member + " since " +
                     rfc3339(a.starts_at) +
                     ": canaries of the targets using it cannot be confirmed. Last: " + a.detail
       : a.rule == "burn_rate"
           ? "Canaries through " + a.target + " member " + a.member +
                 " fail too often for the error budget: " + percent(a.short_ratio) +
                 " of the probes in the short window and " + percent(a.long_ratio) +
                 " in the long one when raised at " + rfc3339(a.starts_at) +
                 ". Last failure: " + last + (a.detail.empty() ? "" : ": " + a.detail)
           : "Canaries through " + a.target + " member " + a.member + " have failed since " +
                 rfc3339(a.starts_at) + ", longer than the outage window. Last result: " + last +
                 (a.detail.empty() ? "" : ": " + a.detail)},
      {"agent", agent},
      {"class", a.cls},
      {"stage", a.stage},
      {"smtp_code", std::to_string(a.smtp_code)},
      {"detail", a.detail}};
  if (!a.rule.empty()) {
    annotations["rule"] = a.rule;
  }
  if (a.rule == "burn_rate") {
    annotations["short_window_failure_ratio"] = ratio_text(a.short_ratio);
    annotations["long_window_failure_ratio"] = ratio_text(a.long_ratio);
  }
  if (!links.runbook_url.empty()) {
    annotations["runbook_url"] = links.runbook_url;
  }
  nlohmann::json alert{{"labels",
                        {{"alertname", "MailFlowOutage"},
                         {"target", a.target},
                         {"member", a.member},
                         {"severity", "critical"}}},
                       {"annotations", annotations},
                       {"startsAt", rfc3339(a.starts_at)},
                       {"endsAt", rfc3339(resolved ? now : now + firing_ttl)}};
  if (!links.external_url.empty()) {
    alert["generatorURL"] =
        links.external_url +
        (mailbox ? "/status" : "/status/" + url_encode(a.target) + "/" + url_encode(a.member));
  }
  return nlohmann::json::array({alert}).dump(-1, ' ', false,
                                             nlohmann::json::error_handler_t::replace);
}

std::chrono::seconds retry_backoff(int attempts) {
  long long s = 1;
  for (int i = 1; i < attempts && s < 300; ++i) {
    s *= 2;
  }
  return std::chrono::seconds(std::min(s, 300LL));
}

std::string post_alerts(const std::string& base_url, const std::string& body,
                        std::chrono::milliseconds timeout) {
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) {
    return "libcurl could not be initialised";
  }
  std::string url = base_url;
  while (!url.empty() && url.back() == '/') {
    url.pop_back();
  }
  url += "/api/v2/alerts";
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(
      curl_slist_append(nullptr, "Content-Type: application/json"), curl_slist_free_all);
  char err[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    return url + ": " + (err[0] ? err : curl_easy_strerror(rc));
  }
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (code < 200 || code >= 300) {
    return url + ": HTTP " + std::to_string(code);
  }
  return "";
}

}  // namespace mailcanary::agent
