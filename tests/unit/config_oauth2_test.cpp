// [[oauth2]] and the login method keys (auth, oauth2) of [[mailbox]], [smtp] and
// [[target]]: values, defaults, inheritance, and one bad config per rule with its exact
// FILE:LINE:COL message.
#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "config_messages.hpp"
#include "mailcanary/config/config.hpp"
#include "temp_dir.hpp"

namespace {

using namespace mailcanary::config;

const std::string kSecret = "client-secret-Zq8~vT3.w0rd";

// A folder with the secret files the configs name.
class Files {
 public:
  Files() {
    write("hmac.key", "00112233445566778899aabbccddeeff\n");
    write("canary.pass", "canary-test-password\n");
    write("idp.secret", kSecret + "\n");
  }
  std::string dir() const { return dir_.path().string(); }
  std::string file() const { return dir() + "/c.toml"; }
  void write(const std::string& name, const std::string& content) const {
    std::ofstream(dir_.path() / name, std::ios::binary) << content;
  }
  /// `text` first (so its line numbers are the file's), then [agent] and [smtp] from.
  LoadResult load(const std::string& text) const {
    return load_config_string(
        text + "\n[agent]\nhmac_key_file = \"hmac.key\"\n" +
            (text.find("[smtp]") == std::string::npos ? "[smtp]\nfrom = \"canary@example.test\"\n"
                                                      : ""),
        file());
  }

 private:
  mailcanary::testing::TempDir dir_;
};

using mailcanary::testing::messages;

const std::string kIdp =
    "[[oauth2]]\nname = \"idp\"\ntoken_url = \"https://login.example.test/t/oauth2/v2.0/token\"\n"
    "client_id = \"client-1\"\nclient_secret_file = \"idp.secret\"\n";

// An IMAP mailbox without password_file; `extra` adds or overrides keys.
std::string mailbox(const std::string& extra) {
  return "[[mailbox]]\nname = \"inbox\"\nserver = \"127.0.0.1:1143\"\nuser = \"canary\"\n" + extra;
}

const std::string kTarget =
    "[[target]]\nname = \"t1\"\ndomain = \"example.test\"\nrcpt = \"canary@example.test\"\n"
    "mailbox = \"inbox\"\n";

}  // namespace

TEST_CASE("a full OAuth2 config loads: [[oauth2]] values, mailbox and SMTP logins",
          "[config][oauth2]") {
  Files files;
  const auto r = files.load(
      kIdp +
      "refresh_token_file = \"idp.refresh\"\nscope = \"https://outlook.office365.com/.default\"\n"
      "[[oauth2]]\nname = \"other\"\ntoken_url = \"http://127.0.0.1:8080/token\"\n"
      "client_id = \"c2\"\nclient_secret_file = \"" +
      files.dir() + "/idp.secret\"\n" + mailbox("auth = \"xoauth2\"\noauth2 = \"idp\"\n") +
      "[[mailbox]]\nname = \"pop\"\nprotocol = \"pop3\"\nserver = \"127.0.0.1:1110\"\n"
      "user = \"canary\"\nauth = \"oauthbearer\"\noauth2 = \"other\"\n"
      "[smtp]\nfrom = \"canary@example.test\"\nuser = \"canary@example.test\"\n"
      "auth = \"xoauth2\"\noauth2 = \"idp\"\n" +
      kTarget + "[[target]]\nname = \"t2\"\ndomain = \"example.test\"\n" +
      "rcpt = \"canary@example.test\"\nmailbox = \"pop\"\nauth = \"password\"\n" +
      "password_file = \"canary.pass\"\n");
  INFO(Catch::Detail::stringify(messages(r)));
  REQUIRE(r.ok());
  const Config& c = *r.config;
  REQUIRE(c.oauth2.size() == 2);
  const OAuth2Config* idp = c.find_oauth2("idp");
  REQUIRE(idp == &c.oauth2[0]);
  CHECK(idp->token_url == "https://login.example.test/t/oauth2/v2.0/token");
  CHECK(idp->client_id == "client-1");
  CHECK(idp->client_secret_file == files.dir() + "/idp.secret");
  CHECK(idp->client_secret == kSecret);
  CHECK(idp->refresh_token_file == files.dir() + "/idp.refresh");
  CHECK(idp->scope == "https://outlook.office365.com/.default");
  CHECK(c.oauth2[1].refresh_token_file.empty());
  CHECK(c.oauth2[1].scope.empty());
  CHECK(c.oauth2[1].client_secret == kSecret);
  CHECK(c.find_oauth2("nope") == nullptr);

  const MailboxConfig& imap = c.mailboxes[0];
  CHECK(imap.auth == AuthMethod::xoauth2);
  CHECK(imap.oauth2 == "idp");
  CHECK(imap.user == "canary");
  CHECK(imap.password_file.empty());
  CHECK(imap.password.empty());
  CHECK(c.mailboxes[1].auth == AuthMethod::oauthbearer);
  CHECK(c.mailboxes[1].oauth2 == "other");

  CHECK(c.smtp.auth == AuthMethod::xoauth2);
  CHECK(c.smtp.oauth2 == "idp");
  CHECK(c.targets[0].smtp.auth == AuthMethod::xoauth2);
  CHECK(c.targets[0].smtp.oauth2 == "idp");
  CHECK(c.targets[0].smtp.user == "canary@example.test");
  // t2 chooses the password: the [smtp] oauth2 is not inherited.
  CHECK(c.targets[1].smtp.auth == AuthMethod::password);
  CHECK(c.targets[1].smtp.oauth2.empty());
  CHECK(c.targets[1].smtp.user == "canary@example.test");
  CHECK(c.targets[1].smtp.password == "canary-test-password");
}

TEST_CASE("without auth keys every login uses its password", "[config][oauth2]") {
  Files files;
  const auto r = files.load(mailbox("password_file = \"canary.pass\"\n") + kTarget);
  INFO(Catch::Detail::stringify(messages(r)));
  REQUIRE(r.ok());
  CHECK(r.config->oauth2.empty());
  CHECK(r.config->mailboxes[0].auth == AuthMethod::password);
  CHECK(r.config->mailboxes[0].oauth2.empty());
  CHECK(r.config->mailboxes[0].password == "canary-test-password");
  CHECK(r.config->smtp.auth == AuthMethod::password);
  CHECK(r.config->targets[0].smtp.auth == AuthMethod::password);
}

TEST_CASE("[smtp] auth = oauthbearer with user and oauth2 is valid; a target may override it",
          "[config][oauth2]") {
  Files files;
  const std::string smtp =
      "[smtp]\nfrom = \"canary@example.test\"\nuser = \"submit\"\nauth = \"oauthbearer\"\n"
      "oauth2 = \"idp\"\n";
  const std::string mx =
      "[[target]]\nname = \"mx\"\ndomain = \"example.test\"\n"
      "rcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n";
  const auto r = files.load(
      smtp + kIdp + mailbox("password_file = \"canary.pass\"\n") + kTarget +
      "auth = \"xoauth2\"\n" + mx + "user = \"\"\n" +
      "[[oauth2]]\nname = \"idp2\"\ntoken_url = \"https://idp2.example.test/token\"\n"
      "client_id = \"c\"\nclient_secret_file = \"idp.secret\"\n" +
      "[[target]]\nname = \"t3\"\ndomain = \"example.test\"\nrcpt = \"canary@example.test\"\n"
      "mailbox = \"inbox\"\noauth2 = \"idp2\"\n");
  INFO(Catch::Detail::stringify(messages(r)));
  REQUIRE(r.ok());
  const Config& c = *r.config;
  CHECK(c.smtp.auth == AuthMethod::oauthbearer);
  CHECK(c.smtp.user == "submit");
  CHECK(c.smtp.password_file.empty());
  CHECK(c.targets[0].smtp.auth == AuthMethod::xoauth2);
  CHECK(c.targets[0].smtp.oauth2 == "idp");
  CHECK(c.targets[1].smtp.user.empty());  // no AUTH
  CHECK(c.targets[2].smtp.auth == AuthMethod::oauthbearer);
  CHECK(c.targets[2].smtp.oauth2 == "idp2");
}

TEST_CASE("a target choosing OAuth2 does not inherit the [smtp] password", "[config][oauth2]") {
  Files files;
  const auto r = files.load(
      "[smtp]\nfrom = \"canary@example.test\"\nuser = \"submit\"\n"
      "password_file = \"canary.pass\"\n" +
      kIdp + mailbox("password_file = \"canary.pass\"\n") + kTarget +
      "auth = \"xoauth2\"\noauth2 = \"idp\"\n");
  INFO(Catch::Detail::stringify(messages(r)));
  REQUIRE(r.ok());
  const SmtpConfig& smtp = r.config->targets[0].smtp;
  CHECK(smtp.auth == AuthMethod::xoauth2);
  CHECK(smtp.user == "submit");
  CHECK(smtp.password_file.empty());
  CHECK(smtp.password.empty());
  CHECK(r.config->smtp.password == "canary-test-password");
}

namespace {

struct BadCase {
  std::string rule;
  std::string toml;
  std::string error;  // "LINE:COL: message"; {dir} stands for the temp folder
};

const std::string kSecretLine = "client_secret_file = \"idp.secret\"\n";
const std::string kUrlLine = "token_url = \"https://idp.example.test/token\"\n";

const std::vector<BadCase>& bad_cases() {
  static const std::vector<BadCase> cases = {
      {"missing name", "[[oauth2]]\n" + kUrlLine + "client_id = \"c\"\n" + kSecretLine,
       "1:1: oauth2[0]: missing required key 'name'"},
      {"missing token_url", "[[oauth2]]\nname = \"idp\"\nclient_id = \"c\"\n" + kSecretLine,
       "1:1: oauth2[0]: missing required key 'token_url'"},
      {"missing client_id", "[[oauth2]]\nname = \"idp\"\n" + kUrlLine + kSecretLine,
       "1:1: oauth2[0]: missing required key 'client_id'"},
      {"missing client_secret_file",
       "[[oauth2]]\nname = \"idp\"\n" + kUrlLine + "client_id = \"c\"\n",
       "1:1: oauth2[0]: missing required key 'client_secret_file'"},
      {"token_url with another scheme",
       "[[oauth2]]\nname = \"idp\"\ntoken_url = \"ftp://x\"\nclient_id = \"c\"\n" + kSecretLine,
       "3:13: oauth2[0].token_url: expected an http:// or https:// URL, got \"ftp://x\""},
      {"token_url not a URL",
       "[[oauth2]]\nname = \"idp\"\ntoken_url = \"not a url\"\nclient_id = \"c\"\n" + kSecretLine,
       "3:13: oauth2[0].token_url: expected an http:// or https:// URL, got \"not a url\""},
      {"duplicate name", kIdp + kIdp,
       "7:8: oauth2[1].name: duplicate oauth2 name \"idp\" (first defined at line 2)"},
      {"empty name", "[[oauth2]]\nname = \"\"\n" + kUrlLine + "client_id = \"c\"\n" + kSecretLine,
       "2:8: oauth2[0].name: must not be empty"},
      {"empty client_id",
       "[[oauth2]]\nname = \"idp\"\n" + kUrlLine + "client_id = \"\"\n" + kSecretLine,
       "4:13: oauth2[0].client_id: must not be empty"},
      {"empty scope", kIdp + "scope = \"\"\n",
       "6:9: oauth2[0].scope: must not be empty (leave it out to send none)"},
      {"unreadable client_secret_file",
       "[[oauth2]]\nname = \"idp\"\n" + kUrlLine + "client_id = \"c\"\n" +
           "client_secret_file = \"missing.secret\"\n",
       "5:22: oauth2[0].client_secret_file: cannot read \"{dir}/missing.secret\": No such file "
       "or directory"},
      {"empty client secret",
       "[[oauth2]]\nname = \"idp\"\n" + kUrlLine + "client_id = \"c\"\n" +
           "client_secret_file = \"empty.secret\"\n",
       "5:22: oauth2[0].client_secret_file: \"{dir}/empty.secret\" is empty"},
      {"empty refresh_token_file", kIdp + "refresh_token_file = \"\"\n",
       "6:22: oauth2[0].refresh_token_file: must not be empty"},
      {"refresh_token_file in a missing directory",
       kIdp + "refresh_token_file = \"no/such/dir/idp.refresh\"\n",
       "6:22: oauth2[0].refresh_token_file: \"{dir}/no/such/dir/idp.refresh\" cannot be "
       "written: directory \"{dir}/no/such/dir\" does not exist"},
      {"refresh_token_file under a file",
       kIdp + "refresh_token_file = \"idp.secret/idp.refresh\"\n",
       "6:22: oauth2[0].refresh_token_file: \"{dir}/idp.secret/idp.refresh\" cannot be "
       "written: directory \"{dir}/idp.secret\" is not a directory"},
      {"refresh_token_file naming a directory", kIdp + "refresh_token_file = \".\"\n",
       "6:22: oauth2[0].refresh_token_file: \"{dir}/\" is a directory, expected a file"},
      {"an inline client_secret", kIdp + "client_secret = \"x\"\n",
       "6:1: unknown key 'client_secret' in oauth2[0]"},
      {"mailbox auth = xoauth2 without oauth2", mailbox("auth = \"xoauth2\"\n") + kIdp,
       "1:1: mailbox[0]: missing required key 'oauth2' (auth = \"xoauth2\")"},
      {"mailbox oauth2 naming no [[oauth2]]",
       mailbox("auth = \"oauthbearer\"\noauth2 = \"ipd\"\n") + kIdp,
       "6:10: mailbox[0].oauth2: no [[oauth2]] named \"ipd\" (did you mean 'idp'?)"},
      {"mailbox oauth2 with auth = password",
       mailbox("password_file = \"canary.pass\"\noauth2 = \"idp\"\n") + kIdp,
       "6:10: mailbox[0].oauth2: only used with auth = \"xoauth2\" or \"oauthbearer\""},
      {"mailbox oauth2 with auth = \"password\" written",
       mailbox("auth = \"password\"\npassword_file = \"canary.pass\"\noauth2 = \"idp\"\n") + kIdp,
       "7:10: mailbox[0].oauth2: only used with auth = \"xoauth2\" or \"oauthbearer\""},
      {"mailbox password_file with auth = xoauth2",
       mailbox("auth = \"xoauth2\"\noauth2 = \"idp\"\npassword_file = \"canary.pass\"\n") + kIdp,
       "7:17: mailbox[0].password_file: not used with auth = \"xoauth2\""},
      {"mailbox auth = password without password_file", mailbox("auth = \"password\"\n"),
       "1:1: mailbox[0]: missing required key 'password_file'"},
      {"mailbox unknown auth", mailbox("auth = \"plain\"\n"),
       "5:8: mailbox[0].auth: expected \"password\", \"xoauth2\" or \"oauthbearer\", got "
       "\"plain\""},
      {"mailbox empty oauth2", mailbox("auth = \"xoauth2\"\noauth2 = \"\"\n"),
       "6:10: mailbox[0].oauth2: must not be empty"},
      {"mailbox auth = xoauth2 without user",
       "[[mailbox]]\nname = \"inbox\"\nserver = \"127.0.0.1\"\nauth = \"xoauth2\"\n"
       "oauth2 = \"idp\"\n" +
           kIdp,
       "1:1: mailbox[0]: missing required key 'user'"},
      {"[smtp] auth = xoauth2 without user",
       "[smtp]\nfrom = \"canary@example.test\"\nauth = \"xoauth2\"\noauth2 = \"idp\"\n" + kIdp,
       "1:1: smtp: missing required key 'user' (auth = \"xoauth2\")"},
      {"[smtp] auth = oauthbearer without oauth2",
       "[smtp]\nfrom = \"canary@example.test\"\nuser = \"u\"\nauth = \"oauthbearer\"\n",
       "1:1: smtp: missing required key 'oauth2' (auth = \"oauthbearer\")"},
      {"[smtp] oauth2 naming no [[oauth2]]",
       "[smtp]\nfrom = \"canary@example.test\"\nuser = \"u\"\nauth = \"xoauth2\"\n"
       "oauth2 = \"nope\"\n",
       "5:10: smtp.oauth2: no [[oauth2]] named \"nope\""},
      {"[smtp] unknown auth",
       "[smtp]\nfrom = \"canary@example.test\"\nuser = \"u\"\nauth = \"login\"\n",
       "4:8: smtp.auth: expected \"password\", \"xoauth2\" or \"oauthbearer\", got \"login\""},
      {"target oauth2 with the [smtp] password auth",
       kIdp + mailbox("password_file = \"canary.pass\"\n") + kTarget + "oauth2 = \"idp\"\n",
       "16:10: target[0].oauth2: only used with auth = \"xoauth2\" or \"oauthbearer\""},
      {"target password_file with the [smtp] oauthbearer auth",
       "[smtp]\nfrom = \"canary@example.test\"\nuser = \"u\"\nauth = \"oauthbearer\"\n"
       "oauth2 = \"idp\"\n" +
           kIdp + mailbox("password_file = \"canary.pass\"\n") + kTarget +
           "password_file = \"canary.pass\"\n",
       "21:17: target[0].password_file: not used with auth = \"oauthbearer\""},
      {"target auth = password over [smtp] OAuth2 without password_file",
       "[smtp]\nfrom = \"canary@example.test\"\nuser = \"u\"\nauth = \"xoauth2\"\n"
       "oauth2 = \"idp\"\n" +
           kIdp + mailbox("password_file = \"canary.pass\"\n") + kTarget + "auth = \"password\"\n",
       "16:1: target[0]: missing required key 'password_file' (user is set)"},
      {"target oauth2 naming no [[oauth2]]",
       "[smtp]\nfrom = \"canary@example.test\"\nuser = \"u\"\nauth = \"xoauth2\"\n"
       "oauth2 = \"idp\"\n" +
           kIdp + mailbox("password_file = \"canary.pass\"\n") + kTarget + "oauth2 = \"idp3\"\n",
       "21:10: target[0].oauth2: no [[oauth2]] named \"idp3\" (did you mean 'idp'?)"},
  };
  return cases;
}

std::string with_dir(std::string text, const std::string& dir) {
  for (std::size_t pos = text.find("{dir}"); pos != std::string::npos;
       pos = text.find("{dir}", pos + dir.size())) {
    text.replace(pos, 5, dir);
  }
  return text;
}

}  // namespace

TEST_CASE("each bad OAuth2 setting is one error at its FILE:LINE:COL", "[config][oauth2]") {
  const BadCase& bad = GENERATE(from_range(bad_cases()));
  Files files;
  files.write("empty.secret", "\n");
  INFO("rule: " << bad.rule);
  const LoadResult result = files.load(bad.toml);
  CHECK_FALSE(result.ok());
  CHECK(messages(result) ==
        std::vector<std::string>{files.file() + ":" + with_dir(bad.error, files.dir())});
}

TEST_CASE("errors never contain the client secret", "[config][oauth2]") {
  Files files;
  files.write("big.secret", std::string(100 * 1024, 'x') + kSecret);
  files.write("blank.secret", "\r\n\n");
  // The secret is read where it can be, and every key around it is wrong.
  const auto r = files.load(
      "[[oauth2]]\nname = \"idp\"\ntoken_url = \"token\"\nclient_id = \"\"\n"
      "client_secret_file = \"idp.secret\"\nscope = 5\n"
      "[[oauth2]]\nname = \"idp\"\ntoken_url = \"https://x.test/\"\nclient_id = \"c\"\n"
      "client_secret_file = \"big.secret\"\nclient_secret = \"" +
      kSecret + "\"\n" +
      "[[oauth2]]\nname = \"idp3\"\ntoken_url = \"https://x.test/\"\nclient_id = \"c\"\n"
      "client_secret_file = \"blank.secret\"\nrefresh_token_file = \"idp.secret/x\"\n" +
      mailbox("auth = \"xoauth2\"\noauth2 = \"idq\"\npassword_file = \"idp.secret\"\n"));
  REQUIRE(r.errors.size() == 10);
  CHECK(r.errors[4].message == "oauth2[1].client_secret_file: \"" + files.dir() +
                                   "/big.secret\" is too large for a secret (over 64 KiB)");
  for (const auto& message : messages(r)) {
    CAPTURE(message);
    CHECK(message.find(kSecret) == std::string::npos);
    CHECK(message.find("Zq8") == std::string::npos);
  }
}
