// The keys choosing how a login proves itself, shared by [[mailbox]], [smtp] and
// [[target]]: auth, oauth2, and what they imply for password_file.
#include <array>

#include "sections.hpp"
#include "text.hpp"

namespace mailcanary::config::detail {
namespace {

constexpr std::array<Choice<AuthMethod>, 3> kAuthMethods{{
    {"password", AuthMethod::password},
    {"xoauth2", AuthMethod::xoauth2},
    {"oauthbearer", AuthMethod::oauthbearer},
}};

std::string with_auth(AuthMethod auth) {
  return "auth = " + in_quotes(auth_name(auth));
}

}  // namespace

std::string_view auth_name(AuthMethod auth) {
  for (const auto& choice : kAuthMethods) {
    if (choice.value == auth) {
      return choice.name;
    }
  }
  return "password";
}

bool read_auth(TableReader& r, AuthMethod& out) {
  r.read("auth", out,
         {{kAuthMethods[0].name, kAuthMethods[0].value},
          {kAuthMethods[1].name, kAuthMethods[1].value},
          {kAuthMethods[2].name, kAuthMethods[2].value}});
  return auth_readable(r);
}

bool auth_readable(TableReader& r) {
  const toml::node* node = r.node("auth");
  if (!node) {
    return true;
  }
  const auto* text = node->as_string();
  if (!text) {
    return false;
  }
  for (const auto& choice : kAuthMethods) {
    if (choice.name == text->get()) {
      return true;
    }
  }
  return false;
}

void check_login_method(TableReader& r, AuthMethod auth, const std::string& oauth2,
                        const LoadContext& ctx) {
  if (!r.has("auth") && !r.has("oauth2") && !r.has("password_file")) {
    return;  // all inherited from [smtp], and checked there
  }
  if (auth == AuthMethod::password) {
    if (r.has("oauth2")) {
      r.error("oauth2", "only used with auth = \"xoauth2\" or \"oauthbearer\"");
    }
    return;
  }
  if (r.has("password_file")) {
    r.error("password_file", "not used with " + with_auth(auth));
  }
  if (!r.has("oauth2")) {
    if (oauth2.empty()) {
      r.error_here("missing required key 'oauth2' (" + with_auth(auth) + ")");
    }
    return;
  }
  if (oauth2.empty()) {
    r.error("oauth2", "must not be empty");
    return;
  }
  ctx.sources.oauth2_refs.push_back({oauth2, r.where("oauth2"), r.key_path("oauth2")});
}

}  // namespace mailcanary::config::detail
