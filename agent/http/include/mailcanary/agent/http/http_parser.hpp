// HTTP/1.x request heads and responses as pure functions: no sockets, no clock, no
// allocation beyond the result. parse_request_head() takes whatever bytes have arrived
// and says whether a whole head (request line and headers) is there; it is meant to be
// called by a fuzzer too. Only what the agent's endpoints need is understood: the
// method, the path (query dropped, %XX left for the router), HTTP/1.0 or 1.1,
// Connection, Authorization, Accept-Encoding (gzip or not), and whether a body is
// announced (we accept none).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mailcanary::agent::http {

struct RequestHead {
  std::string method;
  std::string path;  // origin-form path, without the query; "/" at least
  int minor_version = 1;
  bool keep_alive = true;  // HTTP/1.1 unless "Connection: close"; 1.0 only with keep-alive
  std::optional<std::string> authorization;
  bool has_body = false;      // Content-Length other than 0, or any Transfer-Encoding
  bool accepts_gzip = false;  // Accept-Encoding names gzip (or *) with a quality above 0
};

enum class ParseStatus {
  incomplete,  // more bytes may make it a head (and fewer than `max_head` have arrived)
  complete,    // `head` and `consumed` are set
  error,       // `error_code`: 400, 414 (request line), 431 (head too large), 505
};

struct ParseResult {
  ParseStatus status = ParseStatus::incomplete;
  RequestHead head;
  std::size_t consumed = 0;  // bytes of the head, including the blank line
  int error_code = 0;
};

/// Looks for one request head at the start of `buffer`. A head longer than `max_head`
/// bytes (its blank line included) is an error (431, or 414 when the request line alone
/// is that long), so a caller that keeps at most `max_head` bytes never waits forever.
/// Lines end with CRLF or a bare LF.
ParseResult parse_request_head(std::string_view buffer, std::size_t max_head);

/// The reason phrase of a status code ("OK", "Not Found", ...; "Unknown" otherwise).
std::string_view reason_phrase(int code);

struct ResponseHead {
  int code = 200;
  std::string_view content_type;
  std::size_t content_length = 0;
  bool keep_alive = true;
  bool http10 = false;                // answer an HTTP/1.0 client (keep-alive must then be said)
  bool ask_for_credentials = false;   // WWW-Authenticate: Basic realm="mailcanary"
  int retry_after_seconds = 0;        // 0: no Retry-After
  std::string_view content_encoding;  // e.g. "gzip"; empty: none
  bool vary_accept_encoding = false;  // the answer depends on Accept-Encoding
};

/// The status line and headers, ending with the blank line.
std::string format_response_head(const ResponseHead& r);

/// Decodes %XX escapes; false on a malformed escape.
bool url_decode(std::string_view in, std::string& out);

}  // namespace mailcanary::agent::http
