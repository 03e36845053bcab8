// Run-time checks and the per-device state of the GPU kernels. The runtime is
// linked statically; without a driver every query fails, which counts as "no
// device" rather than an error.
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "audiorep/cuda.hpp"
#include "common.cuh"

#ifndef AUDIOREP_CUDA_ARCHITECTURES
#define AUDIOREP_CUDA_ARCHITECTURES "unknown"
#endif

namespace audiorep {
namespace cuda {

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return count;
}

int runtime_version() { return CUDART_VERSION; }

int driver_version() {
  int version = 0;
  if (cudaDriverGetVersion(&version) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return version;
}

std::string architectures() { return AUDIOREP_CUDA_ARCHITECTURES; }

Buffer::Buffer(std::size_t bytes, int device) : device_(device) {
  detail::DeviceGuard guard(device);
  if (bytes) AUDIOREP_CUDA_CHECK(cudaMalloc(&ptr_, bytes));
}

Buffer::~Buffer() {
  if (!ptr_) return;
  int previous = 0;
  if (cudaGetDevice(&previous) == cudaSuccess && previous != device_) cudaSetDevice(device_);
  cudaFree(ptr_);
  if (previous != device_) cudaSetDevice(previous);
}

void Buffer::upload(const void* host, std::size_t bytes) {
  detail::DeviceGuard guard(device_);
  if (bytes) AUDIOREP_CUDA_CHECK(cudaMemcpy(ptr_, host, bytes, cudaMemcpyHostToDevice));
}

void Buffer::download(void* host, std::size_t bytes) const {
  detail::DeviceGuard guard(device_);
  if (bytes) AUDIOREP_CUDA_CHECK(cudaMemcpy(host, ptr_, bytes, cudaMemcpyDeviceToHost));
}

void synchronize(int device, void* stream) {
  detail::DeviceGuard guard(device);
  AUDIOREP_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)));
}

namespace detail {

template <typename T>
std::size_t block_limit(int device) {
  static std::mutex mutex;
  static std::map<int, std::size_t> limits;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = limits.find(device);
  if (it != limits.end()) return it->second;
  int optin = 0;
  AUDIOREP_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  const std::size_t bytes = std::min<std::size_t>(static_cast<std::size_t>(optin), std::size_t{128} << 10);
  std::size_t n = 1;
  while (2 * n * sizeof(gpu::cpx<T>) <= bytes) n *= 2;
  limits.emplace(device, n);
  return n;
}

template <typename T>
std::shared_ptr<const gpu::cpx<T>> twiddles(std::size_t n, int device) {
  static auto* cache = new TableCache<std::pair<int, std::size_t>, gpu::cpx<T>>();
  const auto key = std::make_pair(device, n);
  if (auto table = cache->find(key)) return table;
  std::vector<gpu::cpx<T>> host(std::max<std::size_t>(1, n / 2));
  for (std::size_t k = 0; k < host.size(); ++k) host[k] = gpu::twiddle<T>(k, n);
  gpu::cpx<T>* table = nullptr;
  AUDIOREP_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&table), host.size() * sizeof(gpu::cpx<T>)));
  const cudaError_t copied =
      cudaMemcpy(table, host.data(), host.size() * sizeof(gpu::cpx<T>), cudaMemcpyHostToDevice);
  if (copied != cudaSuccess) cudaFree(table);
  AUDIOREP_CUDA_CHECK(copied);
  return cache->insert(key, table, device);
}

template std::size_t block_limit<float>(int);
template std::size_t block_limit<double>(int);
template std::shared_ptr<const gpu::cpx<float>> twiddles<float>(std::size_t, int);
template std::shared_ptr<const gpu::cpx<double>> twiddles<double>(std::size_t, int);

}  // namespace detail
}  // namespace cuda
}  // namespace audiorep
