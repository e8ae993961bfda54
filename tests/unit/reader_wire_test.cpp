// The messages between an isolated reader and its child process (probes/src/reader_wire):
// every config field crosses, bytes stay bytes, and a silent or vanished peer ends a
// wait at its deadline instead of hanging.
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>

#include "../../probes/src/reader_wire.hpp"

namespace {

namespace wire = mailcanary::probes::wire;
using namespace std::chrono_literals;

struct Pair {
  int fd[2] = {-1, -1};
  Pair() { REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd) == 0); }
  ~Pair() {
    for (int f : fd) {
      if (f >= 0) {
        close(f);
      }
    }
  }
};

}  // namespace

TEST_CASE("a mailbox config crosses whole, every field not at its default", "[wire]") {
  mailcanary::config::MailboxConfig c;
  c.name = "inbox";
  c.protocol = mailcanary::config::MailboxProtocol::pop3;
  c.server = {"::1", 995};
  c.tls = mailcanary::config::TlsMode::implicit;
  c.ca_file = "/etc/ca.pem";
  c.tls_verify = false;
  c.user = "canary";
  c.password_file = "/etc/pw";
  c.password = "s3cret";
  c.auth = mailcanary::config::AuthMethod::oauthbearer;
  c.oauth2 = "idp";
  c.folder = "Canaries";
  c.idle = false;
  c.poll_interval = 1234ms;
  c.junk_folders = {"Junk", "Spam"};
  c.delete_found = false;
  REQUIRE(!(c == mailcanary::config::MailboxConfig{}));
  CHECK(wire::mailbox_from_json(wire::to_json(c)) == c);
}

TEST_CASE("a message crosses with its exact bytes, NULs and invalid UTF-8 included", "[wire]") {
  Pair p;
  const std::string bytes("X-Header: \xff\xfe\0\x80 end\r\n", 20);
  wire::send(p.fd[0], {{"headers", bytes}, {"n", 7}}, std::nullopt);
  auto got = wire::receive(p.fd[1], std::chrono::steady_clock::now() + 5s);
  CHECK(got.at("headers").get<std::string>() == bytes);
  CHECK(got.at("n").get<int>() == 7);
}

TEST_CASE("a silent peer ends the wait at the deadline; a closed one at once", "[wire]") {
  Pair p;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    wire::receive(p.fd[1], t0 + 50ms);
    FAIL("no message expected");
  } catch (const wire::Broken& b) {
    CHECK(b.why == wire::Broken::Why::timed_out);
  }
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  close(p.fd[0]);
  p.fd[0] = -1;
  try {
    wire::receive(p.fd[1], std::nullopt);
    FAIL("no message expected");
  } catch (const wire::Broken& b) {
    CHECK(b.why == wire::Broken::Why::closed);
  }
}

TEST_CASE("a length over the limit is refused before anything is allocated", "[wire]") {
  Pair p;
  const unsigned char huge[4] = {0xff, 0xff, 0xff, 0xff};
  REQUIRE(write(p.fd[0], huge, 4) == 4);
  try {
    wire::receive(p.fd[1], std::chrono::steady_clock::now() + 5s);
    FAIL("refused expected");
  } catch (const wire::Broken& b) {
    CHECK(b.why == wire::Broken::Why::too_large);
  }
}
