#include "mailcanary/probes/canary.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace mailcanary::probes {
namespace {

std::string to_hex(const unsigned char* p, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out += kDigits[p[i] >> 4];
    out += kDigits[p[i] & 0xf];
  }
  return out;
}

std::string rfc5322_date(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::array<char, 64> buf{};
  std::strftime(buf.data(), buf.size(), "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf.data();
}

// Header values come from the config; keep them on one line.
std::string one_line(std::string_view s) {
  std::string out;
  for (char c : s) {
    out += (c == '\r' || c == '\n') ? ' ' : c;
  }
  return out;
}

}  // namespace

std::string new_canary_id(std::chrono::system_clock::time_point now) {
  std::array<unsigned char, 16> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    throw std::runtime_error("the system random generator failed");
  }
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  std::array<char, 24> ts{};
  std::snprintf(ts.data(), ts.size(), "%llx", static_cast<unsigned long long>(secs));
  return std::string("mc1-") + ts.data() + "-" + to_hex(random.data(), random.size());
}

std::optional<std::chrono::system_clock::time_point> canary_id_time(std::string_view id) {
  if (!id.starts_with("mc1-")) {
    return std::nullopt;
  }
  id.remove_prefix(4);
  const auto dash = id.find('-');
  if (dash == 0 || dash == std::string_view::npos || dash > 12) {
    return std::nullopt;  // 12 hex digits reach far past any real clock
  }
  long long secs = 0;
  for (char c : id.substr(0, dash)) {
    int v = -1;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    }
    if (v < 0) {
      return std::nullopt;
    }
    secs = secs * 16 + v;
  }
  return std::chrono::system_clock::time_point(std::chrono::seconds(secs));
}

std::string sign_canary_id(std::string_view id, std::string_view key) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(id.data()), id.size(), mac.data(), &len);
  return to_hex(mac.data(), 16);
}

std::string canary_token(std::string_view id, std::string_view key) {
  return std::string(id) + " sig=" + sign_canary_id(id, key);
}

std::optional<std::string> verify_canary_token(std::string_view value, std::string_view key) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t' || value.back() == '\r' ||
                            value.back() == '\n')) {
    value.remove_suffix(1);
  }
  auto sp = value.find(" sig=");
  if (sp == std::string_view::npos || sp == 0 || sp > 128) {
    return std::nullopt;
  }
  std::string_view id = value.substr(0, sp);
  std::string_view sig = value.substr(sp + 5);
  std::string expected = sign_canary_id(id, key);
  if (sig.size() != expected.size() ||
      CRYPTO_memcmp(sig.data(), expected.data(), expected.size()) != 0) {
    return std::nullopt;
  }
  return std::string(id);
}

std::string build_canary_message(const CanaryMessage& m, std::string_view key) {
  std::string host = m.hostname.empty() ? "mailcanary.invalid" : one_line(m.hostname);
  std::string msg;
  msg += "Date: " + rfc5322_date(m.date) + "\r\n";
  msg += "From: <" + one_line(m.from) + ">\r\n";
  msg += "To: <" + one_line(m.rcpt) + ">\r\n";
  msg += "Message-ID: <" + m.id + "@" + host + ">\r\n";
  msg += "Subject: mailcanary " + m.id + "\r\n";
  msg += "MIME-Version: 1.0\r\n";
  msg += "Content-Type: text/plain; charset=us-ascii\r\n";
  msg += "Content-Transfer-Encoding: 7bit\r\n";
  msg += std::string(kCanaryHeader) + ": " + canary_token(m.id, key) + "\r\n";
  msg += "X-Mailcanary-Target: " + one_line(m.target) + "\r\n";
  msg += "X-Mailcanary-Member: " + one_line(m.member) + "\r\n";
  if (!m.instance.empty()) {
    msg += "X-Mailcanary-Instance: " + one_line(m.instance) + "\r\n";
  }
  msg += "Auto-Submitted: auto-generated\r\n";
  msg += "\r\n";
  msg += "This is a mail-flow monitoring message sent by mailcanary.\r\n";
  msg += "It is deleted automatically when it arrives. Canary id: " + m.id + "\r\n";
  return msg;
}

}  // namespace mailcanary::probes
