// CPU run of the GPU algorithms (see fft_harness.hpp). Every loop here stands
// for one kernel launch of csrc/cuda/fft.cu or autocorr.cu and calls the same
// shared functions with the same arguments.
#include "audiorep/fft_harness.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "audiorep/fft_index.hpp"

namespace audiorep {
namespace harness {

namespace {

using gpu::cpx;

template <typename T>
std::vector<cpx<T>> twiddle_table(std::size_t n) {
  std::vector<cpx<T>> tw(std::max<std::size_t>(1, n / 2));
  for (std::size_t k = 0; k < tw.size(); ++k) tw[k] = gpu::twiddle<T>(k, n);
  return tw;
}

// Power-of-two rows: one block per row up to block_limit (a power of two);
// above, a permutation pass, one in-block pass over segments of block_limit
// elements for the first stages, and one pass per remaining stage.
template <typename T>
void pow2_rows(const cpx<T>* in, cpx<T>* out, unsigned log2n, std::size_t howmany, const cpx<T>* tw, bool forward,
               T scale, std::size_t block_limit) {
  const std::size_t n = std::size_t{1} << log2n;
  if (n <= block_limit) {
    std::vector<cpx<T>> buf(n);
    for (std::size_t r = 0; r < howmany; ++r)
      gpu::fft_pow2_row(in + r * n, buf.data(), out + r * n, log2n, tw, forward, scale, 0, 1, gpu::NoSync{});
    return;
  }
  for (std::size_t r = 0; r < howmany; ++r) {
    cpx<T>* row = out + r * n;
    if (in == out) {
      gpu::bit_reverse_in_place(row, log2n, 0, 1, gpu::NoSync{});
    } else {
      for (std::size_t i = 0; i < n; ++i) row[gpu::bit_reverse(static_cast<std::uint32_t>(i), log2n)] = in[r * n + i];
    }
  }
  // The first stages segment by segment in a block, the rest one pass per stage.
  const unsigned log2b = gpu::log2_pow2(block_limit);
  std::vector<cpx<T>> buf(block_limit);
  for (std::size_t seg = 0; seg < howmany * (n >> log2b); ++seg)
    gpu::segment_stages(out + (seg << log2b), buf.data(), log2b, log2n, tw, forward, 0, 1, gpu::NoSync{});
  for (unsigned s = log2b; s < log2n; ++s)
    for (std::size_t r = 0; r < howmany; ++r)
      for (std::size_t j = 0; j < n / 2; ++j) gpu::butterfly(out + r * n, j, s, log2n, tw, forward);
  if (scale != T(1))
    for (std::size_t i = 0; i < howmany * n; ++i) out[i] = gpu::scaled(out[i], scale);
}

template <typename T>
void c2c_rows(const cpx<T>* in, cpx<T>* out, std::size_t n, std::size_t howmany, bool forward, T scale,
              std::size_t block_limit) {
  if (gpu::is_pow2(n)) {
    const auto tw = twiddle_table<T>(n);
    pow2_rows(in, out, gpu::log2_pow2(n), howmany, tw.data(), forward, scale, block_limit);
    return;
  }
  const std::size_t m = gpu::bluestein_size(n);
  const unsigned log2m = gpu::log2_pow2(m);
  const auto tw = twiddle_table<T>(m);
  std::vector<cpx<T>> spec(m);
  for (std::size_t k = 0; k < m; ++k) spec[k] = gpu::bluestein_kernel<T>(k, n, m, forward);
  pow2_rows(spec.data(), spec.data(), log2m, 1, tw.data(), true, T(1), block_limit);
  std::vector<cpx<T>> a(howmany * m);
  for (std::size_t r = 0; r < howmany; ++r)
    for (std::size_t k = 0; k < m; ++k) a[r * m + k] = gpu::bluestein_load(in + r * n, k, n, forward);
  pow2_rows(a.data(), a.data(), log2m, howmany, tw.data(), true, T(1), block_limit);
  for (std::size_t i = 0; i < howmany * m; ++i) a[i] = gpu::mul(a[i], spec[i % m]);
  pow2_rows(a.data(), a.data(), log2m, howmany, tw.data(), false, T(1), block_limit);
  for (std::size_t r = 0; r < howmany; ++r)
    for (std::size_t k = 0; k < n; ++k) out[r * n + k] = gpu::bluestein_store(a[r * m + k], k, n, m, forward, scale);
}

}  // namespace

template <typename T>
std::size_t default_block_limit() {
  // 128 KiB of shared memory per block: 8192 double or 16384 float elements.
  return (std::size_t{128} << 10) / sizeof(cpx<T>);
}

template <typename T>
void c2c(const std::complex<T>* in, std::complex<T>* out, std::size_t n, std::size_t howmany, bool forward, T scale,
         std::size_t block_limit) {
  if (n < 1) throw std::invalid_argument("n must be at least 1");
  c2c_rows(reinterpret_cast<const cpx<T>*>(in), reinterpret_cast<cpx<T>*>(out), n, howmany, forward, scale,
           block_limit);
}

template <typename T>
void r2c(const T* in, std::complex<T>* out, std::size_t n, std::size_t howmany, T scale, std::size_t block_limit) {
  if (n < 1) throw std::invalid_argument("n must be at least 1");
  if (n % 2 == 0) {
    // Rows of n reals are rows of n/2 complex values: one half-length transform.
    const std::size_t h = n / 2;
    const auto tw = twiddle_table<T>(n);
    std::vector<cpx<T>> z(howmany * h);
    c2c_rows(reinterpret_cast<const cpx<T>*>(in), z.data(), h, howmany, true, T(1), block_limit);
    auto* o = reinterpret_cast<cpx<T>*>(out);
    for (std::size_t r = 0; r < howmany; ++r)
      for (std::size_t k = 0; k <= h; ++k)
        o[r * (h + 1) + k] = gpu::scaled(gpu::r2c_unpack(z.data() + r * h, k, h, tw.data()), scale);
    return;
  }
  std::vector<cpx<T>> a(howmany * n), b(howmany * n);
  for (std::size_t i = 0; i < howmany * n; ++i) a[i] = gpu::make(in[i], T(0));
  c2c_rows(a.data(), b.data(), n, howmany, true, scale, block_limit);
  const std::size_t h = n / 2 + 1;
  auto* o = reinterpret_cast<cpx<T>*>(out);
  for (std::size_t r = 0; r < howmany; ++r)
    for (std::size_t k = 0; k < h; ++k) o[r * h + k] = b[r * n + k];
}

template <typename T>
void c2r(const std::complex<T>* in, T* out, std::size_t n, std::size_t howmany, T scale, std::size_t block_limit) {
  if (n < 1) throw std::invalid_argument("n must be at least 1");
  const std::size_t h = n / 2 + 1;
  const auto* src = reinterpret_cast<const cpx<T>*>(in);
  if (n % 2 == 0) {
    const std::size_t hn = n / 2;
    const auto tw = twiddle_table<T>(n);
    std::vector<cpx<T>> z(howmany * hn);
    for (std::size_t r = 0; r < howmany; ++r)
      for (std::size_t k = 0; k < hn; ++k) z[r * hn + k] = gpu::c2r_pack(src + r * h, k, n, tw.data());
    c2c_rows(z.data(), reinterpret_cast<cpx<T>*>(out), hn, howmany, false, scale, block_limit);
    return;
  }
  std::vector<cpx<T>> a(howmany * n), b(howmany * n);
  for (std::size_t r = 0; r < howmany; ++r)
    for (std::size_t k = 0; k < n; ++k) a[r * n + k] = gpu::hermitian_bin(src + r * h, k, n);
  c2c_rows(a.data(), b.data(), n, howmany, false, scale, block_limit);
  for (std::size_t i = 0; i < howmany * n; ++i) out[i] = b[i].re;
}

template <typename T>
void autocorrelogram(const T* x, std::size_t n_samples, std::size_t howmany, std::ptrdiff_t row_dist,
                     const T* window, std::size_t frame_length, std::size_t hop, std::size_t n_frames,
                     std::size_t max_lag, std::size_t nfft, bool normalize, T* values, T* energy) {
  gpu::check_autocorrelogram_args(n_samples, frame_length, hop, n_frames, max_lag, nfft);
  const unsigned log2n = gpu::log2_pow2(nfft);
  const auto tw = twiddle_table<T>(nfft);
  const std::size_t items = howmany * n_frames, pairs = (items + 1) / 2;
  std::vector<cpx<T>> buf(nfft);
  auto frame = [&](std::size_t i) { return x + gpu::frame_start(i / n_frames, i % n_frames, hop, row_dist); };
  // One CUDA block per pair.
  for (std::size_t p = 0; p < pairs; ++p) {
    const std::size_t ia = 2 * p, ib = 2 * p + 1;
    const bool has_b = ib < items;
    gpu::autocorr_pair(frame(ia), has_b ? frame(ib) : static_cast<const T*>(nullptr), window, frame_length, max_lag,
                       log2n, tw.data(), normalize, buf.data(), values + ia * max_lag,
                       has_b ? values + ib * max_lag : static_cast<T*>(nullptr), energy ? energy + ia : nullptr,
                       energy && has_b ? energy + ib : nullptr, 0, 1, gpu::NoSync{});
  }
}

#define AUDIOREP_HARNESS_INSTANTIATE(T)                                                                           \
  template std::size_t default_block_limit<T>();                                                                 \
  template void c2c<T>(const std::complex<T>*, std::complex<T>*, std::size_t, std::size_t, bool, T, std::size_t); \
  template void r2c<T>(const T*, std::complex<T>*, std::size_t, std::size_t, T, std::size_t);                   \
  template void c2r<T>(const std::complex<T>*, T*, std::size_t, std::size_t, T, std::size_t);                   \
  template void autocorrelogram<T>(const T*, std::size_t, std::size_t, std::ptrdiff_t, const T*, std::size_t,    \
                                   std::size_t, std::size_t, std::size_t, std::size_t, bool, T*, T*);

AUDIOREP_HARNESS_INSTANTIATE(float)
AUDIOREP_HARNESS_INSTANTIATE(double)

#undef AUDIOREP_HARNESS_INSTANTIATE

}  // namespace harness
}  // namespace audiorep
