// Index arithmetic, butterflies, twiddles and Bluestein chirps of the GPU FFT,
// written once as __host__ __device__ functions. The CUDA kernels (csrc/cuda/)
// call them from device code; the CPU harness (csrc/cuda/harness.cpp) calls the
// very same functions, in the same order, one thread at a time, so every CI run
// checks the GPU arithmetic against numpy without a GPU.
//
// The block-level routines take (tid, nthreads) and a `sync` functor: a CUDA
// block passes threadIdx.x, its thread count and a __syncthreads() barrier; the
// harness passes 0, 1 and a no-op. Every loop covers all indices for any thread
// count, so the sequential run computes exactly what the block computes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include <cmath>

#include "audiorep/sizes.hpp"

namespace audiorep {
namespace gpu {

// Complex number with the layout of std::complex<T> (and of cuFFT's and torch's
// complex types), usable in device code.
template <typename T>
struct cpx {
  T re, im;
};

template <typename T>
AUDIOREP_HD_INLINE cpx<T> make(T re, T im) {
  cpx<T> c;
  c.re = re;
  c.im = im;
  return c;
}
template <typename T>
AUDIOREP_HD_INLINE cpx<T> add(cpx<T> a, cpx<T> b) { return make(a.re + b.re, a.im + b.im); }
template <typename T>
AUDIOREP_HD_INLINE cpx<T> sub(cpx<T> a, cpx<T> b) { return make(a.re - b.re, a.im - b.im); }
template <typename T>
AUDIOREP_HD_INLINE cpx<T> mul(cpx<T> a, cpx<T> b) {
  return make(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re);
}
template <typename T>
AUDIOREP_HD_INLINE cpx<T> conj(cpx<T> a) { return make(a.re, -a.im); }
template <typename T>
AUDIOREP_HD_INLINE cpx<T> scaled(cpx<T> a, T s) { return make(a.re * s, a.im * s); }

// ---------------------------------------------------------------- sizes

// is_pow2, next_pow2 and log2_pow2 come from audiorep/sizes.hpp.
using audiorep::is_pow2;
using audiorep::log2_pow2;
using audiorep::next_pow2;

// Bluestein's convolution length: a power of two >= 2n - 1, so the circular
// convolution of the chirped row with the chirp holds the linear one.
AUDIOREP_HD_INLINE std::size_t bluestein_size(std::size_t n) { return next_pow2(2 * n - 1); }

// i with its lowest `bits` bits in reverse order (bits <= 32).
AUDIOREP_HD_INLINE std::uint32_t bit_reverse(std::uint32_t i, unsigned bits) {
  if (bits == 0) return 0;
#if defined(__CUDA_ARCH__)
  return __brev(i) >> (32 - bits);
#else
  std::uint32_t r = 0;
  for (unsigned b = 0; b < bits; ++b) {
    r = (r << 1) | (i & 1u);
    i >>= 1;
  }
  return r;
#endif
}

// ---------------------------------------------------------------- twiddles and chirps

AUDIOREP_HD_INLINE void sin_cos(double a, double* s, double* c) {
#if defined(__CUDA_ARCH__)
  sincos(a, s, c);
#else
  *s = std::sin(a);
  *c = std::cos(a);
#endif
}

// exp(-2 pi i k / n), computed in double precision from k mod n; the table of a
// length-n transform holds k = 0 .. n/2 - 1 (the inverse uses the conjugates).
template <typename T>
AUDIOREP_HD_INLINE cpx<T> twiddle(std::size_t k, std::size_t n) {
  const double a = -6.283185307179586476925286766559 * static_cast<double>(k % n) / static_cast<double>(n);
  double s, c;
  sin_cos(a, &s, &c);
  return make(static_cast<T>(c), static_cast<T>(s));
}

// Bluestein chirp exp(sign i pi k^2 / n), sign = -1 forward and +1 inverse. k^2 is
// reduced mod 2n first (exactly, in integers), so the angle stays small and accurate.
template <typename T>
AUDIOREP_HD_INLINE cpx<T> chirp(std::size_t k, std::size_t n, bool forward) {
  const std::uint64_t m = 2 * static_cast<std::uint64_t>(n);
  const std::uint64_t kk = static_cast<std::uint64_t>(k) % m;
  const std::uint64_t q = (kk * kk) % m;
  const double a = (forward ? -1.0 : 1.0) * 3.1415926535897932384626433832795 * static_cast<double>(q) /
                   static_cast<double>(n);
  double s, c;
  sin_cos(a, &s, &c);
  return make(static_cast<T>(c), static_cast<T>(s));
}

// Element k of the convolution kernel of a length-n Bluestein transform padded to
// m: the conjugate chirp at k and, mirrored, at m - k; zero in between.
template <typename T>
AUDIOREP_HD_INLINE cpx<T> bluestein_kernel(std::size_t k, std::size_t n, std::size_t m, bool forward) {
  if (k < n) return conj(chirp<T>(k, n, forward));
  if (k > m - n) return conj(chirp<T>(m - k, n, forward));
  return make(T(0), T(0));
}

// Element k of the chirped, zero-padded row that Bluestein transforms (row has n elements).
template <typename T>
AUDIOREP_HD_INLINE cpx<T> bluestein_load(const cpx<T>* row, std::size_t k, std::size_t n, bool forward) {
  if (k >= n) return make(T(0), T(0));
  return mul(row[k], chirp<T>(k, n, forward));
}

// Output k of a Bluestein transform from element k of the inverse convolution
// (unnormalised, length m): chirped again, times scale / m.
template <typename T>
AUDIOREP_HD_INLINE cpx<T> bluestein_store(cpx<T> conv_k, std::size_t k, std::size_t n, std::size_t m, bool forward,
                                          T scale) {
  return scaled(mul(conv_k, chirp<T>(k, n, forward)), scale / static_cast<T>(m));
}

// ---------------------------------------------------------------- radix-2 butterflies

// Butterfly j (0 <= j < n/2) of the stage that merges transforms of length h into
// ones of length 2h: it combines elements i0 and i0 + h with twiddle index
// (j mod h) * n / (2h) of the length-n table.
struct Butterfly {
  std::size_t i0, i1, tw;
};

AUDIOREP_HD_INLINE Butterfly butterfly_at(std::size_t j, unsigned log2h, unsigned log2n) {
  const std::size_t h = std::size_t{1} << log2h;
  const std::size_t pos = j & (h - 1);
  Butterfly b;
  b.i0 = ((j >> log2h) << (log2h + 1)) + pos;
  b.i1 = b.i0 + h;
  b.tw = pos << (log2n - log2h - 1);
  return b;
}

// One radix-2 decimation-in-time butterfly in place; tw is the forward table.
template <typename T>
AUDIOREP_HD_INLINE void butterfly(cpx<T>* data, std::size_t j, unsigned log2h, unsigned log2n, const cpx<T>* tw,
                                  bool forward) {
  const Butterfly b = butterfly_at(j, log2h, log2n);
  cpx<T> w = tw[b.tw];
  if (!forward) w = conj(w);
  const cpx<T> u = data[b.i0];
  const cpx<T> v = mul(data[b.i1], w);
  data[b.i0] = add(u, v);
  data[b.i1] = sub(u, v);
}

struct NoSync {
  AUDIOREP_HD_INLINE void operator()() const {}
};

// Stages s_begin .. s_end-1 of a length-2^log2n transform (data in bit-reversed
// order) on a segment of 2^log2len elements, log2len >= s_end: below stage
// log2len the segments are independent transforms, and butterfly indices are
// local to the segment while twiddle indices refer to the length-n table.
// `sync` runs after each stage (and must run before the first when another
// thread loaded data).
template <typename T, class Sync>
AUDIOREP_HD void radix2_stage_range(cpx<T>* data, unsigned log2len, unsigned log2n, unsigned s_begin, unsigned s_end,
                                    const cpx<T>* tw, bool forward, unsigned tid, unsigned nthreads, Sync sync) {
  const std::size_t half = (std::size_t{1} << log2len) >> 1;
  for (unsigned s = s_begin; s < s_end; ++s) {
    for (std::size_t j = tid; j < half; j += nthreads) butterfly(data, j, s, log2n, tw, forward);
    sync();
  }
}

// All log2n stages of one row.
template <typename T, class Sync>
AUDIOREP_HD void radix2_stages(cpx<T>* data, unsigned log2n, const cpx<T>* tw, bool forward, unsigned tid,
                               unsigned nthreads, Sync sync) {
  radix2_stage_range(data, log2n, log2n, 0, log2n, tw, forward, tid, nthreads, sync);
}

// The first log2len stages of a long row, one segment of 2^log2len elements at a
// time through buf (shared memory): the long transform's global-memory passes
// then start at stage log2len.
template <typename T, class Sync>
AUDIOREP_HD void segment_stages(cpx<T>* segment, cpx<T>* buf, unsigned log2len, unsigned log2n, const cpx<T>* tw,
                                bool forward, unsigned tid, unsigned nthreads, Sync sync) {
  const std::size_t len = std::size_t{1} << log2len;
  for (std::size_t i = tid; i < len; i += nthreads) buf[i] = segment[i];
  sync();
  radix2_stage_range(buf, log2len, log2n, 0, log2len, tw, forward, tid, nthreads, sync);
  for (std::size_t i = tid; i < len; i += nthreads) segment[i] = buf[i];
  sync();
}

// In-place bit-reversal permutation (each thread swaps the pairs i < rev(i) it owns).
template <typename T, class Sync>
AUDIOREP_HD void bit_reverse_in_place(cpx<T>* data, unsigned log2n, unsigned tid, unsigned nthreads, Sync sync) {
  const std::size_t n = std::size_t{1} << log2n;
  for (std::size_t i = tid; i < n; i += nthreads) {
    const std::size_t r = bit_reverse(static_cast<std::uint32_t>(i), log2n);
    if (i < r) {
      const cpx<T> t = data[i];
      data[i] = data[r];
      data[r] = t;
    }
  }
  sync();
}

// A whole power-of-two transform of one row: src (n elements, scaled by `scale`)
// is loaded into buf in bit-reversed order, transformed in buf, and written to
// dst (which may be src; null: not written). buf is shared memory on the GPU.
template <typename T, class Sync>
AUDIOREP_HD void fft_pow2_row(const cpx<T>* src, cpx<T>* buf, cpx<T>* dst, unsigned log2n, const cpx<T>* tw,
                              bool forward, T scale, unsigned tid, unsigned nthreads, Sync sync) {
  const std::size_t n = std::size_t{1} << log2n;
  for (std::size_t i = tid; i < n; i += nthreads) buf[bit_reverse(static_cast<std::uint32_t>(i), log2n)] = src[i];
  sync();
  radix2_stages(buf, log2n, tw, forward, tid, nthreads, sync);
  if (dst)
    for (std::size_t i = tid; i < n; i += nthreads) dst[i] = scaled(buf[i], scale);
  sync();
}

// ---------------------------------------------------------------- real transforms

// Bin k (0 <= k < n) of the full spectrum whose bins 0 .. n/2 are `half`, as
// numpy.fft.irfft reads it: Hermitian mirror above n/2, and the imaginary parts
// of bin 0 and (for even n) bin n/2 dropped.
template <typename T>
AUDIOREP_HD_INLINE cpx<T> hermitian_bin(const cpx<T>* half, std::size_t k, std::size_t n) {
  if (k == 0 || 2 * k == n) return make(half[k].re, T(0));
  if (2 * k < n) return half[k];
  return conj(half[n - k]);
}

// Even n = 2h: the real row is read as h complex values x[2k] + i x[2k+1], which
// one h-point transform Z turns into both half-length spectra at once.
// r2c bin k (0 <= k <= h) from Z; tw is the length-n table (k < h).
template <typename T>
AUDIOREP_HD_INLINE cpx<T> r2c_unpack(const cpx<T>* z, std::size_t k, std::size_t h, const cpx<T>* tw) {
  const cpx<T> zk = z[k == h ? 0 : k];
  const cpx<T> zm = conj(z[k == 0 ? 0 : h - k]);
  const cpx<T> even = scaled(add(zk, zm), T(0.5));
  const cpx<T> d = scaled(sub(zk, zm), T(0.5));
  const cpx<T> odd = make(d.im, -d.re);  // d / i
  const cpx<T> w = k == h ? make(T(-1), T(0)) : tw[k];
  return add(even, mul(w, odd));
}

// The inverse: element k (k < h) of the h-point spectrum whose unnormalised
// inverse, read as pairs of reals, is the unnormalised length-n c2r of `half`
// (n/2 + 1 bins, read as hermitian_bin does).
template <typename T>
AUDIOREP_HD_INLINE cpx<T> c2r_pack(const cpx<T>* half, std::size_t k, std::size_t n, const cpx<T>* tw) {
  const std::size_t h = n / 2;
  const cpx<T> xk = hermitian_bin(half, k, n);
  const cpx<T> xm = conj(hermitian_bin(half, h - k, n));
  const cpx<T> odd = mul(sub(xk, xm), conj(tw[k]));
  return add(add(xk, xm), make(-odd.im, odd.re));  // + i * odd
}

// ---------------------------------------------------------------- autocorrelation

// First sample of frame f of row `row`.
AUDIOREP_HD_INLINE std::size_t frame_start(std::size_t row, std::size_t f, std::size_t hop, std::ptrdiff_t row_dist) {
  return row * static_cast<std::size_t>(row_dist) + f * hop;
}

// Two real frames a, b packed as a + i b share one transform Z. Their power
// spectra, both real and even, are packed again as |A[k]|^2 + i |B[k]|^2, so one
// inverse gives both autocorrelations (real and imaginary parts). Bin k of that
// packed power from Z[k] and Z[n-k], times 4.
template <typename T>
AUDIOREP_HD_INLINE cpx<T> packed_power(cpx<T> zk, cpx<T> zm) {
  const T s = zk.re * zk.re + zk.im * zk.im + zm.re * zm.re + zm.im * zm.im;
  const T c = T(2) * (zk.re * zm.re - zk.im * zm.im);
  const T a = s + c, b = s - c;
  return make(a > T(0) ? a : T(0), b > T(0) ? b : T(0));
}

// Autocorrelation of one frame pair in buf (nfft = 2^log2n elements):
// windowed frames fa, fb (fb may be null: a zero frame) of L samples, lags
// 0..K-1 written to va, vb (vb may be null) and lag 0 before normalisation to
// ea, eb (may be null).
template <typename T, class Sync>
AUDIOREP_HD void autocorr_pair(const T* fa, const T* fb, const T* window, std::size_t L, std::size_t K,
                               unsigned log2n, const cpx<T>* tw, bool normalize, cpx<T>* buf, T* va, T* vb, T* ea,
                               T* eb, unsigned tid, unsigned nthreads, Sync sync) {
  const std::size_t n = std::size_t{1} << log2n;
  for (std::size_t i = tid; i < n; i += nthreads) {
    cpx<T> v = make(T(0), T(0));
    if (i < L) {
      const T w = window ? window[i] : T(1);
      v = make(w * fa[i], fb ? w * fb[i] : T(0));
    }
    buf[bit_reverse(static_cast<std::uint32_t>(i), log2n)] = v;
  }
  sync();
  radix2_stages(buf, log2n, tw, true, tid, nthreads, sync);
  // Bins k and n - k are read and written by the same thread, so this runs in place.
  for (std::size_t k = tid; k <= n / 2; k += nthreads) {
    const std::size_t m = (n - k) & (n - 1);
    const cpx<T> p = packed_power(buf[k], buf[m]);
    buf[k] = p;
    buf[m] = p;
  }
  sync();
  bit_reverse_in_place(buf, log2n, tid, nthreads, sync);
  radix2_stages(buf, log2n, tw, false, tid, nthreads, sync);
  // 1/n for the inverse transform, 1/4 for the packed power.
  const T scale = T(1) / (T(4) * static_cast<T>(n));
  const T ra = buf[0].re * scale, rb = buf[0].im * scale;
  const T inv_a = ra > T(0) ? T(1) / ra : T(0), inv_b = rb > T(0) ? T(1) / rb : T(0);
  for (std::size_t k = tid; k < K; k += nthreads) {
    const T a = buf[k].re * scale, b = buf[k].im * scale;
    if (normalize) {
      va[k] = k == 0 ? (ra > T(0) ? T(1) : T(0)) : a * inv_a;
      if (vb) vb[k] = k == 0 ? (rb > T(0) ? T(1) : T(0)) : b * inv_b;
    } else {
      va[k] = a;
      if (vb) vb[k] = b;
    }
  }
  if (tid == 0) {
    if (ea) *ea = ra > T(0) ? ra : T(0);
    if (eb) *eb = rb > T(0) ? rb : T(0);
  }
  sync();
}

// The argument checks of the GPU autocorrelogram, on the host, shared by the
// CUDA entry point and the CPU harness so both refuse the same calls.
inline void check_autocorrelogram_args(std::size_t n_samples, std::size_t frame_length, std::size_t hop,
                                       std::size_t n_frames, std::size_t max_lag, std::size_t nfft) {
  if (frame_length < 1 || hop < 1) throw std::invalid_argument("frame_length and hop must be at least 1");
  if (n_frames > 0 && (n_frames - 1) * hop + frame_length > n_samples)
    throw std::invalid_argument("frames run past the end of the signal");
  if (max_lag < 1 || max_lag > frame_length) throw std::invalid_argument("max_lag must be in [1, frame_length]");
  if (!is_pow2(nfft) || nfft < frame_length + max_lag - 1)
    throw std::invalid_argument("nfft must be a power of two >= frame_length + max_lag - 1");
}

}  // namespace gpu
}  // namespace audiorep
