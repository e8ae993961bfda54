#include "mailbox_tls.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>

namespace mailcanary::probes {
namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct StoreFree {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
struct StackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr parse_der(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

// "DNS:a.example, IP:127.0.0.1" from the subjectAltName of `cert` (bounded), or the
// subject's CN when it has none.
std::string names_of(X509* cert) {
  std::string out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names) {
    const int n = sk_GENERAL_NAME_num(names);
    for (int i = 0; i < n && i < 8; ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
      std::string one;
      if (g->type == GEN_DNS) {
        const ASN1_STRING* s = g->d.dNSName;
        one = "DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                   static_cast<std::size_t>(ASN1_STRING_length(s)));
      } else if (g->type == GEN_IPADD) {
        const ASN1_OCTET_STRING* s = g->d.iPAddress;
        char text[INET6_ADDRSTRLEN] = {0};
        const int len = ASN1_STRING_length(s);
        if ((len == 4 || len == 16) &&
            inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), text, sizeof text)) {
          one = std::string("IP:") + text;
        }
      }
      if (!one.empty()) {
        out += (out.empty() ? "" : ", ") + one;
      }
    }
    GENERAL_NAMES_free(names);
  }
  if (out.empty()) {
    char cn[256] = {0};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0) {
      out = std::string("CN=") + cn;
    }
  }
  if (out.size() > 300) {
    out.resize(300);
  }
  return out.empty() ? "no names" : out;
}

}  // namespace

bool is_ip_literal(std::string_view host) {
  std::string h(host);
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

std::string verify_certificate_chain(const std::vector<std::string>& der_chain,
                                     const std::string& host, const std::string& ca_file,
                                     std::optional<std::chrono::system_clock::time_point> at) {
  if (der_chain.empty()) {
    return "the server sent no certificate";
  }
  X509Ptr leaf = parse_der(der_chain.front());
  if (!leaf) {
    return "the server's certificate cannot be parsed";
  }
  std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
  for (std::size_t i = 1; i < der_chain.size() && i < 16; ++i) {
    if (X509Ptr c = parse_der(der_chain[i])) {
      if (sk_X509_push(untrusted.get(), c.get()) > 0) {
        c.release();  // owned by the stack now
      }
    }
  }
  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  if (!store) {
    return "out of memory";
  }
  if (ca_file.empty()) {
    X509_STORE_set_default_paths(store.get());
  } else if (X509_STORE_load_file(store.get(), ca_file.c_str()) != 1) {
    ERR_clear_error();
    return "cannot load CA certificates from " + ca_file;
  }
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), untrusted.get()) != 1) {
    ERR_clear_error();
    return "out of memory";
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  if (X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER) != 1) {
    ERR_clear_error();
    return "cannot set the certificate purpose";
  }
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  const bool ip = is_ip_literal(host);
  const int set = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                     : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  if (set != 1) {
    ERR_clear_error();
    return "cannot check the certificate against \"" + host + "\"";
  }
  if (at) {
    X509_VERIFY_PARAM_set_time(param, std::chrono::system_clock::to_time_t(*at));
  }
  if (X509_verify_cert(ctx.get()) == 1) {
    return "";
  }
  const int err = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  std::string reason = X509_verify_cert_error_string(err);
  if (err == X509_V_ERR_HOSTNAME_MISMATCH || err == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    reason += " (the certificate is for " + names_of(leaf.get()) + ", not " + host + ")";
  } else if (X509* current = X509_STORE_CTX_get_current_cert(ctx.get())) {
    reason += " (" + names_of(current) + ")";
  }
  return reason;
}

}  // namespace mailcanary::probes
