// Mailbox servers that drip inside TLS: a TLS record a byte at a time, each byte well
// within the I/O timeout. libetpan's TLS layer reads a whole record before it returns,
// so neither its own timeout nor the guard's answer-time check (which sees only what the
// layer returns) would end it: a 16 KiB record at 10 bytes a second lasts half an hour.
// The socket watchdog (probes/src/socket_watchdog.hpp) must end each at its limit: the
// handshake (implicit TLS, and after STARTTLS) at 2 x the I/O timeout, an answer after a
// real handshake at the answer-time limit. The three run side by side (20 s each).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "mailcanary/probes/mailbox.hpp"
#include "protocols.hpp"
#include "reader_support.hpp"

using namespace hostile;
using namespace std::chrono_literals;

namespace {

// A TLS record header announcing 16 KiB (type: handshake or application data), and a
// record's worth of bytes to drip after it.
std::string record_header(unsigned char type) {
  return std::string{static_cast<char>(type), '\x03', '\x03', '\x40', '\x00'};
}

// A throwaway self-signed P-256 certificate and key for "localhost".
SSL_CTX* server_context() {
  static SSL_CTX* ctx = [] {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, key, EVP_sha256());
    SSL_CTX* c = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(c, cert);
    SSL_CTX_use_PrivateKey(c, key);
    X509_free(cert);
    EVP_PKEY_free(key);
    return c;
  }();
  return ctx;
}

// Accepts on 127.0.0.1 and, per connection: `handshake`: reads the ClientHello, then
// drips a handshake record; `record`: completes a real TLS handshake, then drips an
// application-data record (the IMAP greeting the client waits for).
class TlsDripServer {
 public:
  enum class Mode { handshake, record };

  explicit TlsDripServer(Mode mode) : mode_(mode) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(listen_fd_, 16) == 0);
    REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    server_context();  // built here, not in the threads
    thread_ = std::thread([this] { serve(); });
  }
  ~TlsDripServer() {
    stop_ = true;
    thread_.join();
    for (auto& t : connections_) {
      t.join();
    }
    ::close(listen_fd_);
  }
  TlsDripServer(const TlsDripServer&) = delete;
  TlsDripServer& operator=(const TlsDripServer&) = delete;

  std::uint16_t port() const { return port_; }

 private:
  void serve() {
    for (int i = 0; i < 6000 && !stop_; ++i) {  // 100 ms each: at most 10 minutes
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) == 1) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0 && connections_.size() < 8) {
          connections_.emplace_back([this, fd] { converse(fd); });
        } else if (fd >= 0) {
          ::close(fd);
        }
      }
    }
  }

  void converse(int fd) {
    timeval t{10, 0};  // bounds the handshake and the read of the ClientHello
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof t);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &t, sizeof t);
    SSL* ssl = nullptr;
    std::string drip;
    if (mode_ == Mode::handshake) {
      char hello[4096];
      if (::recv(fd, hello, sizeof hello, 0) > 0) {
        drip = record_header(22) + std::string(16384, '\x01');
      }
    } else {
      ssl = SSL_new(server_context());
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) {
        drip = record_header(23) + std::string(16384, '\x02');
      }
    }
    // A byte every 100 ms, each well inside the client's 10 s I/O timeout.
    for (std::size_t i = 0; i < drip.size() && !stop_; ++i) {
      if (::send(fd, drip.data() + i, 1, MSG_NOSIGNAL) != 1) {
        break;
      }
      std::this_thread::sleep_for(100ms);
    }
    if (ssl) {
      SSL_free(ssl);
    }
    ::close(fd);
  }

  Mode mode_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> connections_;  // only the serve() thread adds, before joining
};

// One IMAP scan in this process, TLS as `tls`, the certificate not checked.
ScanOutcome imap_scan(std::uint16_t port, mailcanary::config::TlsMode tls) {
  auto cfg = reader_config(port);
  cfg.tls = tls;
  cfg.tls_verify = false;
  return timed_scan(cfg);  // I/O timeout 10 s; handshakes 20 s, answers 20 s
}

// An IMAP server that offers STARTTLS, answers it, then drips a handshake record.
ScriptedServer imap_dripping_starttls() {
  return imap_server([](Conn& conn, const std::string& line) {
    ImapCommand c = parse_imap(line);
    if (c.verb == "CAPABILITY") {
      return conn.send("* CAPABILITY IMAP4rev1 STARTTLS\r\n" + c.tag + " OK done\r\n")
                 ? Reply::done
                 : Reply::close;
    }
    if (c.verb == "STARTTLS") {
      conn.send(c.tag + " OK Begin TLS negotiation now\r\n");
      if (conn.await_bytes()) {  // the ClientHello
        conn.drip(record_header(22) + std::string(16384, '\x01'), 100ms);
      }
      return Reply::close;
    }
    return Reply::fallback;
  });
}

}  // namespace

TEST_CASE("TLS dripped a byte at a time ends at its limit: handshakes and answers",
          "[hostile][imap][tls][drip]") {
  using mailcanary::config::TlsMode;
  // Declared before the servers, so that a failing check stops the servers (ending the
  // drips, so the scans) before it waits for the scans.
  std::future<ScanOutcome> implicit_handshake;
  std::future<ScanOutcome> implicit_answer;
  std::future<ScanOutcome> after_starttls;
  TlsDripServer handshake(TlsDripServer::Mode::handshake);
  TlsDripServer record(TlsDripServer::Mode::record);
  auto starttls = imap_dripping_starttls();
  const auto scan = [](std::uint16_t port, TlsMode tls) {
    return std::async(std::launch::async, [port, tls] { return imap_scan(port, tls); });
  };
  implicit_handshake = scan(handshake.port(), TlsMode::implicit);
  implicit_answer = scan(record.port(), TlsMode::implicit);
  after_starttls = scan(starttls.port(), TlsMode::starttls);

  const auto check = [](std::future<ScanOutcome>& f, const std::string& expected) {
    REQUIRE(f.wait_for(60s) == std::future_status::ready);  // 30 min without the watchdog
    const ScanOutcome o = f.get();
    INFO(o.error);
    CHECK(o.error.find(expected) != std::string::npos);
    CHECK(o.seconds >= 20);
    CHECK(o.seconds < 30);
  };
  check(implicit_handshake, "TLS handshake failed: not done within 20 s");
  check(implicit_answer, "no IMAP greeting: no complete answer within 20 s");
  check(after_starttls, "TLS handshake after STARTTLS failed: not done within 20 s");
}
