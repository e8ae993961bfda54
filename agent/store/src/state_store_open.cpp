// StateStore: opening the SQLite database (checks, schema, migrations, moving aside).
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "sqlite_db.hpp"

namespace mailcanary::agent {

namespace {

// Schema version 1. Times are integer milliseconds since the epoch (UTC).
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE in_flight (
  id TEXT PRIMARY KEY, target TEXT NOT NULL, member TEXT NOT NULL, mailbox TEXT NOT NULL,
  sent_at_ms INTEGER NOT NULL, accepted_at_ms INTEGER NOT NULL, deadline_ms INTEGER NOT NULL,
  smtp_code INTEGER NOT NULL, queue_id TEXT NOT NULL, smtp_detail TEXT NOT NULL,
  smtp_seconds REAL NOT NULL, attempts INTEGER NOT NULL);
CREATE TABLE member_state (
  target TEXT NOT NULL, member TEXT NOT NULL, state TEXT NOT NULL,
  PRIMARY KEY (target, member)) WITHOUT ROWID;
CREATE TABLE results (
  seq INTEGER PRIMARY KEY, target TEXT NOT NULL, member TEXT NOT NULL,
  at_ms INTEGER NOT NULL, canary_id TEXT, result TEXT NOT NULL);
CREATE INDEX results_by_member ON results (target, member, seq);
CREATE UNIQUE INDEX results_by_canary ON results (canary_id) WHERE canary_id IS NOT NULL;
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, kind TEXT NOT NULL,
  payload TEXT NOT NULL, attempts INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL,
  created_ms INTEGER NOT NULL);
CREATE INDEX outbox_due ON outbox (next_attempt_ms, id);
)sql";

// The migration hook: entry `to` upgrades a database at version to-1 to version `to`.
// Append one entry per schema change (and raise kSchemaVersion); never edit a shipped one.
struct Migration {
  int to;
  const char* sql;
};
constexpr std::array<Migration, 0> kMigrations{};

std::string errno_text() {
  return std::strerror(errno);
}

/// Checks the file and brings its schema to kSchemaVersion. Reads before it writes, so a
/// damaged file is refused unchanged.
void prepare_database(StateStore::Impl& impl) {
  sqlite3_busy_timeout(impl.db, 5000);
  {
    Stmt check(impl, "PRAGMA quick_check", "integrity check (PRAGMA quick_check)");
    std::string problems;
    for (int n = 0; check.step() && n < 3; ++n) {
      const std::string row = check.text(0);
      if (row == "ok") {
        break;
      }
      problems += (problems.empty() ? "" : "; ") + row;
    }
    if (!problems.empty()) {
      throw BadDatabase("fails the integrity check (PRAGMA quick_check): " + problems);
    }
  }
  int tables = 0;
  {
    Stmt count(impl, "SELECT count(*) FROM sqlite_schema", "read schema");
    count.step();
    tables = count.integer(0);
  }
  int version = 0;
  if (tables > 0) {
    Stmt meta(impl, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'meta'",
              "read schema");
    meta.step();
    if (meta.integer(0) == 0) {
      throw BadDatabase("is not a mailcanary state database (it has no meta table)");
    }
    Stmt v(impl, "SELECT value FROM meta WHERE key = 'schema_version'", "read schema version");
    const std::string text = v.step() ? v.text(0) : "";
    try {
      std::size_t used = 0;
      version = std::stoi(text, &used);
      if (used != text.size()) {
        version = 0;
      }
    } catch (const std::exception&) {
      version = 0;
    }
    if (version > StateStore::kSchemaVersion) {
      throw BadDatabase("has schema version " + text + ", newer than this mailcanary knows (" +
                        std::to_string(StateStore::kSchemaVersion) +
                        "): it was written by a newer release");
    }
    if (version < 1) {
      throw BadDatabase("has an invalid schema version '" + text + "'");
    }
  }

  // Persistent in the file: once set, every later connection uses the WAL.
  {
    Stmt wal(impl, "PRAGMA journal_mode=WAL", "enable WAL");
    if (!wal.step() || wal.text(0) != "wal") {
      throw StateError("state store: cannot enable WAL journal mode on " + impl.path.string());
    }
  }
  impl.exec("PRAGMA synchronous=NORMAL", "set synchronous=NORMAL");

  if (tables == 0) {
    WriteTx tx(impl, "create schema");
    impl.exec(kSchemaV1, "create schema");
    Stmt(impl, "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)", "create schema")
        .bind(1, std::to_string(StateStore::kSchemaVersion))
        .run();
    tx.commit();
    return;
  }
  for (const Migration& m : kMigrations) {
    if (m.to <= version) {
      continue;
    }
    const std::string op = "migrate schema to version " + std::to_string(m.to);
    WriteTx tx(impl, op.c_str());
    impl.exec(m.sql, op.c_str());
    Stmt(impl, "UPDATE meta SET value = ?1 WHERE key = 'schema_version'", op.c_str())
        .bind(1, std::to_string(m.to))
        .run();
    tx.commit();
    version = m.to;
  }
  if (version != StateStore::kSchemaVersion) {
    throw StateError("state store: no migration from schema version " + std::to_string(version) +
                     " in " + impl.path.string());
  }
}

/// Opens and checks the database file. Throws BadDatabase (the reason, without the file
/// name) when the file is unusable.
void open_database(StateStore::Impl& impl) {
  std::error_code ec;
  const auto status = std::filesystem::status(impl.path, ec);
  const std::filesystem::path wal = impl.path.string() + "-wal";
  if (!std::filesystem::exists(status) && std::filesystem::exists(wal, ec)) {
    // SQLite would replay a stray WAL into the new database.
    throw BadDatabase("is missing, but its WAL file " + wal.string() + " is there");
  }
  if (std::filesystem::exists(status)) {
    if (!std::filesystem::is_regular_file(status)) {
      throw BadDatabase("is not a regular file");
    }
    if (::access(impl.path.c_str(), R_OK | W_OK) != 0) {
      throw BadDatabase("cannot be read and written: " + errno_text());
    }
  }
  const int rc = sqlite3_open_v2(
      impl.path.c_str(), &impl.db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
      nullptr);
  if (rc != SQLITE_OK) {
    impl.fail("open", rc);
  }
  try {
    prepare_database(impl);
  } catch (const BadDatabase&) {
    // Close now: the file may be moved aside next.
    for (auto& [sql, stmt] : impl.statements) {
      sqlite3_finalize(stmt);
    }
    impl.statements.clear();
    sqlite3_close_v2(impl.db);
    impl.db = nullptr;
    throw;
  }
}

std::string refusal(const std::filesystem::path& file, const std::string& reason) {
  // The reason may come from Impl::fail, which frames it with the file: unframe it.
  std::string r = reason;
  const std::string prefix = "state store: ";
  const std::string suffix = " (" + file.string() + ")";
  if (r.starts_with(prefix)) {
    r.erase(0, prefix.size());
  }
  if (r.ends_with(suffix)) {
    r.erase(r.size() - suffix.size());
  }
  return "state database " + file.string() + " is unusable: " + r +
         ". mailcanary does not start on it and does not discard it; start with " +
         StateStore::kFreshFlag + " to move it aside (to " + file.filename().string() +
         ".corrupt-<UTC time>, kept for inspection) and begin with an empty state";
}

}  // namespace

std::unique_ptr<StateStore> StateStore::open(const std::filesystem::path& state_dir,
                                             OpenOptions options) {
  if (options.history_per_member < 1) {
    throw std::invalid_argument("StateStore: history_per_member must be at least 1");
  }
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) {
    throw StateError("cannot create state directory " + state_dir.string() + ": " + ec.message());
  }
  if (!std::filesystem::is_directory(state_dir, ec)) {
    throw StateError("state directory " + state_dir.string() + " is not a directory");
  }
  if (::access(state_dir.c_str(), R_OK | W_OK | X_OK) != 0) {
    throw StateError("state directory " + state_dir.string() +
                     " is not readable and writable: " + errno_text());
  }

  auto impl = std::make_unique<Impl>();
  impl->path = state_dir / kFileName;
  impl->history = options.history_per_member;
  impl->lock = std::make_unique<StateDirLock>(state_dir);
  try {
    open_database(*impl);
  } catch (const BadDatabase& e) {
    if (!options.start_fresh) {
      throw StateError(refusal(impl->path, e.what()));
    }
    impl->moved_aside = move_state_aside(impl->path, std::chrono::system_clock::now());
    try {
      open_database(*impl);
    } catch (const BadDatabase& again) {
      throw StateError("state database " + impl->path.string() +
                       " is unusable even after moving the old one aside: " + again.what());
    }
  }
  impl->writes = 0;  // count the agent's writes, not the schema set-up
  return std::unique_ptr<StateStore>(new StateStore(std::move(impl)));
}

StateStore::StateStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StateStore::~StateStore() = default;

const std::filesystem::path& StateStore::path() const {
  return impl_->path;
}

const std::optional<std::filesystem::path>& StateStore::moved_aside() const {
  return impl_->moved_aside;
}

}  // namespace mailcanary::agent
