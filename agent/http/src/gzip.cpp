#include "mailcanary/agent/http/gzip.hpp"

#include <zlib.h>

#include <climits>

namespace mailcanary::agent::http {

std::optional<std::string> gzip(std::string_view data) {
  if (data.size() > UINT_MAX / 2) {
    return std::nullopt;  // zlib's counters are 32-bit: sent as it is
  }
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return std::nullopt;
  }
  std::string out;
  // deflateBound() is enough for one deflate(Z_FINISH) call to end the stream.
  out.resize(deflateBound(&z, static_cast<uLong>(data.size())));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const bool ok = deflate(&z, Z_FINISH) == Z_STREAM_END;
  out.resize(z.total_out);
  deflateEnd(&z);
  if (!ok) {
    return std::nullopt;
  }
  return out;
}

}  // namespace mailcanary::agent::http
