// Mailbox readers in a process of their own.
//
// The readers parse what a mailbox server sends with libetpan and OpenSSL, in C. A
// fault there (a stack overflow in libetpan's recursive parser was one, see
// imap_shape.hpp) kills the process it happens in: in a thread of the agent, every
// member's monitoring with it. An isolated reader does the protocol work in a child
// process (`mailcanary mailbox-reader`, spawned from the agent's own binary) and talks
// to it over a socketpair; a child that dies or stops answering is a mailbox_error of
// that mailbox (naming the signal), and the next call starts a new child.
//
// A child whose memory grew by more than a bound since its first call is retired after
// the call (it logs out and ends; the next call starts a fresh one, not counted as a
// reconnect): libetpan leaks on some malformed answers (fuzzing found a section spec and
// a response code's atom, up to a line each), and a process of its own bounds that.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "mailcanary/probes/mailbox.hpp"

namespace mailcanary::probes {

/// How much a reader process's resident memory may grow after its first call before it
/// is retired. Sanitizer builds count shadow and quarantine memory in it: larger there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr std::size_t kReaderRetireGrowth = std::size_t{512} << 20;
#else
inline constexpr std::size_t kReaderRetireGrowth = std::size_t{32} << 20;
#endif

/// A reader for `cfg` whose work runs in `binary mailbox-reader` (normally
/// "/proc/self/exe": the running binary, even after a package upgrade replaced it).
/// The config and key go to the child over the socket, never on its command line.
/// `retire_growth`: see kReaderRetireGrowth; 0 retires the child after every call (tests).
std::unique_ptr<MailboxReader> make_isolated_mailbox_reader(
    const config::MailboxConfig& cfg, const std::string& hmac_key, const std::string& binary,
    std::size_t retire_growth = kReaderRetireGrowth);

/// The child's side: reads the config from `fd`, then serves one reader's calls until
/// the parent closes the socket. Returns the process's exit code.
int serve_mailbox_reader(int fd);

}  // namespace mailcanary::probes
