#include "protocols.hpp"

#include <cctype>
#include <memory>
#include <sstream>

namespace hostile {

ImapCommand parse_imap(const std::string& line) {
  std::istringstream in(line);
  ImapCommand c;
  in >> c.tag >> c.verb;
  const auto upper = [](std::string& s) {
    for (auto& ch : s) {
      ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    }
  };
  upper(c.verb);
  if (c.verb == "UID") {
    std::string sub;
    in >> sub;
    upper(sub);
    c.verb += " " + sub;
  }
  std::getline(in, c.args);
  if (!c.args.empty() && c.args.front() == ' ') {
    c.args.erase(0, 1);
  }
  return c;
}

std::vector<std::uint32_t> parse_set(const std::string& args) {
  std::vector<std::uint32_t> out;
  std::string set = args.substr(0, args.find(' '));
  std::istringstream in(set);
  std::string item;
  while (std::getline(in, item, ',') && out.size() < 100000) {
    auto colon = item.find(':');
    auto a = static_cast<std::uint32_t>(std::stoul(item.substr(0, colon)));
    auto b = colon == std::string::npos
                 ? a
                 : static_cast<std::uint32_t>(std::stoul(item.substr(colon + 1)));
    for (std::uint32_t u = std::min(a, b); u <= std::max(a, b) && out.size() < 100000; ++u) {
      out.push_back(u);
    }
  }
  return out;
}

bool imap_fallback(Conn& conn, const std::string& line) {
  ImapCommand c = parse_imap(line);
  const std::string ok = c.tag + " OK done\r\n";
  if (c.verb == "CAPABILITY") {
    return conn.send("* CAPABILITY IMAP4rev1 IDLE UIDPLUS\r\n" + ok);
  }
  if (c.verb == "SELECT" || c.verb == "EXAMINE") {
    return conn.send(
        "* FLAGS (\\Deleted \\Seen)\r\n* 1 EXISTS\r\n* 0 RECENT\r\n"
        "* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 20001] ok\r\n" +
        c.tag + " OK [READ-WRITE] selected\r\n");
  }
  if (c.verb == "UID SEARCH") {
    return conn.send("* SEARCH\r\n" + ok);
  }
  if (c.verb == "LOGOUT") {
    conn.send("* BYE bye\r\n" + ok);
    return false;
  }
  if (c.verb == "LOGIN" || c.verb == "NOOP" || c.verb == "UID FETCH" || c.verb == "UID STORE" ||
      c.verb == "UID EXPUNGE" || c.verb == "EXPUNGE" || c.verb == "CHECK") {
    return conn.send(ok);
  }
  // Each server has a thread of its own: the tag of its IDLE in progress.
  thread_local std::string idle_tag;
  if (c.verb == "IDLE") {
    idle_tag = c.tag;
    return conn.send("+ idling\r\n");
  }
  if (c.tag == "DONE") {
    return conn.send(idle_tag + " OK idle done\r\n");
  }
  return conn.send(c.tag + " BAD unknown command\r\n");
}

ScriptedServer imap_server(ScriptedServer::Handler handler) {
  return ScriptedServer(kImapGreeting, std::move(handler), imap_fallback);
}

std::string fetch_item(std::uint32_t uid, const std::string& section) {
  return "* " + std::to_string(uid) + " FETCH (UID " + std::to_string(uid) +
         " BODY[HEADER.FIELDS (X-MAILCANARY-ID)] {" + std::to_string(section.size()) + "}\r\n" +
         section + ")\r\n";
}

bool pop3_fallback(Conn& conn, const std::string& line) {
  if (line == "CAPA") {
    return conn.send("+OK\r\nUSER\r\nUIDL\r\nTOP\r\n.\r\n");
  }
  if (line == "QUIT") {
    conn.send("+OK bye\r\n");
    return false;
  }
  if (line == "STAT") {
    return conn.send("+OK 0 0\r\n");
  }
  if (line == "LIST" || line == "UIDL") {
    return conn.send("+OK\r\n.\r\n");
  }
  return conn.send("+OK\r\n");  // USER, PASS, NOOP, DELE, RSET
}

ScriptedServer pop3_server(ScriptedServer::Handler handler) {
  return ScriptedServer("+OK hostile POP3 ready", std::move(handler), pop3_fallback);
}

ScriptedServer smtp_server(ScriptedServer::Handler handler, std::string ehlo_extra) {
  // Per connection: inside DATA, every line up to "." is the message.
  struct State {
    int conn = 0;
    bool in_data = false;
  };
  auto state = std::make_shared<State>();
  auto fallback = [state, extra = std::move(ehlo_extra)](Conn& conn, const std::string& line) {
    if (state->conn != conn.number) {
      *state = State{conn.number, false};
    }
    if (state->in_data) {
      if (line == ".") {
        state->in_data = false;
        return conn.send("250 2.0.0 Ok: queued as HOSTILE1\r\n");
      }
      return true;
    }
    std::string verb = line.substr(0, 4);
    for (auto& ch : verb) {
      ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    }
    if (verb == "EHLO") {
      return conn.send("250-hostile.test\r\n" + (extra.empty() ? "" : "250-" + extra + "\r\n") +
                       "250 8BITMIME\r\n");
    }
    if (verb == "HELO") {
      return conn.send("250 hostile.test\r\n");
    }
    if (verb == "DATA") {
      state->in_data = true;
      return conn.send("354 go ahead\r\n");
    }
    if (verb == "QUIT") {
      conn.send("221 2.0.0 bye\r\n");
      return false;
    }
    return conn.send("250 2.0.0 Ok\r\n");  // MAIL, RCPT, RSET, NOOP
  };
  return ScriptedServer("220 hostile.test ESMTP scripted", std::move(handler), fallback);
}

}  // namespace hostile
