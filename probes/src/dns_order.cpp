// MX ordering rules (RFC 5321 5.1) and null MX detection (RFC 7505): pure.
#include <algorithm>
#include <cstddef>
#include <utility>

#include "mailcanary/probes/dns.hpp"

namespace mailcanary::probes {

bool is_null_mx(const std::vector<MxRecord>& records) {
  return records.size() == 1 && records[0].preference == 0 &&
         (records[0].exchange.empty() || records[0].exchange == ".");
}

std::vector<MxRecord> order_mx(std::vector<MxRecord> records, Random& random) {
  std::stable_sort(records.begin(), records.end(), [](const MxRecord& a, const MxRecord& b) {
    return a.preference < b.preference;
  });
  // Fisher-Yates within each run of equal preference.
  for (std::size_t begin = 0; begin < records.size();) {
    std::size_t end = begin + 1;
    while (end < records.size() && records[end].preference == records[begin].preference) {
      ++end;
    }
    for (std::size_t n = end - begin; n > 1; --n) {
      // u is in [0, 1); clamp anyway so a bad source cannot index out of the run.
      const double u = std::clamp(random.uniform01(), 0.0, 1.0);
      const auto j = std::min(static_cast<std::size_t>(u * static_cast<double>(n)), n - 1);
      std::swap(records[begin + n - 1], records[begin + j]);
    }
    begin = end;
  }
  return records;
}

}  // namespace mailcanary::probes
