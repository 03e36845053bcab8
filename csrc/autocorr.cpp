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
#include <stdexcept>
#include <string>
#include <vector>

#include "audiorep/fft.hpp"
#include "audiorep/parallel.hpp"

namespace audiorep {
namespace acf {

namespace {

template <typename T>
using cplx = std::complex<T>;

// Largest split factor of either side; beyond it the combining sums cost more
// than the transform stages they save.
constexpr std::size_t kMaxSplit = 16;
// Complex elements per block buffer: two such buffers per thread (~0.5 MiB each
// in single precision) hold a block of frame pairs at every stage.
constexpr std::size_t kBlockElements = std::size_t{1} << 15;

std::size_t next_pow2(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

unsigned log2_exact(std::size_t n) {
  unsigned s = 0;
  while ((std::size_t{1} << s) < n) ++s;
  return s;
}

template <typename T>
struct Plan {
  std::size_t L = 0, N = 0, K = 0;
  std::size_t E = 1, Mf = 0;             // forward split: E transforms of Mf = N / E
  unsigned e_shift = 0;
  std::size_t D = 1, Mi = 0, nq = 1;     // inverse split: nq = D/2 + 1 transforms of Mi = N / D
  std::size_t pairs_per_block = 1;
  std::vector<cplx<T>> tw;               // exp(-2 pi i n / N)
  std::vector<T> cre, cim;               // exp(+2 pi i q n / N), q = 1..D/2, n < K: row q-1

  Plan(std::size_t frame_length, std::size_t nfft, std::size_t max_lag, bool need_inverse)
      : L(frame_length), N(nfft), K(max_lag) {
    while (E < kMaxSplit && N % (2 * E) == 0 && L <= N / (2 * E)) E *= 2;
    Mf = N / E;
    e_shift = log2_exact(E);
    if (need_inverse) {
      while (D < kMaxSplit && N % (2 * D) == 0 && K <= N / (2 * D)) D *= 2;
      Mi = N / D;
      nq = D == 1 ? 1 : D / 2 + 1;
    }
    pairs_per_block = std::max<std::size_t>(1, kBlockElements / N);
    tw.resize(N);
    const double step = -2.0 * 3.14159265358979323846 / static_cast<double>(N);
    for (std::size_t n = 0; n < N; ++n) {
      const double a = step * static_cast<double>(n);
      tw[n] = cplx<T>(static_cast<T>(std::cos(a)), static_cast<T>(std::sin(a)));
    }
    if (need_inverse && D > 1) {
      cre.resize((D / 2) * K);
      cim.resize((D / 2) * K);
      for (std::size_t q = 1; q <= D / 2; ++q) {
        for (std::size_t n = 0; n < K; ++n) {
          const double a = -step * static_cast<double>(q * n);  // q n < N / 2: no wrap
          cre[(q - 1) * K + n] = static_cast<T>(std::cos(a));
          cim[(q - 1) * K + n] = static_cast<T>(std::sin(a));
        }
      }
    }
  }
};

template <typename T>
struct Workspace {
  std::vector<cplx<T>> a, b;  // block buffers, reused by every stage
  std::vector<T> pa, pb;      // half power spectra (N/2 + 1) of each frame of a pair
  Workspace(std::size_t pairs, std::size_t N)
      : a(pairs * N), b(pairs * N), pa(pairs * (N / 2 + 1)), pb(pairs * (N / 2 + 1)) {}
};

// Windows frames fa, fb (fb may be null: a zero frame) into the forward input of
// one pair and returns their exact energies.
template <typename T>
void load_pair(const Plan<T>& p, const T* window, const T* fa, const T* fb, cplx<T>* dst, double& ea,
               double& eb) {
  T* row0 = reinterpret_cast<T*>(dst);
  const std::size_t L = p.L;
  // Four partial sums per frame keep the accumulation chains short.
  double sa[4] = {0, 0, 0, 0}, sb[4] = {0, 0, 0, 0};
  std::size_t n = 0;
  for (; n + 4 <= L; n += 4) {
    for (std::size_t u = 0; u < 4; ++u) {
      const T w = window ? window[n + u] : T(1);
      const T va = w * fa[n + u];
      const T vb = fb ? w * fb[n + u] : T(0);
      sa[u] += static_cast<double>(va) * va;
      sb[u] += static_cast<double>(vb) * vb;
      row0[2 * (n + u)] = va;
      row0[2 * (n + u) + 1] = vb;
    }
  }
  for (; n < L; ++n) {
    const T w = window ? window[n] : T(1);
    const T va = w * fa[n];
    const T vb = fb ? w * fb[n] : T(0);
    sa[0] += static_cast<double>(va) * va;
    sb[0] += static_cast<double>(vb) * vb;
    row0[2 * n] = va;
    row0[2 * n + 1] = vb;
  }
  std::fill(row0 + 2 * L, row0 + 2 * p.Mf, T(0));
  const T* tw = reinterpret_cast<const T*>(p.tw.data());
  for (std::size_t q = 1; q < p.E; ++q) {
    T* row = reinterpret_cast<T*>(dst + q * p.Mf);
    // n q < L E <= N: the twiddle index needs no wrap.
    for (std::size_t i = 0; i < L; ++i) {
      const T xr = row0[2 * i], xi = row0[2 * i + 1];
      const T cr = tw[2 * i * q], ci = tw[2 * i * q + 1];
      row[2 * i] = xr * cr - xi * ci;
      row[2 * i + 1] = xr * ci + xi * cr;
    }
    std::fill(row + 2 * L, row + 2 * p.Mf, T(0));
  }
  ea = (sa[0] + sa[1]) + (sa[2] + sa[3]);
  eb = (sb[0] + sb[1]) + (sb[2] + sb[3]);
}

// Separates the packed spectrum of one pair into the two power spectra, bins 0..N/2.
template <typename T>
void split_power(const Plan<T>& p, const cplx<T>* z, T* pa, T* pb) {
  const T* zf = reinterpret_cast<const T*>(z);
  const std::size_t N = p.N, half = N / 2;
  auto power = [&](std::size_t k, std::size_t ik, std::size_t im) {
    const T ar = zf[2 * ik], ai = zf[2 * ik + 1], br = zf[2 * im], bi = zf[2 * im + 1];
    const T s = ar * ar + ai * ai + br * br + bi * bi;
    const T c = T(2) * (ar * br - ai * bi);
    pa[k] = std::max(T(0), (s + c) * T(0.25));
    pb[k] = std::max(T(0), (s - c) * T(0.25));
  };
  if (p.E == 1) {
    power(0, 0, 0);
    for (std::size_t k = 1; k <= half; ++k) power(k, k, N - k);
    return;
  }
  const std::size_t mask = p.E - 1;
  auto index = [&](std::size_t k) { return (k & mask) * p.Mf + (k >> p.e_shift); };
  power(0, 0, 0);
  for (std::size_t k = 1; k <= half; ++k) power(k, index(k), index(N - k));
}

// Inverse transforms of R packed even spectra, lags 0..K-1 only. getq(r, k) is
// spectrum r at bin k <= N/2 (real part: first signal, imaginary: second);
// lags of the first go to dst_a(r), of the second to dst_b(r) (which may be
// null), multiplied by scale. in/out are scratch of R * nq * Mi elements.
template <typename T, class GetQ, class DstA, class DstB>
void inverse_pairs(const Plan<T>& p, std::size_t R, cplx<T>* in, cplx<T>* out, GetQ&& getq, DstA&& dst_a,
                   DstB&& dst_b, T scale) {
  const std::size_t half = p.N / 2;
  for (std::size_t r = 0; r < R; ++r) {
    for (std::size_t q = 0; q < p.nq; ++q) {
      cplx<T>* row = in + (r * p.nq + q) * p.Mi;
      std::size_t j = 0, k = q;
      for (; k <= half; ++j, k += p.D) row[j] = getq(r, k);
      for (; j < p.Mi; ++j, k += p.D) row[j] = getq(r, p.N - k);
    }
  }
  fft::c2c<T>(in, out, p.Mi, R * p.nq, static_cast<std::ptrdiff_t>(p.Mi), static_cast<std::ptrdiff_t>(p.Mi),
              false, T(1), 1);
  const std::size_t K = p.K, Mi = p.Mi;
  const std::size_t direct = p.D / 2;                       // q = 1..D/2 read forwards
  const std::size_t mirrored = p.D >= 4 ? p.D / 2 - 1 : 0;  // q = 1..D/2-1 read backwards
  for (std::size_t r = 0; r < R; ++r) {
    const T* f = reinterpret_cast<const T*>(out + r * p.nq * Mi);
    T* da = dst_a(r);
    T* db = dst_b(r);
    // Lag 0 separately: its mirrored index is 0, not Mi.
    {
      T sr = f[0], si = f[1];
      for (std::size_t q = 1; q <= direct; ++q) sr += f[2 * q * Mi], si += f[2 * q * Mi + 1];
      for (std::size_t q = 1; q <= mirrored; ++q) sr += f[2 * q * Mi], si += f[2 * q * Mi + 1];
      da[0] = sr * scale;
      if (db) db[0] = si * scale;
    }
    for (std::size_t n = 1; n < K; ++n) {
      T sr = f[2 * n], si = f[2 * n + 1];
      for (std::size_t q = 1; q <= direct; ++q) {
        const T cr = p.cre[(q - 1) * K + n], ci = p.cim[(q - 1) * K + n];
        const T xr = f[2 * (q * Mi + n)], xi = f[2 * (q * Mi + n) + 1];
        sr += cr * xr - ci * xi;
        si += cr * xi + ci * xr;
      }
      for (std::size_t q = 1; q <= mirrored; ++q) {
        const T cr = p.cre[(q - 1) * K + n], ci = p.cim[(q - 1) * K + n];
        const T xr = f[2 * (q * Mi + Mi - n)], xi = f[2 * (q * Mi + Mi - n) + 1];
        sr += cr * xr + ci * xi;
        si += cr * xi - ci * xr;
      }
      da[n] = sr * scale;
      if (db) db[n] = si * scale;
    }
  }
}

template <typename T>
void normalise_lags(T* lags, std::size_t K, bool silent) {
  const T r0 = lags[0];
  if (silent || !(r0 > T(0))) {
    std::fill(lags, lags + K, T(0));
    return;
  }
  const T inv = T(1) / r0;
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

}  // namespace

std::size_t fft_size(std::size_t frame_length, std::size_t max_lag) {
  return next_pow2(frame_length + std::max<std::size_t>(max_lag, 1) - 1);
}

template <typename T>
void autocorrelogram(const T* x, std::size_t n_samples, std::size_t howmany, std::ptrdiff_t row_dist,
                     const T* window, std::size_t frame_length, std::size_t hop, std::size_t n_frames,
                     std::size_t max_lag, std::size_t nfft, bool normalize, T* values, T* energy,
                     int nthreads) {
  check_frames(n_samples, frame_length, hop, n_frames, nthreads);
  check_lags(frame_length, max_lag, nfft);
  const Plan<T> p(frame_length, nfft, max_lag, true);
  const std::size_t K = p.K;
  const std::size_t items = howmany * n_frames;
  if (items == 0) return;
  const std::size_t pairs = (items + 1) / 2;
  const std::size_t per_block = p.pairs_per_block;
  const std::size_t blocks = (pairs + per_block - 1) / per_block;
  const std::size_t hb = p.N / 2 + 1;
  auto frame = [&](std::size_t i) {
    const std::size_t row = i / n_frames, f = i % n_frames;
    return x + static_cast<std::ptrdiff_t>(row) * row_dist + static_cast<std::ptrdiff_t>(f * hop);
  };
  parallel_for(blocks, nthreads, [&](std::size_t b0, std::size_t b1) {
    Workspace<T> ws(per_block, p.N);
    std::vector<double> e(2 * per_block);
    std::vector<T> spare(K);  // lags of the zero frame that pads an odd count
    for (std::size_t blk = b0; blk < b1; ++blk) {
      const std::size_t first = 2 * blk * per_block;
      const std::size_t np = std::min(per_block, pairs - blk * per_block);
      for (std::size_t j = 0; j < np; ++j) {
        const std::size_t ia = first + 2 * j;
        load_pair(p, window, frame(ia), ia + 1 < items ? frame(ia + 1) : nullptr, ws.a.data() + j * p.E * p.Mf,
                  e[2 * j], e[2 * j + 1]);
      }
      fft::c2c<T>(ws.a.data(), ws.b.data(), p.Mf, np * p.E, static_cast<std::ptrdiff_t>(p.Mf),
                  static_cast<std::ptrdiff_t>(p.Mf), true, T(1), 1);
      for (std::size_t j = 0; j < np; ++j)
        split_power(p, ws.b.data() + j * p.E * p.Mf, ws.pa.data() + j * hb, ws.pb.data() + j * hb);
      auto getq = [&](std::size_t r, std::size_t k) { return cplx<T>(ws.pa[r * hb + k], ws.pb[r * hb + k]); };
      auto dst_a = [&](std::size_t r) { return values + (first + 2 * r) * K; };
      auto dst_b = [&](std::size_t r) {
        return first + 2 * r + 1 < items ? values + (first + 2 * r + 1) * K : spare.data();
      };
      inverse_pairs(p, np, ws.a.data(), ws.b.data(), getq, dst_a, dst_b, T(1) / static_cast<T>(p.N));
      for (std::size_t j = 0; j < 2 * np && first + j < items; ++j) {
        if (energy) energy[first + j] = static_cast<T>(e[j]);
        if (normalize) normalise_lags(values + (first + j) * K, K, e[j] == 0.0);
      }
    }
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
  const Plan<T> p(frame_length, nfft, max_lag, true);
  const std::size_t K = p.K;
  const std::size_t items = howmany * n_frames;
  if (items == 0) return;
  const std::size_t pairs = (items + 1) / 2;
  const std::size_t per_block = p.pairs_per_block;
  const std::size_t blocks = (pairs + per_block - 1) / per_block;
  const std::size_t hb = p.N / 2 + 1;
  const std::size_t band_pairs = (n_bands + 1) / 2;
  // Band pairs per inverse call: as many as the block buffers hold.
  const std::size_t chunk = std::max<std::size_t>(1, (per_block * p.N) / (p.nq * p.Mi));
  auto frame = [&](std::size_t i) {
    const std::size_t row = i / n_frames, f = i % n_frames;
    return x + static_cast<std::ptrdiff_t>(row) * row_dist + static_cast<std::ptrdiff_t>(f * hop);
  };
  parallel_for(blocks, nthreads, [&](std::size_t b0, std::size_t b1) {
    Workspace<T> ws(per_block, p.N);
    std::vector<double> e(2 * per_block);
    std::vector<T> spare(K);
    for (std::size_t blk = b0; blk < b1; ++blk) {
      const std::size_t first = 2 * blk * per_block;
      const std::size_t np = std::min(per_block, pairs - blk * per_block);
      for (std::size_t j = 0; j < np; ++j) {
        const std::size_t ia = first + 2 * j;
        load_pair(p, window, frame(ia), ia + 1 < items ? frame(ia + 1) : nullptr, ws.a.data() + j * p.E * p.Mf,
                  e[2 * j], e[2 * j + 1]);
      }
      fft::c2c<T>(ws.a.data(), ws.b.data(), p.Mf, np * p.E, static_cast<std::ptrdiff_t>(p.Mf),
                  static_cast<std::ptrdiff_t>(p.Mf), true, T(1), 1);
      for (std::size_t j = 0; j < np; ++j)
        split_power(p, ws.b.data() + j * p.E * p.Mf, ws.pa.data() + j * hb, ws.pb.data() + j * hb);
      for (std::size_t j = 0; j < 2 * np && first + j < items; ++j) {
        const std::size_t item = first + j;
        const T* power = (j % 2 == 0 ? ws.pa.data() : ws.pb.data()) + (j / 2) * hb;
        T* out = values + item * n_bands * K;
        for (std::size_t c0 = 0; c0 < band_pairs; c0 += chunk) {
          const std::size_t nc = std::min(chunk, band_pairs - c0);
          auto getq = [&](std::size_t r, std::size_t k) {
            const std::size_t b = 2 * (c0 + r);
            const T w2 = b + 1 < n_bands ? weights[(b + 1) * hb + k] : T(0);
            return cplx<T>(weights[b * hb + k], w2) * power[k];
          };
          auto dst_a = [&](std::size_t r) { return out + 2 * (c0 + r) * K; };
          auto dst_b = [&](std::size_t r) {
            const std::size_t b = 2 * (c0 + r) + 1;
            return b < n_bands ? out + b * K : spare.data();
          };
          inverse_pairs(p, nc, ws.a.data(), ws.b.data(), getq, dst_a, dst_b, T(1) / static_cast<T>(p.N));
        }
        for (std::size_t b = 0; b < n_bands; ++b) {
          T* lags = out + b * K;
          if (energy) energy[item * n_bands + b] = e[j] == 0.0 ? T(0) : std::max(T(0), lags[0]);
          if (normalize) normalise_lags(lags, K, e[j] == 0.0);
        }
      }
    }
  });
}

template <typename T>
void power_spectrogram(const T* x, std::size_t n_samples, std::size_t howmany, std::ptrdiff_t row_dist,
                       const T* window, std::size_t frame_length, std::size_t hop, std::size_t n_frames,
                       T power, T* out, int nthreads) {
  check_frames(n_samples, frame_length, hop, n_frames, nthreads);
  if (!(power > T(0))) throw std::invalid_argument("power must be positive");
  const Plan<T> p(frame_length, frame_length, 1, false);
  const std::size_t items = howmany * n_frames;
  if (items == 0) return;
  const std::size_t pairs = (items + 1) / 2;
  const std::size_t per_block = p.pairs_per_block;
  const std::size_t blocks = (pairs + per_block - 1) / per_block;
  const std::size_t hb = p.N / 2 + 1;
  auto frame = [&](std::size_t i) {
    const std::size_t row = i / n_frames, f = i % n_frames;
    return x + static_cast<std::ptrdiff_t>(row) * row_dist + static_cast<std::ptrdiff_t>(f * hop);
  };
  const T half_power = power / T(2);
  auto finish = [&](T* row) {
    if (power == T(2)) return;
    if (power == T(1)) {
      for (std::size_t k = 0; k < hb; ++k) row[k] = std::sqrt(row[k]);
    } else {
      for (std::size_t k = 0; k < hb; ++k) row[k] = std::pow(row[k], half_power);
    }
  };
  parallel_for(blocks, nthreads, [&](std::size_t b0, std::size_t b1) {
    Workspace<T> ws(per_block, p.N);
    std::vector<T> spare(hb);
    double ea, eb;
    for (std::size_t blk = b0; blk < b1; ++blk) {
      const std::size_t first = 2 * blk * per_block;
      const std::size_t np = std::min(per_block, pairs - blk * per_block);
      for (std::size_t j = 0; j < np; ++j) {
        const std::size_t ia = first + 2 * j;
        load_pair(p, window, frame(ia), ia + 1 < items ? frame(ia + 1) : nullptr, ws.a.data() + j * p.N, ea, eb);
      }
      fft::c2c<T>(ws.a.data(), ws.b.data(), p.N, np, static_cast<std::ptrdiff_t>(p.N),
                  static_cast<std::ptrdiff_t>(p.N), true, T(1), 1);
      for (std::size_t j = 0; j < np; ++j) {
        const std::size_t ia = first + 2 * j;
        T* oa = out + ia * hb;
        T* ob = ia + 1 < items ? out + (ia + 1) * hb : spare.data();
        split_power(p, ws.b.data() + j * p.N, oa, ob);
        finish(oa);
        if (ia + 1 < items) finish(ob);
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
