// SMTP replies as the session model and the classifier see them. The input is a
// conversation: its first byte picks what the transport reported, then one event per
// line: "C:..." a command the client sent, "!" the TCP connection coming up, "*..." an
// info line, anything else a reply line from the server.
#include <chrono>

#include "fuzz_support.hpp"
#include "mailcanary/probes/classify.hpp"
#include "mailcanary/probes/smtp_session.hpp"

namespace {

using namespace mailcanary::probes;
using mailcanary::fuzz::printable;

constexpr int kTransports = static_cast<int>(Transport::other) + 1;

void check_reply(const SmtpReply& r) {
  FUZZ_CHECK(r.code >= 200 && r.code <= 599);
  FUZZ_CHECK(r.text.size() <= SmtpSession::kMaxReplyTextBytes + 3);  // "..." when cut
  FUZZ_CHECK(printable(r.text));
  if (!r.enhanced_code.empty()) {
    FUZZ_CHECK(r.enhanced_code[0] == '0' + r.code / 100);
    FUZZ_CHECK(parse_enhanced_code(r.enhanced_code, r.code) == r.enhanced_code);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = mailcanary::fuzz::as_text(data, size);
  if (text.empty()) {
    return 0;
  }
  const auto transport = static_cast<Transport>(static_cast<unsigned char>(text[0]) % kTransports);
  text.remove_prefix(1);

  auto t = SmtpSession::Clock::time_point{};
  SmtpSession session(t);
  for (auto line : mailcanary::fuzz::lines_of(text, 2000)) {
    t += std::chrono::milliseconds(1);
    if (auto parsed = parse_reply_line(line)) {
      FUZZ_CHECK(parsed->code >= 200 && parsed->code <= 599);
      FUZZ_CHECK(parsed->text.size() < line.size());
    }
    if (line.substr(0, 2) == "C:") {
      session.on_command(line.substr(2), t);
    } else if (line == "!") {
      session.on_connected(t);
    } else if (line.substr(0, 1) == "*") {
      session.on_info(line.substr(1));
    } else {
      session.on_reply_line(line, t);
    }
  }
  session.on_finished(t);

  FUZZ_CHECK(session.transcript().size() <= SmtpSession::kMaxTranscriptLines);
  for (const auto& l : session.transcript()) {
    FUZZ_CHECK(printable(l));
    FUZZ_CHECK(l.size() <= SmtpSession::kMaxLineBytes + 16);
  }
  FUZZ_CHECK(printable(session.garbage_sample()));
  for (const auto& st : session.stage_times()) {
    FUZZ_CHECK(st.seconds >= 0);
  }
  for (const auto* r : {&session.failure_reply(), &session.last_reply(), &session.body_reply()}) {
    if (*r) {
      check_reply(**r);
    }
  }
  if (session.failure_reply()) {
    FUZZ_CHECK(session.failure_reply()->code >= 400);
  }

  const SmtpVerdict v = classify_smtp(transport, session, "transport detail");
  FUZZ_CHECK(!to_string(v.cls).empty());
  FUZZ_CHECK(!to_string(v.stage).empty());
  FUZZ_CHECK(v.smtp_code == 0 || (v.smtp_code >= 200 && v.smtp_code <= 599));
  FUZZ_CHECK(printable(v.detail));
  if (v.accepted) {
    FUZZ_CHECK(v.stage == Stage::done);
  } else {
    FUZZ_CHECK(v.cls != ResultClass::ok && is_target_failure(v.cls));
    FUZZ_CHECK(v.stage != Stage::done && v.stage != Stage::mailbox);
  }
  if (v.cls == ResultClass::temp_fail) {
    FUZZ_CHECK(v.smtp_code >= 400 && v.smtp_code < 500);
  }
  if (v.cls == ResultClass::perm_fail) {
    FUZZ_CHECK(v.smtp_code >= 500);
    FUZZ_CHECK(!is_retryable(v.cls));
  }
  if (v.cls == ResultClass::unreachable) {
    FUZZ_CHECK(v.stage == Stage::connect);
  }
  return 0;
}
