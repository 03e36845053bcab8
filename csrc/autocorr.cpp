// Fused frame -> window -> FFT -> power -> inverse FFT -> lags kernels.
//
// Three levers keep the transforms small:
//  * Two real frames a, b share one complex transform: Z = FFT(a + i b) gives
//    |A|^2 and |B|^2 from Z[k] and Z[N-k] alone, and both power spectra are real
//    and even, so one complex inverse of |A|^2 + i |B|^2 returns the two
//    autocorrelations as its real and imaginary parts.
//  * The zero-padded tail is pruned on the way in: when the frame fills at most
//    N/E samples, bins k = E j + p are the (N/E)-point transform of the frame
//    twisted by exp(-2 pi i n p / N), so E short transforms replace one long one.
//  * Only lags < K are kept on the way out: with K <= N/D, lag n is
//    sum_q exp(2 pi i q n / N) F_q[n] where F_q is the (N/D)-point inverse of the
//    bins q, q + D, q + 2D, ...  The spectrum is even, so F_{D-q} is F_q read
//    backwards and only D/2 + 1 of the D short inverses are computed.
// FFTs run through the public batched API of fft.hpp on blocks of frames; each
// thread owns its block buffers, which are sized to stay in cache.
#include "audiorep/autocorr.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <stdexcept>
#include <string>
#include <vector>

#include "audiorep/fft.hpp"
#include "audiorep/parallel.hpp"
#include "audiorep/sizes.hpp"

namespace audiorep {
namespace acf {

namespace {

// The streaming loops below are compiled for AVX-512, AVX2/FMA and the x86-64
// baseline, and the loader picks one per CPU (GCC function multi-versioning).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define AUDIOREP_ACF_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define AUDIOREP_ACF_CLONES
#endif

template <typename T>
using cplx = std::complex<T>;

// Largest split factor of either side; beyond it the combining sums cost more
// than the transform stages they save.
constexpr std::size_t kMaxSplit = 16;
// Complex elements per block buffer: two such buffers per thread (128 KiB each
// in single precision) hold a block of frame pairs at every stage; small blocks
// keep the working set of the FFT stages in L2.
constexpr std::size_t kBlockElements = std::size_t{1} << 14;

template <typename T>
struct Plan {
  std::size_t L = 0, N = 0, K = 0;
  std::size_t E = 1, Mf = 0;          // forward split: E transforms of Mf = N / E
  unsigned e_shift = 0;
  std::size_t D = 1, Mi = 0, nq = 1;  // inverse split: nq = D/2 + 1 transforms of Mi = N / D
  std::size_t pairs_per_block = 1;
  std::vector<T> tw;                  // exp(-2 pi i n / N), interleaved re, im
  std::vector<T> cre, cim;            // exp(+2 pi i q n / N), q = 1..D/2, n < K: row q-1
  std::vector<T> ones, zeros;         // stand-ins for a missing window and a missing frame

  Plan(std::size_t frame_length, std::size_t nfft, std::size_t max_lag, bool need_inverse)
      : L(frame_length), N(nfft), K(max_lag) {
    while (E < kMaxSplit && N % (2 * E) == 0 && L <= N / (2 * E)) E *= 2;
    Mf = N / E;
    e_shift = log2_pow2(E);
    if (need_inverse) {
      while (D < kMaxSplit && N % (2 * D) == 0 && K <= N / (2 * D)) D *= 2;
      Mi = N / D;
      nq = D == 1 ? 1 : D / 2 + 1;
    }
    pairs_per_block = std::max<std::size_t>(1, kBlockElements / N);
    const double step = -2.0 * 3.14159265358979323846 / static_cast<double>(N);
    tw.resize(2 * N);
    for (std::size_t n = 0; n < N; ++n) {
      const double a = step * static_cast<double>(n);
      tw[2 * n] = static_cast<T>(std::cos(a));
      tw[2 * n + 1] = static_cast<T>(std::sin(a));
    }
    if (need_inverse && D > 1) {
      cre.resize((D / 2) * K);
      cim.resize((D / 2) * K);
      for (std::size_t q = 1; q <= D / 2; ++q) {
        for (std::size_t n = 0; n < K; ++n) {
          const double a = -step * static_cast<double>(q * n);
          cre[(q - 1) * K + n] = static_cast<T>(std::cos(a));
          cim[(q - 1) * K + n] = static_cast<T>(std::sin(a));
        }
      }
    }
    ones.assign(L, T(1));
    zeros.assign(L, T(0));
  }

  // Position of bin k of the packed spectrum in the E forward outputs.
  std::size_t bin(std::size_t k) const { return (k & (E - 1)) * Mf + (k >> e_shift); }
};

// Plans (twiddle tables) are cached per geometry: a short clip would otherwise
// spend a noticeable share of its time on sines and cosines.
template <typename T>
std::shared_ptr<const Plan<T>> get_plan(std::size_t frame_length, std::size_t nfft, std::size_t max_lag,
                                        bool need_inverse) {
  static std::mutex mutex;
  static std::map<std::tuple<std::size_t, std::size_t, std::size_t, bool>, std::shared_ptr<const Plan<T>>> cache;
  constexpr std::size_t kMaxPlans = 16;
  constexpr std::size_t kMaxCachedLength = std::size_t{1} << 16;  // long one-off signals are not kept
  if (nfft > kMaxCachedLength) return std::make_shared<const Plan<T>>(frame_length, nfft, max_lag, need_inverse);
  const auto key = std::make_tuple(frame_length, nfft, max_lag, need_inverse);
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  auto plan = std::make_shared<const Plan<T>>(frame_length, nfft, max_lag, need_inverse);
  std::lock_guard<std::mutex> lock(mutex);
  if (cache.size() >= kMaxPlans) cache.clear();  // rare: many geometries in one process
  cache.emplace(key, plan);
  return plan;
}

template <typename T>
struct Workspace {
  std::vector<cplx<T>> a, b;  // block buffers, reused by every stage
  std::vector<T> pa, pb;      // half power spectra (N/2 + 1) of each frame of a pair
  std::vector<T> spare;       // lags of the zero frame that pads an odd count
  // Each frame is scaled to unit energy before packing (see for_each_block); undo[i] is
  // the factor that takes frame i's quadratic results back to its own scale.
  std::vector<double> undo;
  Workspace(std::size_t pairs, std::size_t N, std::size_t K, bool spectra)
      : a(pairs * N), b(pairs * N), pa(spectra ? pairs * (N / 2 + 1) : 0), pb(spectra ? pairs * (N / 2 + 1) : 0),
        spare(K), undo(2 * pairs) {}
};

template <typename T>
AUDIOREP_ACF_CLONES void window_pair(const T* __restrict w, const T* __restrict fa, const T* __restrict fb,
                                     T ga, T gb, std::size_t L, std::size_t M, T* __restrict row) {
  for (std::size_t n = 0; n < L; ++n) {
    row[2 * n] = w[n] * fa[n] * ga;
    row[2 * n + 1] = w[n] * fb[n] * gb;
  }
  for (std::size_t n = 2 * L; n < 2 * M; ++n) row[n] = T(0);
}

template <typename T>
AUDIOREP_ACF_CLONES void twist(const T* __restrict src, const T* __restrict tw, std::size_t step, std::size_t L,
                               std::size_t M, T* __restrict row) {
  for (std::size_t n = 0; n < L; ++n) {
    const T xr = src[2 * n], xi = src[2 * n + 1];
    const T cr = tw[2 * n * step], ci = tw[2 * n * step + 1];
    row[2 * n] = xr * cr - xi * ci;
    row[2 * n + 1] = xr * ci + xi * cr;
  }
  for (std::size_t n = 2 * L; n < 2 * M; ++n) row[n] = T(0);
}

template <typename T>
AUDIOREP_ACF_CLONES void window_pair_split2(const T* __restrict w, const T* __restrict fa, const T* __restrict fb,
                                            T ga, T gb, const T* __restrict tw, std::size_t L, std::size_t M,
                                            T* __restrict row0, T* __restrict row1) {
  for (std::size_t n = 0; n < L; ++n) {
    const T xr = w[n] * fa[n] * ga, xi = w[n] * fb[n] * gb;
    const T cr = tw[2 * n], ci = tw[2 * n + 1];
    row0[2 * n] = xr;
    row0[2 * n + 1] = xi;
    row1[2 * n] = xr * cr - xi * ci;
    row1[2 * n + 1] = xr * ci + xi * cr;
  }
  for (std::size_t n = 2 * L; n < 2 * M; ++n) row0[n] = row1[n] = T(0);
}

// Windows frames fa and fb into the forward input of one pair: fa + i fb, zero
// padded to Mf, and for the split transforms twisted by exp(-2 pi i n q / N).
template <typename T>
void load_pair(const Plan<T>& p, const T* w, const T* fa, const T* fb, T ga, T gb, cplx<T>* dst) {
  T* row0 = reinterpret_cast<T*>(dst);
  if (p.E == 2) {
    window_pair_split2(w, fa, fb, ga, gb, p.tw.data(), p.L, p.Mf, row0, reinterpret_cast<T*>(dst + p.Mf));
    return;
  }
  window_pair(w, fa, fb, ga, gb, p.L, p.Mf, row0);
  // n q < L E <= N: the twiddle index needs no wrap.
  for (std::size_t q = 1; q < p.E; ++q) twist(row0, p.tw.data(), q, p.L, p.Mf, reinterpret_cast<T*>(dst + q * p.Mf));
}

// Separates the packed spectrum of one pair into the two power spectra, bins 0..N/2.
template <typename T>
void split_power(const Plan<T>& p, const cplx<T>* z, T* __restrict pa, T* __restrict pb) {
  const T* __restrict zf = reinterpret_cast<const T*>(z);
  if (p.E == 1) {
    // Unsplit transforms (every power spectrogram): bin k at k, its partner at
    // N - k, with no index arithmetic in the loop, which then runs 2-3 times
    // faster (short frames spend a large share of their time here).
    const std::size_t N = p.N;
    for (std::size_t k = 0; k <= N / 2; ++k) {
      const std::size_t im = k == 0 ? 0 : N - k;
      const T ar = zf[2 * k], ai = zf[2 * k + 1], br = zf[2 * im], bi = zf[2 * im + 1];
      const T s = ar * ar + ai * ai + br * br + bi * bi;
      const T c = T(2) * (ar * br - ai * bi);
      pa[k] = std::max(T(0), (s + c) * T(0.25));
      pb[k] = std::max(T(0), (s - c) * T(0.25));
    }
    return;
  }
  for (std::size_t k = 0; k <= p.N / 2; ++k) {
    const std::size_t ik = p.bin(k), im = p.bin((p.N - k) % p.N);
    const T ar = zf[2 * ik], ai = zf[2 * ik + 1], br = zf[2 * im], bi = zf[2 * im + 1];
    const T s = ar * ar + ai * ai + br * br + bi * bi;
    const T c = T(2) * (ar * br - ai * bi);
    pa[k] = std::max(T(0), (s + c) * T(0.25));
    pb[k] = std::max(T(0), (s - c) * T(0.25));
  }
}

// stride is a template argument for the common splits so that the loads vectorise.
template <std::size_t S, typename T>
AUDIOREP_ACF_CLONES void packed_power_strided(const T* __restrict zk, const T* __restrict zm, std::size_t stride,
                                              std::size_t j0, std::size_t Mi, T* __restrict out) {
  const std::size_t st = S ? S : stride;
  for (std::size_t j = j0; j < Mi; ++j) {
    const T ar = zk[2 * j * st], ai = zk[2 * j * st + 1];
    const std::ptrdiff_t back = -static_cast<std::ptrdiff_t>(2 * j * st);
    const T br = zm[back], bi = zm[back + 1];
    const T s = ar * ar + ai * ai + br * br + bi * bi;
    const T c = T(2) * (ar * br - ai * bi);
    out[2 * j] = s + c;
    out[2 * j + 1] = s - c;
  }
}

// 4 |A[k]|^2 + 4 i |B[k]|^2 for the bins k = q, q + D, q + 2D, ... of one packed
// pair, straight from its forward transform z: the inverse input row for q.
template <typename T>
void packed_power_row(const Plan<T>& p, const cplx<T>* z, std::size_t q, cplx<T>* dst) {
  const T* __restrict zf = reinterpret_cast<const T*>(z);
  T* __restrict out = reinterpret_cast<T*>(dst);
  auto put = [&](std::size_t j, std::size_t ik, std::size_t im) {
    const T ar = zf[2 * ik], ai = zf[2 * ik + 1], br = zf[2 * im], bi = zf[2 * im + 1];
    const T s = ar * ar + ai * ai + br * br + bi * bi;
    const T c = T(2) * (ar * br - ai * bi);
    out[2 * j] = s + c;
    out[2 * j + 1] = s - c;
  };
  if (p.D % p.E != 0) {
    for (std::size_t j = 0, k = q; j < p.Mi; ++j, k += p.D) put(j, p.bin(k), p.bin((p.N - k) % p.N));
    return;
  }
  // With E dividing D, bins k = D j + q sit in one forward output at stride D / E,
  // and so do their mirrors N - k, walking backwards.
  const std::size_t stride = p.D / p.E;
  const std::size_t fwd = p.bin(q);
  std::size_t j0 = 0;
  if (q == 0) {
    put(0, 0, 0);
    j0 = 1;
  }
  const std::size_t back = p.bin(p.N - q - j0 * p.D) + j0 * stride;  // index of the mirror of bin q, unwrapped
  const T* zk = zf + 2 * fwd;
  const T* zm = zf + 2 * back;
  switch (stride) {
    case 1: packed_power_strided<1>(zk, zm, stride, j0, p.Mi, out); break;
    case 2: packed_power_strided<2>(zk, zm, stride, j0, p.Mi, out); break;
    default: packed_power_strided<0>(zk, zm, stride, j0, p.Mi, out); break;
  }
}

// Lags n < K of the packed inverse from the D/2 + 1 short inverses in f (rows of Mi).
template <typename T>
AUDIOREP_ACF_CLONES void combine_lags(const T* __restrict f, const T* __restrict cre, const T* __restrict cim,
                                      std::size_t K, std::size_t Mi, std::size_t direct, std::size_t mirrored,
                                      T* __restrict da, T* __restrict db) {
  if (direct == 2 && mirrored == 1) {
    // D = 4, the usual split (max_lag <= nfft / 4): one pass. F_3[n] = F_1[Mi - n]
    // turned by the conjugate of F_1's twiddle, so both share cr1, ci1.
    const T* f1 = f + 2 * Mi;
    const T* f2 = f + 4 * Mi;
    const T* cr1 = cre;
    const T* ci1 = cim;
    const T* cr2 = cre + K;
    const T* ci2 = cim + K;
    for (std::size_t n = 0; n < K; ++n) {
      const T xr = f1[2 * n], xi = f1[2 * n + 1];
      const T yr = f2[2 * n], yi = f2[2 * n + 1];
      da[n] = f[2 * n] + cr1[n] * xr - ci1[n] * xi + cr2[n] * yr - ci2[n] * yi;
      db[n] = f[2 * n + 1] + cr1[n] * xi + ci1[n] * xr + cr2[n] * yi + ci2[n] * yr;
    }
    da[0] += f1[0];
    db[0] += f1[1];
    // The mirrored term walks F_1 forwards and the lags backwards, which
    // vectorises where the reverse walk over interleaved F_1 does not.
    for (std::size_t m = Mi - K + 1; m < Mi; ++m) {
      const std::size_t n = Mi - m;
      const T mr = f1[2 * m], mi = f1[2 * m + 1];
      da[n] += cr1[n] * mr + ci1[n] * mi;
      db[n] += cr1[n] * mi - ci1[n] * mr;
    }
    return;
  }
  for (std::size_t n = 0; n < K; ++n) {
    da[n] = f[2 * n];
    db[n] = f[2 * n + 1];
  }
  for (std::size_t q = 1; q <= direct; ++q) {
    const T* g = f + 2 * q * Mi;
    const T* cr = cre + (q - 1) * K;
    const T* ci = cim + (q - 1) * K;
    for (std::size_t n = 0; n < K; ++n) {
      const T xr = g[2 * n], xi = g[2 * n + 1];
      da[n] += cr[n] * xr - ci[n] * xi;
      db[n] += cr[n] * xi + ci[n] * xr;
    }
  }
  for (std::size_t q = 1; q <= mirrored; ++q) {
    // F_{D-q}[n] = F_q[Mi - n] turned by exp(-2 pi i q n / N); index Mi wraps to 0.
    const T* g = f + 2 * q * Mi;
    const T* cr = cre + (q - 1) * K;
    const T* ci = cim + (q - 1) * K;
    da[0] += g[0];
    db[0] += g[1];
    for (std::size_t m = Mi - K + 1; m < Mi; ++m) {
      const std::size_t n = Mi - m;
      const T xr = g[2 * m], xi = g[2 * m + 1];
      da[n] += cr[n] * xr + ci[n] * xi;
      db[n] += cr[n] * xi - ci[n] * xr;
    }
  }
}

// Inverse transforms of R rows of nq packed even spectra in `in` (laid out as
// packed_power_row builds them), lags 0..K-1 only, unscaled: the real parts go to
// dst_a(r), the imaginary parts to dst_b(r). `out` is scratch of the same size.
template <typename T, class DstA, class DstB>
void inverse_lags(const Plan<T>& p, std::size_t R, cplx<T>* in, cplx<T>* out, DstA&& dst_a, DstB&& dst_b) {
  fft::c2c<T>(in, out, p.Mi, R * p.nq, static_cast<std::ptrdiff_t>(p.Mi), static_cast<std::ptrdiff_t>(p.Mi),
              false, T(1), 1);
  const std::size_t K = p.K, Mi = p.Mi;
  const std::size_t direct = p.D / 2;                       // q = 1..D/2 read forwards
  const std::size_t mirrored = p.D >= 4 ? p.D / 2 - 1 : 0;  // q = 1..D/2-1 read backwards
  for (std::size_t r = 0; r < R; ++r)
    combine_lags(reinterpret_cast<const T*>(out + r * p.nq * Mi), p.cre.data(), p.cim.data(), K, Mi, direct,
                 mirrored, dst_a(r), dst_b(r));
}

// Scales raw lags to the autocorrelation (energy: its lag 0), then normalises.
template <typename T>
void finish_lags(T* lags, std::size_t K, T scale, bool normalize, T* energy) {
  const T r0 = lags[0] * scale;
  if (energy) *energy = std::max(T(0), r0);
  if (!normalize) {
    for (std::size_t n = 0; n < K; ++n) lags[n] *= scale;
    return;
  }
  if (!(r0 > T(0))) {
    std::fill(lags, lags + K, T(0));
    return;
  }
  const T inv = T(1) / lags[0];
  for (std::size_t n = 1; n < K; ++n) lags[n] *= inv;
  lags[0] = T(1);
}

void check_frames(std::size_t n_samples, std::size_t frame_length, std::size_t hop, std::size_t n_frames,
                  int nthreads) {
  if (frame_length < 1) throw std::invalid_argument("frame_length must be at least 1");
  if (hop < 1) throw std::invalid_argument("hop must be at least 1");
  if (nthreads < 1) throw std::invalid_argument("nthreads must be at least 1");
  if (n_frames > 0 && (n_frames - 1) * hop + frame_length > n_samples)
    throw std::invalid_argument("frames run past the end of the signal: n_frames=" + std::to_string(n_frames) +
                                ", hop=" + std::to_string(hop) + ", frame_length=" +
                                std::to_string(frame_length) + ", n_samples=" + std::to_string(n_samples));
}

void check_lags(std::size_t frame_length, std::size_t max_lag, std::size_t nfft) {
  if (max_lag < 1 || max_lag > frame_length)
    throw std::invalid_argument("max_lag must be in [1, frame_length], got " + std::to_string(max_lag));
  if (nfft < frame_length + max_lag - 1)
    throw std::invalid_argument("nfft=" + std::to_string(nfft) + " is shorter than frame_length + max_lag - 1");
}

// Energy of a windowed frame. Eight independent partial sums keep the loop from
// waiting on one long dependency chain; the value only sets a gain, so its
// rounding does not matter (undo_factor inverts the gain actually applied).
template <typename T>
double windowed_energy(const T* w, const T* f, std::size_t L) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t n = 0;
  for (; n + 8 <= L; n += 8)
    for (std::size_t k = 0; k < 8; ++k) {
      const double v = static_cast<double>(w[n + k]) * static_cast<double>(f[n + k]);
      acc[k] += v * v;
    }
  for (; n < L; ++n) {
    const double v = static_cast<double>(w[n]) * static_cast<double>(f[n]);
    acc[0] += v * v;
  }
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// The packed transform mixes the rounding error of both frames of a pair, so a
// quiet frame next to a loud one would inherit the loud one's error. Scaling
// every frame to unit energy first keeps each frame's error relative to itself.
template <typename T>
T unit_gain(double energy) {
  return energy > 1e-60 ? static_cast<T>(1.0 / std::sqrt(energy)) : T(1);
}

// Factor that undoes a gain g on a quantity quadratic in the frame (power, lags).
template <typename T>
double undo_factor(T gain) {
  const double g = static_cast<double>(gain);
  return 1.0 / (g * g);
}

template <typename T>
T undo_gain(double undo, T scale) {
  return static_cast<T>(static_cast<double>(scale) * undo);
}

// Runs body(ws, first_item, pairs_in_block) over blocks of frame pairs, after
// loading and forward-transforming each block into ws.b. Items are the frames
// in (row, frame) order; an odd count is padded with a zero frame.
template <typename T, class Body>
void for_each_block(const Plan<T>& p, const T* x, std::size_t howmany, std::ptrdiff_t row_dist, const T* window,
                    std::size_t hop, std::size_t n_frames, bool spectra, int nthreads, Body&& body) {
  const std::size_t items = howmany * n_frames;
  if (items == 0) return;
  const std::size_t pairs = (items + 1) / 2;
  const std::size_t per_block = p.pairs_per_block;
  const std::size_t blocks = (pairs + per_block - 1) / per_block;
  const T* w = window ? window : p.ones.data();
  auto frame = [&](std::size_t i) {
    if (i >= items) return p.zeros.data();
    const std::size_t row = i / n_frames, f = i % n_frames;
    return x + static_cast<std::ptrdiff_t>(row) * row_dist + static_cast<std::ptrdiff_t>(f * hop);
  };
  parallel_for(blocks, nthreads, [&](std::size_t b0, std::size_t b1) {
    Workspace<T> ws(per_block, p.N, p.K, spectra);
    for (std::size_t blk = b0; blk < b1; ++blk) {
      const std::size_t first = 2 * blk * per_block;
      const std::size_t np = std::min(per_block, pairs - blk * per_block);
      for (std::size_t j = 0; j < np; ++j) {
        const T* fa = frame(first + 2 * j);
        const T* fb = frame(first + 2 * j + 1);
        const T ga = unit_gain<T>(windowed_energy(w, fa, p.L)), gb = unit_gain<T>(windowed_energy(w, fb, p.L));
        ws.undo[2 * j] = undo_factor(ga);
        ws.undo[2 * j + 1] = undo_factor(gb);
        load_pair(p, w, fa, fb, ga, gb, ws.a.data() + j * p.N);
      }
      fft::c2c<T>(ws.a.data(), ws.b.data(), p.Mf, np * p.E, static_cast<std::ptrdiff_t>(p.Mf),
                  static_cast<std::ptrdiff_t>(p.Mf), true, T(1), 1);
      body(ws, first, np);
    }
  });
}

}  // namespace

std::size_t fft_size(std::size_t frame_length, std::size_t max_lag) {
  return next_pow2(frame_length + std::max<std::size_t>(max_lag, 1) - 1);
}

std::size_t fast_fft_size(std::size_t frame_length, std::size_t max_lag) {
  const std::size_t need = frame_length + std::max<std::size_t>(max_lag, 1) - 1;
  const std::size_t pow2 = next_pow2(need), smooth = next_even_smooth5(need);
  return 10 * smooth <= 7 * pow2 ? smooth : pow2;
}

template <typename T>
void autocorrelogram(const T* x, std::size_t n_samples, std::size_t howmany, std::ptrdiff_t row_dist,
                     const T* window, std::size_t frame_length, std::size_t hop, std::size_t n_frames,
                     std::size_t max_lag, std::size_t nfft, bool normalize, T* values, T* energy,
                     int nthreads) {
  check_frames(n_samples, frame_length, hop, n_frames, nthreads);
  check_lags(frame_length, max_lag, nfft);
  const auto plan = get_plan<T>(frame_length, nfft, max_lag, true);
  const Plan<T>& p = *plan;
  const std::size_t K = p.K, items = howmany * n_frames;
  // 1 / N for the inverse FFT, 1 / 4 for the packed power spectra.
  const T scale = T(1) / (T(4) * static_cast<T>(p.N));
  for_each_block(p, x, howmany, row_dist, window, hop, n_frames, false, nthreads,
                 [&](Workspace<T>& ws, std::size_t first, std::size_t np) {
                   for (std::size_t j = 0; j < np; ++j)
                     for (std::size_t q = 0; q < p.nq; ++q)
                       packed_power_row(p, ws.b.data() + j * p.N, q, ws.a.data() + (j * p.nq + q) * p.Mi);
                   auto dst = [&](std::size_t item) { return item < items ? values + item * K : ws.spare.data(); };
                   inverse_lags(
                       p, np, ws.a.data(), ws.b.data(), [&](std::size_t r) { return dst(first + 2 * r); },
                       [&](std::size_t r) { return dst(first + 2 * r + 1); });
                   for (std::size_t i = first; i < std::min(first + 2 * np, items); ++i)
                     finish_lags(values + i * K, K, undo_gain(ws.undo[i - first], scale), normalize,
                                 energy ? energy + i : nullptr);
                 });
}

template <typename T>
void correlogram(const T* x, std::size_t n_samples, std::size_t howmany, std::ptrdiff_t row_dist,
                 const T* window, std::size_t frame_length, std::size_t hop, std::size_t n_frames,
                 const T* weights, std::size_t n_bands, std::size_t max_lag, std::size_t nfft, bool normalize,
                 T* values, T* energy, int nthreads) {
  check_frames(n_samples, frame_length, hop, n_frames, nthreads);
  check_lags(frame_length, max_lag, nfft);
  if (n_bands < 1) throw std::invalid_argument("n_bands must be at least 1");
  const auto plan = get_plan<T>(frame_length, nfft, max_lag, true);
  const Plan<T>& p = *plan;
  const std::size_t K = p.K, items = howmany * n_frames;
  const std::size_t hb = p.N / 2 + 1, band_pairs = (n_bands + 1) / 2;
  // Band pairs per inverse call: as many as the block buffers hold.
  const std::size_t chunk = std::max<std::size_t>(1, (p.pairs_per_block * p.N) / (p.nq * p.Mi));
  const T scale = T(1) / static_cast<T>(p.N);
  for_each_block(p, x, howmany, row_dist, window, hop, n_frames, true, nthreads,
                 [&](Workspace<T>& ws, std::size_t first, std::size_t np) {
                   for (std::size_t j = 0; j < np; ++j)
                     split_power(p, ws.b.data() + j * p.N, ws.pa.data() + j * hb, ws.pb.data() + j * hb);
                   for (std::size_t j = 0; j < 2 * np && first + j < items; ++j) {
                     const std::size_t item = first + j;
                     const T* power = (j % 2 == 0 ? ws.pa.data() : ws.pb.data()) + (j / 2) * hb;
                     T* out = values + item * n_bands * K;
                     for (std::size_t c0 = 0; c0 < band_pairs; c0 += chunk) {
                       const std::size_t nc = std::min(chunk, band_pairs - c0);
                       for (std::size_t r = 0; r < nc; ++r) {
                         const std::size_t b = 2 * (c0 + r);
                         const T* w1 = weights + b * hb;
                         const T* w2 = b + 1 < n_bands ? weights + (b + 1) * hb : nullptr;
                         for (std::size_t q = 0; q < p.nq; ++q) {
                           cplx<T>* row = ws.a.data() + (r * p.nq + q) * p.Mi;
                           for (std::size_t jj = 0, k = q; jj < p.Mi; ++jj, k += p.D) {
                             const std::size_t kk = k <= p.N / 2 ? k : p.N - k;
                             const T w2k = w2 ? w2[kk] : T(0);
                             row[jj] = cplx<T>(w1[kk] * power[kk], w2k * power[kk]);
                           }
                         }
                       }
                       inverse_lags(
                           p, nc, ws.a.data(), ws.b.data(), [&](std::size_t r) { return out + 2 * (c0 + r) * K; },
                           [&](std::size_t r) {
                             const std::size_t b = 2 * (c0 + r) + 1;
                             return b < n_bands ? out + b * K : ws.spare.data();
                           });
                     }
                     const T band_scale = undo_gain(ws.undo[j], scale);
                     for (std::size_t b = 0; b < n_bands; ++b)
                       finish_lags(out + b * K, K, band_scale, normalize,
                                   energy ? energy + item * n_bands + b : nullptr);
                   }
                 });
}

template <typename T>
void power_spectrogram(const T* x, std::size_t n_samples, std::size_t howmany, std::ptrdiff_t row_dist,
                       const T* window, std::size_t frame_length, std::size_t hop, std::size_t n_frames,
                       T power, T* out, int nthreads) {
  check_frames(n_samples, frame_length, hop, n_frames, nthreads);
  if (!(power > T(0))) throw std::invalid_argument("power must be positive");
  const auto plan = get_plan<T>(frame_length, frame_length, 1, false);
  const Plan<T>& p = *plan;
  const std::size_t items = howmany * n_frames, hb = p.N / 2 + 1;
  const T half_power = power / T(2);
  auto finish = [&](T* row, double undo) {
    const T factor = undo_gain(undo, T(1));
    for (std::size_t k = 0; k < hb; ++k) row[k] *= factor;
    if (power == T(2)) return;
    if (power == T(1)) {
      for (std::size_t k = 0; k < hb; ++k) row[k] = std::sqrt(row[k]);
    } else {
      for (std::size_t k = 0; k < hb; ++k) row[k] = std::pow(row[k], half_power);
    }
  };
  for_each_block(p, x, howmany, row_dist, window, hop, n_frames, false, nthreads,
                 [&](Workspace<T>& ws, std::size_t first, std::size_t np) {
                   for (std::size_t j = 0; j < np; ++j) {
                     const std::size_t ia = first + 2 * j;
                     T* oa = out + ia * hb;
                     if (ia + 1 < items) {
                       T* ob = out + (ia + 1) * hb;
                       split_power(p, ws.b.data() + j * p.N, oa, ob);
                       finish(oa, ws.undo[2 * j]);
                       finish(ob, ws.undo[2 * j + 1]);
                     } else {
                       // The last frame of an odd count; its zero partner's row is dropped.
                       std::vector<T> drop(hb);
                       split_power(p, ws.b.data() + j * p.N, oa, drop.data());
                       finish(oa, ws.undo[2 * j]);
                     }
                   }
                 });
}

#define AUDIOREP_ACF_INSTANTIATE(T)                                                                            \
  template void autocorrelogram<T>(const T*, std::size_t, std::size_t, std::ptrdiff_t, const T*, std::size_t, \
                                   std::size_t, std::size_t, std::size_t, std::size_t, bool, T*, T*, int);      \
  template void correlogram<T>(const T*, std::size_t, std::size_t, std::ptrdiff_t, const T*, std::size_t,     \
                               std::size_t, std::size_t, const T*, std::size_t, std::size_t, std::size_t, bool, \
                               T*, T*, int);                                                                  \
  template void power_spectrogram<T>(const T*, std::size_t, std::size_t, std::ptrdiff_t, const T*, std::size_t, \
                                     std::size_t, std::size_t, T, T*, int);

AUDIOREP_ACF_INSTANTIATE(float)
AUDIOREP_ACF_INSTANTIATE(double)

#undef AUDIOREP_ACF_INSTANTIATE

}  // namespace acf
}  // namespace audiorep
