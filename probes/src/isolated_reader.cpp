#include "mailcanary/probes/isolated_reader.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "reader_wire.hpp"
#include "readers.hpp"
#include "wakeable.hpp"

extern char** environ;

namespace mailcanary::probes {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// The child bounds every exchange with the server itself (mailbox_tls_stream.hpp); these
// are the parent's backstops against a child that hangs.
constexpr milliseconds kStartTimeout{10000};
constexpr milliseconds kCallTimeout{300000};  // a scan: many commands, each bounded
constexpr milliseconds kWaitSlack{60000};     // wait(max): max plus leaving IDLE

std::string exit_text(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = strsignal(sig);
    return "died of signal " + std::to_string(sig) + " (" + (name ? name : "?") + ")";
  }
  if (WIFEXITED(status)) {
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  return "ended";
}

class IsolatedReader final : public WakeableReader {
 public:
  IsolatedReader(config::MailboxConfig cfg, std::string key, std::string binary,
                 std::size_t retire_growth)
      : cfg_(std::move(cfg)),
        key_(std::move(key)),
        binary_(std::move(binary)),
        retire_growth_(retire_growth) {
    label_ = std::string(cfg_.protocol == config::MailboxProtocol::pop3 ? "pop3" : "imap") + " " +
             cfg_.server.to_string();
  }
  ~IsolatedReader() override { stop_child(); }
  IsolatedReader(const IsolatedReader&) = delete;
  IsolatedReader& operator=(const IsolatedReader&) = delete;

  std::vector<FoundCanary> scan(const std::set<std::string>& wanted) override {
    auto reply = call({{"op", "scan"}, {"wanted", wanted}}, kCallTimeout);
    std::vector<FoundCanary> found;
    for (const auto& f : reply.at("found")) {
      FoundCanary c{f.at("id").get<std::string>(), f.at("folder").get<std::string>(),
                    f.at("headers").get<std::string>(), std::nullopt};
      if (f.contains("delivered_ms")) {
        c.delivered_at = std::chrono::system_clock::time_point(
            std::chrono::milliseconds(f.at("delivered_ms").get<std::int64_t>()));
      }
      found.push_back(std::move(c));
    }
    return found;
  }

  std::vector<FoundBounce> scan_bounces(const std::set<std::string>& wanted) override {
    auto reply = call({{"op", "scan_bounces"}, {"wanted", wanted}}, kCallTimeout);
    std::vector<FoundBounce> found;
    for (const auto& f : reply.at("found")) {
      found.push_back({f.at("id").get<std::string>(), f.at("summary").get<std::string>()});
    }
    return found;
  }

  void prepare() override { call({{"op", "prepare"}}, kCallTimeout); }

  // Goes to the child with every call: it logs in with it when it has to.
  void set_login_token(const LoginToken& token) override { token_ = token; }

  bool wait(Clock& /*clock*/, milliseconds max) override {
    // Only an IDLE needs the child (the session is there); the IMAP reader sleeps through
    // waits under 50 ms, POP3 through all: here, without a round trip.
    if (fd_ < 0 || !cfg_.idle || cfg_.protocol == config::MailboxProtocol::pop3 ||
        max < kShortestIdle) {
      wait_for(-1, max);
      return false;
    }
    try {
      return call({{"op", "wait"}, {"ms", max.count()}}, max + kWaitSlack).value("pushed", false);
    } catch (const MailboxError&) {
      return false;  // reported by the next scan, which starts a new child
    }
  }

  // From another thread: ends a wait here (a sleep) or in the child (a wake message,
  // which the child reads at once, or takes as "do not wait" if it comes before the wait
  // request). Both, since which wait comes next is not known: the other one may end one
  // later wait early, which costs one look.
  void interrupt() override {
    WakeableReader::interrupt();
    std::lock_guard lock(send_mutex_);
    if (fd_ >= 0) {
      try {
        wire::send(fd_, {{"op", "wake"}}, steady_clock::now() + milliseconds(100));
      } catch (const wire::Broken&) {
        // The child is gone: the watcher's next call finds out.
      }
    }
  }

  void stop() override {
    std::lock_guard lock(send_mutex_);
    if (fd_ >= 0) {
      ::shutdown(fd_, SHUT_RDWR);  // the call waiting on it sees the end at once
    }
  }

  void flush() override {
    if (fd_ >= 0) {
      call({{"op", "flush"}}, kCallTimeout);
    }
  }

  std::size_t foreign_seen() const override { return foreign_base_ + foreign_; }
  std::uint64_t reconnects() const override { return reconnects_base_ + reconnects_; }
  std::uint64_t commands() const override { return commands_base_ + commands_; }
  std::uint64_t leftovers_removed() const override { return leftovers_base_ + leftovers_; }

 private:
  void start_child() {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      throw MailboxError(
          label_ + ": cannot start the mailbox reader process: socketpair: " + std::strerror(errno),
          false);
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, sv[1], 3);   // dup2 clears close-on-exec
    posix_spawn_file_actions_addclosefrom_np(&actions, 4);  // no socket of the agent's
    char arg0[] = "mailcanary";
    char arg1[] = "mailbox-reader";
    char* argv[] = {arg0, arg1, nullptr};
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, binary_.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(sv[1]);
    if (rc != 0) {
      ::close(sv[0]);
      throw MailboxError(label_ + ": cannot start the mailbox reader process " + binary_ + ": " +
                             std::strerror(rc),
                         false);
    }
    pid_ = pid;
    set_fd(sv[0]);
    foreign_base_ += foreign_;
    // A child that died is a reconnect; one retired for its memory is not.
    reconnects_base_ += reconnects_ + (started_before_ && !retired_ ? 1 : 0);
    retired_ = false;
    foreign_ = 0;
    reconnects_ = 0;
    commands_base_ += commands_;
    commands_ = 0;
    leftovers_base_ += leftovers_;
    leftovers_ = 0;
    started_before_ = true;
    try {
      wire::send(fd_,
                 {{"config", wire::to_json(cfg_)},
                  {"key", key_},
                  {"retire_growth", static_cast<std::uint64_t>(retire_growth_)}},
                 steady_clock::now() + kStartTimeout);
    } catch (const wire::Broken& b) {
      child_failed(b, "starting");
    }
  }

  // Closes the socket (the child logs out and ends), then reaps it; a child that does
  // not end within 2 s is killed.
  void stop_child() {
    if (fd_ >= 0) {
      const int fd = fd_;
      set_fd(-1);
      ::close(fd);
    }
    if (pid_ > 0) {
      reap(std::chrono::seconds(2));
    }
  }

  // Reaps the child, killing it once `grace` has passed; its exit status.
  int reap(milliseconds grace) {
    int status = 0;
    const auto until = steady_clock::now() + grace;
    for (int i = 0; i < 1000; ++i) {
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) {
        pid_ = -1;
        return status;
      }
      if (steady_clock::now() >= until) {
        break;
      }
      // Between polls the child gets the CPU to finish its LOGOUT.
      struct timespec ts {
        0, 10'000'000
      };
      nanosleep(&ts, nullptr);
    }
    ::kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

  // fd_ changes only on the watcher's thread, under send_mutex_ for interrupt().
  void set_fd(int fd) {
    std::lock_guard lock(send_mutex_);
    fd_ = fd;
  }

  [[noreturn]] void child_failed(const wire::Broken& b, const std::string& doing) {
    std::string what;
    if (b.why == wire::Broken::Why::timed_out) {
      ::kill(pid_, SIGKILL);
      what = "gave no answer in time while " + doing + "; killed";
    }
    const int fd = fd_;
    set_fd(-1);
    ::close(fd);
    const int status = reap(milliseconds(2000));
    if (what.empty()) {
      what = exit_text(status) + " while " + doing;
    }
    throw MailboxError(
        label_ + ": the mailbox reader process " + what + " (a new one starts at the next scan)",
        false);
  }

  nlohmann::json call(nlohmann::json request, milliseconds timeout) {
    if (fd_ < 0) {
      start_child();
    }
    if (cfg_.auth != config::AuthMethod::password && request.at("op") != "wake") {
      request["token"] = token_.value;
      request["token_error"] = token_.error;
    }
    const std::string op = request.at("op").get<std::string>();
    nlohmann::json reply;
    try {
      const auto deadline = steady_clock::now() + timeout;
      {
        std::lock_guard lock(send_mutex_);  // interrupt() sends too
        wire::send(fd_, request, deadline);
      }
      reply = wire::receive(fd_, deadline);
    } catch (const wire::Broken& b) {
      child_failed(b, op);
    } catch (const nlohmann::json::exception&) {
      child_failed(wire::Broken{wire::Broken::Why::closed}, op);
    }
    foreign_ = reply.value("foreign", std::size_t{0});
    reconnects_ = reply.value("reconnects", std::uint64_t{0});
    commands_ = reply.value("commands", std::uint64_t{0});
    leftovers_ = reply.value("leftovers", std::uint64_t{0});
    if (reply.value("retire", false)) {
      stop_child();  // it is logging out; the next call starts a fresh one
      retired_ = true;
    }
    if (reply.contains("error")) {
      throw MailboxError(reply.at("error").get<std::string>(), reply.value("permanent", false),
                         reply.value("token_refused", false));
    }
    return reply;
  }

  config::MailboxConfig cfg_;
  std::string key_;
  std::string binary_;
  std::size_t retire_growth_;
  std::string label_;
  LoginToken token_;
  std::mutex send_mutex_;
  int fd_ = -1;
  pid_t pid_ = -1;
  bool started_before_ = false;
  bool retired_ = false;     // the last child was retired, not lost
  std::size_t foreign_ = 0;  // as the current child counts
  std::size_t foreign_base_ = 0;
  std::uint64_t reconnects_ = 0;
  std::uint64_t reconnects_base_ = 0;
  std::uint64_t commands_ = 0;  // as the current child counts
  std::uint64_t commands_base_ = 0;
  std::uint64_t leftovers_ = 0;  // as the current child counts
  std::uint64_t leftovers_base_ = 0;
};

}  // namespace

std::unique_ptr<MailboxReader> make_isolated_mailbox_reader(const config::MailboxConfig& cfg,
                                                            const std::string& hmac_key,
                                                            const std::string& binary,
                                                            std::size_t retire_growth) {
  return std::make_unique<IsolatedReader>(cfg, hmac_key, binary, retire_growth);
}

}  // namespace mailcanary::probes
