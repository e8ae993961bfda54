// The [web] basic_auth_users_file reader (htpasswd lines) and the check of an
// Authorization header. The input is both: the users file's text, and each of its first
// lines as a "Basic ..." header against a fixed user "fuzz" with password "secret".
#include <crypt.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>

#include "fuzz_support.hpp"
#include "mailcanary/agent/http/basic_auth.hpp"
#include "mailcanary/config/config.hpp"

namespace {

using namespace mailcanary;

// Standard base64, written apart from the decoder under test.
std::string base64_encode(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) {
      v |= static_cast<unsigned char>(in[i + 1]) << 8;
    }
    if (i + 2 < in.size()) {
      v |= static_cast<unsigned char>(in[i + 2]);
    }
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

// One user with a cheap SHA-crypt hash (1000 rounds, the minimum).
const agent::BasicAuth& auth() {
  static const agent::BasicAuth instance = [] {
    auto data = std::make_unique<crypt_data>();
    const char* hash = crypt_r("secret", "$5$rounds=1000$fuzzsalt$", data.get());
    FUZZ_CHECK(hash && hash[0] == '$');
    return agent::BasicAuth({{"fuzz", hash}});
  }();
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::as_text(data, size);
  const std::string path = "/etc/mailcanary/web.users";
  std::vector<std::string> errors;
  const auto users = config::parse_web_users(text, path, errors);
  FUZZ_CHECK(users.has_value() == errors.empty());
  for (const auto& e : errors) {
    FUZZ_CHECK(e.find(path) != std::string::npos);
  }
  if (users) {
    FUZZ_CHECK(!users->empty());
    std::set<std::string> names;
    for (const auto& u : *users) {
      FUZZ_CHECK(!u.name.empty() && u.name.find(':') == std::string::npos);
      FUZZ_CHECK(u.name.find('\n') == std::string::npos && u.hash.find('\n') == std::string::npos);
      // Whole hashes only: the shortest is SHA-256 crypt with an empty salt ("$5$$" + 43).
      FUZZ_CHECK(u.hash.size() >= 47 && u.hash[0] == '$');
      FUZZ_CHECK(names.insert(u.name).second);
    }
  }

  for (auto line : fuzz::lines_of(text, 8)) {
    // The decoder inverts an encoder, and decodes the fuzzer's own text consistently.
    FUZZ_CHECK(agent::base64_decode(base64_encode(line)) == std::string(line));
    if (const auto decoded = agent::base64_decode(line)) {
      const auto padding = static_cast<std::size_t>(std::count(line.begin(), line.end(), '='));
      FUZZ_CHECK(padding <= 2 && decoded->size() == line.size() / 4 * 3 - padding);
      FUZZ_CHECK(agent::base64_decode(base64_encode(*decoded)) == *decoded);
    }
    const std::string header = "Basic " + std::string(line);
    if (header.find('\0') != std::string::npos) {
      continue;  // a C string: civetweb hands over no NUL
    }
    // Only the right user and password pass (spaces after "Basic" are skipped).
    const auto credentials = line.substr(std::min(line.find_first_not_of(' '), line.size()));
    const bool allowed = auth().allows(header.c_str());
    FUZZ_CHECK(!allowed || agent::base64_decode(credentials) == std::string("fuzz:secret"));
    FUZZ_CHECK(auth().allows(("Basic " + base64_encode(line)).c_str()) == (line == "fuzz:secret"));
  }
  return 0;
}
