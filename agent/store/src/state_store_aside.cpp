// move_state_aside: an unusable database is kept for inspection, never deleted.
#include <ctime>
#include <system_error>

#include "mailcanary/agent/store/state_store.hpp"

namespace mailcanary::agent {

namespace {

std::string utc_stamp(SysTime t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

void rename_or_throw(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::error_code ec;
  std::filesystem::rename(from, to, ec);
  if (ec) {
    throw StateError("cannot move " + from.string() + " aside to " + to.string() + ": " +
                     ec.message());
  }
}

}  // namespace

std::filesystem::path move_state_aside(const std::filesystem::path& db, SysTime now) {
  const std::string base = db.string() + ".corrupt-" + utc_stamp(now);
  std::filesystem::path target = base;
  for (int n = 1;
       std::filesystem::exists(target) || std::filesystem::exists(target.string() + "-wal"); ++n) {
    target = base + "-" + std::to_string(n);
  }
  // The WAL holds committed transactions of `db`: it moves with it, under the name SQLite
  // looks for, so the moved copy opens with its full content.
  for (const char* suffix : {"-wal", "-shm"}) {
    const std::filesystem::path companion = db.string() + suffix;
    if (std::filesystem::exists(std::filesystem::symlink_status(companion))) {
      rename_or_throw(companion, target.string() + suffix);
    }
  }
  if (std::filesystem::exists(std::filesystem::symlink_status(db))) {
    rename_or_throw(db, target);
  }
  return target;
}

}  // namespace mailcanary::agent
