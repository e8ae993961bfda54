// Private to the state store: the SQLite connection (StateStore::Impl), cached
// statements (Stmt) and write transactions (WriteTx), shared by its source files.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "mailcanary/agent/store/state_store.hpp"

namespace mailcanary::agent {

/// The database file itself is unusable (as opposed to a transient failure): open()
/// refuses it, or moves it aside with start_fresh.
class BadDatabase : public StateError {
 public:
  using StateError::StateError;
};

inline std::int64_t to_ms(SysTime t) {
  return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

inline SysTime from_ms(std::int64_t ms) {
  return SysTime{std::chrono::milliseconds(ms)};
}

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

}  // namespace mailcanary::agent
