// A few threads for the slow answers (/metrics and /status renders, a password's first
// bcrypt), so that the event loop keeps answering /health and /healthz at once.
// Bounded: at most `max_queued` jobs wait; submit() refuses more. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mailcanary::agent::http {

class RenderPool {
 public:
  RenderPool(int threads, std::size_t max_queued);
  /// Lets the running jobs finish, drops the waiting ones, joins the threads.
  ~RenderPool();
  RenderPool(const RenderPool&) = delete;
  RenderPool& operator=(const RenderPool&) = delete;

  /// Queues `job`; false (and `job` dropped) when `max_queued` are already waiting.
  bool submit(std::function<void()> job);

 private:
  void work();
  const std::size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace mailcanary::agent::http
