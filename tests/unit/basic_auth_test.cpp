// Basic authentication of the HTTP endpoints: base64, crypt(3) hashes, the memory of
// accepted credentials. No network.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "mailcanary/agent/http/basic_auth.hpp"

using mailcanary::agent::base64_decode;
using mailcanary::agent::BasicAuth;

namespace {

// htpasswd -Bb users prom s3cret (test data only).
const std::string kPromHash = "$2y$05$1Pai7Kfofi5xOnZvZxIPGO.RsfdjlVC9cyJ5iMIrU8gfaQJVjghru";
// SHA-512 crypt of "0ps-pass".
const std::string kOpsHash =
    "$6$saltsalt$"
    "iMcIqLoedupZaSQuX1UeZKEsmdWaJB1eGcmVRg7IVrjZlLC8MTMRAGvhItfsXG2kJrFQbPVlp9CtrbenYpTE7/";

}  // namespace

TEST_CASE("base64 decodes with padding and rejects malformed input", "[web]") {
  CHECK(base64_decode("cHJvbTpzM2NyZXQ=") == std::optional<std::string>("prom:s3cret"));
  CHECK(base64_decode("YQ==") == std::optional<std::string>("a"));
  CHECK(base64_decode("YWI=") == std::optional<std::string>("ab"));
  CHECK(base64_decode("YWJj") == std::optional<std::string>("abc"));
  CHECK(base64_decode("") == std::optional<std::string>(""));
  CHECK_FALSE(base64_decode("YWJ"));
  CHECK_FALSE(base64_decode("YW=j"));
  CHECK_FALSE(base64_decode("Y===").has_value());
  CHECK_FALSE(base64_decode("YQ==YQ=="));
  CHECK_FALSE(base64_decode("YW!j"));
}

TEST_CASE("basic auth accepts the right user and password only", "[web]") {
  BasicAuth none({});
  CHECK_FALSE(none.enabled());
  CHECK(none.allows(nullptr));

  BasicAuth auth({{"prom", kPromHash}, {"ops", "$6$saltsalt$notarealhash"}});
  CHECK(auth.enabled());
  CHECK_FALSE(auth.allows(nullptr));
  CHECK_FALSE(auth.allows(""));
  CHECK_FALSE(auth.allows("Bearer cHJvbTpzM2NyZXQ="));
  CHECK_FALSE(auth.allows("Basic cHJvbTpiYWQ="));          // prom:bad
  CHECK_FALSE(auth.allows("Basic b3BzOnMzY3JldA=="));      // ops:s3cret, hash mismatch
  CHECK_FALSE(auth.allows("Basic bm9ib2R5OnMzY3JldA=="));  // nobody:s3cret
  CHECK_FALSE(auth.allows("Basic cHJvbXMzY3JldA=="));      // no colon
  CHECK_FALSE(auth.allows("Basic ####"));
  CHECK(auth.remembered() == 0);
  CHECK(auth.allows("Basic cHJvbTpzM2NyZXQ="));  // prom:s3cret
  CHECK(auth.allows("basic  cHJvbTpzM2NyZXQ="));
  CHECK(auth.remembered() == 1);
  // A remembered password is not a wildcard: others still fail.
  CHECK_FALSE(auth.allows("Basic cHJvbTpiYWQ="));
  CHECK(auth.remembered() == 1);
}

TEST_CASE("a changed users file applies without a restart; a broken one keeps the users", "[web]") {
  namespace fs = std::filesystem;
  const fs::path file =
      fs::temp_directory_path() / ("mailcanary-users-" + std::to_string(::getpid()));
  const auto write = [&](const std::string& text) {
    const auto before = fs::exists(file) ? fs::last_write_time(file) : fs::file_time_type{};
    std::ofstream(file) << text;
    // A distinct modification time, whatever the file system's granularity.
    fs::last_write_time(file, before + std::chrono::seconds(1));
  };
  write("prom:" + kPromHash + "\n");
  BasicAuth auth({{"prom", kPromHash}}, file.string(), std::chrono::milliseconds(0));
  CHECK(auth.allows("Basic cHJvbTpzM2NyZXQ="));  // prom:s3cret, remembered now
  CHECK(auth.remembered() == 1);

  // The password of prom is replaced (by ops's SHA-crypt entry): the remembered one
  // stops working at once.
  write("ops:" + kOpsHash + "\n");
  CHECK_FALSE(auth.allows("Basic cHJvbTpzM2NyZXQ="));
  CHECK(auth.reloads() == 1);
  CHECK(auth.remembered() == 0);

  // A file with a bad line is refused as a whole: the users stay as they were.
  write("prom:" + kPromHash + "\nbroken line\n");
  CHECK_FALSE(auth.allows("Basic cHJvbTpzM2NyZXQ="));
  CHECK(auth.reloads() == 1);
  CHECK(auth.enabled());

  write("prom:" + kPromHash + "\n");
  CHECK(auth.allows("Basic cHJvbTpzM2NyZXQ="));
  CHECK(auth.reloads() == 2);
  fs::remove(file);
}
