// One small parallel-for over a batch, run on a persistent pool of worker
// threads. Work is split into contiguous chunks, one per requested thread; the
// calling thread works on them too. Starting threads costs tens of
// microseconds each, as much as a whole transform of a modest batch, so the
// pool keeps its threads between calls.
//
// - A call from inside a pool thread (a nested parallel_for) runs serially, so
//   pool threads never wait for each other.
// - Calls from several threads at once share the pool; each caller waits only
//   for its own chunks, and works on them itself, so it never starves.
// - After fork() the child has none of the parent's threads, and the parent's
//   pool may have been locked by one of them: the child starts a fresh pool
//   and never touches the old one.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <system_error>

#ifndef _WIN32
#include <pthread.h>
#endif

namespace audiorep {

inline int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

namespace detail {

inline bool& inside_pool_thread() {
  thread_local bool inside = false;
  return inside;
}

class ThreadPool {
 public:
  ThreadPool() = default;
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Runs task(i) for every i in [0, n), on the calling thread and on up to
  // `helpers` pool threads, and returns when all have finished. `task` must
  // not throw.
  void run(std::size_t n, std::size_t helpers, const std::function<void(std::size_t)>& task) {
    auto job = std::make_shared<Job>(task, n);
    helpers = std::min({helpers, n - 1, max_threads()});
    if (helpers > 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      while (threads_.size() < helpers) {
        try {
          threads_.emplace_back([this] { serve(); });
        } catch (const std::system_error&) {
          break;  // no more threads to be had: make do with those there are
        }
        threads_.back().detach();  // never joined: the pool lives as long as the process
      }
      helpers = std::min(helpers, threads_.size());
      for (std::size_t h = 0; h < helpers; ++h) queue_.push_back(job);
    }
    if (helpers == 1) {
      wake_.notify_one();
    } else if (helpers > 1) {
      wake_.notify_all();
    }
    work(*job);
    {
      std::unique_lock<std::mutex> lock(job->mutex);
      job->finished.wait(lock, [&] { return job->done.load() == job->n; });
    }
    if (helpers > 0) {  // drop the places in the queue that no pool thread needed
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.erase(std::remove(queue_.begin(), queue_.end(), job), queue_.end());
    }
  }

 private:
  struct Job {
    Job(const std::function<void(std::size_t)>& t, std::size_t count) : task(&t), n(count) {}
    const std::function<void(std::size_t)>* task;  // valid while the caller waits in run()
    std::size_t n;
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> done{0};
    std::mutex mutex;
    std::condition_variable finished;
  };

  static std::size_t max_threads() { return static_cast<std::size_t>(4 * hardware_threads()); }

  // Claims chunks of `job` until none are left. Claims are made before the
  // caller can return, so `task` is only called while it is still valid.
  static void work(Job& job) {
    for (;;) {
      const std::size_t i = job.next.fetch_add(1);
      if (i >= job.n) return;
      (*job.task)(i);
      if (job.done.fetch_add(1) + 1 == job.n) {
        std::lock_guard<std::mutex> lock(job.mutex);
        job.finished.notify_all();
      }
    }
  }

  void serve() {
    inside_pool_thread() = true;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return !queue_.empty(); });
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      work(*job);
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::vector<std::thread> threads_;
};

// The process's pool. Never destroyed (its threads may still be waiting at
// exit). Lock-free to find, so that a child forked while another thread was
// looking it up cannot block; the child drops the pointer and makes its own.
inline std::atomic<ThreadPool*>& pool_pointer() {
  static std::atomic<ThreadPool*> pointer{nullptr};
  return pointer;
}

inline ThreadPool& thread_pool() {
#ifndef _WIN32
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, [] { pool_pointer().store(nullptr); });
    return true;
  }();
  (void)registered;
#endif
  ThreadPool* pool = pool_pointer().load(std::memory_order_acquire);
  if (pool == nullptr) {
    auto* fresh = new ThreadPool;
    if (pool_pointer().compare_exchange_strong(pool, fresh, std::memory_order_acq_rel)) {
      pool = fresh;
    } else {
      delete fresh;  // another thread got there first; `pool` now holds its pool
    }
  }
  return *pool;
}

}  // namespace detail

// Calls f(begin, end) over [0, count) split into at most `nthreads` chunks.
// The first exception thrown by any chunk is rethrown after all have finished.
template <class F>
void parallel_for(std::size_t count, int nthreads, F&& f) {
  if (count == 0) return;
  std::size_t chunks = static_cast<std::size_t>(std::max(1, nthreads));
  chunks = std::min(chunks, count);
  if (chunks == 1 || detail::inside_pool_thread()) {
    f(std::size_t{0}, count);
    return;
  }
  std::exception_ptr error;
  std::mutex error_mutex;
  const std::size_t base = count / chunks, extra = count % chunks;
  const std::function<void(std::size_t)> task = [&](std::size_t c) {
    const std::size_t begin = c * base + std::min(c, extra);
    const std::size_t end = begin + base + (c < extra ? 1 : 0);
    try {
      f(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  };
  detail::thread_pool().run(chunks, chunks - 1, task);
  if (error) std::rethrow_exception(error);
}

}  // namespace audiorep
