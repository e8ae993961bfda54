// with_oauth2_login(): a mailbox reader that logs in with the current OAuth2 token and
// tries a new one once when the server refuses it.
#include "mailcanary/probes/oauth2.hpp"

namespace mailcanary::probes {
namespace {

class OAuth2LoginReader final : public MailboxReader {
 public:
  OAuth2LoginReader(std::unique_ptr<MailboxReader> inner, std::shared_ptr<TokenSource> tokens)
      : inner_(std::move(inner)), tokens_(std::move(tokens)) {}

  std::vector<FoundCanary> scan(const std::set<std::string>& wanted) override {
    return logged_in([&] { return inner_->scan(wanted); });
  }
  std::vector<FoundBounce> scan_bounces(const std::set<std::string>& wanted) override {
    return logged_in([&] { return inner_->scan_bounces(wanted); });
  }
  void prepare() override {
    logged_in([&] {
      inner_->prepare();
      return 0;
    });
  }
  void flush() override {
    logged_in([&] {
      inner_->flush();
      return 0;
    });
  }
  bool wait(Clock& clock, std::chrono::milliseconds max) override {
    return inner_->wait(clock, max);  // waits on a session already logged in, or sleeps
  }
  void interrupt() override { inner_->interrupt(); }
  void stop() override { inner_->stop(); }
  void also_wake_on(int fd) override { inner_->also_wake_on(fd); }
  void set_login_token(const LoginToken& /*token*/) override {}  // ours come from tokens_
  std::size_t foreign_seen() const override { return inner_->foreign_seen(); }
  std::uint64_t reconnects() const override { return inner_->reconnects(); }
  std::uint64_t commands() const override { return inner_->commands(); }
  std::uint64_t leftovers_removed() const override { return inner_->leftovers_removed(); }

 private:
  // Hands the inner reader the source's token (or the endpoint's error); returns it.
  std::string hand_token() {
    LoginToken t;
    try {
      t.value = tokens_->token();
    } catch (const TokenError& e) {
      t.error = e.what();
    }
    inner_->set_login_token(t);
    return t.value;
  }

  template <typename Call>
  auto logged_in(Call&& call) -> decltype(call()) {
    const std::string used = hand_token();
    try {
      return call();
    } catch (const MailboxError& e) {
      if (!e.token_refused() || used.empty()) {
        throw;
      }
      tokens_->rejected(used);
      if (hand_token() == used) {
        throw;  // the endpoint gave the same token again: it would be refused again
      }
    }
    return call();  // once, with a new token (or the endpoint's error)
  }

  std::unique_ptr<MailboxReader> inner_;
  std::shared_ptr<TokenSource> tokens_;
};

}  // namespace

std::unique_ptr<MailboxReader> with_oauth2_login(std::unique_ptr<MailboxReader> inner,
                                                 std::shared_ptr<TokenSource> tokens) {
  return std::make_unique<OAuth2LoginReader>(std::move(inner), std::move(tokens));
}

}  // namespace mailcanary::probes
