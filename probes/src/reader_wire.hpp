// Private: the messages between an isolated reader and its child process: a 4-byte
// big-endian length, then that many bytes of MessagePack; at most 64 MiB.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/mailbox.hpp"

namespace mailcanary::probes::wire {

using Deadline = std::optional<std::chrono::steady_clock::time_point>;

/// Why a message could not be exchanged: the peer is gone (closed), or the deadline
/// passed.
struct Broken {
  enum class Why { closed, timed_out, too_large } why;
};

/// Sends one message. Throws Broken.
void send(int fd, const nlohmann::json& message, Deadline deadline);
/// Receives one message. Throws Broken (or nlohmann::json::exception on a bad message).
nlohmann::json receive(int fd, Deadline deadline);

nlohmann::json to_json(const config::MailboxConfig& cfg);
config::MailboxConfig mailbox_from_json(const nlohmann::json& j);

}  // namespace mailcanary::probes::wire
