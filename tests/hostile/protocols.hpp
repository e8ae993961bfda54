// The ordinary side of each scripted server: what a plain, well-behaved SMTP, IMAP or
// POP3 server answers, so each hostile case only writes the misbehaviour it is about.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scripted_server.hpp"

namespace hostile {

// "A0003 UID FETCH 1,2 (...)" -> tag "A0003", verb "UID FETCH", the arguments after it.
struct ImapCommand {
  std::string tag;
  std::string verb;  // upper case, "UID FETCH" style for UID commands
  std::string args;
};
ImapCommand parse_imap(const std::string& line);

/// The UIDs of a sequence set "5,3:4" (at most 100,000).
std::vector<std::uint32_t> parse_set(const std::string& args);

/// An ordinary IMAP server's answers: capabilities (no STARTTLS), login, one folder,
/// nothing found.
bool imap_fallback(Conn& conn, const std::string& line);
inline constexpr const char* kImapGreeting =
    "* OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS] hostile test server ready";
ScriptedServer imap_server(ScriptedServer::Handler handler);

/// One FETCH response item for `uid` whose header fields section is `section`.
std::string fetch_item(std::uint32_t uid, const std::string& section);

/// An ordinary POP3 server with an empty mailbox (USER/PASS, CAPA, STAT, LIST, UIDL).
bool pop3_fallback(Conn& conn, const std::string& line);
ScriptedServer pop3_server(ScriptedServer::Handler handler);

/// An ordinary SMTP server that accepts every message ("250 2.0.0 Ok: queued as
/// HOSTILE1"), with the message body's lines after DATA passed on to the handler too.
/// `ehlo_extra`: more EHLO keywords (e.g. "STARTTLS").
ScriptedServer smtp_server(ScriptedServer::Handler handler, std::string ehlo_extra = "");

}  // namespace hostile
