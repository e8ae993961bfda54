// The test bed's side of OAuth2 logins: Dovecot's oauth2 passdb accepts XOAUTH2 and
// OAUTHBEARER for IMAP and POP3 with a token from the tests' token server (asked by
// introspection), Postfix's submission listener offers them through Dovecot SASL, and an
// expired or unknown token is refused. XOAUTH2 is spoken here by hand (curl 7.88 always
// picks OAUTHBEARER when both are offered); OAUTHBEARER with Debian's curl. This is the
// ground mailcanary's own OAuth2 logins are tested on.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

#include "mailcanary/probes/oauth2.hpp"
#include "support.hpp"
#include "token_server.hpp"

namespace {

// Sends `command` (after the greeting) to 127.0.0.1:`port` and returns the first line
// that starts with one of `ends` (within 10 s; empty if none came).
std::string converse(int port, const std::string& command, const std::vector<std::string>& ends) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (fd >= 0) {
      close(fd);
    }
    return "";
  }
  std::string data;
  bool sent = false;
  std::string answer;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int i = 0; i < 1000 && answer.empty() && std::chrono::steady_clock::now() < until; ++i) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) {
      continue;
    }
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      break;
    }
    data.append(buf, static_cast<std::size_t>(n));
    for (auto nl = data.find("\r\n"); nl != std::string::npos; nl = data.find("\r\n")) {
      const std::string line = data.substr(0, nl);
      data.erase(0, nl + 2);
      if (!sent) {
        const std::string out = command + "\r\n";
        sent = send(fd, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size());
        continue;
      }
      for (const auto& e : ends) {
        if (line.rfind(e, 0) == 0) {
          answer = line;
        }
      }
      if (line.rfind("+ ", 0) == 0) {              // a SASL error challenge: end the exchange
        (void)!send(fd, "\r\n", 2, MSG_NOSIGNAL);  // an empty response, as XOAUTH2 asks
      }
    }
  }
  close(fd);
  return answer;
}

std::string xoauth2(const std::string& token) {
  return itest::base64(
      "user=canary\x01"
      "auth=Bearer " +
      token + "\x01\x01");
}

// OAUTHBEARER with Debian's curl; its exit code (0 ok, 67 login denied).
itest::CommandResult curl_oauthbearer(const std::string& url, const std::string& token,
                                      const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{"/usr/bin/curl",
                                "-sS",
                                "--max-time",
                                "10",
                                "-u",
                                "canary:",
                                "--oauth2-bearer",
                                token,
                                "--login-options",
                                "AUTH=OAUTHBEARER",
                                url};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return itest::run_command(argv, std::chrono::seconds(20));
}

}  // namespace

TEST_CASE("the test bed takes XOAUTH2 and OAUTHBEARER logins checked by introspection",
          "[integration][oauth2][dovecot]") {
  const auto o = itest::TokenServer::for_testbed(std::chrono::seconds(4));
  itest::TokenServer server(o);
  mailcanary::probes::TokenEndpoint e;
  e.name = "idp";
  e.token_url = server.token_url();
  e.client_id = o.client_id;
  e.client_secret = o.client_secret;
  const auto token = [&] { return mailcanary::probes::fetch_token(e).value; };

  // XOAUTH2 (SASL-IR), IMAP and POP3.
  CHECK(converse(1143, "a AUTHENTICATE XOAUTH2 " + xoauth2(token()), {"a "}).rfind("a OK", 0) == 0);
  CHECK(converse(1110, "AUTH XOAUTH2 " + xoauth2(token()), {"+OK", "-ERR"}).rfind("+OK", 0) == 0);
  CHECK(converse(1143, "a AUTHENTICATE XOAUTH2 " + xoauth2("at-forged"), {"a "}).rfind("a NO", 0) ==
        0);
  // OAUTHBEARER, IMAP and POP3, and SMTP submission through Dovecot SASL.
  CHECK(curl_oauthbearer("imap://127.0.0.1:1143/", token(), {"-X", "NOOP"}).exit_code == 0);
  CHECK(curl_oauthbearer("pop3://127.0.0.1:1110/", token()).exit_code == 0);
  CHECK(curl_oauthbearer("imap://127.0.0.1:1143/", "at-forged", {"-X", "NOOP"}).exit_code == 67);
  const std::string message = itest::write_temp_file(
      "oauth2.eml",
      "From: canary@example.test\r\nTo: canary@example.test\r\nSubject: oauth2\r\n"
      "\r\nsent with a bearer token\r\n");
  const auto smtp = curl_oauthbearer("smtp://127.0.0.22:2587", token(),
                                     {"-v", "--mail-from", "canary@example.test", "--mail-rcpt",
                                      "canary@example.test", "-T", message});
  INFO(smtp.err);
  CHECK(smtp.exit_code == 0);
  CHECK(server.introspections() >= 6);  // Dovecot asked the token server each time

  // Past its lifetime (4 s) a token is refused.
  const std::string old = token();
  std::this_thread::sleep_for(std::chrono::milliseconds(4500));  // the token's life, not a sync
  CHECK(converse(1143, "a AUTHENTICATE XOAUTH2 " + xoauth2(old), {"a "}).rfind("a NO", 0) == 0);
}
