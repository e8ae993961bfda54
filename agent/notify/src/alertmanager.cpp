#include "mailcanary/agent/notify/alertmanager.hpp"
#include "mailcanary/agent/core/time_text.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

namespace mailcanary::agent {
namespace {

size_t discard(char*, size_t size, size_t n, void*) {
  return size * n;
}

}  // namespace

std::string alert_body(const AlertInfo& a, bool resolved, SysTime now,
                       std::chrono::seconds firing_ttl) {
  nlohmann::json labels{{"alertname", "MailFlowOutage"},
                        {"target", a.target},
                        {"member", a.member},
                        {"class", a.cls}};
  if (!a.instance.empty()) {
    labels["instance"] = a.instance;
  }
  nlohmann::json alert{
      {"labels", labels},
      {"annotations",
       {{"summary", "mail flow outage: " + a.target + " " + a.member + " (" + a.cls + ")"},
        {"stage", a.stage},
        {"smtp_code", std::to_string(a.smtp_code)},
        {"detail", a.detail}}},
      {"startsAt", rfc3339(a.starts_at)},
      {"endsAt", rfc3339(resolved ? now : now + firing_ttl)}};
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
