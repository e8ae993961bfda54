// fetch_token(): one request to an OAuth2 token endpoint with libcurl (RFC 6749 4.4 and
// 6, client authentication in the body as Microsoft's and Google's endpoints accept).
#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mailcanary/probes/oauth2.hpp"

namespace mailcanary::probes {
namespace {

constexpr std::size_t kMaxAnswer = 64 * 1024;
constexpr std::size_t kMaxRefreshToken = 16 * 1024;
constexpr std::int64_t kDefaultLifetime = 3600;  // RFC 6749 5.1: expires_in is optional

struct Answer {
  std::string body;
  bool too_large = false;
};

size_t on_data(char* data, size_t size, size_t n, void* userp) {
  auto* a = static_cast<Answer*>(userp);
  if (a->body.size() + size * n > kMaxAnswer) {
    a->too_large = true;
    return 0;  // ends the transfer
  }
  a->body.append(data, size * n);
  return size * n;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

std::string escape(CURL* c, const std::string& s) {
  char* e = curl_easy_escape(c, s.data(), static_cast<int>(s.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

std::string where(const TokenEndpoint& e) {
  return "oauth2 " + e.name + ": token endpoint " + e.token_url;
}

std::string read_refresh_token(const TokenEndpoint& e) {
  std::ifstream in(e.refresh_token_file, std::ios::binary);
  if (!in) {
    throw TokenError("oauth2 " + e.name + ": cannot read refresh_token_file " +
                         e.refresh_token_file + ": " + std::strerror(errno),
                     "refresh token");
  }
  std::string token(kMaxRefreshToken + 1, '\0');
  in.read(token.data(), static_cast<std::streamsize>(token.size()));
  token.resize(static_cast<std::size_t>(in.gcount()));
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  if (token.empty() || token.size() > kMaxRefreshToken) {
    throw TokenError("oauth2 " + e.name + ": refresh_token_file " + e.refresh_token_file +
                         (token.empty() ? " is empty" : " is over 16 KiB"),
                     "refresh token");
  }
  return token;
}

// Replaces the file's content as one step: a crash leaves the old token or the new one.
void write_refresh_token(const TokenEndpoint& e, const std::string& token) {
  const std::filesystem::path path(e.refresh_token_file);
  std::string tmp = (path.parent_path() / ("." + path.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkstemp(tmp.data());
  bool ok = fd >= 0 && ::fchmod(fd, 0600) == 0;
  const std::string text = token + "\n";
  ok = ok && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ok && ::fsync(fd) == 0;
  const int saved = errno;
  if (fd >= 0) {
    ::close(fd);
  }
  ok = ok && ::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) {
    ::unlink(tmp.c_str());
    throw TokenError("oauth2 " + e.name + ": cannot write the new refresh token to " +
                         e.refresh_token_file + ": " + std::strerror(saved ? saved : errno),
                     "refresh token");
  }
}

// The endpoint's words for a refusal (RFC 6749 5.2), without anything secret.
std::string refusal(const nlohmann::json& j, long status, std::string& code) {
  code = "http " + std::to_string(status);
  std::string text = code;
  if (j.is_object() && j.contains("error") && j["error"].is_string()) {
    code = j["error"].get<std::string>().substr(0, 64);
    text += ", error " + code;
    if (j.contains("error_description") && j["error_description"].is_string()) {
      std::string d = j["error_description"].get<std::string>().substr(0, 200);
      for (char& ch : d) {
        ch = (ch == '\n' || ch == '\r') ? ' ' : ch;
      }
      text += ": " + d;
    }
  }
  return text;
}

}  // namespace

AccessToken fetch_token(const TokenEndpoint& e) {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  CURL* c = curl.get();
  if (!c) {
    throw TokenError(where(e) + ": out of memory", "connect");
  }
  const bool refresh = !e.refresh_token_file.empty();
  std::string form =
      refresh ? "grant_type=refresh_token&refresh_token=" + escape(c, read_refresh_token(e))
              : "grant_type=client_credentials";
  form += "&client_id=" + escape(c, e.client_id) + "&client_secret=" + escape(c, e.client_secret);
  if (!e.scope.empty()) {
    form += "&scope=" + escape(c, e.scope);
  }
  Answer answer;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, e.token_url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, form.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(form.size()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(e.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(e.timeout.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, e.tls_verify ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, e.tls_verify ? 2L : 0L);
  if (!e.ca_file.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, e.ca_file.c_str());
  }
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  const CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  // The form holds the secret and the refresh token: gone before anything can throw.
  std::fill(form.begin(), form.end(), '\0');
  if (answer.too_large) {
    throw TokenError(where(e) + ": answer over 64 KiB", "bad answer");
  }
  if (rc != CURLE_OK) {
    const std::string why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    throw TokenError(where(e) + ": " + why, rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "connect");
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  const auto j = nlohmann::json::parse(answer.body, nullptr, false);
  if (status != 200) {
    std::string code;
    const std::string text = refusal(j, status, code);
    throw TokenError(where(e) + " refused: " + text, code);
  }
  if (!j.is_object() || !j.contains("access_token") || !j["access_token"].is_string() ||
      j["access_token"].get<std::string>().empty()) {
    throw TokenError(where(e) + ": answer without an access_token", "bad answer");
  }
  AccessToken t{j["access_token"].get<std::string>(), std::chrono::seconds(kDefaultLifetime)};
  if (j.contains("expires_in")) {
    std::int64_t s = -1;
    if (j["expires_in"].is_number_integer()) {
      s = j["expires_in"].get<std::int64_t>();
    } else if (j["expires_in"].is_string()) {  // some endpoints quote it
      const auto text = j["expires_in"].get<std::string>();
      s = text.empty() || text.size() > 9 ||
                  text.find_first_not_of("0123456789") != std::string::npos
              ? -1
              : std::stoll(text);
    }
    if (s <= 0) {
      throw TokenError(where(e) + ": expires_in is not a positive number of seconds", "bad answer");
    }
    t.lifetime = std::chrono::seconds(s);
  }
  if (refresh && j.contains("refresh_token") && j["refresh_token"].is_string() &&
      !j["refresh_token"].get<std::string>().empty()) {
    write_refresh_token(e, j["refresh_token"].get<std::string>());
  }
  return t;
}

}  // namespace mailcanary::probes
