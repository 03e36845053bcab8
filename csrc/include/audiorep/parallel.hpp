// One small parallel-for over a batch. Work is split into contiguous chunks,
// one per thread; the calling thread runs the first chunk itself.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace audiorep {

inline int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

// Calls f(begin, end) over [0, count) split into at most `nthreads` chunks.
// The first exception thrown by any chunk is rethrown after all have joined.
template <class F>
void parallel_for(std::size_t count, int nthreads, F&& f) {
  if (count == 0) return;
  std::size_t workers = static_cast<std::size_t>(std::max(1, nthreads));
  workers = std::min(workers, count);
  if (workers == 1) {
    f(std::size_t{0}, count);
    return;
  }
  std::exception_ptr error;
  std::mutex error_mutex;
  auto run = [&](std::size_t begin, std::size_t end) {
    try {
      f(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(workers - 1);
  const std::size_t base = count / workers, extra = count % workers;
  std::size_t begin = base + (extra > 0 ? 1 : 0);
  const std::size_t first_end = begin;
  for (std::size_t w = 1; w < workers; ++w) {
    const std::size_t len = base + (w < extra ? 1 : 0);
    threads.emplace_back(run, begin, begin + len);
    begin += len;
  }
  run(0, first_end);
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace audiorep
