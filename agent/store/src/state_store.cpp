// StateStore: the SQLite database behind the agent's persistent state.
#include "mailcanary/agent/store/state_store.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

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

/// The database file itself is unusable (as opposed to a transient failure): open()
/// refuses it, or moves it aside with start_fresh.
class BadDatabase : public StateError {
 public:
  using StateError::StateError;
};

std::int64_t to_ms(SysTime t) {
  return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

SysTime from_ms(std::int64_t ms) {
  return SysTime{std::chrono::milliseconds(ms)};
}

std::string errno_text() {
  return std::strerror(errno);
}

}  // namespace

struct StateStore::Impl {
  std::filesystem::path path;
  std::optional<std::filesystem::path> moved_aside;
  int history = 50;
  std::unique_ptr<StateDirLock> lock;
  sqlite3* db = nullptr;
  std::unordered_map<std::string_view, sqlite3_stmt*> statements;  // keys: SQL literals
  std::mutex mu;
  std::uint64_t writes = 0;

  ~Impl() {
    for (auto& [sql, stmt] : statements) {
      sqlite3_finalize(stmt);
    }
    sqlite3_close_v2(db);
  }

  /// Throws for the last error on the connection: BadDatabase for a damaged file, else
  /// StateError.
  [[noreturn]] void fail(const std::string& op, int rc) const {
    const std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    const std::string what = "state store: " + op + ": " + msg + " (" + path.string() + ")";
    const int primary = rc & 0xff;
    if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
      throw BadDatabase(what);
    }
    throw StateError(what);
  }

  sqlite3_stmt* prepared(std::string_view sql, const char* op) {
    auto it = statements.find(sql);
    if (it != statements.end()) {
      return it->second;
    }
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      fail(op, rc);
    }
    statements.emplace(sql, stmt);
    return stmt;
  }

  void exec(const char* sql, const char* op) {
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
      fail(op, rc);
    }
  }
};

namespace {

/// A cached statement in use: bound, stepped, and reset when it goes out of scope.
class Stmt {
 public:
  Stmt(StateStore::Impl& impl, std::string_view sql, const char* op)
      : impl_(impl), stmt_(impl.prepared(sql, op)), op_(op) {}
  ~Stmt() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, const std::string& v) {
    return check(
        sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  Stmt& bind(int i, std::int64_t v) { return check(sqlite3_bind_int64(stmt_, i, v)); }
  Stmt& bind(int i, int v) { return check(sqlite3_bind_int(stmt_, i, v)); }
  Stmt& bind(int i, double v) { return check(sqlite3_bind_double(stmt_, i, v)); }
  Stmt& bind(int i, SysTime v) { return bind(i, to_ms(v)); }
  Stmt& bind_text_or_null(int i, const std::string& v) {
    return v.empty() ? check(sqlite3_bind_null(stmt_, i)) : bind(i, v);
  }

  /// True while there is a row to read.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) {
      return true;
    }
    if (rc != SQLITE_DONE) {
      impl_.fail(op_, rc);
    }
    return false;
  }
  void run() {
    while (step()) {
    }
  }

  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  int integer(int col) const { return sqlite3_column_int(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
  SysTime time(int col) const { return from_ms(int64(col)); }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p == nullptr ? std::string() : std::string(p, sqlite3_column_bytes(stmt_, col));
  }

 private:
  Stmt& check(int rc) {
    if (rc != SQLITE_OK) {
      impl_.fail(op_, rc);
    }
    return *this;
  }

  StateStore::Impl& impl_;
  sqlite3_stmt* stmt_;
  const char* op_;
};

/// A write transaction: BEGIN IMMEDIATE takes the write lock up front (one writer), so
/// it never fails half-way on lock upgrade. Rolled back unless committed.
class WriteTx {
 public:
  WriteTx(StateStore::Impl& impl, const char* op) : impl_(impl), op_(op) {
    Stmt(impl_, "BEGIN IMMEDIATE", op_).run();
  }
  ~WriteTx() {
    if (!done_) {
      sqlite3_exec(impl_.db, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  WriteTx(const WriteTx&) = delete;
  WriteTx& operator=(const WriteTx&) = delete;

  void commit() {
    Stmt(impl_, "COMMIT", op_).run();
    done_ = true;
    ++impl_.writes;
  }

 private:
  StateStore::Impl& impl_;
  const char* op_;
  bool done_ = false;
};

void insert_result(StateStore::Impl& impl, const std::string& target, const std::string& member,
                   SysTime at, const std::string& canary_id, const std::string& json,
                   const char* op) {
  Stmt(impl,
       "INSERT INTO results (target, member, at_ms, canary_id, result) VALUES (?1, ?2, ?3, ?4, "
       "?5)",
       op)
      .bind(1, target)
      .bind(2, member)
      .bind(3, at)
      .bind_text_or_null(4, canary_id)
      .bind(5, json)
      .run();
  // Keep the newest `history` rows of the member: delete from the first one beyond them.
  Stmt(impl,
       "DELETE FROM results WHERE target = ?1 AND member = ?2 AND seq <= (SELECT seq FROM "
       "results WHERE target = ?1 AND member = ?2 ORDER BY seq DESC LIMIT 1 OFFSET ?3)",
       op)
      .bind(1, target)
      .bind(2, member)
      .bind(3, impl.history)
      .run();
}

std::int64_t insert_notification(StateStore::Impl& impl, const NewNotification& n, SysTime now,
                                 const char* op) {
  Stmt(impl,
       "INSERT INTO outbox (key, kind, payload, attempts, next_attempt_ms, created_ms) VALUES "
       "(?1, ?2, ?3, 0, ?4, ?4)",
       op)
      .bind(1, n.key)
      .bind(2, n.kind)
      .bind(3, n.payload)
      .bind(4, now)
      .run();
  return sqlite3_last_insert_rowid(impl.db);
}

void save_state(StateStore::Impl& impl, const std::string& target, const std::string& member,
                const std::string& json, const char* op) {
  Stmt(impl, "INSERT OR REPLACE INTO member_state (target, member, state) VALUES (?1, ?2, ?3)", op)
      .bind(1, target)
      .bind(2, member)
      .bind(3, json)
      .run();
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

void StateStore::add_in_flight(const InFlightCanary& c) {
  static constexpr const char* op = "add in-flight canary";
  std::lock_guard lock(impl_->mu);
  WriteTx tx(*impl_, op);
  Stmt(*impl_,
       "INSERT OR REPLACE INTO in_flight (id, target, member, mailbox, sent_at_ms, "
       "accepted_at_ms, deadline_ms, smtp_code, queue_id, smtp_detail, smtp_seconds, attempts) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
       op)
      .bind(1, c.id)
      .bind(2, c.target)
      .bind(3, c.member)
      .bind(4, c.mailbox)
      .bind(5, c.sent_at)
      .bind(6, c.accepted_at)
      .bind(7, c.deadline)
      .bind(8, c.smtp_code)
      .bind(9, c.queue_id)
      .bind(10, c.smtp_detail)
      .bind(11, c.smtp_seconds)
      .bind(12, c.attempts)
      .run();
  tx.commit();
}

void StateStore::remove_in_flight(const std::string& id) {
  static constexpr const char* op = "remove in-flight canary";
  std::lock_guard lock(impl_->mu);
  WriteTx tx(*impl_, op);
  Stmt(*impl_, "DELETE FROM in_flight WHERE id = ?1", op).bind(1, id).run();
  tx.commit();
}

std::vector<InFlightCanary> StateStore::in_flight() const {
  std::lock_guard lock(impl_->mu);
  Stmt s(*impl_,
         "SELECT id, target, member, mailbox, sent_at_ms, accepted_at_ms, deadline_ms, "
         "smtp_code, queue_id, smtp_detail, smtp_seconds, attempts FROM in_flight ORDER BY "
         "deadline_ms, id",
         "read in-flight canaries");
  std::vector<InFlightCanary> out;
  while (s.step()) {
    out.push_back(InFlightCanary{s.text(0), s.text(1), s.text(2), s.text(3), s.time(4), s.time(5),
                                 s.time(6), s.integer(7), s.text(8), s.text(9), s.real(10),
                                 s.integer(11)});
  }
  return out;
}

void StateStore::save_member_state(const std::string& target, const std::string& member,
                                   const std::string& json) {
  static constexpr const char* op = "save member state";
  std::lock_guard lock(impl_->mu);
  WriteTx tx(*impl_, op);
  save_state(*impl_, target, member, json, op);
  tx.commit();
}

std::map<std::pair<std::string, std::string>, std::string> StateStore::member_states() const {
  std::lock_guard lock(impl_->mu);
  Stmt s(*impl_, "SELECT target, member, state FROM member_state", "read member states");
  std::map<std::pair<std::string, std::string>, std::string> out;
  while (s.step()) {
    out.emplace(std::pair(s.text(0), s.text(1)), s.text(2));
  }
  return out;
}

void StateStore::forget_member(const std::string& target, const std::string& member) {
  static constexpr const char* op = "forget member";
  std::lock_guard lock(impl_->mu);
  WriteTx tx(*impl_, op);
  Stmt(*impl_, "DELETE FROM member_state WHERE target = ?1 AND member = ?2", op)
      .bind(1, target)
      .bind(2, member)
      .run();
  Stmt(*impl_, "DELETE FROM results WHERE target = ?1 AND member = ?2", op)
      .bind(1, target)
      .bind(2, member)
      .run();
  tx.commit();
}

void StateStore::add_result(const std::string& target, const std::string& member, SysTime at,
                            const std::string& result_json) {
  static constexpr const char* op = "add result";
  std::lock_guard lock(impl_->mu);
  WriteTx tx(*impl_, op);
  insert_result(*impl_, target, member, at, "", result_json, op);
  tx.commit();
}

std::vector<std::string> StateStore::recent_results(const std::string& target,
                                                    const std::string& member, int limit) const {
  std::vector<std::string> out;
  if (limit <= 0) {
    return out;
  }
  std::lock_guard lock(impl_->mu);
  Stmt s(*impl_,
         "SELECT result FROM results WHERE target = ?1 AND member = ?2 ORDER BY seq DESC LIMIT "
         "?3",
         "read results");
  s.bind(1, target).bind(2, member).bind(3, limit);
  while (s.step()) {
    out.push_back(s.text(0));
  }
  return out;
}

bool StateStore::record_outcome(const Outcome& o) {
  static constexpr const char* op = "record outcome";
  std::lock_guard lock(impl_->mu);
  WriteTx tx(*impl_, op);
  if (!o.canary_id.empty()) {
    Stmt seen(*impl_, "SELECT 1 FROM results WHERE canary_id = ?1", op);
    if (seen.bind(1, o.canary_id).step()) {
      return false;  // a replay: rolled back, nothing written
    }
    Stmt(*impl_, "DELETE FROM in_flight WHERE id = ?1", op).bind(1, o.canary_id).run();
  }
  if (o.member_state) {
    save_state(*impl_, o.target, o.member, *o.member_state, op);
  }
  insert_result(*impl_, o.target, o.member, o.at, o.canary_id, o.result_json, op);
  if (o.notification) {
    insert_notification(*impl_, *o.notification, o.at, op);
  }
  tx.commit();
  return true;
}

std::int64_t StateStore::enqueue_notification(const NewNotification& n, SysTime now) {
  static constexpr const char* op = "enqueue notification";
  std::lock_guard lock(impl_->mu);
  WriteTx tx(*impl_, op);
  const std::int64_t id = insert_notification(*impl_, n, now, op);
  tx.commit();
  return id;
}

void StateStore::mark_sent(std::int64_t id) {
  static constexpr const char* op = "mark notification sent";
  std::lock_guard lock(impl_->mu);
  WriteTx tx(*impl_, op);
  Stmt(*impl_, "DELETE FROM outbox WHERE id = ?1", op).bind(1, id).run();
  tx.commit();
}

void StateStore::reschedule(std::int64_t id, SysTime next_attempt_at, int attempts) {
  static constexpr const char* op = "reschedule notification";
  std::lock_guard lock(impl_->mu);
  WriteTx tx(*impl_, op);
  Stmt(*impl_, "UPDATE outbox SET next_attempt_ms = ?2, attempts = ?3 WHERE id = ?1", op)
      .bind(1, id)
      .bind(2, next_attempt_at)
      .bind(3, attempts)
      .run();
  tx.commit();
}

std::vector<PendingNotification> StateStore::due_notifications(SysTime now, int limit) const {
  std::vector<PendingNotification> out;
  if (limit <= 0) {
    return out;
  }
  std::lock_guard lock(impl_->mu);
  Stmt s(*impl_,
         "SELECT id, key, kind, payload, attempts, next_attempt_ms, created_ms FROM outbox "
         "WHERE next_attempt_ms <= ?1 ORDER BY next_attempt_ms, id LIMIT ?2",
         "read due notifications");
  s.bind(1, now).bind(2, limit);
  while (s.step()) {
    out.push_back(PendingNotification{s.int64(0), s.text(1), s.text(2), s.text(3), s.integer(4),
                                      s.time(5), s.time(6)});
  }
  return out;
}

std::size_t StateStore::pending_notifications() const {
  std::lock_guard lock(impl_->mu);
  Stmt s(*impl_, "SELECT count(*) FROM outbox", "count notifications");
  s.step();
  return static_cast<std::size_t>(s.int64(0));
}

std::uint64_t StateStore::writes() const {
  std::lock_guard lock(impl_->mu);
  return impl_->writes;
}

}  // namespace mailcanary::agent
