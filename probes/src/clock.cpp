#include "mailcanary/probes/clock.hpp"

#include <thread>

namespace mailcanary::probes {

std::chrono::steady_clock::time_point SystemClock::now() const {
  return std::chrono::steady_clock::now();
}

std::chrono::system_clock::time_point SystemClock::wall() const {
  return std::chrono::system_clock::now();
}

void SystemClock::sleep_for(std::chrono::milliseconds d) {
  std::this_thread::sleep_for(d);
}

SystemRandom::SystemRandom() : engine_(std::random_device{}()) {}

double SystemRandom::uniform01() {
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine_);
}

std::chrono::milliseconds retry_delay(int next_attempt, std::chrono::milliseconds backoff,
                                      double u) {
  if (next_attempt < 2 || backoff.count() <= 0) {
    return std::chrono::milliseconds(0);
  }
  auto base = backoff * (next_attempt - 1);
  if (u < 0) {
    u = 0;
  }
  if (u >= 1) {
    u = 0.999999;
  }
  return base + std::chrono::milliseconds(static_cast<long long>(base.count() * u));
}

}  // namespace mailcanary::probes
