// The child side of an isolated reader (isolated_reader.hpp): `mailcanary
// mailbox-reader`, with the socket to the agent on fd 3.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "mailcanary/probes/isolated_reader.hpp"
#include "reader_wire.hpp"

namespace mailcanary::probes {
namespace {

nlohmann::json answer(MailboxReader& reader, Clock& clock, const nlohmann::json& request) {
  const std::string op = request.at("op").get<std::string>();
  nlohmann::json reply = nlohmann::json::object();
  if (op == "scan") {
    reply["found"] = nlohmann::json::array();
    for (auto& f : reader.scan(request.at("wanted").get<std::set<std::string>>())) {
      nlohmann::json entry = {{"id", f.id}, {"folder", f.folder}, {"headers", f.headers}};
      if (f.delivered_at) {
        entry["delivered_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    f.delivered_at->time_since_epoch())
                                    .count();
      }
      reply["found"].push_back(std::move(entry));
    }
  } else if (op == "scan_bounces") {
    reply["found"] = nlohmann::json::array();
    for (auto& f : reader.scan_bounces(request.at("wanted").get<std::set<std::string>>())) {
      reply["found"].push_back({{"id", f.id}, {"summary", f.summary}});
    }
  } else if (op == "prepare") {
    reader.prepare();
  } else if (op == "flush") {
    reader.flush();
  } else if (op == "wait") {
    reply["pushed"] =
        reader.wait(clock, std::chrono::milliseconds(request.at("ms").get<long long>()));
  } else {
    reply["error"] = "mailbox reader process: unknown request " + op;
  }
  return reply;
}

// This process's resident memory in bytes (0 when /proc cannot tell).
std::size_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) {
    return 0;
  }
  unsigned long size = 0;
  unsigned long resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace

int serve_mailbox_reader(int fd) {
  ::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<MailboxReader> reader;
  std::size_t retire_growth = kReaderRetireGrowth;
  try {
    const auto init =
        wire::receive(fd, std::chrono::steady_clock::now() + std::chrono::seconds(10));
    reader = make_mailbox_reader(wire::mailbox_from_json(init.at("config")),
                                 init.at("key").get<std::string>());
    retire_growth = init.value("retire_growth", retire_growth);
  } catch (...) {
    return 2;  // not started by an agent
  }
  SystemClock clock;
  std::size_t baseline = 0;
  std::chrono::steady_clock::time_point measured_at{};
  // A wake message (no answer) ends a wait in progress: the reader's wait also watches
  // the socket. One that came before the wait request means: do not wait.
  reader->also_wake_on(fd);
  bool woken = false;
  for (;;) {
    nlohmann::json request;
    try {
      request = wire::receive(fd, std::nullopt);
    } catch (...) {
      return 0;  // the agent closed the socket (or is gone): log out and end
    }
    const std::string op = request.value("op", "");
    if (op == "wake") {
      woken = true;
      continue;
    }
    nlohmann::json reply;
    try {
      if (request.contains("token")) {
        reader->set_login_token(
            {request.at("token").get<std::string>(), request.value("token_error", std::string())});
      }
      if (op == "wait" && woken) {
        reply = nlohmann::json::object();
      } else {
        reply = answer(*reader, clock, request);
      }
      if (op == "wait") {
        // A wake that ended this wait is read now, so it does not end the next one.
        woken = false;
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN)) {
          try {
            const auto next =
                wire::receive(fd, std::chrono::steady_clock::now() + std::chrono::seconds(10));
            if (next.value("op", "") != "wake") {
              return 2;  // the agent never sends a request before our answer
            }
          } catch (...) {
            return 0;  // the agent closed the socket
          }
        }
      }
    } catch (const MailboxError& e) {
      reply = {
          {"error", e.what()}, {"permanent", e.permanent()}, {"token_refused", e.token_refused()}};
    } catch (const std::exception& e) {
      reply = {{"error", std::string("mailbox reader process: ") + e.what()}, {"permanent", false}};
    }
    reply["foreign"] = reader->foreign_seen();
    reply["reconnects"] = reader->reconnects();
    reply["commands"] = reader->commands();
    reply["leftovers"] = reader->leftovers_removed();
    // Measured after the first call (the session and TLS set up): growth beyond is what
    // libetpan's leaks on malformed answers would add up to. Read after every failed call
    // (where such answers end) and otherwise once a second, not for every look.
    const auto t = std::chrono::steady_clock::now();
    bool retire = retire_growth == 0;
    if (baseline == 0 || reply.contains("error") || t - measured_at >= std::chrono::seconds(1)) {
      measured_at = t;
      const std::size_t rss = resident_bytes();
      if (baseline == 0) {
        baseline = rss;
      }
      retire = retire || rss > baseline + retire_growth;
    }
    if (retire) {
      reply["retire"] = true;
    }
    try {
      wire::send(fd, reply, std::chrono::steady_clock::now() + std::chrono::seconds(30));
    } catch (...) {
      return 0;
    }
    if (retire) {
      return 0;  // the reader logs out as it is destroyed
    }
  }
}

}  // namespace mailcanary::probes
