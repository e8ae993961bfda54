#include "reader_wire.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>

namespace mailcanary::probes::wire {
namespace {

constexpr std::uint32_t kMaxMessage = 64u << 20;

// Waits until `fd` is ready for `events`, or throws at the deadline.
void await(int fd, short events, Deadline deadline) {
  for (;;) {
    int wait_ms = -1;
    if (deadline) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now())
              .count();
      if (left <= 0) {
        throw Broken{Broken::Why::timed_out};
      }
      wait_ms = static_cast<int>(std::min<long long>(left, 60000));
    }
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, wait_ms);
    if (n > 0) {
      return;
    }
    if (n < 0 && errno != EINTR) {
      throw Broken{Broken::Why::closed};
    }
  }
}

// Both try the socket first and wait only when it is not ready: a message costs one
// send (and a reply that is already there one recv), not a poll before each.
void write_all(int fd, const char* data, std::size_t size, Deadline deadline) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      await(fd, POLLOUT, deadline);
      continue;
    }
    if (n <= 0) {
      throw Broken{Broken::Why::closed};
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void read_all(int fd, char* data, std::size_t size, Deadline deadline) {
  while (size > 0) {
    const ssize_t n = ::recv(fd, data, size, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      await(fd, POLLIN, deadline);
      continue;
    }
    if (n <= 0) {
      throw Broken{Broken::Why::closed};
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

}  // namespace

void send(int fd, const nlohmann::json& message, Deadline deadline) {
  // MessagePack: strings travel as their exact bytes (a header need not be UTF-8).
  const std::vector<std::uint8_t> text = nlohmann::json::to_msgpack(message);
  if (text.size() > kMaxMessage) {
    throw Broken{Broken::Why::too_large};
  }
  const auto n = static_cast<std::uint32_t>(text.size());
  std::vector<char> frame{static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                          static_cast<char>(n >> 8), static_cast<char>(n)};
  frame.insert(frame.end(), text.begin(), text.end());
  write_all(fd, frame.data(), frame.size(), deadline);
}

nlohmann::json receive(int fd, Deadline deadline) {
  unsigned char header[4];
  read_all(fd, reinterpret_cast<char*>(header), sizeof header, deadline);
  const std::uint32_t n = (std::uint32_t{header[0]} << 24) | (std::uint32_t{header[1]} << 16) |
                          (std::uint32_t{header[2]} << 8) | std::uint32_t{header[3]};
  if (n > kMaxMessage) {
    throw Broken{Broken::Why::too_large};
  }
  std::vector<std::uint8_t> text(n);
  read_all(fd, reinterpret_cast<char*>(text.data()), n, deadline);
  return nlohmann::json::from_msgpack(text);
}

nlohmann::json to_json(const config::MailboxConfig& c) {
  return {{"name", c.name},
          {"protocol", static_cast<int>(c.protocol)},
          {"host", c.server.host},
          {"port", c.server.port},
          {"tls", static_cast<int>(c.tls)},
          {"ca_file", c.ca_file},
          {"tls_verify", c.tls_verify},
          {"user", c.user},
          {"password_file", c.password_file},
          {"password", c.password},
          {"auth", static_cast<int>(c.auth)},
          {"oauth2", c.oauth2},
          {"folder", c.folder},
          {"idle", c.idle},
          {"poll_interval_ms", c.poll_interval.count()},
          {"junk_folders", c.junk_folders},
          {"delete_found", c.delete_found},
          {"leftover_after_ms", c.leftover_after.count()}};
}

config::MailboxConfig mailbox_from_json(const nlohmann::json& j) {
  config::MailboxConfig c;
  c.name = j.at("name").get<std::string>();
  c.protocol = static_cast<config::MailboxProtocol>(j.at("protocol").get<int>());
  c.server.host = j.at("host").get<std::string>();
  c.server.port = j.at("port").get<std::uint16_t>();
  c.tls = static_cast<config::TlsMode>(j.at("tls").get<int>());
  c.ca_file = j.at("ca_file").get<std::string>();
  c.tls_verify = j.at("tls_verify").get<bool>();
  c.user = j.at("user").get<std::string>();
  c.password_file = j.at("password_file").get<std::string>();
  c.password = j.at("password").get<std::string>();
  c.auth = static_cast<config::AuthMethod>(j.at("auth").get<int>());
  c.oauth2 = j.at("oauth2").get<std::string>();
  c.folder = j.at("folder").get<std::string>();
  c.idle = j.at("idle").get<bool>();
  c.poll_interval = std::chrono::milliseconds(j.at("poll_interval_ms").get<long long>());
  c.junk_folders = j.at("junk_folders").get<std::vector<std::string>>();
  c.delete_found = j.at("delete_found").get<bool>();
  c.leftover_after = std::chrono::milliseconds(j.value("leftover_after_ms", 0LL));
  return c;
}

}  // namespace mailcanary::probes::wire
