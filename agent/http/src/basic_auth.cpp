#include "mailcanary/agent/http/basic_auth.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <strings.h>

#include <array>
#include <cstring>
#include <memory>

namespace mailcanary::agent {
namespace {

constexpr std::size_t kMaxRemembered = 64;
constexpr std::size_t kMaxHeader = 4096;

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '+') {
    return 62;
  }
  if (c == '/') {
    return 63;
  }
  return -1;
}

std::string sha256(const std::string& text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md.data(), &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(md.data()), len);
}

}  // namespace

std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = in[i + k];
      const bool last_group = i + 4 == in.size();
      if (c == '=' && last_group && k >= 2 && (k == 3 || in[i + 3] == '=')) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0 || (v[k] = base64_value(c)) < 0) {
        return std::nullopt;
      }
    }
    const unsigned bits =
        (unsigned(v[0]) << 18) | (unsigned(v[1]) << 12) | (unsigned(v[2]) << 6) | unsigned(v[3]);
    out += static_cast<char>((bits >> 16) & 0xff);
    if (pad < 2) {
      out += static_cast<char>((bits >> 8) & 0xff);
    }
    if (pad < 1) {
      out += static_cast<char>(bits & 0xff);
    }
  }
  return out;
}

BasicAuth::BasicAuth(std::vector<config::WebUser> users, std::string users_file,
                     std::chrono::milliseconds check_every)
    : enabled_(!users.empty()),
      users_file_(std::move(users_file)),
      check_every_(check_every),
      users_(std::move(users)) {
  std::error_code ec;
  if (!users_file_.empty()) {
    file_time_ = std::filesystem::last_write_time(users_file_, ec);
  }
}

void BasicAuth::reload_if_changed() const {
  const auto now = std::chrono::steady_clock::now();
  if (users_file_.empty() || now < next_check_) {
    return;
  }
  next_check_ = now + check_every_;
  std::error_code ec;
  const auto time = std::filesystem::last_write_time(users_file_, ec);
  if (ec || time == file_time_) {
    return;
  }
  file_time_ = time;  // a file that does not read is not retried until it changes again
  std::vector<std::string> errors;
  if (auto users = config::read_web_users(users_file_, errors)) {
    users_ = std::move(*users);
    accepted_.clear();  // a changed password must not stay remembered
    ++reloads_;
  }
}

bool BasicAuth::verify(const std::string& user, const std::string& password) const {
  std::string hash;
  {
    std::lock_guard lock(mutex_);
    for (const auto& u : users_) {
      if (u.name == user) {
        hash = u.hash;
      }
    }
  }
  if (hash.empty()) {
    return false;
  }
  auto data = std::make_unique<crypt_data>();  // large; zeroed by value-initialisation
  const char* result = crypt_r(password.c_str(), hash.c_str(), data.get());
  if (!result || result[0] == '*') {
    return false;
  }
  const std::size_t n = std::strlen(result);
  return n == hash.size() && CRYPTO_memcmp(result, hash.data(), n) == 0;
}

std::optional<BasicAuth::Credentials> BasicAuth::credentials(const char* authorization) {
  if (!authorization) {
    return std::nullopt;
  }
  std::string_view header(authorization);
  if (header.size() > kMaxHeader || header.size() < 6 ||
      strncasecmp(header.data(), "Basic ", 6) != 0) {
    return std::nullopt;
  }
  header.remove_prefix(6);
  while (!header.empty() && header.front() == ' ') {
    header.remove_prefix(1);
  }
  const auto decoded = base64_decode(header);
  // crypt(3) reads C strings: "secret\0anything" would pass as "secret".
  if (!decoded || decoded->find('\0') != std::string::npos) {
    return std::nullopt;
  }
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) {
    return std::nullopt;
  }
  Credentials c{decoded->substr(0, colon), decoded->substr(colon + 1), ""};
  std::string key = c.user;
  key += '\0';
  key += c.password;
  c.digest = sha256(key);
  return c;
}

std::optional<bool> BasicAuth::quick_check(const char* authorization) const {
  if (!enabled()) {
    return true;
  }
  const auto c = credentials(authorization);
  if (!c) {
    return false;
  }
  std::lock_guard lock(mutex_);
  reload_if_changed();
  if (accepted_.count(c->digest)) {
    return true;
  }
  for (const auto& u : users_) {
    if (u.name == c->user) {
      return std::nullopt;
    }
  }
  return false;
}

bool BasicAuth::allows(const char* authorization) const {
  if (!enabled()) {
    return true;
  }
  const auto c = credentials(authorization);
  if (!c) {
    return false;
  }
  const std::string& user = c->user;
  const std::string& password = c->password;
  const std::string& digest = c->digest;
  int generation = 0;
  {
    std::lock_guard lock(mutex_);
    reload_if_changed();
    if (accepted_.count(digest)) {
      return true;
    }
    generation = reloads_;
  }
  if (!verify(user, password)) {
    return false;
  }
  std::lock_guard lock(mutex_);
  if (reloads_ != generation) {
    return true;  // checked against the users before a reload: do not remember it
  }
  if (accepted_.size() >= kMaxRemembered) {
    accepted_.clear();
  }
  accepted_.insert(digest);
  return true;
}

int BasicAuth::reloads() const {
  std::lock_guard lock(mutex_);
  return reloads_;
}

std::size_t BasicAuth::remembered() const {
  std::lock_guard lock(mutex_);
  return accepted_.size();
}

}  // namespace mailcanary::agent
