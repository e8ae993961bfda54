// StateStore: reads and writes of the agent's state (canaries in flight, member state,
// result history, the Alertmanager outbox).
#include "sqlite_db.hpp"

namespace mailcanary::agent {

namespace {

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

void insert_in_flight(StateStore::Impl& impl, const InFlightCanary& c, const char* op) {
  Stmt(impl,
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
}

}  // namespace

void StateStore::add_in_flight(const InFlightCanary& c) {
  static constexpr const char* op = "add in-flight canary";
  std::lock_guard lock(impl_->mu);
  WriteTx tx(*impl_, op);
  insert_in_flight(*impl_, c, op);
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

namespace {

// A member's saved state and result history, inside the caller's transaction.
void delete_member(StateStore::Impl& impl, const std::string& target, const std::string& member,
                   const char* op) {
  Stmt(impl, "DELETE FROM member_state WHERE target = ?1 AND member = ?2", op)
      .bind(1, target)
      .bind(2, member)
      .run();
  Stmt(impl, "DELETE FROM results WHERE target = ?1 AND member = ?2", op)
      .bind(1, target)
      .bind(2, member)
      .run();
}

}  // namespace

void StateStore::forget_member(const std::string& target, const std::string& member) {
  static constexpr const char* op = "forget member";
  std::lock_guard lock(impl_->mu);
  WriteTx tx(*impl_, op);
  delete_member(*impl_, target, member, op);
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

namespace {

// One decided probe inside the caller's transaction; false (nothing written) for a replay.
bool write_outcome(StateStore::Impl& impl, const Outcome& o, const char* op) {
  if (!o.canary_id.empty()) {
    Stmt seen(impl, "SELECT 1 FROM results WHERE canary_id = ?1", op);
    if (seen.bind(1, o.canary_id).step()) {
      return false;
    }
    Stmt(impl, "DELETE FROM in_flight WHERE id = ?1", op).bind(1, o.canary_id).run();
  }
  if (o.member_state) {
    save_state(impl, o.target, o.member, *o.member_state, op);
  }
  insert_result(impl, o.target, o.member, o.at, o.canary_id, o.result_json, op);
  if (o.notification) {
    insert_notification(impl, *o.notification, o.at, op);
  }
  return true;
}

}  // namespace

bool StateStore::record_outcome(const Outcome& o) {
  static constexpr const char* op = "record outcome";
  std::lock_guard lock(impl_->mu);
  WriteTx tx(*impl_, op);
  if (!write_outcome(*impl_, o, op)) {
    return false;  // a replay: rolled back, nothing written
  }
  tx.commit();
  return true;
}

std::size_t StateStore::write(const std::vector<StateWrite>& writes) {
  static constexpr const char* op = "write results";
  if (writes.empty()) {
    return 0;
  }
  std::lock_guard lock(impl_->mu);
  WriteTx tx(*impl_, op);
  std::size_t replays = 0;
  for (const auto& w : writes) {
    if (const auto* c = std::get_if<InFlightCanary>(&w)) {
      insert_in_flight(*impl_, *c, op);
    } else if (const auto* o = std::get_if<Outcome>(&w)) {
      replays += write_outcome(*impl_, *o, op) ? 0 : 1;
    } else if (const auto* d = std::get_if<DroppedCanary>(&w)) {
      Stmt(*impl_, "DELETE FROM in_flight WHERE id = ?1", op).bind(1, d->id).run();
    }
  }
  tx.commit();
  return replays;
}

void StateStore::write_back(const StateWriteBack& w) {
  static constexpr const char* op = "write back missed state";
  std::lock_guard lock(impl_->mu);
  WriteTx tx(*impl_, op);
  for (const auto& [target, member] : w.forgotten) {
    delete_member(*impl_, target, member, op);
  }
  for (const auto& [key, json] : w.member_states) {
    save_state(*impl_, key.first, key.second, json, op);
  }
  Stmt(*impl_, "DELETE FROM in_flight", op).run();
  for (const auto& c : w.in_flight) {
    insert_in_flight(*impl_, c, op);
  }
  for (const auto& n : w.notifications) {
    insert_notification(*impl_, n.notification, n.at, op);
  }
  tx.commit();
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
