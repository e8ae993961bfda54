// The mailbox readers' own certificate check (libetpan's GnuTLS build checks nothing)
// against certificates made here with OpenSSL, and the guard that bounds what a mailbox
// server may send. No network.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "../../probes/src/mailbox_tls.hpp"
#include "../../probes/src/mailbox_tls_guard.hpp"

namespace {

namespace fs = std::filesystem;
using mailcanary::probes::is_ip_literal;
using mailcanary::probes::ResponseGuard;
using mailcanary::probes::verify_certificate_chain;

constexpr long kDay = 24 * 3600;

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

Key new_key() {
  Key k(EVP_EC_gen("P-256"));
  REQUIRE(k);
  return k;
}

void add_ext(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  REQUIRE(ext);
  REQUIRE(X509_add_ext(cert, ext, -1) == 1);
  X509_EXTENSION_free(ext);
}

struct CertSpec {
  std::string cn;
  std::string san;  // e.g. "DNS:a.test,IP:127.0.0.1"; empty: none
  bool ca = false;
  std::string eku = "serverAuth";
  long not_before = -kDay;  // seconds from now
  long not_after = 30 * kDay;
};

// A certificate for `key`, signed by `issuer`/`issuer_key` (self-signed when null).
Cert make_cert(const CertSpec& spec, EVP_PKEY* key, X509* issuer = nullptr,
               EVP_PKEY* issuer_key = nullptr) {
  static long serial = 1;
  Cert cert(X509_new());
  REQUIRE(cert);
  X509* x = cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial);
  X509_gmtime_adj(X509_getm_notBefore(x), spec.not_before);
  X509_gmtime_adj(X509_getm_notAfter(x), spec.not_after);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
  add_ext(x, &ctx, NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_ext(x, &ctx, NID_key_usage,
          spec.ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  if (!spec.ca && !spec.eku.empty()) {
    add_ext(x, &ctx, NID_ext_key_usage, spec.eku);
  }
  add_ext(x, &ctx, NID_subject_key_identifier, "hash");
  if (issuer) {
    add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
  }
  if (!spec.san.empty()) {
    add_ext(x, &ctx, NID_subject_alt_name, spec.san);
  }
  REQUIRE(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
  return cert;
}

std::string der(X509* cert) {
  int len = i2d_X509(cert, nullptr);
  REQUIRE(len > 0);
  std::string out(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  REQUIRE(i2d_X509(cert, &p) == len);
  return out;
}

std::string pem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_X509(bio, cert) == 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return out;
}

// A CA, written as a PEM file, that signs leaves; removed with its folder.
class TestCa {
 public:
  explicit TestCa(const std::string& cn = "unit test CA") : key_(new_key()) {
    CertSpec spec;
    spec.cn = cn;
    spec.ca = true;
    spec.not_after = 365 * kDay;
    cert_ = make_cert(spec, key_.get());
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("mailcanary-tls-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "ca.pem") << pem(cert_.get());
  }
  ~TestCa() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  std::string file() const { return (dir_ / "ca.pem").string(); }
  X509* cert() const { return cert_.get(); }
  EVP_PKEY* key() const { return key_.get(); }

  // DER of a leaf for `spec` signed by this CA.
  std::string leaf(const CertSpec& spec) const {
    Key k = new_key();
    return der(make_cert(spec, k.get(), cert_.get(), key_.get()).get());
  }

 private:
  Key key_;
  Cert cert_;
  fs::path dir_;
};

CertSpec mailbox_spec() {
  CertSpec s;
  s.cn = "mailbox.example.test";
  s.san = "DNS:mailbox.example.test,IP:127.0.0.1";
  return s;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("a certificate from the configured CA verifies for its name and its IP SAN",
          "[mailbox][tls]") {
  TestCa ca;
  const std::string leaf = ca.leaf(mailbox_spec());
  CHECK(verify_certificate_chain({leaf}, "mailbox.example.test", ca.file()) == "");
  CHECK(verify_certificate_chain({leaf}, "127.0.0.1", ca.file()) == "");
}

TEST_CASE("a certificate for another name is refused, naming what it is for", "[mailbox][tls]") {
  TestCa ca;
  const std::string leaf = ca.leaf(mailbox_spec());
  std::string why = verify_certificate_chain({leaf}, "imap.example.test", ca.file());
  CHECK(contains(why, "hostname mismatch"));
  CHECK(contains(why, "DNS:mailbox.example.test"));
  CHECK(contains(why, "not imap.example.test"));
  // A name in the CN only does not count when the certificate has SANs.
  CertSpec cn_only = mailbox_spec();
  cn_only.cn = "imap.example.test";
  CHECK(contains(verify_certificate_chain({ca.leaf(cn_only)}, "imap.example.test", ca.file()),
                 "hostname mismatch"));
}

TEST_CASE("an IP literal is checked against the IP SANs, not the names", "[mailbox][tls]") {
  TestCa ca;
  const std::string leaf = ca.leaf(mailbox_spec());
  CHECK(contains(verify_certificate_chain({leaf}, "127.0.0.2", ca.file()), "IP address mismatch"));
  CHECK(contains(verify_certificate_chain({leaf}, "::1", ca.file()), "IP address mismatch"));
  CertSpec v6 = mailbox_spec();
  v6.san = "IP:::1";
  CHECK(verify_certificate_chain({ca.leaf(v6)}, "::1", ca.file()) == "");
  // A certificate with names only never matches an address.
  CertSpec names = mailbox_spec();
  names.san = "DNS:127.0.0.1";
  CHECK(contains(verify_certificate_chain({ca.leaf(names)}, "127.0.0.1", ca.file()),
                 "IP address mismatch"));
}

TEST_CASE("wildcards match one label only", "[mailbox][tls]") {
  TestCa ca;
  CertSpec wild = mailbox_spec();
  wild.san = "DNS:*.example.test";
  const std::string leaf = ca.leaf(wild);
  CHECK(verify_certificate_chain({leaf}, "imap.example.test", ca.file()) == "");
  CHECK(contains(verify_certificate_chain({leaf}, "a.imap.example.test", ca.file()),
                 "hostname mismatch"));
}

TEST_CASE("expired and not yet valid certificates are refused", "[mailbox][tls]") {
  TestCa ca;
  CertSpec expired = mailbox_spec();
  expired.not_before = -30 * kDay;
  expired.not_after = -kDay;
  CHECK(contains(verify_certificate_chain({ca.leaf(expired)}, "mailbox.example.test", ca.file()),
                 "certificate has expired"));
  // The same good certificate, checked at other times.
  const std::string leaf = ca.leaf(mailbox_spec());
  const auto now = std::chrono::system_clock::now();
  CHECK(contains(verify_certificate_chain({leaf}, "mailbox.example.test", ca.file(),
                                          now + std::chrono::hours(24 * 60)),
                 "expired"));
  CHECK(contains(verify_certificate_chain({leaf}, "mailbox.example.test", ca.file(),
                                          now - std::chrono::hours(24 * 2)),
                 "not yet valid"));
}

TEST_CASE("a self-signed certificate and one from an unknown CA are refused", "[mailbox][tls]") {
  TestCa ca;
  Key k = new_key();
  Cert self = make_cert(mailbox_spec(), k.get());
  CHECK(contains(verify_certificate_chain({der(self.get())}, "mailbox.example.test", ca.file()),
                 "self-signed certificate"));
  TestCa other("another CA");
  CHECK(contains(
      verify_certificate_chain({other.leaf(mailbox_spec())}, "mailbox.example.test", ca.file()),
      "unable to get local issuer certificate"));
}

TEST_CASE("without ca_file the system store is used, which does not know a private CA",
          "[mailbox][tls]") {
  TestCa ca;
  CHECK(contains(verify_certificate_chain({ca.leaf(mailbox_spec())}, "mailbox.example.test", ""),
                 "unable to get local issuer certificate"));
}

TEST_CASE("intermediates sent by the server complete the chain to the trusted root",
          "[mailbox][tls]") {
  TestCa root;
  Key inter_key = new_key();
  CertSpec inter_spec;
  inter_spec.cn = "intermediate CA";
  inter_spec.ca = true;
  Cert inter = make_cert(inter_spec, inter_key.get(), root.cert(), root.key());
  Key leaf_key = new_key();
  Cert leaf = make_cert(mailbox_spec(), leaf_key.get(), inter.get(), inter_key.get());
  CHECK(verify_certificate_chain({der(leaf.get()), der(inter.get())}, "mailbox.example.test",
                                 root.file()) == "");
  CHECK(contains(verify_certificate_chain({der(leaf.get())}, "mailbox.example.test", root.file()),
                 "unable to get local issuer certificate"));
}

TEST_CASE("a certificate not meant for TLS servers is refused", "[mailbox][tls]") {
  TestCa ca;
  CertSpec client = mailbox_spec();
  client.eku = "clientAuth";
  CHECK(contains(verify_certificate_chain({ca.leaf(client)}, "mailbox.example.test", ca.file()),
                 "unsuitable certificate purpose"));
}

TEST_CASE("no certificate, garbage, or an unreadable ca_file are refused with the reason",
          "[mailbox][tls]") {
  TestCa ca;
  CHECK(verify_certificate_chain({}, "mailbox.example.test", ca.file()) ==
        "the server sent no certificate");
  CHECK(contains(verify_certificate_chain({"not DER"}, "mailbox.example.test", ca.file()),
                 "cannot be parsed"));
  CHECK(contains(verify_certificate_chain({ca.leaf(mailbox_spec())}, "mailbox.example.test",
                                          "/nonexistent/ca.pem"),
                 "cannot load CA certificates from /nonexistent/ca.pem"));
}

TEST_CASE("IP literals are told from host names", "[mailbox][tls]") {
  CHECK(is_ip_literal("127.0.0.1"));
  CHECK(is_ip_literal("::1"));
  CHECK(is_ip_literal("2001:db8::25"));
  CHECK_FALSE(is_ip_literal("mailbox.example.test"));
  CHECK_FALSE(is_ip_literal("127.0.0.256"));
  CHECK_FALSE(is_ip_literal("[::1]"));
  CHECK_FALSE(is_ip_literal(""));
}

// ---- ResponseGuard

namespace {

ResponseGuard::Limits imap_limits() {
  ResponseGuard::Limits l;
  l.max_answer_bytes = 1000;
  l.max_answer_time = std::chrono::seconds(5);
  l.imap = mailcanary::probes::ImapShape::Limits{};
  l.imap->max_literal_bytes = 100;
  return l;
}

const ResponseGuard::TimePoint t0{};

}  // namespace

TEST_CASE("a literal within the limit passes, and its content is not taken for syntax",
          "[mailbox][guard]") {
  ResponseGuard g(imap_limits(), t0);
  // The literal's 20 bytes contain what looks like a huge announcement.
  CHECK(g.received("* 1 FETCH (BODY[] {20}\r\n") == "");
  CHECK(g.received("x{99999999}\r\nabcdefg") == "");
  CHECK(g.received(")\r\na1 OK done\r\n") == "");
}

TEST_CASE("a literal over the limit is refused when announced, before its bytes come",
          "[mailbox][guard]") {
  ResponseGuard g(imap_limits(), t0);
  std::string why = g.received("* 1 FETCH (BODY[] {1000000000}\r\n");
  CHECK(why == "the server announced a 1000000000-byte literal (limit 100)");
  ResponseGuard g2(imap_limits(), t0);
  CHECK(contains(g2.received("* 1 FETCH (BODY[] {99999999999999999999999}\r\n"), "20-digit"));
}

TEST_CASE("an announcement split over many reads is still seen", "[mailbox][guard]") {
  ResponseGuard g(imap_limits(), t0);
  std::string why;
  for (char c : std::string("* 1 FETCH (BODY[] {101}\r\n")) {
    why = g.received(std::string(1, c));
    if (!why.empty()) {
      break;
    }
  }
  CHECK(contains(why, "101-byte literal"));
}

TEST_CASE("the CRLF-less literal libetpan accepts (Lotus Domino) is checked too",
          "[mailbox][guard]") {
  ResponseGuard g(imap_limits(), t0);
  CHECK(contains(g.received("* 1 FETCH (BODY[] {5000}  "), "5000-byte literal"));
  // Braces elsewhere are no announcement.
  ResponseGuard g2(imap_limits(), t0);
  CHECK(g2.received("* OK [ALERT] {5000}x and {12\r\n") == "");
}

TEST_CASE("an answer larger than the limit is refused; a new command starts afresh",
          "[mailbox][guard]") {
  ResponseGuard g(imap_limits(), t0);
  CHECK(g.received(std::string(600, 'a')) == "");
  CHECK(g.received(std::string(400, 'a')) == "");
  CHECK(contains(g.received("b"), "more than 1000 bytes"));
  ResponseGuard g2(imap_limits(), t0);
  CHECK(g2.received(std::string(900, 'a')) == "");
  g2.command_sent(t0);
  CHECK(g2.received(std::string(900, 'a')) == "");
}

TEST_CASE("an answer that takes too long is refused", "[mailbox][guard]") {
  ResponseGuard g(imap_limits(), t0);
  CHECK(g.check_time(t0 + std::chrono::seconds(5)) == "");
  CHECK(g.check_time(t0 + std::chrono::seconds(6)) == "no complete answer within 5 s");
  g.command_sent(t0 + std::chrono::seconds(10));
  CHECK(g.check_time(t0 + std::chrono::seconds(14)) == "");
}

TEST_CASE("without literal tracking (POP3) braces mean nothing", "[mailbox][guard]") {
  ResponseGuard::Limits l = imap_limits();
  l.imap.reset();
  ResponseGuard g(l, t0);
  CHECK(g.received("+OK {1000000000}\r\n") == "");
}

TEST_CASE("POP3 answers are limited in lines too", "[mailbox][guard]") {
  ResponseGuard::Limits l = imap_limits();
  l.imap.reset();
  l.max_lines = 3;
  ResponseGuard g(l, t0);
  CHECK(g.received("+OK\r\n1 a\r\n") == "");
  CHECK(g.received("2 b\r\n3 c") == "");
  CHECK(g.received("\r\n") == "the server sent more than 3 lines in answer to one command");
  g.command_sent(t0);
  CHECK(g.received("+OK\r\n") == "");
}
