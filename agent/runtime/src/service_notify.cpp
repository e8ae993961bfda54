#include "mailcanary/agent/runtime/service_notify.hpp"

#ifdef MAILCANARY_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace mailcanary::agent::service {

#ifdef MAILCANARY_HAVE_SYSTEMD

namespace {
void say(const std::string& what) {
  (void)sd_notify(0, what.c_str());  // 0 when not under systemd: nothing to do
}
}  // namespace

void ready(const std::string& status) {
  say("READY=1\nSTATUS=" + status);
}
void reloading() {
  say("RELOADING=1");
}
void stopping() {
  say("STOPPING=1");
}
void watchdog() {
  say("WATCHDOG=1");
}
std::optional<std::chrono::milliseconds> watchdog_every() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(std::max<uint64_t>(1, usec / 2000));
}

#else

void ready(const std::string&) {}
void reloading() {}
void stopping() {}
void watchdog() {}
std::optional<std::chrono::milliseconds> watchdog_every() {
  return std::nullopt;
}

#endif

}  // namespace mailcanary::agent::service
