#include "mailcanary/agent/core/store_batch.hpp"

namespace mailcanary::agent {

bool StoreBatch::add(Effect& e, Time now) {
  // The canary's in-flight row, if it waits here, is not written at all.
  const auto cancel = [&](const std::string& id) {
    if (auto it = in_flight_at_.find(id); it != in_flight_at_.end()) {
      writes_[it->second].reset();
      in_flight_at_.erase(it);
    }
  };
  if (auto* p = std::get_if<PersistInFlight>(&e)) {
    cancel(p->canary.id);  // a second add replaces the first
    in_flight_at_[p->canary.id] = writes_.size();
    writes_.emplace_back(std::move(p->canary));
  } else if (auto* o = std::get_if<PersistOutcome>(&e)) {
    if (!o->outcome.canary_id.empty()) {
      cancel(o->outcome.canary_id);
    }
    if (o->outcome.notification) {
      held_.push_back(PersistOutcome{o->outcome});
    }
    urgent_ = urgent_ || o->outcome.changes_state || o->outcome.notification.has_value();
    writes_.emplace_back(std::move(o->outcome));
  } else if (auto* d = std::get_if<DropInFlight>(&e)) {
    cancel(d->canary_id);
    // Still deleted: an earlier batch may have written the row.
    writes_.emplace_back(DroppedCanary{std::move(d->canary_id)});
  } else {
    return false;
  }
  if (!first_at_) {
    first_at_ = now;
  }
  return true;
}

std::optional<StoreBatch::Time> StoreBatch::due_at() const {
  if (!first_at_) {
    return std::nullopt;
  }
  if (urgent_ || writes_.size() >= kMaxWrites) {
    return *first_at_;
  }
  return *first_at_ + kHoldFor;
}

StoreBatch::Taken StoreBatch::take() {
  Taken t;
  t.writes.reserve(writes_.size());
  for (auto& w : writes_) {
    if (w) {
      t.writes.push_back(std::move(*w));
    }
  }
  t.held = std::move(held_);
  writes_.clear();
  in_flight_at_.clear();
  held_.clear();
  first_at_.reset();
  urgent_ = false;
  return t;
}

}  // namespace mailcanary::agent
