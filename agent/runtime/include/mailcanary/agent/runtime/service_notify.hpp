// What the agent tells systemd (Type=notify, sd_notify(3)): READY=1 once the HTTP port
// serves the restored state, WATCHDOG=1 from the scheduler's loop (a loop that stops
// turning is restarted by WatchdogSec=), RELOADING=1 around a SIGHUP, STOPPING=1, and a
// STATUS= line. Without systemd ($NOTIFY_SOCKET unset) or built without libsystemd,
// every call does nothing.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace mailcanary::agent::service {

/// READY=1 with a STATUS= text.
void ready(const std::string& status);
/// RELOADING=1 (then ready() again when the reload is done).
void reloading();
void stopping();
void watchdog();
/// How often watchdog() must be called when systemd asked for it (half its
/// WatchdogSec=, as sd_watchdog_enabled(3) advises); nullopt when it did not.
std::optional<std::chrono::milliseconds> watchdog_every();

}  // namespace mailcanary::agent::service
