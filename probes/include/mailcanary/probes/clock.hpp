// Time and randomness, injected so logic can be tested without waiting (STYLE.md 4).
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace mailcanary::probes {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point now() const = 0;
  virtual std::chrono::system_clock::time_point wall() const = 0;
  virtual void sleep_for(std::chrono::milliseconds d) = 0;
};

/// The real clocks of the machine.
class SystemClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override;
  std::chrono::system_clock::time_point wall() const override;
  void sleep_for(std::chrono::milliseconds d) override;
};

/// A source of uniform numbers in [0, 1), for jitter.
class Random {
 public:
  virtual ~Random() = default;
  virtual double uniform01() = 0;
};

class SystemRandom final : public Random {
 public:
  SystemRandom();
  double uniform01() override;

 private:
  std::mt19937_64 engine_;
};

/// Delay before attempt `next_attempt` (2, 3, ...): about (next_attempt-1) * backoff,
/// plus jitter of up to that much again, drawn from `u` in [0, 1).
std::chrono::milliseconds retry_delay(int next_attempt, std::chrono::milliseconds backoff,
                                      double u);

}  // namespace mailcanary::probes
