// Fused GPU autocorrelogram: one block per pair of frames, packed as a + i b in
// one complex transform like the CPU kernel. The block windows the two frames
// straight from the signal, transforms, forms both power spectra, transforms
// back and writes only the kept lags (normalised) and the lag-0 energies, all in
// shared memory. Transforms too long for shared memory run the same routine on
// a slice of global scratch per block. The arithmetic is gpu::autocorr_pair of
// fft_index.hpp, which the CPU harness runs too.
#include <algorithm>

#include "audiorep/cuda.hpp"
#include "common.cuh"

namespace audiorep {
namespace cuda {
namespace detail {
namespace {

template <typename T>
__global__ void autocorr_pair_kernel(const T* x, std::size_t n_frames, std::size_t hop, std::ptrdiff_t row_dist,
                                     const T* window, std::size_t frame_length, std::size_t max_lag, unsigned log2n,
                                     const gpu::cpx<T>* tw, bool normalize, T* values, T* energy, std::size_t items,
                                     std::size_t first_pair, gpu::cpx<T>* scratch) {
  extern __shared__ __align__(16) unsigned char shared[];
  gpu::cpx<T>* buf = scratch ? scratch + (std::size_t{blockIdx.x} << log2n) : reinterpret_cast<gpu::cpx<T>*>(shared);
  const std::size_t ia = 2 * (first_pair + blockIdx.x), ib = ia + 1;
  const bool has_b = ib < items;
  const T* fa = x + gpu::frame_start(ia / n_frames, ia % n_frames, hop, row_dist);
  const T* fb = has_b ? x + gpu::frame_start(ib / n_frames, ib % n_frames, hop, row_dist) : nullptr;
  gpu::autocorr_pair(fa, fb, window, frame_length, max_lag, log2n, tw, normalize, buf, values + ia * max_lag,
                     has_b ? values + ib * max_lag : static_cast<T*>(nullptr), energy ? energy + ia : nullptr,
                     energy && has_b ? energy + ib : nullptr, threadIdx.x, blockDim.x, BlockSync{});
}

}  // namespace
}  // namespace detail

template <typename T>
void autocorrelogram(const T* x, std::size_t n_samples, std::size_t howmany, std::ptrdiff_t row_dist,
                     const T* window, std::size_t frame_length, std::size_t hop, std::size_t n_frames,
                     std::size_t max_lag, std::size_t nfft, bool normalize, T* values, T* energy, int device,
                     void* stream) {
  gpu::check_autocorrelogram_args(n_samples, frame_length, hop, n_frames, max_lag, nfft);
  const std::size_t items = howmany * n_frames;
  if (items == 0) return;
  detail::DeviceGuard guard(device);
  auto s = static_cast<cudaStream_t>(stream);
  const unsigned log2n = gpu::log2_pow2(nfft);
  const auto tw_table = detail::twiddles<T>(nfft, device);
  const gpu::cpx<T>* tw = tw_table.get();
  const std::size_t pairs = (items + 1) / 2;
  const unsigned threads = static_cast<unsigned>(std::min<std::size_t>(512, std::max<std::size_t>(32, nfft / 2)));
  if (nfft <= detail::block_limit<T>(device)) {
    const std::size_t bytes = nfft * sizeof(gpu::cpx<T>);
    if (bytes > (std::size_t{48} << 10))
      AUDIOREP_CUDA_CHECK(cudaFuncSetAttribute(detail::autocorr_pair_kernel<T>,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
    detail::autocorr_pair_kernel<T><<<static_cast<unsigned>(pairs), threads, bytes, s>>>(
        x, n_frames, hop, row_dist, window, frame_length, max_lag, log2n, tw, normalize, values, energy, items, 0,
        nullptr);
    AUDIOREP_CUDA_LAUNCHED("autocorr_pair_kernel");
    return;
  }
  const std::size_t chunk = std::max<std::size_t>(1, (std::size_t{1} << 24) / nfft);
  detail::Scratch<gpu::cpx<T>> scratch(std::min(chunk, pairs) * nfft, s);
  for (std::size_t p0 = 0; p0 < pairs; p0 += chunk) {
    const std::size_t np = std::min(chunk, pairs - p0);
    detail::autocorr_pair_kernel<T><<<static_cast<unsigned>(np), threads, 0, s>>>(
        x, n_frames, hop, row_dist, window, frame_length, max_lag, log2n, tw, normalize, values, energy, items, p0,
        scratch.get());
    AUDIOREP_CUDA_LAUNCHED("autocorr_pair_kernel");
  }
}

template void autocorrelogram<float>(const float*, std::size_t, std::size_t, std::ptrdiff_t, const float*,
                                     std::size_t, std::size_t, std::size_t, std::size_t, std::size_t, bool, float*,
                                     float*, int, void*);
template void autocorrelogram<double>(const double*, std::size_t, std::size_t, std::ptrdiff_t, const double*,
                                      std::size_t, std::size_t, std::size_t, std::size_t, std::size_t, bool, double*,
                                      double*, int, void*);

}  // namespace cuda
}  // namespace audiorep
