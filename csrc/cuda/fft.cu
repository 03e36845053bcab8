// Batched GPU FFT. Power-of-two rows that fit in shared memory (up to 8192
// double or 16384 float elements) are transformed by one block per row, or
// several rows per block when they are short. Longer rows go through global
// memory: a bit-reversal pass, one in-block pass that runs the first stages on
// segments of the in-block size, and one launch per remaining radix-2 stage.
// Other lengths use Bluestein's chirp-z over a power-of-two convolution, as the
// CPU path does. Real transforms of even length run as half-length complex
// transforms of the row read as complex pairs; odd lengths (and real buffers
// not aligned for that reading) are promoted to complex rows. All index and
// butterfly arithmetic is in fft_index.hpp, shared with the CPU harness.
#include <algorithm>
#include <complex>
#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "audiorep/cuda.hpp"
#include "common.cuh"

namespace audiorep {
namespace cuda {
namespace detail {

using gpu::cpx;

namespace {

constexpr unsigned kThreads = 256;

template <typename T>
__global__ void block_fft_kernel(const cpx<T>* in, cpx<T>* out, std::size_t howmany, unsigned log2n,
                                 const cpx<T>* tw, bool forward, T scale, unsigned threads_per_row) {
  extern __shared__ __align__(16) unsigned char shared[];
  const std::size_t n = std::size_t{1} << log2n;
  const unsigned local = threadIdx.x / threads_per_row, tid = threadIdx.x % threads_per_row;
  const std::size_t rows_per_block = blockDim.x / threads_per_row;
  const std::size_t row = blockIdx.x * rows_per_block + local;
  // Groups past the last row repeat it without writing: every thread of the
  // block must reach the same barriers.
  const std::size_t r = row < howmany ? row : howmany - 1;
  cpx<T>* buf = reinterpret_cast<cpx<T>*>(shared) + local * n;
  gpu::fft_pow2_row(in + r * n, buf, row < howmany ? out + r * n : static_cast<cpx<T>*>(nullptr), log2n, tw,
                    forward, scale, tid, threads_per_row, BlockSync{});
}

template <typename T>
__global__ void segment_kernel(cpx<T>* data, unsigned log2len, unsigned log2n, const cpx<T>* tw, bool forward) {
  extern __shared__ __align__(16) unsigned char shared[];
  gpu::segment_stages(data + (std::size_t{blockIdx.x} << log2len), reinterpret_cast<cpx<T>*>(shared), log2len, log2n,
                      tw, forward, threadIdx.x, blockDim.x, BlockSync{});
}

template <typename T>
__global__ void permute_kernel(const cpx<T>* in, cpx<T>* out, std::size_t total, unsigned log2n) {
  const std::size_t mask = (std::size_t{1} << log2n) - 1;
  for (std::size_t t = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; t < total;
       t += std::size_t{gridDim.x} * blockDim.x) {
    const std::size_t base = t & ~mask, i = t & mask;
    out[base + gpu::bit_reverse(static_cast<std::uint32_t>(i), log2n)] = in[t];
  }
}

template <typename T>
__global__ void permute_in_place_kernel(cpx<T>* data, std::size_t total, unsigned log2n) {
  const std::size_t mask = (std::size_t{1} << log2n) - 1;
  for (std::size_t t = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; t < total;
       t += std::size_t{gridDim.x} * blockDim.x) {
    const std::size_t base = t & ~mask, i = t & mask;
    const std::size_t r = gpu::bit_reverse(static_cast<std::uint32_t>(i), log2n);
    if (i < r) {
      const cpx<T> a = data[t];
      data[t] = data[base + r];
      data[base + r] = a;
    }
  }
}

template <typename T>
__global__ void stage_kernel(cpx<T>* data, std::size_t total_butterflies, unsigned log2h, unsigned log2n,
                             const cpx<T>* tw, bool forward) {
  const unsigned log2half = log2n - 1;
  const std::size_t half_mask = (std::size_t{1} << log2half) - 1;
  for (std::size_t t = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; t < total_butterflies;
       t += std::size_t{gridDim.x} * blockDim.x) {
    const std::size_t row = t >> log2half;
    gpu::butterfly(data + (row << log2n), t & half_mask, log2h, log2n, tw, forward);
  }
}

template <typename T>
__global__ void scale_kernel(cpx<T>* data, std::size_t total, T scale) {
  for (std::size_t t = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; t < total;
       t += std::size_t{gridDim.x} * blockDim.x)
    data[t] = gpu::scaled(data[t], scale);
}

template <typename T>
__global__ void bluestein_load_kernel(const cpx<T>* in, cpx<T>* a, std::size_t n, std::size_t m, std::size_t rows,
                                      bool forward) {
  for (std::size_t t = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; t < rows * m;
       t += std::size_t{gridDim.x} * blockDim.x)
    a[t] = gpu::bluestein_load(in + (t / m) * n, t % m, n, forward);
}

template <typename T>
__global__ void pointwise_kernel(cpx<T>* a, const cpx<T>* spec, std::size_t m, std::size_t rows) {
  for (std::size_t t = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; t < rows * m;
       t += std::size_t{gridDim.x} * blockDim.x)
    a[t] = gpu::mul(a[t], spec[t % m]);
}

template <typename T>
__global__ void bluestein_store_kernel(const cpx<T>* a, cpx<T>* out, std::size_t n, std::size_t m, std::size_t rows,
                                       bool forward, T scale) {
  for (std::size_t t = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; t < rows * n;
       t += std::size_t{gridDim.x} * blockDim.x) {
    const std::size_t r = t / n, k = t % n;
    out[t] = gpu::bluestein_store(a[r * m + k], k, n, m, forward, scale);
  }
}

template <typename T>
__global__ void promote_kernel(const T* in, cpx<T>* out, std::size_t total) {
  for (std::size_t t = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; t < total;
       t += std::size_t{gridDim.x} * blockDim.x)
    out[t] = gpu::make(in[t], T(0));
}

template <typename T>
__global__ void take_half_kernel(const cpx<T>* full, cpx<T>* out, std::size_t n, std::size_t rows) {
  const std::size_t h = n / 2 + 1;
  for (std::size_t t = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; t < rows * h;
       t += std::size_t{gridDim.x} * blockDim.x)
    out[t] = full[(t / h) * n + t % h];
}

template <typename T>
__global__ void hermitian_kernel(const cpx<T>* half, cpx<T>* full, std::size_t n, std::size_t rows) {
  const std::size_t h = n / 2 + 1;
  for (std::size_t t = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; t < rows * n;
       t += std::size_t{gridDim.x} * blockDim.x)
    full[t] = gpu::hermitian_bin(half + (t / n) * h, t % n, n);
}

template <typename T>
__global__ void r2c_unpack_kernel(const cpx<T>* z, cpx<T>* out, std::size_t h, std::size_t rows, const cpx<T>* tw,
                                  T scale) {
  for (std::size_t t = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; t < rows * (h + 1);
       t += std::size_t{gridDim.x} * blockDim.x) {
    const std::size_t r = t / (h + 1), k = t % (h + 1);
    out[t] = gpu::scaled(gpu::r2c_unpack(z + r * h, k, h, tw), scale);
  }
}

template <typename T>
__global__ void c2r_pack_kernel(const cpx<T>* half, cpx<T>* z, std::size_t n, std::size_t rows, const cpx<T>* tw) {
  const std::size_t h = n / 2;
  for (std::size_t t = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; t < rows * h;
       t += std::size_t{gridDim.x} * blockDim.x)
    z[t] = gpu::c2r_pack(half + (t / h) * (h + 1), t % h, n, tw);
}

template <typename T>
__global__ void take_real_kernel(const cpx<T>* full, T* out, std::size_t total) {
  for (std::size_t t = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; t < total;
       t += std::size_t{gridDim.x} * blockDim.x)
    out[t] = full[t].re;
}

// Bluestein's convolution kernel spectrum per (device, n, direction), cached.
template <typename T>
std::shared_ptr<const cpx<T>> bluestein_spectrum(std::size_t n, bool forward, int device, cudaStream_t stream) {
  static auto* cache = new TableCache<std::tuple<int, std::size_t, bool>, cpx<T>>();
  const auto key = std::make_tuple(device, n, forward);
  if (auto spec = cache->find(key)) return spec;
  const std::size_t m = gpu::bluestein_size(n);
  std::vector<cpx<T>> host(m);
  for (std::size_t k = 0; k < m; ++k) host[k] = gpu::bluestein_kernel<T>(k, n, m, forward);
  cpx<T>* spec = nullptr;
  AUDIOREP_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&spec), m * sizeof(cpx<T>)));
  cudaError_t err = cudaMemcpy(spec, host.data(), m * sizeof(cpx<T>), cudaMemcpyHostToDevice);
  if (err == cudaSuccess) {
    try {
      fft_pow2<T>(spec, spec, m, 1, true, T(1), device, stream);
    } catch (...) {
      cudaFree(spec);
      throw;
    }
    // Other streams may use the spectrum next.
    err = cudaStreamSynchronize(stream);
  }
  if (err != cudaSuccess) cudaFree(spec);
  AUDIOREP_CUDA_CHECK(err);
  return cache->insert(key, spec, device);
}

template <typename T>
void c2c_rows(const cpx<T>* in, cpx<T>* out, std::size_t n, std::size_t howmany, bool forward, T scale, int device,
              cudaStream_t stream) {
  if (howmany == 0) return;
  if (gpu::is_pow2(n)) {
    fft_pow2<T>(in, out, n, howmany, forward, scale, device, stream);
    return;
  }
  const std::size_t m = gpu::bluestein_size(n);
  const auto spec_table = bluestein_spectrum<T>(n, forward, device, stream);
  const cpx<T>* spec = spec_table.get();
  // Rows in chunks, so the padded scratch stays within 256 MiB in double precision.
  const std::size_t chunk = std::max<std::size_t>(1, (std::size_t{1} << 24) / m);
  Scratch<cpx<T>> a(std::min(chunk, howmany) * m, stream);
  for (std::size_t r0 = 0; r0 < howmany; r0 += chunk) {
    const std::size_t rows = std::min(chunk, howmany - r0);
    bluestein_load_kernel<<<grid_for(rows * m, kThreads), kThreads, 0, stream>>>(in + r0 * n, a.get(), n, m, rows,
                                                                                 forward);
    AUDIOREP_CUDA_LAUNCHED("bluestein_load_kernel");
    fft_pow2<T>(a.get(), a.get(), m, rows, true, T(1), device, stream);
    pointwise_kernel<<<grid_for(rows * m, kThreads), kThreads, 0, stream>>>(a.get(), spec, m, rows);
    AUDIOREP_CUDA_LAUNCHED("pointwise_kernel");
    fft_pow2<T>(a.get(), a.get(), m, rows, false, T(1), device, stream);
    bluestein_store_kernel<<<grid_for(rows * n, kThreads), kThreads, 0, stream>>>(a.get(), out + r0 * n, n, m, rows,
                                                                                  forward, scale);
    AUDIOREP_CUDA_LAUNCHED("bluestein_store_kernel");
  }
}

}  // namespace

template <typename T>
void fft_pow2(const cpx<T>* in, cpx<T>* out, std::size_t n, std::size_t howmany, bool forward, T scale, int device,
              cudaStream_t stream) {
  const unsigned log2n = gpu::log2_pow2(n);
  const auto tw_table = twiddles<T>(n, device);
  const cpx<T>* tw = tw_table.get();
  if (n <= block_limit<T>(device)) {
    const unsigned per_row = static_cast<unsigned>(std::min<std::size_t>(512, std::max<std::size_t>(1, n / 2)));
    const unsigned threads = std::max(kThreads, per_row);
    const std::size_t rows_per_block = threads / per_row;
    const std::size_t bytes = rows_per_block * n * sizeof(cpx<T>);
    if (bytes > (std::size_t{48} << 10))
      AUDIOREP_CUDA_CHECK(cudaFuncSetAttribute(block_fft_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(bytes)));
    const std::size_t blocks = (howmany + rows_per_block - 1) / rows_per_block;
    block_fft_kernel<T><<<static_cast<unsigned>(blocks), threads, bytes, stream>>>(in, out, howmany, log2n, tw,
                                                                                   forward, scale, per_row);
    AUDIOREP_CUDA_LAUNCHED("block_fft_kernel");
    return;
  }
  const std::size_t total = howmany * n;
  if (in == out) {
    permute_in_place_kernel<<<grid_for(total, kThreads), kThreads, 0, stream>>>(out, total, log2n);
  } else {
    permute_kernel<<<grid_for(total, kThreads), kThreads, 0, stream>>>(in, out, total, log2n);
  }
  AUDIOREP_CUDA_LAUNCHED("permute_kernel");
  // The first stages of every segment of `limit` elements in shared memory, then
  // one global pass per remaining stage.
  const std::size_t limit = block_limit<T>(device);
  const unsigned log2b = gpu::log2_pow2(limit);
  const std::size_t seg_bytes = limit * sizeof(cpx<T>);
  if (seg_bytes > (std::size_t{48} << 10))
    AUDIOREP_CUDA_CHECK(cudaFuncSetAttribute(segment_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(seg_bytes)));
  segment_kernel<T><<<static_cast<unsigned>(total >> log2b), 512, seg_bytes, stream>>>(out, log2b, log2n, tw, forward);
  AUDIOREP_CUDA_LAUNCHED("segment_kernel");
  for (unsigned s = log2b; s < log2n; ++s) {
    stage_kernel<<<grid_for(total / 2, kThreads), kThreads, 0, stream>>>(out, total / 2, s, log2n, tw, forward);
    AUDIOREP_CUDA_LAUNCHED("stage_kernel");
  }
  if (scale != T(1)) {
    scale_kernel<<<grid_for(total, kThreads), kThreads, 0, stream>>>(out, total, scale);
    AUDIOREP_CUDA_LAUNCHED("scale_kernel");
  }
}

template void fft_pow2<float>(const cpx<float>*, cpx<float>*, std::size_t, std::size_t, bool, float, int,
                              cudaStream_t);
template void fft_pow2<double>(const cpx<double>*, cpx<double>*, std::size_t, std::size_t, bool, double, int,
                               cudaStream_t);

}  // namespace detail

template <typename T>
void c2c(const std::complex<T>* in, std::complex<T>* out, std::size_t n, std::size_t howmany, bool forward, T scale,
         int device, void* stream) {
  if (n < 1) throw std::invalid_argument("n must be at least 1");
  detail::DeviceGuard guard(device);
  detail::c2c_rows(reinterpret_cast<const gpu::cpx<T>*>(in), reinterpret_cast<gpu::cpx<T>*>(out), n, howmany,
                   forward, scale, device, static_cast<cudaStream_t>(stream));
}

template <typename T>
void r2c(const T* in, std::complex<T>* out, std::size_t n, std::size_t howmany, T scale, int device, void* stream) {
  using detail::grid_for;
  using detail::kThreads;
  if (n < 1) throw std::invalid_argument("n must be at least 1");
  if (howmany == 0) return;
  detail::DeviceGuard guard(device);
  auto s = static_cast<cudaStream_t>(stream);
  if (n % 2 == 0 && reinterpret_cast<std::uintptr_t>(in) % sizeof(gpu::cpx<T>) == 0) {
    // Rows of n reals are rows of n/2 complex values (rows start at even
    // offsets): one half-length transform, then the split into the n/2 + 1 bins.
    const std::size_t h = n / 2;
    detail::Scratch<gpu::cpx<T>> z(howmany * h, s);
    detail::c2c_rows(reinterpret_cast<const gpu::cpx<T>*>(in), z.get(), h, howmany, true, T(1), device, s);
    detail::r2c_unpack_kernel<<<grid_for(howmany * (h + 1), kThreads), kThreads, 0, s>>>(
        z.get(), reinterpret_cast<gpu::cpx<T>*>(out), h, howmany, detail::twiddles<T>(n, device).get(), scale);
    AUDIOREP_CUDA_LAUNCHED("r2c_unpack_kernel");
    return;
  }
  detail::Scratch<gpu::cpx<T>> a(howmany * n, s), b(howmany * n, s);
  detail::promote_kernel<<<grid_for(howmany * n, kThreads), kThreads, 0, s>>>(in, a.get(), howmany * n);
  AUDIOREP_CUDA_LAUNCHED("promote_kernel");
  detail::c2c_rows(a.get(), b.get(), n, howmany, true, scale, device, s);
  detail::take_half_kernel<<<grid_for(howmany * (n / 2 + 1), kThreads), kThreads, 0, s>>>(
      b.get(), reinterpret_cast<gpu::cpx<T>*>(out), n, howmany);
  AUDIOREP_CUDA_LAUNCHED("take_half_kernel");
}

template <typename T>
void c2r(const std::complex<T>* in, T* out, std::size_t n, std::size_t howmany, T scale, int device, void* stream) {
  using detail::grid_for;
  using detail::kThreads;
  if (n < 1) throw std::invalid_argument("n must be at least 1");
  if (howmany == 0) return;
  detail::DeviceGuard guard(device);
  auto s = static_cast<cudaStream_t>(stream);
  if (n % 2 == 0 && reinterpret_cast<std::uintptr_t>(out) % sizeof(gpu::cpx<T>) == 0) {
    const std::size_t h = n / 2;
    detail::Scratch<gpu::cpx<T>> z(howmany * h, s);
    detail::c2r_pack_kernel<<<grid_for(howmany * h, kThreads), kThreads, 0, s>>>(
        reinterpret_cast<const gpu::cpx<T>*>(in), z.get(), n, howmany, detail::twiddles<T>(n, device).get());
    AUDIOREP_CUDA_LAUNCHED("c2r_pack_kernel");
    detail::c2c_rows(z.get(), reinterpret_cast<gpu::cpx<T>*>(out), h, howmany, false, scale, device, s);
    return;
  }
  detail::Scratch<gpu::cpx<T>> a(howmany * n, s), b(howmany * n, s);
  detail::hermitian_kernel<<<grid_for(howmany * n, kThreads), kThreads, 0, s>>>(
      reinterpret_cast<const gpu::cpx<T>*>(in), a.get(), n, howmany);
  AUDIOREP_CUDA_LAUNCHED("hermitian_kernel");
  detail::c2c_rows(a.get(), b.get(), n, howmany, false, scale, device, s);
  detail::take_real_kernel<<<grid_for(howmany * n, kThreads), kThreads, 0, s>>>(b.get(), out, howmany * n);
  AUDIOREP_CUDA_LAUNCHED("take_real_kernel");
}

#define AUDIOREP_CUDA_FFT_INSTANTIATE(T)                                                                        \
  template void c2c<T>(const std::complex<T>*, std::complex<T>*, std::size_t, std::size_t, bool, T, int, void*); \
  template void r2c<T>(const T*, std::complex<T>*, std::size_t, std::size_t, T, int, void*);                   \
  template void c2r<T>(const std::complex<T>*, T*, std::size_t, std::size_t, T, int, void*);

AUDIOREP_CUDA_FFT_INSTANTIATE(float)
AUDIOREP_CUDA_FFT_INSTANTIATE(double)

#undef AUDIOREP_CUDA_FFT_INSTANTIATE

}  // namespace cuda
}  // namespace audiorep
