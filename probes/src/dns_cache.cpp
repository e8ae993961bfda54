// The DNS answer cache and the TTLs it keeps answers for, read from the wire format
// (RFC 1035 4.1) with bounds checks on every field: a malformed packet yields no TTL
// and is simply not cached.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>

#include "mailcanary/probes/dns.hpp"

namespace mailcanary::probes {
namespace {

constexpr std::uint16_t kTypeSoa = 6;

class WireReader {
 public:
  explicit WireReader(const std::vector<unsigned char>& p) : p_(p) {}

  bool u16(std::uint16_t& v) {
    if (pos_ + 2 > p_.size()) {
      return false;
    }
    v = static_cast<std::uint16_t>((p_[pos_] << 8) | p_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(std::uint32_t& v) {
    std::uint16_t hi = 0;
    std::uint16_t lo = 0;
    if (!u16(hi) || !u16(lo)) {
      return false;
    }
    v = (std::uint32_t{hi} << 16) | lo;
    return true;
  }
  /// Skips a possibly compressed name: labels up to a zero byte or a pointer.
  bool skip_name() {
    for (int labels = 0; labels < 128; ++labels) {
      if (pos_ >= p_.size()) {
        return false;
      }
      const unsigned len = p_[pos_];
      if ((len & 0xC0) == 0xC0) {
        pos_ += 2;
        return pos_ <= p_.size();
      }
      if ((len & 0xC0) != 0) {
        return false;  // reserved label types
      }
      pos_ += 1 + len;
      if (len == 0) {
        return pos_ <= p_.size();
      }
    }
    return false;
  }
  bool skip(std::size_t n) {
    if (pos_ + n > p_.size()) {
      return false;
    }
    pos_ += n;
    return true;
  }
  std::size_t pos() const { return pos_; }

 private:
  const std::vector<unsigned char>& p_;
  std::size_t pos_ = 0;
};

struct Rr {
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::size_t rdata = 0;  // offset
  std::uint16_t rdlength = 0;
};

std::uint32_t effective_ttl(std::uint32_t ttl) {
  return (ttl & 0x80000000U) != 0 ? 0 : ttl;
}

struct Sections {
  std::vector<Rr> answer;
  std::vector<Rr> authority;
};

std::optional<Sections> read_sections(const std::vector<unsigned char>& packet) {
  WireReader r(packet);
  std::uint16_t id = 0, flags = 0, qd = 0, an = 0, ns = 0, ar = 0;
  if (!r.u16(id) || !r.u16(flags) || !r.u16(qd) || !r.u16(an) || !r.u16(ns) || !r.u16(ar)) {
    return std::nullopt;
  }
  for (int i = 0; i < qd; ++i) {
    if (!r.skip_name() || !r.skip(4)) {
      return std::nullopt;
    }
  }
  Sections s;
  for (int i = 0; i < an + ns; ++i) {
    Rr rr;
    std::uint16_t cls = 0;
    if (!r.skip_name() || !r.u16(rr.type) || !r.u16(cls) || !r.u32(rr.ttl) || !r.u16(rr.rdlength)) {
      return std::nullopt;
    }
    rr.rdata = r.pos();
    if (!r.skip(rr.rdlength)) {
      return std::nullopt;
    }
    (i < an ? s.answer : s.authority).push_back(rr);
  }
  return s;
}

std::chrono::seconds positive_ttl(const std::vector<unsigned char>& packet) {
  const auto s = read_sections(packet);
  if (!s || s->answer.empty()) {
    return std::chrono::seconds(0);
  }
  std::uint32_t ttl = std::numeric_limits<std::uint32_t>::max();
  for (const Rr& rr : s->answer) {
    ttl = std::min(ttl, effective_ttl(rr.ttl));
  }
  return std::min(std::chrono::seconds(ttl), DnsCache::kMaxTtl);
}

std::chrono::seconds negative_ttl(const std::vector<unsigned char>& packet) {
  const auto s = read_sections(packet);
  if (!s) {
    return std::chrono::seconds(0);
  }
  for (const Rr& rr : s->authority) {
    // SOA RDATA ends with MINIMUM, after two names and four 32-bit fields.
    if (rr.type != kTypeSoa || rr.rdlength < 2 + 20) {
      continue;
    }
    const std::size_t at = rr.rdata + rr.rdlength - 4;
    const std::uint32_t minimum = (std::uint32_t{packet[at]} << 24) |
                                  (std::uint32_t{packet[at + 1]} << 16) |
                                  (std::uint32_t{packet[at + 2]} << 8) | packet[at + 3];
    const std::uint32_t ttl = std::min(effective_ttl(rr.ttl), effective_ttl(minimum));
    return std::min(std::chrono::seconds(ttl), DnsCache::kMaxNegativeTtl);
  }
  return DnsCache::kMaxNegativeTtl;
}

}  // namespace

std::chrono::seconds cache_ttl(const DnsReply& reply) {
  switch (reply.status) {
    case DnsReply::Status::answer:
      return positive_ttl(reply.packet);
    case DnsReply::Status::nodata:
    case DnsReply::Status::nxdomain:
      return negative_ttl(reply.packet);
    case DnsReply::Status::failed:
      break;
  }
  return std::chrono::seconds(0);
}

std::optional<DnsReply> DnsCache::get(const DnsQuestion& q,
                                      std::chrono::steady_clock::time_point now) {
  const auto it = entries_.find({q.name, q.type});
  if (it == entries_.end()) {
    return std::nullopt;
  }
  if (it->second.expires <= now) {
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.reply;
}

void DnsCache::put(const DnsQuestion& q, const DnsReply& reply,
                   std::chrono::steady_clock::time_point now) {
  const auto ttl = cache_ttl(reply);
  if (ttl <= std::chrono::seconds(0) || capacity_ == 0) {
    return;
  }
  auto key = std::make_pair(q.name, q.type);
  if (entries_.find(key) == entries_.end()) {
    make_room(now);
  }
  entries_[std::move(key)] = Entry{reply, now + ttl};
}

void DnsCache::make_room(std::chrono::steady_clock::time_point now) {
  if (entries_.size() < capacity_) {
    return;
  }
  std::erase_if(entries_, [now](const auto& kv) { return kv.second.expires <= now; });
  if (entries_.size() < capacity_) {
    return;
  }
  const auto soonest = std::min_element(
      entries_.begin(), entries_.end(),
      [](const auto& a, const auto& b) { return a.second.expires < b.second.expires; });
  entries_.erase(soonest);
}

}  // namespace mailcanary::probes
