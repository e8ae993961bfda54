// A clock that only moves when told to: sleeping advances it instantly.
#pragma once

#include "mailcanary/probes/clock.hpp"

namespace mailcanary::testing {

class FakeClock final : public probes::Clock {
 public:
  std::chrono::steady_clock::time_point now() const override { return now_; }
  std::chrono::system_clock::time_point wall() const override {
    return std::chrono::system_clock::time_point{} + std::chrono::hours(24 * 365 * 56) +
           (now_ - std::chrono::steady_clock::time_point{});
  }
  void sleep_for(std::chrono::milliseconds d) override {
    now_ += d;
    slept_ += d;
  }
  void advance(std::chrono::milliseconds d) { now_ += d; }
  std::chrono::milliseconds slept() const { return slept_; }

 private:
  std::chrono::steady_clock::time_point now_{std::chrono::hours(1)};
  std::chrono::milliseconds slept_{0};
};

}  // namespace mailcanary::testing
