// Helpers shared by the CUDA sources: error checks, the block barrier the shared
// routines of fft_index.hpp take, device selection and per-device plans.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "audiorep/fft_index.hpp"

namespace audiorep {
namespace cuda {
namespace detail {

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(err));
}

#define AUDIOREP_CUDA_CHECK(call) ::audiorep::cuda::detail::check((call), #call)
#define AUDIOREP_CUDA_LAUNCHED(name) ::audiorep::cuda::detail::check(cudaGetLastError(), name)

// __syncthreads() for the shared routines (a no-op in their host instantiation).
struct BlockSync {
  AUDIOREP_HD_INLINE void operator()() const {
#if defined(__CUDA_ARCH__)
    __syncthreads();
#endif
  }
};

// Makes `device` current for the lifetime of the guard.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    AUDIOREP_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) AUDIOREP_CUDA_CHECK(cudaSetDevice(device));
    changed_ = previous_ != device;
  }
  ~DeviceGuard() {
    if (changed_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool changed_ = false;
};

// Stream-ordered scratch memory, released (in stream order) by the destructor.
template <typename E>
class Scratch {
 public:
  Scratch(std::size_t count, cudaStream_t stream) : stream_(stream) {
    if (count) AUDIOREP_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&ptr_), count * sizeof(E), stream));
  }
  ~Scratch() {
    if (ptr_) cudaFreeAsync(ptr_, stream_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  E* get() const { return ptr_; }

 private:
  E* ptr_ = nullptr;
  cudaStream_t stream_;
};

// Device tables (twiddles, Bluestein spectra) by key, at most kMax of them: a
// process that meets many lengths would otherwise hold on to device memory.
// When full the cache is emptied; a table still in use lives on through the
// shared_ptr its caller holds, and the freeing waits for the device to finish
// the work queued with it. Caches are created once and never destroyed, so no
// CUDA call runs during static destruction at exit.
template <class Key, class E>
class TableCache {
 public:
  static constexpr std::size_t kMax = 64;
  using Table = std::shared_ptr<const E>;

  Table find(const Key& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = tables_.find(key);
    return it == tables_.end() ? Table() : it->second;
  }

  // Takes ownership of the device allocation `table` on `device`; returns the
  // cached table (another thread's, if it got there first).
  Table insert(const Key& key, E* table, int device) {
    Table owned(table, [device](const E* p) {
      int previous = 0;
      cudaGetDevice(&previous);
      cudaSetDevice(device);
      cudaDeviceSynchronize();
      cudaFree(const_cast<E*>(p));
      cudaSetDevice(previous);
    });
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = tables_.find(key);
    if (it != tables_.end()) return it->second;
    if (tables_.size() >= kMax) tables_.clear();
    tables_.emplace(key, owned);
    return owned;
  }

 private:
  std::mutex mutex_;
  std::map<Key, Table> tables_;
};

// Largest power-of-two transform one block holds in shared memory on `device`,
// capped at 128 KiB so that sm_80 and sm_90 split the work the same way (and the
// same way as the CPU harness).
template <typename T>
std::size_t block_limit(int device);

// Twiddle table exp(-2 pi i k / n), k < max(1, n/2), on `device`, cached per
// (device, n, precision); hold the pointer until the work using it is queued.
template <typename T>
std::shared_ptr<const gpu::cpx<T>> twiddles(std::size_t n, int device);

// Power-of-two transforms of `howmany` packed rows (in may equal out).
template <typename T>
void fft_pow2(const gpu::cpx<T>* in, gpu::cpx<T>* out, std::size_t n, std::size_t howmany, bool forward, T scale,
              int device, cudaStream_t stream);

inline unsigned grid_for(std::size_t work, unsigned threads) {
  const std::size_t blocks = (work + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 65535u * 16u ? (blocks ? blocks : 1) : 65535u * 16u);
}

}  // namespace detail
}  // namespace cuda
}  // namespace audiorep
