// StateDirLock: one agent per state directory.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "mailcanary/agent/store/state_store.hpp"

namespace mailcanary::agent {

namespace {

std::string read_pid(int fd) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string pid;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) {
    pid += buf[i];
  }
  return pid.empty() ? "unknown" : pid;
}

}  // namespace

StateDirLock::StateDirLock(const std::filesystem::path& dir) {
  const auto file = dir / "mailcanary.lock";
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw StateError("cannot open lock file " + file.string() + ": " + std::strerror(errno));
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string pid = read_pid(fd_);
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) {
      throw StateError("another mailcanary agent is using " + dir.string() + " (pid " + pid + ")");
    }
    throw StateError("cannot lock " + file.string() + ": " + std::strerror(err));
  }
  // Only the holder writes; a reader that loses the race sees the previous pid or none.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 ||
      ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw StateError("cannot write lock file " + file.string() + ": " + std::strerror(err));
  }
}

StateDirLock::~StateDirLock() {
  if (fd_ >= 0) {
    ::close(fd_);  // releases the flock
  }
}

}  // namespace mailcanary::agent
