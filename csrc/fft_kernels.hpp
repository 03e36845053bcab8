// The FFT kernels, written once and compiled once per instruction set (see
// fft_generic.cpp, fft_avx2.cpp, fft_avx512.cpp). Define AUDIOREP_FFT_ISA (the
// namespace) and AUDIOREP_FFT_VEC_BYTES (native vector width) before including.
//
// Rows of a batch are transformed W at a time, one row per SIMD lane: the rows
// are transposed into split re/im vectors, so every butterfly is plain vector
// arithmetic with broadcast twiddles and no shuffles. The transpose into the
// work buffer also applies the digit-reversal permutation of the mixed-radix
// passes (bit reversal for powers of two), and the transpose out applies the
// scale (and, for real transforms, the split step). One function per radix:
// 2, 4 (two in a row fuse into a radix-16 sweep, except a lane split's last
// pass, which stores its bins itself), and the odd radices 3, 5, 7
// and any larger prime. Rows left over after the full row groups use narrower
// vectors, down to plain scalars, except for long lengths: those rows go one by
// one through a four-step split whose column and row transforms fill the lanes
// again. Short rows on AVX-512 are the exception (float32 complex rows of
// 128-2048 points and real ones of 256-4096 values, float64 complex rows of
// 64 and 128 points and real ones of 128 and 256): they run one row at a time
// in registers, without the transposes (RegisterRows). So do long complex
// rows on AVX-512 (4096-131072 points, multiples of the lanes, and rows from
// 256 points on that crowd the cache sets; real rows of
// 4096-262144 values, float32 ones above 4096, as n/2 complex points),
// through a lane split whose
// lanes hold W sequences of one row (Engine::split_row).
#include <cstddef>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <utility>

#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "fft_internal.hpp"

#if !defined(AUDIOREP_FFT_ISA) || !defined(AUDIOREP_FFT_VEC_BYTES)
#error "define AUDIOREP_FFT_ISA and AUDIOREP_FFT_VEC_BYTES before including fft_kernels.hpp"
#endif

namespace audiorep {
namespace fft {
namespace detail {
namespace AUDIOREP_FFT_ISA {
namespace {

constexpr std::size_t kVecBytes = AUDIOREP_FFT_VEC_BYTES;
// The passes whose butterflies stay inside a block of kBlockBytes run block by
// block (in L1), then those that fit kBlock2Bytes (in L2); only the remaining
// passes of a long transform sweep the whole work buffer.
constexpr std::size_t kBlockBytes = std::size_t{32} << 10;
constexpr std::size_t kBlock2Bytes = std::size_t{512} << 10;
// Rows are read and written W at a time, too many streams for the hardware
// prefetcher; this many values (of type T) ahead are prefetched by hand, into
// all cache levels: on an Intel Xeon this was 1.4-1.7x faster at 4096-65536
// points than the non-temporal hint (L1 only).
constexpr std::size_t kAhead = 128;
// Rows of the row groups of fewer elements (complex, or values for real rows)
// are not prefetched this way: on an Intel Xeon it cost up to 20 % at 256-512 points (bench/
// ab_builds.py), and from 768 on it was 1.09-1.25x faster for complex rows of
// 882-2000 points and 1.1x for real ones of 2000.
constexpr std::size_t kPrefetchMin = 768;
// Bins of a split row (Engine::split_row) are fetched for writing this many
// values ahead.
constexpr std::size_t kSplitOutAhead = 256;
// A row group whose work buffer would exceed kGroupBytes runs with vectors of
// kNarrowVecBytes (half the lanes of AVX-512) when the native ones are wider.
// On an Intel Xeon (1.25 MB of L2), groups with work buffers of 160-620 KB
// were faster with 512-bit vectors than with 256-bit ones (bench/
// ab_builds.py: 1323 points 1.06-1.14x, complex 4410 and 5000 1.06-1.11x,
// real float32 9600 1.10x; complex float32 4800 0.98x); rows of or near a
// multiple of 2 KB run at half width anyway (see crowded_rows).
constexpr std::size_t kGroupBytes = std::size_t{640} << 10;
constexpr std::size_t kNarrowVecBytes = 32;

// Distances (in values of the row type) from each row of a group to the same
// row of the next group, 0 for the last group. Short rows are read and written
// one cache line per row at a time, in streams too short for the hardware
// prefetcher to ramp up; while it moves one group, the group code fetches the
// lines of the next into L2, where they wait while this group is transformed.
struct Ahead {
  std::ptrdiff_t in, out;
};

template <typename T, int W>
struct VecOf {
  typedef T type __attribute__((vector_size(sizeof(T) * W)));
};
template <typename T>
struct VecOf<T, 1> {
  typedef T type;
};

template <typename V>
struct CV {
  V r, i;
};


// ------------------------------------------------------------ W x W transposes

template <typename T>
struct IndexOf;
template <>
struct IndexOf<float> {
  using type = std::int32_t;
};
template <>
struct IndexOf<double> {
  using type = std::int64_t;
};

// Swaps the off-diagonal s x s blocks of every 2s x 2s tile; doing this for
// s = W/2, ..., 2, 1 transposes the W x W matrix held in r[0..W). With N < W
// vectors, s < N, the N x N blocks of lanes each transpose on their own.
template <typename T, int W, int S, int N = W, std::size_t... J>
inline void block_swap(typename VecOf<T, W>::type* r, std::index_sequence<J...>) {
  using V = typename VecOf<T, W>::type;
  using I = typename IndexOf<T>::type;
  typedef I M __attribute__((vector_size(sizeof(V))));
  constexpr M lo_mask = {static_cast<I>((J & S) ? W + J - S : J)...};
  constexpr M hi_mask = {static_cast<I>((J & S) ? W + J : J + S)...};
  for (int i = 0; i < N; ++i) {
    if (i & S) continue;
    const V a = r[i], b = r[i + S];
    r[i] = __builtin_shuffle(a, b, lo_mask);
    r[i + S] = __builtin_shuffle(a, b, hi_mask);
  }
}

template <typename T, int W, int S = W / 2>
inline void transpose(typename VecOf<T, W>::type* r) {
  if constexpr (S >= 1) {
    block_swap<T, W, S, W>(r, std::make_index_sequence<W>{});
    transpose<T, W, S / 2>(r);
  }
}

// One vector from two half vectors in memory, and the halves of one vector to
// memory: with intrinsics where the instruction set has them (through plain
// copies the compiler joins and splits the halves with shuffles), else with
// plain copies.
template <typename T, int W>
inline typename VecOf<T, W>::type join_halves(const T* lo, const T* hi) {
  using V = typename VecOf<T, W>::type;
#if defined(__AVX512F__) && defined(__AVX512DQ__)
  if constexpr (sizeof(V) == 64) {
    if constexpr (sizeof(T) == 4)
      return reinterpret_cast<V>(_mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(reinterpret_cast<const float*>(lo))),
                                                    _mm256_loadu_ps(reinterpret_cast<const float*>(hi)), 1));
    else
      return reinterpret_cast<V>(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_loadu_pd(reinterpret_cast<const double*>(lo))),
                                                    _mm256_loadu_pd(reinterpret_cast<const double*>(hi)), 1));
  }
#endif
#if defined(__AVX__)
  if constexpr (sizeof(V) == 32) {
    if constexpr (sizeof(T) == 4)
      return reinterpret_cast<V>(_mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(reinterpret_cast<const float*>(lo))),
                                                      _mm_loadu_ps(reinterpret_cast<const float*>(hi)), 1));
    else
      return reinterpret_cast<V>(_mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(reinterpret_cast<const double*>(lo))),
                                                      _mm_loadu_pd(reinterpret_cast<const double*>(hi)), 1));
  }
#endif
  V v;
  std::memcpy(reinterpret_cast<char*>(&v), lo, sizeof(V) / 2);
  std::memcpy(reinterpret_cast<char*>(&v) + sizeof(V) / 2, hi, sizeof(V) / 2);
  return v;
}

template <typename T, int W>
inline void split_halves(typename VecOf<T, W>::type v, T* lo, T* hi) {
  using V = typename VecOf<T, W>::type;
#if defined(__AVX512F__) && defined(__AVX512DQ__)
  if constexpr (sizeof(V) == 64) {
    if constexpr (sizeof(T) == 4) {
      const __m512 x = reinterpret_cast<__m512>(v);
      _mm256_storeu_ps(reinterpret_cast<float*>(lo), _mm512_castps512_ps256(x));
      _mm256_storeu_ps(reinterpret_cast<float*>(hi), _mm512_extractf32x8_ps(x, 1));
    } else {
      const __m512d x = reinterpret_cast<__m512d>(v);
      _mm256_storeu_pd(reinterpret_cast<double*>(lo), _mm512_castpd512_pd256(x));
      _mm256_storeu_pd(reinterpret_cast<double*>(hi), _mm512_extractf64x4_pd(x, 1));
    }
    return;
  }
#endif
#if defined(__AVX__)
  if constexpr (sizeof(V) == 32) {
    if constexpr (sizeof(T) == 4) {
      const __m256 x = reinterpret_cast<__m256>(v);
      _mm_storeu_ps(reinterpret_cast<float*>(lo), _mm256_castps256_ps128(x));
      _mm_storeu_ps(reinterpret_cast<float*>(hi), _mm256_extractf128_ps(x, 1));
    } else {
      const __m256d x = reinterpret_cast<__m256d>(v);
      _mm_storeu_pd(reinterpret_cast<double*>(lo), _mm256_castpd256_pd128(x));
      _mm_storeu_pd(reinterpret_cast<double*>(hi), _mm256_extractf128_pd(x, 1));
    }
    return;
  }
#endif
  std::memcpy(lo, reinterpret_cast<const char*>(&v), sizeof(V) / 2);
  std::memcpy(hi, reinterpret_cast<const char*>(&v) + sizeof(V) / 2, sizeof(V) / 2);
}

// The widest stage of transpose(), swapping the halves of r[l] and r[l + W/2],
// done by the loads or the stores themselves: each vector is read (written) as
// two half vectors from (to) two rows instead of going through one more
// shuffle. On an Intel Xeon this was 1.03-1.15x faster for real transforms of
// 256-1000 points and 0.97-0.99x for most complex ones. Row l starts at
// rows[l] + at. The remaining stages (transpose<T, W, W / 4>) can run before
// or after: the stages commute.
template <typename T, int W, typename Src>
inline void load_halves(const Src& rows, std::size_t at, typename VecOf<T, W>::type* r) {
  for (int l = 0; l < W / 2; ++l) {
    r[l] = join_halves<T, W>(rows[l] + at, rows[l + W / 2] + at);
    r[l + W / 2] = join_halves<T, W>(rows[l] + at + W / 2, rows[l + W / 2] + at + W / 2);
  }
}

template <typename T, int W, typename Dst>
inline void store_halves(const Dst& rows, std::size_t at, const typename VecOf<T, W>::type* r) {
  for (int l = 0; l < W / 2; ++l) {
    split_halves<T, W>(r[l], rows[l] + at, rows[l + W / 2] + at);
    split_halves<T, W>(r[l + W / 2], rows[l] + at + W / 2, rows[l + W / 2] + at + W / 2);
  }
}

// Interleaved complex values (two vectors) to split re, im vectors and back.
template <typename T, int W, std::size_t... J>
inline void deinterleave(typename VecOf<T, W>::type a, typename VecOf<T, W>::type b, typename VecOf<T, W>::type& re,
                         typename VecOf<T, W>::type& im, std::index_sequence<J...>) {
  using V = typename VecOf<T, W>::type;
  using I = typename IndexOf<T>::type;
  typedef I M __attribute__((vector_size(sizeof(V))));
  constexpr M even = {static_cast<I>(2 * J)...};
  constexpr M odd = {static_cast<I>(2 * J + 1)...};
  re = __builtin_shuffle(a, b, even);
  im = __builtin_shuffle(a, b, odd);
}

template <typename T, int W, std::size_t... J>
inline void interleave(typename VecOf<T, W>::type re, typename VecOf<T, W>::type im, typename VecOf<T, W>::type& a,
                       typename VecOf<T, W>::type& b, std::index_sequence<J...>) {
  using V = typename VecOf<T, W>::type;
  using I = typename IndexOf<T>::type;
  typedef I M __attribute__((vector_size(sizeof(V))));
  constexpr M lo = {static_cast<I>(J % 2 == 0 ? J / 2 : W + J / 2)...};
  constexpr M hi = {static_cast<I>(J % 2 == 0 ? W / 2 + J / 2 : W + W / 2 + J / 2)...};
  a = __builtin_shuffle(re, im, lo);
  b = __builtin_shuffle(re, im, hi);
}

// ------------------------------------------------------------ power-of-two passes

template <typename T, int W>
struct Engine {
  using V = typename VecOf<T, W>::type;
  using C = CV<V>;

  static inline void cmul(V& r, V& i, T wr, T wi) {
    const V t = r * wr - i * wi;
    i = r * wi + i * wr;
    r = t;
  }

  static void pass2(C* x, std::size_t len) {
    for (std::size_t g = 0; g < len; g += 2) {
      const V ar = x[g].r, ai = x[g].i, br = x[g + 1].r, bi = x[g + 1].i;
      x[g].r = ar + br;
      x[g].i = ai + bi;
      x[g + 1].r = ar - br;
      x[g + 1].i = ai - bi;
    }
  }

  static inline void bfly4(C* a, C* b, C* c, C* d, V br, V bi, V cr, V ci, V dr, V di) {
    // a: F0; b, c, d: the blocks at +q, +2q, +3q after twiddling (F2 w^2j, F1 w^j, F3 w^3j).
    const V ar = a->r, ai = a->i;
    const V s0r = ar + br, s0i = ai + bi, s1r = ar - br, s1i = ai - bi;
    const V s2r = cr + dr, s2i = ci + di, s3r = cr - dr, s3i = ci - di;
    a->r = s0r + s2r;
    a->i = s0i + s2i;
    c->r = s0r - s2r;
    c->i = s0i - s2i;
    b->r = s1r + s3i;
    b->i = s1i - s3r;
    d->r = s1r - s3i;
    d->i = s1i + s3r;
  }

  static void pass4_first(C* x, std::size_t len) {
    for (std::size_t g = 0; g < len; g += 4)
      bfly4(x + g, x + g + 1, x + g + 2, x + g + 3, x[g + 1].r, x[g + 1].i, x[g + 2].r, x[g + 2].i, x[g + 3].r,
            x[g + 3].i);
  }

  static void pass4(C* x, std::size_t len, std::size_t q, const T* tw) {
    for (std::size_t g = 0; g < len; g += 4 * q) {
      C* a = x + g;
      for (std::size_t j = 0; j < q; ++j) {
        const T* w = tw + 6 * j;
        V br = a[j + q].r, bi = a[j + q].i;
        V cr = a[j + 2 * q].r, ci = a[j + 2 * q].i;
        V dr = a[j + 3 * q].r, di = a[j + 3 * q].i;
        cmul(br, bi, w[2], w[3]);
        cmul(cr, ci, w[0], w[1]);
        cmul(dr, di, w[4], w[5]);
        bfly4(a + j, a + j + q, a + j + 2 * q, a + j + 3 * q, br, bi, cr, ci, dr, di);
      }
    }
  }

  static inline void radix4(C* v, std::size_t stride, const T* w) {
    C& a = v[0];
    C& b = v[stride];
    C& c = v[2 * stride];
    C& d = v[3 * stride];
    V br = b.r, bi = b.i, cr = c.r, ci = c.i, dr = d.r, di = d.i;
    cmul(br, bi, w[2], w[3]);
    cmul(cr, ci, w[0], w[1]);
    cmul(dr, di, w[4], w[5]);
    bfly4(&a, &b, &c, &d, br, bi, cr, ci, dr, di);
  }

  // Two radix-4 passes (quarter sizes q and 4q) in one sweep: the 16 elements
  // j + t q (t < 16) of a group depend on each other only, so they are loaded
  // once, go through both passes in registers and are stored once.
  static void pass16(C* x, std::size_t len, std::size_t q, const T* tw_q, const T* tw_4q) {
    for (std::size_t g = 0; g < len; g += 16 * q) {
      C* a = x + g;
      for (std::size_t j = 0; j < q; ++j) {
        C v[16];
        for (int t = 0; t < 16; ++t) v[t] = a[j + t * q];
        const T* w = tw_q + 6 * j;
        for (int s = 0; s < 4; ++s) radix4(v + 4 * s, 1, w);
        for (int s = 0; s < 4; ++s) radix4(v + s, 4, tw_4q + 6 * (j + s * q));
        for (int t = 0; t < 16; ++t) a[j + t * q] = v[t];
      }
    }
  }

  // The DFT of odd length p (P when P > 0, a compile-time radix; else p_rt) of
  // v[0, p) in place, from its roots exp(-2 pi i t / p) (re, im pairs). Inputs
  // t and p - t enter as their sum and difference, so output pairs u, p - u
  // share one real-coefficient sum each: about half the multiplications of
  // the plain sum.
  // The sum of the first min(h, 4) partial sums, pairwise.
  static inline V combine(const V* a, std::size_t h) {
    if (h >= 4) return (a[0] + a[1]) + (a[2] + a[3]);
    if (h == 3) return (a[0] + a[1]) + a[2];
    if (h == 2) return a[0] + a[1];
    return a[0];
  }

  // s and d hold (p - 1) / 2 elements each.
  template <int P>
  static inline void odd_dft(C* v, const T* root, std::size_t p_rt, C* s, C* d) {
    const std::size_t p = P > 0 ? static_cast<std::size_t>(P) : p_rt;
    const std::size_t h = (p - 1) / 2;
    const C x0 = v[0];
    V sr = x0.r, si = x0.i;
    for (std::size_t t = 1; t <= h; ++t) {
      s[t - 1].r = v[t].r + v[p - t].r;
      s[t - 1].i = v[t].i + v[p - t].i;
      d[t - 1].r = v[t].r - v[p - t].r;
      d[t - 1].i = v[t].i - v[p - t].i;
      sr += s[t - 1].r;
      si += s[t - 1].i;
    }
    v[0].r = sr;
    v[0].i = si;
    for (std::size_t u = 1; u <= h; ++u) {
      // Up to four partial sums, combined pairwise at the end: their rounding
      // errors grow about half as fast as those of one running sum (and they
      // run in parallel). For the fixed radices every branch folds away.
      V ar[4], ai[4], br[4], bi[4];
      std::size_t k = u;  // t u mod p
      for (std::size_t t = 1; t <= h; ++t) {
        const T c = root[2 * k], w = root[2 * k + 1];
        const std::size_t a = (t - 1) & 3;
        if (t <= 4) {
          ar[a] = c * s[t - 1].r;
          ai[a] = c * s[t - 1].i;
          br[a] = w * d[t - 1].r;
          bi[a] = w * d[t - 1].i;
        } else {
          ar[a] += c * s[t - 1].r;
          ai[a] += c * s[t - 1].i;
          br[a] += w * d[t - 1].r;
          bi[a] += w * d[t - 1].i;
        }
        k += u;
        if (k >= p) k -= p;
      }
      const V sr_ = x0.r + combine(ar, h), si_ = x0.i + combine(ai, h);
      const V dr_ = combine(br, h), di_ = combine(bi, h);
      v[u].r = sr_ - di_;
      v[u].i = si_ + dr_;
      v[p - u].r = sr_ + di_;
      v[p - u].i = si_ - dr_;
    }
  }

  // One pass of odd radix p (see RadixPass for the table layout). The fixed
  // radices keep their few values on the stack; any other radix p works in
  // `scratch` (RadixView::scratch elements, 2p).
  template <int P>
  static void pass_odd(C* x, std::size_t len, std::size_t q, const T* tab, std::size_t p_rt, C* scratch) {
    constexpr std::size_t kCap = P > 0 ? static_cast<std::size_t>(P) : 1;
    const std::size_t p = P > 0 ? static_cast<std::size_t>(P) : p_rt;
    const T* root = tab;
    const T* tw = tab + 2 * p;
    C stack[3 * kCap];
    C* v = P > 0 ? stack : scratch;
    C* s = v + p;
    C* d = s + (p - 1) / 2;
    for (std::size_t g = 0; g < len; g += p * q) {
      C* a = x + g;
      for (std::size_t j = 0; j < q; ++j) {
        odd_butterfly<P>(a, j, q, p, root, tw, v, s, d);
        for (std::size_t t = 0; t < p; ++t) a[j + t * q] = v[t];
      }
    }
  }

  // Butterfly j of a pass of odd radix p (P when P > 0) and stride q: the
  // elements a[j + t q], t < p, twiddled (tw: the pass's twiddles), and
  // their DFT, into v.
  template <int P>
  static inline void odd_butterfly(const C* a, std::size_t j, std::size_t q, std::size_t p, const T* root,
                                   const T* tw, C* v, C* s, C* d) {
    v[0] = a[j];
    const T* w = tw + 2 * (p - 1) * j;
    for (std::size_t t = 1; t < p; ++t) {
      V r = a[j + t * q].r, i = a[j + t * q].i;
      if (j > 0) cmul(r, i, w[2 * (t - 1)], w[2 * (t - 1) + 1]);  // w^0 = 1
      v[t].r = r;
      v[t].i = i;
    }
    odd_dft<P>(v, root, p, s, d);
  }

  static inline std::size_t group_size(const RadixPass& s) {
    return static_cast<std::size_t>(s.radix) * s.q;
  }

  // The radix-2 first pass (q = 1) and the radix-4 pass after it (q = 2) in
  // one sweep: the 8 elements of a group depend on each other only.
  static void pass8_first(C* x, std::size_t len, const T* tw_2) {
    for (std::size_t g = 0; g < len; g += 8) {
      C* v = x + g;
      pass2(v, 8);
      bfly4(v, v + 2, v + 4, v + 6, v[2].r, v[2].i, v[4].r, v[4].i, v[6].r, v[6].i);  // j = 0: w^0 = 1
      radix4(v + 1, 2, tw_2 + 6);
    }
  }

  // pass16 for q = 1, where the first radix-4 stage has no twiddles.
  static void pass16_first(C* x, std::size_t len, const T* tw_4q) {
    for (std::size_t g = 0; g < len; g += 16) {
      C* v = x + g;
      for (int s = 0; s < 4; ++s) {
        C* a = v + 4 * s;
        bfly4(a, a + 1, a + 2, a + 3, a[1].r, a[1].i, a[2].r, a[2].i, a[3].r, a[3].i);
      }
      for (int s = 0; s < 4; ++s) radix4(v + s, 4, tw_4q + 6 * s);
    }
  }

  // Runs passes [first, last) on x[0, len), len a multiple of their group
  // sizes; two radix-4 passes in a row go through one radix-16 sweep.
  static void passes(const RadixView<T>& p, C* x, std::size_t len, std::size_t first, std::size_t last,
                     C* scratch) {
    for (std::size_t i = first; i < last;) {
      const RadixPass& s = p.passes[i];
      const T* tw = p.twiddle + s.tw;
      switch (s.radix) {
        case 2:
          if (s.q == 1 && i + 1 < last && p.passes[i + 1].radix == 4) {
            pass8_first(x, len, p.twiddle + p.passes[i + 1].tw);
            i += 2;
            continue;
          }
          pass2(x, len);
          break;
        case 4:
          if (i + 1 < last && p.passes[i + 1].radix == 4) {
            if (s.q == 1)
              pass16_first(x, len, p.twiddle + p.passes[i + 1].tw);
            else
              pass16(x, len, s.q, tw, p.twiddle + p.passes[i + 1].tw);
            i += 2;
            continue;
          }
          if (s.q == 1)
            pass4_first(x, len);
          else
            pass4(x, len, s.q, tw);
          break;
        case 3:
          pass_odd<3>(x, len, s.q, tw, 3, scratch);
          break;
        case 5:
          pass_odd<5>(x, len, s.q, tw, 5, scratch);
          break;
        case 7:
          pass_odd<7>(x, len, s.q, tw, 7, scratch);
          break;
        default:
          pass_odd<0>(x, len, s.q, tw, s.radix, scratch);
          break;
      }
      ++i;
    }
  }

  // In-place transform of digit-reversed input to natural-order output. The
  // first passes, whose groups fit an L1-sized block, run block by block, then
  // those whose groups fit an L2-sized block; only the remaining passes of a
  // long transform sweep the whole buffer.
  // With `end` below p.npasses, only the passes before it run.
  static void transform(const RadixView<T>& p, C* x, C* scratch, std::size_t end = ~std::size_t{0}) {
    const std::size_t n = p.n;
    if (n == 1) return;
    if (end > p.npasses) end = p.npasses;
    std::size_t done = 0;
    const std::size_t levels[2] = {kBlockBytes, kBlock2Bytes};
    for (std::size_t bytes : levels) {
      const std::size_t cap = bytes / sizeof(C);
      std::size_t s = done, block = 0;
      while (s < end && group_size(p.passes[s]) <= cap) block = group_size(p.passes[s++]);
      if (s == end) break;  // the rest fits this level as a whole
      if (s > done) {
        for (std::size_t off = 0; off < n; off += block) passes(p, x + off, block, done, s, scratch);
        done = s;
      }
    }
    passes(p, x, n, done, end, scratch);
  }

  // In place, natural order: x[k] = sum_j x[j] w4^(jk) (the radix-4
  // butterfly of the batched passes, whose second input is x2).
  [[gnu::always_inline]] static inline void dft4(C& x0, C& x1, C& x2, C& x3) {
    bfly4(&x0, &x1, &x2, &x3, x2.r, x2.i, x1.r, x1.i, x3.r, x3.i);
  }

  // The DFT of 8 across y[0..8), lane by lane, in place and in natural order.
  [[gnu::always_inline]] static inline void dft8(C* y) {
    constexpr T c = T(0.707106781186547524400844362104849039L);
    dft4(y[0], y[2], y[4], y[6]);
    dft4(y[1], y[3], y[5], y[7]);
    C o[4] = {y[1], y[3], y[5], y[7]};
    {  // w8^1 = (c, -c), w8^2 = -i, w8^3 = (-c, -c)
      const V r1 = o[1].r, i1 = o[1].i;
      o[1].r = c * (r1 + i1);
      o[1].i = c * (i1 - r1);
      const V r2 = o[2].r;
      o[2].r = o[2].i;
      o[2].i = -r2;
      const V r3 = o[3].r, i3 = o[3].i;
      o[3].r = c * (i3 - r3);
      o[3].i = -c * (r3 + i3);
    }
    const C e[4] = {y[0], y[2], y[4], y[6]};
    for (int k = 0; k < 4; ++k) {
      y[k].r = e[k].r + o[k].r;
      y[k].i = e[k].i + o[k].i;
      y[k + 4].r = e[k].r - o[k].r;
      y[k + 4].i = e[k].i - o[k].i;
    }
  }

  // The DFT of 16 across p[0..16), lane by lane, in place, as 4 x 4: bin
  // k1 + 4 k2 ends in p[4 k1 + k2] (see bin16).
  [[gnu::always_inline]] static inline void dft16(C* p) {
    for (int m2 = 0; m2 < 4; ++m2) dft4(p[m2], p[4 + m2], p[8 + m2], p[12 + m2]);
    constexpr T c1 = T(0.923879532511286756128183189396788933L), s1 = T(0.382683432365089771728459984030398866L);
    constexpr T h = T(0.707106781186547524400844362104849039L);
    // w16^(m2 k1) for k1, m2 in 1..3: exponents 1, 2, 3, 2, 4, 6, 3, 6, 9.
    const T wr[10] = {1, c1, h, s1, 0, -s1, -h, -c1, -1, -c1};
    const T wi[10] = {0, -s1, -h, -c1, -1, -c1, -h, -s1, 0, s1};
    for (int k1 = 1; k1 < 4; ++k1)
      for (int m2 = 1; m2 < 4; ++m2) {
        const int e = k1 * m2;
        cmul(p[4 * k1 + m2].r, p[4 * k1 + m2].i, wr[e], wi[e]);
      }
    for (int k1 = 0; k1 < 4; ++k1) dft4(p[4 * k1], p[4 * k1 + 1], p[4 * k1 + 2], p[4 * k1 + 3]);
  }

  // Where dft16 leaves bin q.
  static constexpr int bin16(int q) { return 4 * (q % 4) + q / 4; }

  // ---------------------------------------------------------- lane split (one row)

  // One row of n = W M points through its lane split (RowSplit, W = s.r):
  // DFTs of W points down the columns of the W x M matrix x[t M + c], W
  // neighbouring columns in the lanes; the twiddles w^(u c); a W x W
  // transpose, after which lane u of work[perm[c]] holds
  // Y_u[c] = w^(u c) sum_t x[t M + c] w_W^(t u); then the M-point transforms
  // of the W lanes, Z_u, and X[u + W k] = Z_u[k]: element k of the work
  // buffer holds W neighbouring bins, stored in order. A last block of fewer
  // than W columns overlaps the one before (its columns are written twice,
  // with equal values). `next`, the row after this one or null, has its
  // first lines fetched while this row is transformed.
  static void split_row(const RowSplit<T>& s, const T* in, T* out, bool forward, T scale, C* work, C* scratch,
                        const T* next) {
    const RadixView<T>& sub = *s.sub;
    const std::size_t M = sub.n;
    const T sign = forward ? T(1) : T(-1);
    const T* tw_re = s.tw;
    const T* tw_im = s.tw + (W - 1) * M;
    static_assert(W == 8 || W == 16, "the lane split runs on 512-bit vectors");
    C v[W];
    V re[W], im[W];
    for (std::size_t b = 0; b < M; b += W) {
      const std::size_t c0 = b + W <= M ? b : M - W;
      for (int t = 0; t < W; ++t) {
        const T* src = in + 2 * (static_cast<std::size_t>(t) * M + c0);
        __builtin_prefetch(src + kAhead, 0, 3);
        __builtin_prefetch(src + kAhead + W, 0, 3);
        V lo, hi;
        std::memcpy(&lo, src, sizeof(V));
        std::memcpy(&hi, src + W, sizeof(V));
        deinterleave<T, W>(lo, hi, v[t].r, v[t].i, std::make_index_sequence<W>{});
        v[t].i *= sign;
      }
      // The column DFTs in registers; bin u in v[at(u)].
      if constexpr (W == 8)
        dft8(v);
      else
        dft16(v);
      constexpr auto at = [](int u) { return W == 16 ? bin16(u) : u; };
      re[0] = v[0].r;
      im[0] = v[0].i;
      for (int u = 1; u < W; ++u) {
        V wr, wi;
        std::memcpy(&wr, tw_re + (u - 1) * M + c0, sizeof(V));
        std::memcpy(&wi, tw_im + (u - 1) * M + c0, sizeof(V));
        const C& x = v[at(u)];
        re[u] = x.r * wr - x.i * wi;
        im[u] = x.r * wi + x.i * wr;
      }
      transpose<T, W>(re);
      transpose<T, W>(im);
      for (int j = 0; j < W; ++j) {
        C& d = work[sub.perm[c0 + j]];
        d.r = re[j];
        d.i = im[j];
      }
    }
    if (next != nullptr)
      for (int t = 0; t < W; ++t)
        for (std::size_t at = 0; at < kAhead && at < 2 * M; at += 64 / sizeof(T))
          __builtin_prefetch(next + 2 * static_cast<std::size_t>(t) * M + at, 0, 3);
    const T is = sign * scale;
    // A last pass of radix 3, 4, 5 or 7 stores the bins itself; after any
    // other, they are stored in a sweep of their own.
    const std::size_t last = sub.npasses - 1;
    const RadixPass& lp = sub.passes[last];
    const T* tab = sub.twiddle + lp.tw;
    const bool fused = last > 0 && (lp.radix == 3 || lp.radix == 4 || lp.radix == 5 || lp.radix == 7);
    transform(sub, work, scratch, fused ? last : sub.npasses);
    switch (fused ? lp.radix : 0) {
      case 3:
        split_last<3>(work, lp.q, tab, out, scale, is);
        break;
      case 4:
        split_last4(work, lp.q, tab, out, scale, is);
        break;
      case 5:
        split_last<5>(work, lp.q, tab, out, scale, is);
        break;
      case 7:
        split_last<7>(work, lp.q, tab, out, scale, is);
        break;
      default:
        for (std::size_t k = 0; k < M; ++k) store_bins(work[k], out + 2 * W * k, scale, is);
    }
  }

  // Element x of a split row's work buffer, (re, im) times (rs, is), to its W
  // neighbouring bins at d (interleaved), the lines ahead fetched for writing.
  static inline void store_bins(const C& x, T* d, T rs, T is) {
    V lo, hi;
    interleave<T, W>(rs * x.r, is * x.i, lo, hi, std::make_index_sequence<W>{});
    __builtin_prefetch(d + kSplitOutAhead, 1, 3);
    __builtin_prefetch(d + kSplitOutAhead + W, 1, 3);
    std::memcpy(d, &lo, sizeof(V));
    std::memcpy(d + W, &hi, sizeof(V));
  }

  // The last pass of a split row's transforms, of odd radix P (q = M / P; the
  // layout of pass_odd), storing its outputs k = j + t q as bins straight
  // away instead of into the work buffer: one sweep of it less.
  template <int P>
  static void split_last(const C* x, std::size_t q, const T* tab, T* out, T rs, T is) {
    const T* root = tab;
    const T* tw = tab + 2 * P;
    C v[P], s[P / 2], d[P / 2];
    for (std::size_t j = 0; j < q; ++j) {
      odd_butterfly<P>(x, j, q, P, root, tw, v, s, d);
      for (int t = 0; t < P; ++t) store_bins(v[t], out + 2 * W * (j + t * q), rs, is);
    }
  }

  // The same for a last pass of radix 4 (q = M / 4; the layout of pass4).
  // Fusing the last two passes when both are of radix 4 (16 streams of bins,
  // as pass16) was 0.83-1.13x this, and unsteady.
  static void split_last4(const C* x, std::size_t q, const T* tw, T* out, T rs, T is) {
    for (std::size_t j = 0; j < q; ++j) {
      C v[4];
      for (int t = 0; t < 4; ++t) v[t] = x[j + t * q];
      radix4(v, 1, tw + 6 * j);
      for (int t = 0; t < 4; ++t) store_bins(v[t], out + 2 * W * (j + t * q), rs, is);
    }
  }

  // x: input k < n at position perm[k] (zeros elsewhere for Bluestein); out: x[k], k < n, natural order.
  // tmp holds tmp_len(p) elements.
  static void run(const ComplexView<T>& p, C* x, C* tmp) {
    if (p.m == p.n) {
      transform(p.radix, x, tmp);
      return;
    }
    C* scratch = tmp + p.m;
    const std::uint32_t* perm = p.radix.perm;
    for (std::size_t k = 0; k < p.n; ++k) {
      C& v = x[perm[k]];
      cmul(v.r, v.i, p.chirp[2 * k], p.chirp[2 * k + 1]);
    }
    transform(p.radix, x, scratch);
    // The inverse transform of y is conj(FFT(conj(y))): one forward kernel serves both.
    for (std::size_t k = 0; k < p.m; ++k) {
      V r = x[k].r, i = x[k].i;
      cmul(r, i, p.kernel[2 * k], p.kernel[2 * k + 1]);
      C& t = tmp[perm[k]];
      t.r = r;
      t.i = -i;
    }
    transform(p.radix, tmp, scratch);
    for (std::size_t k = 0; k < p.n; ++k) {
      V r = tmp[k].r, i = -tmp[k].i;
      cmul(r, i, p.chirp[2 * k], p.chirp[2 * k + 1]);
      x[k].r = r;
      x[k].i = i;
    }
  }

  static std::size_t work_len(const ComplexView<T>& p) { return p.m + 1; }
  static std::size_t tmp_len(const ComplexView<T>& p) { return (p.m == p.n ? 0 : p.m) + p.radix.scratch; }

  static inline T* lanes(C* c) { return reinterpret_cast<T*>(c); }
  static inline const T* lanes(const C* c) { return reinterpret_cast<const T*>(c); }

  // r[j] = values at + j of the W rows, lane l from row l (the W x W block at
  // column `at`, transposed), and back.
  static inline void load_transposed(const T* const* rows, std::size_t at, V* r) {
    if constexpr (W >= 4) {
      load_halves<T, W>(rows, at, r);
      transpose<T, W, W / 4>(r);
    } else {
      for (int l = 0; l < W; ++l) std::memcpy(&r[l], rows[l] + at, sizeof(V));
      transpose<T, W>(r);
    }
  }

  static inline void store_transposed(T* const* rows, std::size_t at, V* r) {
    if constexpr (W >= 4) {
      transpose<T, W, W / 4>(r);
      store_halves<T, W>(rows, at, r);
    } else {
      transpose<T, W>(r);
      for (int l = 0; l < W; ++l) std::memcpy(rows[l] + at, &r[l], sizeof(V));
    }
  }

  // ---------------------------------------------------------- row groups

  // Complex elements k < count of W rows (interleaved re, im) into x[perm[k]]
  // (x[k] when perm is null), imaginary parts times `sign`.
  static void gather(const T* const* src, std::size_t count, const std::uint32_t* perm, C* x, T sign,
                     std::ptrdiff_t ahead = 0) {
    if (sign == T(1))
      gather_as<false>(src, count, perm, x, sign, ahead);
    else
      gather_as<true>(src, count, perm, x, sign, ahead);
  }

  // gather(), with the product by `sign` left out when Signed is false (sign 1).
  template <bool Signed>
  static void gather_as(const T* const* src, std::size_t count, const std::uint32_t* perm, C* x, T sign,
                        std::ptrdiff_t ahead) {
    std::size_t k0 = 0;
    if constexpr (W > 1) {
      V r[W];
      for (; k0 + W / 2 <= count; k0 += W / 2) {
        for (int l = 0; l < W; ++l) {
          if (count >= kPrefetchMin) __builtin_prefetch(src[l] + 2 * k0 + kAhead, 0, 3);
          else if (ahead != 0) __builtin_prefetch(src[l] + 2 * k0 + ahead, 0, 2);
        }
        load_transposed(src, 2 * k0, r);
        for (int j = 0; j < W / 2; ++j) {
          C& d = x[perm ? perm[k0 + j] : k0 + j];
          d.r = r[2 * j];
          if constexpr (Signed)
            d.i = sign * r[2 * j + 1];
          else
            d.i = r[2 * j + 1];
        }
      }
    }
    for (std::size_t k = k0; k < count; ++k) {
      T* d = lanes(x + (perm ? perm[k] : k));
      for (int l = 0; l < W; ++l) {
        d[l] = src[l][2 * k];
        d[W + l] = sign * src[l][2 * k + 1];
      }
    }
  }

  // Real samples k < count of W rows into x[perm[k]] with zero imaginary parts.
  static void gather_real(const T* const* src, std::size_t count, const std::uint32_t* perm, C* x,
                          std::ptrdiff_t ahead = 0) {
    std::size_t k0 = 0;
    const V zero{};
    if constexpr (W > 1) {
      V r[W];
      for (; k0 + W <= count; k0 += W) {
        for (int l = 0; l < W; ++l)
          if (ahead != 0) __builtin_prefetch(src[l] + k0 + ahead, 0, 2);
        load_transposed(src, k0, r);
        for (int j = 0; j < W; ++j) {
          C& d = x[perm[k0 + j]];
          d.r = r[j];
          d.i = zero;
        }
      }
    }
    for (std::size_t k = k0; k < count; ++k) {
      T* d = lanes(x + perm[k]);
      for (int l = 0; l < W; ++l) {
        d[l] = src[l][k];
        d[W + l] = T(0);
      }
    }
  }

  // x[k], k < count, to W rows of interleaved complex, (re, im) times (rs, is).
  static void scatter(const C* x, std::size_t count, T* const* dst, T rs, T is, std::ptrdiff_t ahead = 0) {
    if (rs == T(1) && is == T(1))
      scatter_as<false>(x, count, dst, rs, is, ahead);
    else
      scatter_as<true>(x, count, dst, rs, is, ahead);
  }

  // scatter(), with the products by (rs, is) left out when Scaled is false
  // (both 1, as in the forward transforms).
  template <bool Scaled>
  static void scatter_as(const C* x, std::size_t count, T* const* dst, T rs, T is, std::ptrdiff_t ahead) {
    std::size_t k0 = 0;
    if constexpr (W > 1) {
      V r[W];
      for (; k0 + W / 2 <= count; k0 += W / 2) {
        for (int j = 0; j < W / 2; ++j) {
          if constexpr (Scaled) {
            r[2 * j] = rs * x[k0 + j].r;
            r[2 * j + 1] = is * x[k0 + j].i;
          } else {
            r[2 * j] = x[k0 + j].r;
            r[2 * j + 1] = x[k0 + j].i;
          }
        }
        for (int l = 0; l < W; ++l) {
          if (count >= kPrefetchMin) __builtin_prefetch(dst[l] + 2 * k0 + kAhead, 1, 3);
          else if (ahead != 0) __builtin_prefetch(dst[l] + 2 * k0 + ahead, 1, 2);
        }
        store_transposed(dst, 2 * k0, r);
      }
    }
    for (std::size_t k = k0; k < count; ++k) {
      const T* s = lanes(x + k);
      for (int l = 0; l < W; ++l) {
        dst[l][2 * k] = rs * s[l];
        dst[l][2 * k + 1] = is * s[W + l];
      }
    }
  }

  // Real parts of x[k], k < count, times `rs`, to W rows of reals.
  static void scatter_real(const C* x, std::size_t count, T* const* dst, T rs, std::ptrdiff_t ahead = 0) {
    std::size_t k0 = 0;
    if constexpr (W > 1) {
      V r[W];
      for (; k0 + W <= count; k0 += W) {
        for (int j = 0; j < W; ++j) r[j] = rs * x[k0 + j].r;
        for (int l = 0; l < W; ++l)
          if (ahead != 0) __builtin_prefetch(dst[l] + k0 + ahead, 1, 2);
        store_transposed(dst, k0, r);
      }
    }
    for (std::size_t k = k0; k < count; ++k) {
      const T* s = lanes(x + k);
      for (int l = 0; l < W; ++l) dst[l][k] = rs * s[l];
    }
  }

  // A real row of n = 2h values (h = p.half.n with a lane split) through the
  // lane split of h, the row read as h complex points, then the split step
  // of r2c on the bins in place (X[k] = E[k] + w^k O[k], X[h - k] =
  // conj(E[k] - w^k O[k])), W bins from each end at a time, the back ones in
  // reversed lanes; the middle bins one by one.
  static void split_r2c_row(const RealView<T>& p, const T* in, T* out, T scale, C* work, C* scratch,
                            const T* next) {
    const std::size_t h = p.half.n;
    split_row(p.half.split, in, out, true, T(1), work, scratch, next);
    const T half = T(0.5) * scale;
    std::size_t k = 1;
    if constexpr (W > 1) {
      const auto rev = reversed_lanes(std::make_index_sequence<W>{});
      constexpr auto seq = std::make_index_sequence<W>{};
      for (; 2 * k + 2 * W - 2 < h; k += W) {
        const std::size_t m = h - k - W + 1;  // the back block [m, h - k]
        V a0, a1, b0, b1, w0, w1, ar, ai, br, bi, wr, wi;
        std::memcpy(&a0, out + 2 * k, sizeof(V));
        std::memcpy(&a1, out + 2 * k + W, sizeof(V));
        std::memcpy(&b0, out + 2 * m, sizeof(V));
        std::memcpy(&b1, out + 2 * m + W, sizeof(V));
        std::memcpy(&w0, p.twiddle + 2 * k, sizeof(V));
        std::memcpy(&w1, p.twiddle + 2 * k + W, sizeof(V));
        deinterleave<T, W>(a0, a1, ar, ai, seq);
        deinterleave<T, W>(b0, b1, br, bi, seq);
        deinterleave<T, W>(w0, w1, wr, wi, seq);
        br = __builtin_shuffle(br, rev);
        bi = __builtin_shuffle(bi, rev);
        const V er = (ar + br) * half, ei = (ai - bi) * half;
        const V odr = (ai + bi) * half, odi = (br - ar) * half;
        const V tr = odr * wr - odi * wi, ti = odr * wi + odi * wr;
        interleave<T, W>(er + tr, ei + ti, a0, a1, seq);
        interleave<T, W>(__builtin_shuffle(V(er - tr), rev), __builtin_shuffle(V(ti - ei), rev), b0, b1, seq);
        std::memcpy(out + 2 * k, &a0, sizeof(V));
        std::memcpy(out + 2 * k + W, &a1, sizeof(V));
        std::memcpy(out + 2 * m, &b0, sizeof(V));
        std::memcpy(out + 2 * m + W, &b1, sizeof(V));
      }
    }
    split_step(p, out, scale, k);
  }

  // The split step of r2c on the interleaved bins out[0, 2 h] of one row
  // (h = p.half.n), in place (see r2c): bins 0 and h, then the pairs k and
  // h - k for k from `from` to h / 2 (those below it are the caller's).
  static void split_step(const RealView<T>& p, T* out, T scale, std::size_t from) {
    const std::size_t h = p.half.n;
    const T zr = out[0], zi = out[1];
    out[0] = scale * (zr + zi);
    out[1] = T(0);
    out[2 * h] = scale * (zr - zi);
    out[2 * h + 1] = T(0);
    const T half = T(0.5) * scale;
    for (std::size_t k = from; 2 * k <= h; ++k) {
      T* a = out + 2 * k;
      T* b = out + 2 * (h - k);
      const T er = (a[0] + b[0]) * half, ei = (a[1] - b[1]) * half;
      T odr = (a[1] + b[1]) * half, odi = (b[0] - a[0]) * half;
      const T wr = p.twiddle[2 * k], wi = p.twiddle[2 * k + 1];
      const T t = odr * wr - odi * wi;
      odi = odr * wi + odi * wr;
      odr = t;
      a[0] = er + odr;
      a[1] = ei + odi;
      if (2 * k != h) {
        b[0] = er - odr;
        b[1] = odi - ei;
      }
    }
  }

  template <std::size_t... J>
  static constexpr auto reversed_lanes(std::index_sequence<J...>) {
    using I = typename IndexOf<T>::type;
    typedef I M __attribute__((vector_size(sizeof(I) * W)));
    return M{static_cast<I>(W - 1 - J)...};
  }

  // ---------------------------------------------------------- four-step (one row)

  // Element a < count of W adjacent columns: W interleaved complex values at
  // base + 2 * a * stride, into x[perm[a]], imaginary parts times `sign`.
  static void col_gather(const T* base, std::size_t stride, std::size_t count, const std::uint32_t* perm, C* x,
                         T sign) {
    for (std::size_t a = 0; a < count; ++a) {
      V u, v;
      const T* s = base + 2 * a * stride;
      std::memcpy(&u, s, sizeof(V));
      std::memcpy(&v, s + W, sizeof(V));
      C& d = x[perm[a]];
      deinterleave<T, W>(u, v, d.r, d.i, std::make_index_sequence<W>{});
      d.i *= sign;
    }
  }

  // x[k], k < count, (re, im) times (rs, is) and, when `step` is given, times
  // its twiddle step for the W columns from b on (see ComplexView), to
  // base + 2 * k * stride.
  static void col_scatter(const C* x, std::size_t count, T* base, std::size_t stride, T rs, T is,
                          const ComplexView<T>* step, std::size_t b) {
    const std::size_t h = b / kStepHi, l = b % kStepHi;
    for (std::size_t k = 0; k < count; ++k) {
      V r = x[k].r, i = x[k].i;
      if (step != nullptr) {
        V wr, wi;
        std::memcpy(&wr, step->step_lo_re + k * kStepLo + l, sizeof(V));
        std::memcpy(&wi, step->step_lo_im + k * kStepLo + l, sizeof(V));
        cmul(wr, wi, step->step_hi_re[k * step->step_h + h], step->step_hi_im[k * step->step_h + h]);
        const V t = r * wr - i * wi;
        i = r * wi + i * wr;
        r = t;
      }
      V u, v;
      interleave<T, W>(rs * r, is * i, u, v, std::make_index_sequence<W>{});
      T* d = base + 2 * k * stride;
      std::memcpy(d, &u, sizeof(V));
      std::memcpy(d + W, &v, sizeof(V));
    }
  }

  // One row of length n = n1 * n2 (p.n1 > 0, n1 and n2 >= W, any multiples): in and out are
  // interleaved complex; `work` holds max(n1, n2) + 1 elements, `mid` 2n values.
  static void four_step(const ComplexView<T>& p, const T* in, T* out, bool forward, T scale, C* work, T* mid) {
    const RadixView<T>& cols = *p.cols;
    const RadixView<T>& rows = *p.rows;
    const std::size_t n1 = cols.n, n2 = rows.n;
    const T sign = forward ? T(1) : T(-1);
    C* scratch = work + (n1 > n2 ? n1 : n2) + 1;
    // A last group of fewer than W columns (or rows) overlaps the one before;
    // the columns transformed twice are written twice with equal values.
    for (std::size_t b0 = 0; b0 < n2; b0 += W) {
      const std::size_t b = b0 + W <= n2 ? b0 : n2 - W;
      col_gather(in + 2 * b, n2, n1, cols.perm, work, sign);
      transform(cols, work, scratch);
      col_scatter(work, n1, mid + 2 * b, n2, T(1), T(1), &p, b);
    }
    const T* src[W];
    for (std::size_t k0 = 0; k0 < n1; k0 += W) {
      const std::size_t k1 = k0 + W <= n1 ? k0 : n1 - W;
      for (int l = 0; l < W; ++l) src[l] = mid + 2 * (k1 + l) * n2;
      gather(src, n2, rows.perm, work, T(1));
      transform(rows, work, scratch);
      col_scatter(work, n2, out + 2 * k1, n1, scale, sign * scale, nullptr, 0);
    }
  }

  static std::size_t four_step_work(const ComplexView<T>& p) {
    const std::size_t a = p.cols->n > p.rows->n ? p.cols->n : p.rows->n;
    const std::size_t b = p.cols->scratch > p.rows->scratch ? p.cols->scratch : p.rows->scratch;
    return a + 1 + b;
  }

  // One row of a Bluestein length n through the four-step transform of its m
  // (same steps as run(), on interleaved values); a and b hold 2m values each.
  static void bluestein_row(const ComplexView<T>& p, const T* in, T* out, bool forward, T scale, C* work, T* mid,
                            T* a, T* b) {
    const ComplexView<T>& big = *p.whole;
    const std::size_t n = p.n, m = p.m;
    const T sign = forward ? T(1) : T(-1);
    for (std::size_t k = 0; k < n; ++k) {
      const T xr = in[2 * k], xi = sign * in[2 * k + 1], cr = p.chirp[2 * k], ci = p.chirp[2 * k + 1];
      a[2 * k] = xr * cr - xi * ci;
      a[2 * k + 1] = xr * ci + xi * cr;
    }
    std::memset(static_cast<void*>(a + 2 * n), 0, sizeof(T) * 2 * (m - n));
    four_step(big, a, b, true, T(1), work, mid);
    for (std::size_t k = 0; k < m; ++k) {
      const T br = b[2 * k], bi = b[2 * k + 1], kr = p.kernel[2 * k], ki = p.kernel[2 * k + 1];
      a[2 * k] = br * kr - bi * ki;
      a[2 * k + 1] = -(br * ki + bi * kr);
    }
    four_step(big, a, b, true, T(1), work, mid);
    for (std::size_t k = 0; k < n; ++k) {
      const T br = b[2 * k], bi = -b[2 * k + 1], cr = p.chirp[2 * k], ci = p.chirp[2 * k + 1];
      out[2 * k] = scale * (br * cr - bi * ci);
      out[2 * k + 1] = sign * scale * (br * ci + bi * cr);
    }
  }

  // One complex row of p through the four-step split, directly or inside Bluestein.
  static void complex_row(const ComplexView<T>& p, const T* in, T* out, bool forward, T scale, C* work, T* mid,
                          T* a, T* b) {
    if (p.n1 > 0)
      four_step(p, in, out, forward, scale, work, mid);
    else
      bluestein_row(p, in, out, forward, scale, work, mid, a, b);
  }

  // Real transforms of one row through the four-step transform of n/2.
  static void four_step_r2c(const RealView<T>& p, const T* in, T* out, T scale, C* work, T* mid, T* a, T* b) {
    complex_row(p.half, in, out, true, T(1), work, mid, a, b);
    split_step(p, out, scale, 1);
  }

  static void four_step_c2r(const RealView<T>& p, const T* in, T* out, T scale, C* work, T* mid, T* z, T* a,
                            T* b) {
    const std::size_t hn = p.half.n;
    // The split step of c2r into z, conjugated, then a forward transform (see c2r).
    for (std::size_t k = 0; k < hn; ++k) {
      T ar = in[2 * k], ai = in[2 * k + 1], br = in[2 * (hn - k)], bi = -in[2 * (hn - k) + 1];
      if (k == 0) {
        ai = T(0);
        bi = T(0);
      }
      const T er = ar + br, ei = ai + bi;
      T odr = ar - br, odi = ai - bi;
      const T wr = p.twiddle[2 * k], wi = -p.twiddle[2 * k + 1];
      const T t = odr * wr - odi * wi;
      odi = odr * wi + odi * wr;
      odr = t;
      z[2 * k] = er - odi;
      z[2 * k + 1] = -(ei + odr);
    }
    complex_row(p.half, z, out, true, scale, work, mid, a, b);
    for (std::size_t j = 0; j < hn; ++j) out[2 * j + 1] = -out[2 * j + 1];
  }

  static void c2c(const ComplexView<T>& p, const T* const* src, T* const* dst, bool forward, T scale, C* work,
                  C* tmp, const Ahead& ahead) {
    if (p.m != p.n) std::memset(static_cast<void*>(work), 0, sizeof(C) * p.m);
    const T sign = forward ? T(1) : T(-1);
    gather(src, p.n, p.radix.perm, work, sign, ahead.in);
    run(p, work, tmp);
    scatter(work, p.n, dst, scale, sign * scale, ahead.out);
  }

  // `work` holds max(m, n/2 + 1) elements.
  static void r2c(const RealView<T>& p, const T* const* src, T* const* dst, T scale, C* work, C* tmp,
                  const Ahead& ahead) {
    const ComplexView<T>& h = p.half;
    if (h.m != h.n) std::memset(static_cast<void*>(work), 0, sizeof(C) * h.m);
    if (h.n == p.n) {  // odd or short lengths: one complex transform of length n
      gather_real(src, p.n, h.radix.perm, work, ahead.in);
      run(h, work, tmp);
      scatter(work, p.n / 2 + 1, dst, scale, scale, ahead.out);
      return;
    }
    const std::size_t hn = h.n;
    gather(src, hn, h.radix.perm, work, T(1), ahead.in);
    run(h, work, tmp);
    // Split step, in place and pairwise: with E, O the transforms of the even
    // and odd samples, E[k] = (Z[k] + conj Z[h-k]) / 2, O[k] = -i (Z[k] - conj Z[h-k]) / 2,
    // X[k] = E[k] + w^k O[k] and X[h-k] = conj(E[k] - w^k O[k]).
    {
      const V zr = work[0].r, zi = work[0].i;
      work[0].r = zr + zi;
      work[0].i = V{};
      work[hn].r = zr - zi;
      work[hn].i = V{};
    }
    const T half = T(0.5);
    for (std::size_t k = 1; 2 * k <= hn; ++k) {
      C& a = work[k];
      C& b = work[hn - k];
      const V er = (a.r + b.r) * half, ei = (a.i - b.i) * half;
      V odr = (a.i + b.i) * half, odi = (b.r - a.r) * half;
      cmul(odr, odi, p.twiddle[2 * k], p.twiddle[2 * k + 1]);
      a.r = er + odr;
      a.i = ei + odi;
      if (2 * k != hn) {
        b.r = er - odr;
        b.i = odi - ei;
      }
    }
    scatter(work, hn + 1, dst, scale, scale, ahead.out);
  }

  // conj(z[k]) of the c2r pre-step from a = bins[k] and c = bins[h - k], into x.
  static inline void presplit(const RealView<T>& p, std::size_t k, V ar, V ai, V cr, V ci, C& x) {
    if (k == 0) {
      ai = V{};
      ci = V{};
    }
    const V er = ar + cr, ei = ai - ci;
    V odr = ar - cr, odi = ai + ci;
    cmul(odr, odi, p.twiddle[2 * k], -p.twiddle[2 * k + 1]);
    x.r = er - odi;
    x.i = -(ei + odr);
  }

  static void c2r(const RealView<T>& p, const T* const* src, T* const* dst, T scale, C* work, C* tmp, C* bins,
                  const Ahead& ahead) {
    const ComplexView<T>& h = p.half;
    const std::uint32_t* perm = h.radix.perm;
    const std::size_t nb = p.n / 2 + 1;
    if (h.m != h.n) std::memset(static_cast<void*>(work), 0, sizeof(C) * h.m);
    const V zero{};
    // The inverse is computed as conj(FFT(conj(z))), so conj(z) goes into the work buffer.
    if (h.n == p.n) {  // odd or short lengths: one complex transform of length n
      gather(src, nb, nullptr, bins, T(1), ahead.in);
      const std::size_t n = p.n;
      work[perm[0]].r = bins[0].r;
      work[perm[0]].i = zero;
      for (std::size_t k = 1; k < nb; ++k) {
        C& lo = work[perm[k]];
        lo.r = bins[k].r;
        if (2 * k == n) {  // the Nyquist bin of an even length: its imaginary part is ignored
          lo.i = zero;
          continue;
        }
        lo.i = -bins[k].i;
        C& hi = work[perm[n - k]];
        hi.r = bins[k].r;
        hi.i = bins[k].i;
      }
      run(h, work, tmp);
      scatter_real(work, n, dst, scale, ahead.out);
      return;
    }
    const std::size_t hn = h.n;
    std::size_t k0 = 0;
    if constexpr (W > 1) {
      // Chunks of bins from both ends at once, [k0, k0 + W/2) and its mirror
      // [hn - k0 - W/2 + 1, hn - k0]: each holds the partners of the other.
      constexpr std::size_t H = W / 2;
      if (hn >= W) {
        V a[W], b[W];
        const std::size_t mid = hn / 2;
        for (; k0 <= mid; k0 += H) {
          const std::size_t m0 = hn - k0 - H + 1;
          for (int l = 0; l < W; ++l) {
            if (ahead.in != 0) {
              __builtin_prefetch(src[l] + 2 * k0 + ahead.in, 0, 2);
              __builtin_prefetch(src[l] + 2 * m0 + ahead.in, 0, 2);
            }
          }
          load_transposed(src, 2 * k0, a);
          load_transposed(src, 2 * m0, b);
          for (std::size_t j = 0; j < H; ++j) {
            const std::size_t jm = H - 1 - j;
            presplit(p, k0 + j, a[2 * j], a[2 * j + 1], b[2 * jm], b[2 * jm + 1], work[perm[k0 + j]]);
            if (m0 + j < hn)
              presplit(p, m0 + j, b[2 * j], b[2 * j + 1], a[2 * jm], a[2 * jm + 1], work[perm[m0 + j]]);
          }
        }
        k0 = hn;
      }
    }
    if (k0 < hn) {
      gather(src, nb, nullptr, bins, T(1));
      for (std::size_t k = 0; k < hn; ++k)
        presplit(p, k, bins[k].r, bins[k].i, bins[hn - k].r, bins[hn - k].i, work[perm[k]]);
    }
    run(h, work, tmp);
    scatter(work, hn, dst, scale, -scale, ahead.out);
  }
};

// ------------------------------------------------------------ short rows in registers

// Short rows run one row at a time on AVX-512, in registers (and a few KB of
// stack) from load to store, instead of W rows at a time through the work
// buffer: a batched group of such short rows spends as much time on its
// transposes in and out as on the transform. The core is a P-point DFT held in
// 16 registers of L lanes (P = 8 L: 128 for float32, 64 for float64); complex
// rows of P R points (R = 1, 2, 4, ...) take a radix-R step in frequency first
// (u_q[n] = w^(qn) sum_m z[n + P m] w_R^(qm), whose P-point DFTs are the bins
// R k + q), and real rows of 2 P R values are complex rows of P R pairs
// followed by the split step (or, back from the bins, preceded by its
// inverse).
//
// The core transform (n = L a + b, k = k1 + 8 k2) is a DFT of 8 across the
// vectors (a), twiddles w_P^(b k1), a transpose and a second DFT of 8 across
// the vectors (see dft_core); it leaves Z[L j + l] in lane l of vector j,
// natural order, ready to be interleaved and stored.
template <typename T>
struct RegisterRows {
  static constexpr int L = static_cast<int>(64 / sizeof(T));  // lanes of a 512-bit vector
  static constexpr int P = 8 * L;                             // points of the core DFT
  using V = typename VecOf<T, L>::type;
  using I = typename IndexOf<T>::type;
  typedef I M __attribute__((vector_size(64)));
  using C = CV<V>;

  // Lane l: w_n^(step l + offset), or w_n^step in the upper half only (lower half: 1).
  static C roots(int step, int offset, int n, bool upper_only) {
    C c;
    for (int l = 0; l < L; ++l) {
      const long e = upper_only ? (l < 8 ? 0 : step) : static_cast<long>(step) * l + offset;
      const long double a = 2.0L * 3.14159265358979323846264338327950288L * static_cast<long double>(e % n) / n;
      c.r[l] = static_cast<T>(std::cos(a));
      c.i[l] = static_cast<T>(-std::sin(a));
    }
    return c;
  }

  struct Core {
    C tw1[8];  // lane b of tw1[k1]: w_P^(b k1)
    C tw2[8];  // float32 only: lane 8h + k1 of tw2[c]: w16^(c h)
  };

  static const Core& core() {
    static const Core t = [] {
      Core s;
      for (int k = 0; k < 8; ++k) {
        s.tw1[k] = roots(k, 0, P, false);
        if constexpr (L == 16) s.tw2[k] = roots(k, 0, 16, true);
      }
      return s;
    }();
    return t;
  }

  // The tables of the radix-R step and of the split step of real rows of 2 P R.
  template <int R>
  struct Step {
    C dif[R][8];   // lane b of dif[q][a]: w_(PR)^(q (L a + b))
    C half[R][8];  // lane l of half[q][j]: w_(2PR)^(R (L j + l) + q) / 2
    C inv[R][8];   // lane b of inv[m][a]: conj w_(2PR)^(P m + L a + b) (the c2r pre-step)
  };

  template <int R>
  static const Step<R>& step() {
    static const Step<R> t = [] {
      Step<R> s;
      for (int q = 0; q < R; ++q)
        for (int j = 0; j < 8; ++j) {
          s.dif[q][j] = roots(q, L * q * j, P * R, false);
          s.half[q][j] = roots(R, R * L * j + q, 2 * P * R, false);
          s.half[q][j].r *= T(0.5);
          s.half[q][j].i *= T(0.5);
          s.inv[q][j] = roots(1, P * q + L * j, 2 * P * R, false);
          s.inv[q][j].i = -s.inv[q][j].i;
        }
      return s;
    }();
    return t;
  }

  [[gnu::always_inline]] static inline void cmul(C& x, const C& w) {
    const V t = x.r * w.r - x.i * w.i;
    x.i = x.r * w.i + x.i * w.r;
    x.r = t;
  }

  // The 8 x 8 transposes in both vector halves of r[0..8).
  [[gnu::always_inline]] static inline void transpose8(V* r) {
    block_swap<T, L, 4, 8>(r, std::make_index_sequence<L>{});
    block_swap<T, L, 2, 8>(r, std::make_index_sequence<L>{});
    block_swap<T, L, 1, 8>(r, std::make_index_sequence<L>{});
  }

  // The P-point DFT in place: lane b of y[a] holds z[L a + b] before, lane l
  // of y[j] holds Z[L j + l] after. With 16 lanes (float32, P = 128) the
  // second stage is a transpose in each vector half and a radix-2 step
  // between the halves before the second DFT of 8; with 8 (float64, P = 64),
  // a full 8 x 8 transpose.
  template <std::size_t... J>
  [[gnu::always_inline]] static inline void dft_core(C* y, const Core& tb, std::index_sequence<J...>) {
    Engine<T, L>::dft8(y);
    for (int k = 1; k < 8; ++k) cmul(y[k], tb.tw1[k]);
    V re[8], im[8];
    for (int k = 0; k < 8; ++k) {
      re[k] = y[k].r;
      im[k] = y[k].i;
    }
    if constexpr (L == 16) {
      constexpr M swap = {static_cast<I>(J ^ 8)...};
      constexpr V sign = {(J < 8 ? T(1) : T(-1))...};
      transpose8(re);
      transpose8(im);
      for (int c = 0; c < 8; ++c) {
        y[c].r = __builtin_shuffle(re[c], swap) + sign * re[c];
        y[c].i = __builtin_shuffle(im[c], swap) + sign * im[c];
        if (c > 0) cmul(y[c], tb.tw2[c]);
      }
    } else {
      transpose<T, L>(re);
      transpose<T, L>(im);
      for (int c = 0; c < 8; ++c) y[c] = C{re[c], im[c]};
    }
    Engine<T, L>::dft8(y);
  }

  // L interleaved complex values from x into split vectors.
  [[gnu::always_inline]] static inline C load(const T* x) {
    V u, v;
    C c;
    std::memcpy(&u, x, sizeof(V));
    std::memcpy(&v, x + L, sizeof(V));
    deinterleave<T, L>(u, v, c.r, c.i, std::make_index_sequence<L>{});
    return c;
  }

  // The same, lanes reversed: lane b from the value L - 1 - b.
  template <std::size_t... J>
  [[gnu::always_inline]] static inline C load_reversed(const T* x, std::index_sequence<J...>) {
    constexpr M re = {static_cast<I>(2 * L - 2 - 2 * J)...};
    constexpr M im = {static_cast<I>(2 * L - 1 - 2 * J)...};
    V u, v;
    std::memcpy(&u, x, sizeof(V));
    std::memcpy(&v, x + L, sizeof(V));
    return C{__builtin_shuffle(u, v, re), __builtin_shuffle(u, v, im)};
  }

  // Units of G values (G = 2, 4 or 8: one, two or four complex values) from a
  // and b, alternately: the first L / (2G) units of each into lo, the rest
  // into hi.
  template <int G, std::size_t... J>
  [[gnu::always_inline]] static inline void alternate(V a, V b, V& lo, V& hi, std::index_sequence<J...>) {
    // Value J of lo: unit J / G, from a and b in turn, value J % G of it.
    constexpr M first = {static_cast<I>(((J / G) % 2 ? L : 0) + (J / G / 2) * G + J % G)...};
    constexpr M second = {static_cast<I>(((J / G) % 2 ? L : 0) + L / 2 + (J / G / 2) * G + J % G)...};
    lo = __builtin_shuffle(a, b, first);
    hi = __builtin_shuffle(a, b, second);
  }

  // The complex values of K vectors e[0..K), each of L / 2, interleaved K
  // ways (value i of e[q] to place K i + q), into K vectors in order; K = 1,
  // 2, 4 or, with 16 lanes, 8.
  template <int K>
  [[gnu::always_inline]] static inline void interleave_ways(const V* e, V* o) {
    constexpr auto lanes = std::make_index_sequence<L>{};
    if constexpr (K == 1) {
      o[0] = e[0];
    } else if constexpr (K == 2) {
      alternate<2>(e[0], e[1], o[0], o[1], lanes);
    } else if constexpr (K == 4) {
      V a0, a1, b0, b1;
      alternate<2>(e[0], e[1], a0, a1, lanes);
      alternate<2>(e[2], e[3], b0, b1, lanes);
      alternate<4>(a0, b0, o[0], o[1], lanes);
      alternate<4>(a1, b1, o[2], o[3], lanes);
    } else {
      static_assert(K == 8 && L == 16, "8 ways with 16 lanes");
      V a[8], b[8];
      for (int t = 0; t < 4; ++t) alternate<2>(e[2 * t], e[2 * t + 1], a[2 * t], a[2 * t + 1], lanes);
      for (int t = 0; t < 2; ++t) {
        alternate<4>(a[4 * t], a[4 * t + 2], b[4 * t], b[4 * t + 1], lanes);
        alternate<4>(a[4 * t + 1], a[4 * t + 3], b[4 * t + 2], b[4 * t + 3], lanes);
      }
      for (int t = 0; t < 4; ++t) alternate<8>(b[t], b[t + 4], o[2 * t], o[2 * t + 1], lanes);
    }
  }

  // Bins R k + q for k = L j + l (l < L, q < R), lane l of v[q], to x,
  // interleaved re, im (x: the row's first bin). Up to L / 2 ways the bins
  // interleave directly; beyond, in groups of L / 2 (one vector a bin k).
  template <int R>
  [[gnu::always_inline]] static inline void store_block(const C* v, int j, T* x) {
    constexpr int K = R < L / 2 ? R : L / 2;
    V e[2][R];  // bins L j + l of v[q], l < L / 2 and l >= L / 2, interleaved
    for (int q = 0; q < R; ++q) interleave<T, L>(v[q].r, v[q].i, e[0][q], e[1][q], std::make_index_sequence<L>{});
    T* d = x + 2 * R * L * j;
    for (int h = 0; h < 2; ++h)
      for (int g = 0; g < R / K; ++g) {
        V o[K];
        interleave_ways<K>(e[h] + K * g, o);
        // Vector t of group g: the bins k = L j + (L / 2) h + t (K = L / 2), or a run of them.
        for (int t = 0; t < K; ++t) std::memcpy(d + R * L * h + (2 * R) * (K == L / 2 ? t : 0) + L * (K == L / 2 ? g : t), &o[t], sizeof(V));
      }
  }

  // The radix-R step for the block a of L points: p[m] holds z[L a + b + P m]
  // in lane b; u[q][a] gets u_q (see above).
  template <int R>
  [[gnu::always_inline]] static inline void radix_step(C* p, int a, const Step<R>& st, C (*u)[8]) {
    if constexpr (R == 2) {
      const C s = p[0];
      p[0].r = s.r + p[1].r;
      p[0].i = s.i + p[1].i;
      p[1].r = s.r - p[1].r;
      p[1].i = s.i - p[1].i;
    } else if constexpr (R == 4) {
      Engine<T, L>::dft4(p[0], p[1], p[2], p[3]);
    } else if constexpr (R == 8) {
      Engine<T, L>::dft8(p);
    } else if constexpr (R == 16) {
      Engine<T, L>::dft16(p);
    }
    for (int q = 0; q < R; ++q) {
      C v = p[R == 16 ? Engine<T, L>::bin16(q) : q];
      if (q > 0) cmul(v, st.dif[q][a]);
      u[q][a] = v;
    }
  }

  // The P-point DFTs of u[q]: afterwards lane l of u[q][j] holds bin R (L j + l) + q.
  template <int R>
  [[gnu::always_inline]] static inline void dft_cores(C (*u)[8], const Core& core) {
#pragma GCC unroll 16
    for (int q = 0; q < R; ++q) dft_core(u[q], core, std::make_index_sequence<L>{});
  }

  // The P R-point DFT of the interleaved complex x, as u (see store_block).
  // Imaginary parts go in times `sign` unless Plain.
  template <int R, bool Plain>
  [[gnu::always_inline]] static inline void dft(const T* x, T sign, const Core& core, const Step<R>& st, C (*u)[8]) {
    for (int a = 0; a < 8; ++a) {
      C p[R];
      for (int m = 0; m < R; ++m) {
        p[m] = load(x + 2 * L * a + 2 * P * m);
        if constexpr (!Plain) p[m].i *= sign;
      }
      radix_step<R>(p, a, st, u);
    }
    dft_cores<R>(u, core);
  }

  // A complex row of P R points. The inverse is conj(DFT(conj z)): the
  // input's imaginary parts go in times `sign` (1 forward, -1 inverse), the
  // output's come out times is = sign * scale, its real parts times rs = scale.
  template <int R, bool Plain>
  static inline void c2c(const T* x, T* out, T sign, T rs, T is, const Core& core, const Step<R>& st) {
    C u[R][8];
    dft<R, Plain>(x, sign, core, st, u);
    for (int j = 0; j < 8; ++j) {
      C v[R];
      for (int q = 0; q < R; ++q) {
        v[q] = u[q][j];
        if constexpr (!Plain) {
          v[q].r *= rs;
          v[q].i *= is;
        }
      }
      store_block<R>(v, j, out);
    }
  }

  // A real row of 2 P R values to its P R + 1 bins, times `scale`: the DFT
  // of the P R pairs, then the split step (see Engine::r2c). The partner
  // Z[P R - k] of bin k = R k' + q is bin P - k' (mod P) of u[0] for q = 0,
  // and bin P - 1 - k' of u[R - q] otherwise: mirrored lanes. half: the
  // split twiddles times scale; h: 0.5 scale.
  template <int R, std::size_t... J>
  static inline void r2c(const T* x, T* out, T scale, const Core& core, const Step<R>& st, const C (*half)[8], V h,
                         std::index_sequence<J...>) {
    constexpr M wrap = {static_cast<I>(J == 0 ? L : L - J)...};
    constexpr M reverse = {static_cast<I>(L - 1 - J)...};
    C u[R][8];
    dft<R, true>(x, T(1), core, st, u);
    const T z0r = u[0][0].r[0], z0i = u[0][0].i[0];
    for (int j = 0; j < 8; ++j) {
      C X[R];
      for (int q = 0; q < R; ++q) {
        const C& a = u[q][j];
        V br, bi;
        if (q == 0) {
          br = __builtin_shuffle(u[0][7 - j].r, u[0][(8 - j) & 7].r, wrap);
          bi = __builtin_shuffle(u[0][7 - j].i, u[0][(8 - j) & 7].i, wrap);
        } else {
          br = __builtin_shuffle(u[R - q][7 - j].r, reverse);
          bi = __builtin_shuffle(u[R - q][7 - j].i, reverse);
        }
        const V sr = a.r + br, si = a.i + bi, dr = br - a.r, di = a.i - bi;
        const C& w = half[q][j];
        X[q].r = h * sr + si * w.r - dr * w.i;
        X[q].i = h * di + si * w.i + dr * w.r;
      }
      store_block<R>(X, j, out);
    }
    out[2 * P * R] = scale * (z0r - z0i);
    out[2 * P * R + 1] = T(0);
  }

  // The P R + 1 bins x of a real row of 2 P R values back to the row, times
  // `scale`: the pre-step of c2r (see Engine::presplit) gives conj z in
  // natural order, L points at a time from the bins k and P R - k (loaded
  // reversed), its DFT is conj of the pairs of values; rs = scale, is = -scale.
  template <int R, std::size_t... J>
  static inline void c2r(const T* x, T* out, T rs, T is, const Core& core, const Step<R>& st,
                         std::index_sequence<J...> lanes) {
    constexpr V not_first = {(J == 0 ? T(0) : T(1))...};  // the imaginary parts of bins 0 and P R are ignored
    C u[R][8];
    for (int a = 0; a < 8; ++a) {
      C p[R];
      for (int m = 0; m < R; ++m) {
        const int k0 = P * m + L * a;
        C A = load(x + 2 * k0), B = load_reversed(x + 2 * (P * R - k0 - (L - 1)), lanes);
        if (k0 == 0) {
          A.i *= not_first;
          B.i *= not_first;
        }
        const V er = A.r + B.r, ei = A.i - B.i;
        C o{A.r - B.r, A.i + B.i};
        cmul(o, st.inv[m][a]);
        p[m].r = er - o.i;
        p[m].i = -(ei + o.r);
      }
      radix_step<R>(p, a, st, u);
    }
    dft_cores<R>(u, core);
    for (int j = 0; j < 8; ++j) {
      C v[R];
      for (int q = 0; q < R; ++q) {
        v[q].r = rs * u[q][j].r;
        v[q].i = is * u[q][j].i;
      }
      store_block<R>(v, j, out);
    }
  }

  // Rows are read and written one after the other, each in one piece; the
  // stores of rows that come from memory wait for their lines. Batches of
  // more than kFetchBatchBytes (in and out) fetch the lines of the row
  // kRowsAhead rows on, into all cache levels, the output lines for writing.
  // On an Intel Xeon (48 MB of L3, shared; bench/ab_builds.py), 16-32 MB
  // batches went 1.10-1.33x faster with it, batches of 4-8 MB (in the L3)
  // 0.94-0.97x, and 1-2 MB ones (in the L2) 0.88x.
  static constexpr std::size_t kRowsAhead = 3;
  static constexpr std::size_t kFetchBatchBytes = std::size_t{12} << 20;

  [[gnu::always_inline]] static inline void fetch(const T* x, std::size_t bytes, bool write) {
    const char* c = reinterpret_cast<const char*>(x);
    for (std::size_t b = 0; b < bytes; b += 64) {
      if (write)
        __builtin_prefetch(c + b, 1, 3);
      else
        __builtin_prefetch(c + b, 0, 3);
    }
  }

  // The largest R that runs here, forward and back from the bins. On an
  // Intel Xeon (bench/ab_builds.py, 1M points a call) against the batched
  // path: float32 forward 1.13-1.61x up to R = 8 and 0.97-1.12x at 16, back
  // 1.02-1.58x up to R = 4 and 0.90-0.97x at 8 and 16; float64 forward
  // 1.28-1.86x up to R = 2 and 0.84-1.03x above, back 1.22x at R = 2 and
  // 0.93x at 4.
  static constexpr int kMaxR = sizeof(T) == 4 ? 16 : 2;
  static constexpr int kMaxRBack = sizeof(T) == 4 ? 4 : 2;

  // Rows of n points (complex) or values (real), forward or (real) back from
  // their bins, that run here: n = P R (complex) or 2 P R (real).
  static bool takes(bool real, bool back, std::size_t n) {
    const std::size_t base = real ? 2 * P : P;
    for (int r = 1; r <= (back ? kMaxRBack : kMaxR); r *= 2)
      if (n == base * static_cast<std::size_t>(r)) return true;
    return false;
  }

  // f(integral_constant<int, R>) for R = n / base, a power of two up to MaxR.
  template <int MaxR, typename F>
  static void with_radix(std::size_t n, std::size_t base, F&& f) {
    switch (n / base) {
      case 1:
        f(std::integral_constant<int, 1>{});
        break;
      case 2:
        if constexpr (MaxR >= 2) f(std::integral_constant<int, 2>{});
        break;
      case 4:
        if constexpr (MaxR >= 4) f(std::integral_constant<int, 4>{});
        break;
      case 8:
        if constexpr (MaxR >= 8) f(std::integral_constant<int, 8>{});
        break;
      default:
        if constexpr (MaxR >= 16) f(std::integral_constant<int, 16>{});
        break;
    }
  }

  // row(x, y) for each of `count` rows, in_step and out_step values apart,
  // with the rows kRowsAhead on fetched in large batches.
  template <typename F>
  [[gnu::always_inline]] static inline void each_row(const T* in, T* out, std::size_t count, std::ptrdiff_t in_step,
                                                     std::ptrdiff_t out_step, std::size_t in_bytes,
                                                     std::size_t out_bytes, F&& row) {
    const bool ahead = count * (in_bytes + out_bytes) > kFetchBatchBytes;
    for (std::size_t r = 0; r < count; ++r) {
      const T* x = in + static_cast<std::ptrdiff_t>(r) * in_step;
      T* y = out + static_cast<std::ptrdiff_t>(r) * out_step;
      if (ahead && r + kRowsAhead < count) {
        fetch(x + static_cast<std::ptrdiff_t>(kRowsAhead) * in_step, in_bytes, false);
        fetch(y + static_cast<std::ptrdiff_t>(kRowsAhead) * out_step, out_bytes, true);
      }
      row(x, y);
    }
  }

  // Real rows of n = 2 P R values, in_step apart, to n / 2 + 1 complex bins each, out_step values apart.
  static void r2c_rows(std::size_t n, const T* in, T* out, std::size_t count, std::ptrdiff_t in_step,
                       std::ptrdiff_t out_step, T scale) {
    with_radix<kMaxR>(n, 2 * P, [&](auto radix) {
      constexpr int R = decltype(radix)::value;
      const Core& c = core();
      const Step<R>& st = step<R>();
      C half[R][8];
      for (int q = 0; q < R; ++q)
        for (int j = 0; j < 8; ++j) {
          half[q][j].r = scale * st.half[q][j].r;
          half[q][j].i = scale * st.half[q][j].i;
        }
      const V h = V{} + T(0.5) * scale;
      each_row(in, out, count, in_step, out_step, 2 * P * R * sizeof(T), (2 * P * R + 2) * sizeof(T),
               [&](const T* x, T* y) { r2c<R>(x, y, scale, c, st, half, h, std::make_index_sequence<L>{}); });
    });
  }

  // Rows of n / 2 + 1 complex bins (n = 2 P R), in_step values apart, to real rows of n values, out_step
  // apart.
  static void c2r_rows(std::size_t n, const T* in, T* out, std::size_t count, std::ptrdiff_t in_step,
                       std::ptrdiff_t out_step, T scale) {
    with_radix<kMaxRBack>(n, 2 * P, [&](auto radix) {
      constexpr int R = decltype(radix)::value;
      const Core& c = core();
      const Step<R>& st = step<R>();
      each_row(in, out, count, in_step, out_step, (2 * P * R + 2) * sizeof(T), 2 * P * R * sizeof(T),
               [&](const T* x, T* y) { c2r<R>(x, y, scale, -scale, c, st, std::make_index_sequence<L>{}); });
    });
  }

  // Complex rows of n = P R points (interleaved), in_step and out_step values apart.
  static void c2c_rows(std::size_t n, const T* in, T* out, std::size_t count, std::ptrdiff_t in_step,
                       std::ptrdiff_t out_step, bool forward, T scale) {
    with_radix<kMaxR>(n, P, [&](auto radix) {
      constexpr int R = decltype(radix)::value;
      const Core& c = core();
      const Step<R>& st = step<R>();
      const std::size_t bytes = 2 * P * R * sizeof(T);
      if (forward && scale == T(1)) {
        each_row(in, out, count, in_step, out_step, bytes, bytes, [&](const T* x, T* y) {
          c2c<R, true>(x, y, T(1), T(1), T(1), c, st);
        });
      } else {
        const T sign = forward ? T(1) : T(-1);
        each_row(in, out, count, in_step, out_step, bytes, bytes, [&](const T* x, T* y) {
          c2c<R, false>(x, y, sign, scale, sign * scale, c, st);
        });
      }
    });
  }
};

// ------------------------------------------------------------ row drivers

template <typename T>
constexpr int native_lanes() {
  return static_cast<int>(kVecBytes / sizeof(T));
}

// Widest lane count for transforms whose buffers hold `elems` complex elements per lane.
template <typename T>
int max_lanes(std::size_t elems) {
  int w = native_lanes<T>();
  while (w > 1 && elems * 2 * sizeof(T) * static_cast<std::size_t>(w) > kWorkBytes) w /= 2;
  return w;
}

// Whether w rows `step` values of T apart crowd the cache sets: at least w/2
// of them start in one set of a 4 KB window (64 sets of 64-byte lines, the
// L1 data caches of current x86 cores). Rows of or near a multiple of 2 KB
// do: the 16 rows of a 1024-point float32 group all fall into one set, more
// than its 12 ways hold, and the group's lines evict each other.
template <typename T>
bool crowded_rows(std::ptrdiff_t step, int w) {
  constexpr std::size_t kLine = 64, kSets = 64;
  const std::size_t bytes = static_cast<std::size_t>(step < 0 ? -step : step) * sizeof(T);
  int count[kSets] = {};
  for (int l = 0; l < w; ++l)
    if (2 * ++count[(static_cast<std::size_t>(l) * bytes / kLine) % kSets] >= w) return true;
  return false;
}

// Lanes of the row groups for transforms whose buffers hold `elems` values per
// lane and whose rows are in_step and out_step values apart, starting from
// `widest`: half of them, where that still fills a vector of kNarrowVecBytes,
// when the work buffer would exceed kGroupBytes or the rows crowd the cache
// sets (on an Intel Xeon, complex float32 rows of 1024 points went 1.23x
// faster at half width, 256 points 1.08x).
template <typename T>
int group_lanes(std::size_t elems, int widest, std::ptrdiff_t in_step, std::ptrdiff_t out_step) {
  const std::size_t w = static_cast<std::size_t>(widest);
  if (w * sizeof(T) > kNarrowVecBytes &&
      (elems * sizeof(T) * w > kGroupBytes || crowded_rows<T>(in_step, widest) || crowded_rows<T>(out_step, widest)))
    return widest / 2;
  return widest;
}

enum class Kind { c2c, r2c, c2r };

template <typename T, int W>
void group(Kind kind, const void* view, const T* in, T* out, std::ptrdiff_t in_step, std::ptrdiff_t out_step,
           bool forward, T scale, const ScratchSource& scratch, bool more) {
  const Ahead ahead = more ? Ahead{W * in_step, W * out_step} : Ahead{0, 0};
  using E = Engine<T, W>;
  using C = typename E::C;
  const T* src[W];
  T* dst[W];
  for (int l = 0; l < W; ++l) {
    src[l] = in + l * in_step;
    dst[l] = out + l * out_step;
  }
  if (kind == Kind::c2c) {
    const auto& p = *static_cast<const ComplexView<T>*>(view);
    const std::size_t wl = E::work_len(p), tl = E::tmp_len(p);
    C* work = static_cast<C*>(scratch.get(scratch.self, sizeof(C) * (wl + tl)));
    E::c2c(p, src, dst, forward, scale, work, work + wl, ahead);
  } else {
    const auto& p = *static_cast<const RealView<T>*>(view);
    const std::size_t wl = E::work_len(p.half), tl = E::tmp_len(p.half);
    const std::size_t bl = kind == Kind::c2r ? p.n / 2 + 1 : 0;
    C* work = static_cast<C*>(scratch.get(scratch.self, sizeof(C) * (wl + tl + bl)));
    if (kind == Kind::r2c)
      E::r2c(p, src, dst, scale, work, work + wl, ahead);
    else
      E::c2r(p, src, dst, scale, work, work + wl, work + wl + tl, ahead);
  }
}

template <typename T, int W>
bool four_step_row(Kind kind, const void* view, const T* in, T* out, std::size_t r0, std::size_t r1,
                   std::ptrdiff_t in_step, std::ptrdiff_t out_step, bool forward, T scale,
                   const ScratchSource& scratch) {
  using E = Engine<T, W>;
  using C = typename E::C;
  const ComplexView<T>* cp;
  const RealView<T>* rp = nullptr;
  if (kind == Kind::c2c) {
    cp = static_cast<const ComplexView<T>*>(view);
  } else {
    rp = static_cast<const RealView<T>*>(view);
    cp = &rp->half;
  }
  // Odd real lengths run as complex rows of length n (z: the complex input, y: the output).
  const bool odd_real = rp != nullptr && rp->half.n == rp->n;
  // The complex plan with the four-step split: cp itself, or the m of a Bluestein cp.
  const ComplexView<T>* split = cp->n1 > 0 ? cp : cp->whole;
  if (split == nullptr || split->n1 == 0 || split->cols->n < static_cast<std::size_t>(W) ||
      split->rows->n < static_cast<std::size_t>(W))
    return false;
  const std::size_t wl = E::four_step_work(*split), n = cp->n, m = split->n;
  const std::size_t zl = kind == Kind::c2r || odd_real ? 2 * n : 0;
  const std::size_t yl = odd_real ? 2 * n : 0;
  const std::size_t bl = split == cp ? 0 : 4 * m;
  char* mem = static_cast<char*>(scratch.get(scratch.self, sizeof(C) * wl + sizeof(T) * (2 * m + zl + yl + bl)));
  C* work = reinterpret_cast<C*>(mem);
  T* mid = reinterpret_cast<T*>(mem + sizeof(C) * wl);
  T* z = mid + 2 * m;
  T* y = z + zl;
  T* a = y + yl;
  T* b = a + 2 * m;
  for (std::size_t r = r0; r < r1; ++r) {
    const T* i = in + static_cast<std::ptrdiff_t>(r) * in_step;
    T* o = out + static_cast<std::ptrdiff_t>(r) * out_step;
    if (kind == Kind::c2c) {
      E::complex_row(*cp, i, o, forward, scale, work, mid, a, b);
    } else if (odd_real && kind == Kind::r2c) {
      for (std::size_t k = 0; k < n; ++k) {
        z[2 * k] = i[k];
        z[2 * k + 1] = T(0);
      }
      E::complex_row(*cp, z, y, true, scale, work, mid, a, b);
      std::memcpy(o, y, sizeof(T) * 2 * (n / 2 + 1));
    } else if (odd_real) {
      // The full Hermitian spectrum, read as numpy.fft.irfft reads the bins.
      z[0] = i[0];
      z[1] = T(0);
      for (std::size_t k = 1; k <= n / 2; ++k) {
        z[2 * k] = z[2 * (n - k)] = i[2 * k];
        z[2 * k + 1] = i[2 * k + 1];
        z[2 * (n - k) + 1] = -i[2 * k + 1];
      }
      E::complex_row(*cp, z, y, false, scale, work, mid, a, b);
      for (std::size_t k = 0; k < n; ++k) o[k] = y[2 * k];
    } else if (kind == Kind::r2c) {
      E::four_step_r2c(*rp, i, o, scale, work, mid, a, b);
    } else {
      E::four_step_c2r(*rp, i, o, scale, work, mid, z, a, b);
    }
  }
  return true;
}

template <typename T>
void rows_driver(Kind kind, const void* view, std::size_t elems, const T* in, T* out, std::size_t rows,
                 std::ptrdiff_t in_step, std::ptrdiff_t out_step, bool forward, T scale,
                 const ScratchSource& scratch) {
  const int widest = max_lanes<T>(elems);
  const int lanes = group_lanes<T>(elems, widest, in_step, out_step);
  std::size_t r = 0;
  if constexpr (native_lanes<T>() > 1) {
    // Rows that cannot fill the lanes of a long transform go one by one through the four-step path.
    constexpr int wn = native_lanes<T>();
    const std::size_t lanes_rows = rows / static_cast<std::size_t>(lanes) * static_cast<std::size_t>(lanes);
    const std::size_t left = widest < wn ? rows : rows - lanes_rows;
    if (left > 0 && four_step_row<T, wn>(kind, view, in, out, rows - left, rows, in_step, out_step, forward, scale, scratch)) {
      rows -= left;
    }
  }
  while (r < rows) {
    int w = lanes;
    while (static_cast<std::size_t>(w) > rows - r) w /= 2;
    const bool more = r + 2 * static_cast<std::size_t>(w) <= rows;
    const T* i = in + static_cast<std::ptrdiff_t>(r) * in_step;
    T* o = out + static_cast<std::ptrdiff_t>(r) * out_step;
    switch (w) {
      case 16:
        if constexpr (native_lanes<T>() >= 16) group<T, 16>(kind, view, i, o, in_step, out_step, forward, scale, scratch, more);
        break;
      case 8:
        if constexpr (native_lanes<T>() >= 8) group<T, 8>(kind, view, i, o, in_step, out_step, forward, scale, scratch, more);
        break;
      case 4:
        if constexpr (native_lanes<T>() >= 4) group<T, 4>(kind, view, i, o, in_step, out_step, forward, scale, scratch, more);
        break;
      case 2:
        group<T, 2>(kind, view, i, o, in_step, out_step, forward, scale, scratch, more);
        break;
      default:
        group<T, 1>(kind, view, i, o, in_step, out_step, forward, scale, scratch, more);
        break;
    }
    r += static_cast<std::size_t>(w);
  }
}

// The work buffer of a lane split: M elements, then the passes' scratch.
template <typename T, int W>
typename Engine<T, W>::C* split_work(const RowSplit<T>& s, const ScratchSource& scratch) {
  using C = typename Engine<T, W>::C;
  const std::size_t extra = s.sub->scratch + 1;
  return static_cast<C*>(scratch.get(scratch.self, sizeof(C) * (s.sub->n + extra)));
}

template <typename T>
void c2c_rows(const ComplexView<T>& p, const T* in, T* out, std::size_t rows, std::ptrdiff_t in_dist,
              std::ptrdiff_t out_dist, bool forward, T scale, const ScratchSource& scratch) {
  if constexpr (native_lanes<T>() * sizeof(T) == 64) {
    if (p.m == p.n && RegisterRows<T>::takes(false, false, p.n)) {
      RegisterRows<T>::c2c_rows(p.n, in, out, rows, 2 * in_dist, 2 * out_dist, forward, scale);
      return;
    }
    constexpr int W = native_lanes<T>();
    const RowSplit<T>& s = p.split;
    if (s.r == static_cast<std::size_t>(W) &&
        (p.n >= kSplitAlways || crowded_rows<T>(2 * in_dist, W) || crowded_rows<T>(2 * out_dist, W))) {
      auto* work = split_work<T, W>(s, scratch);
      for (std::size_t r = 0; r < rows; ++r) {
        const T* i = in + 2 * static_cast<std::ptrdiff_t>(r) * in_dist;
        Engine<T, W>::split_row(s, i, out + 2 * static_cast<std::ptrdiff_t>(r) * out_dist, forward, scale, work,
                                work + s.sub->n, r + 1 < rows ? i + 2 * in_dist : nullptr);
      }
      return;
    }
  }
  const std::size_t elems = 2 * p.m;
  rows_driver<T>(Kind::c2c, &p, elems, in, out, rows, 2 * in_dist, 2 * out_dist, forward, scale, scratch);
}

template <typename T>
void r2c_rows(const RealView<T>& p, const T* in, T* out, std::size_t rows, std::ptrdiff_t in_dist,
              std::ptrdiff_t out_dist, T scale, const ScratchSource& scratch) {
  if constexpr (native_lanes<T>() * sizeof(T) == 64) {
    if (RegisterRows<T>::takes(true, false, p.n)) {
      RegisterRows<T>::r2c_rows(p.n, in, out, rows, in_dist, 2 * out_dist, scale);
      return;
    }
    constexpr int W = native_lanes<T>();
    const RowSplit<T>& s = p.half.split;
    if (p.half.n != p.n && s.r == static_cast<std::size_t>(W) && p.half.n >= kSplitRealMin) {
      auto* work = split_work<T, W>(s, scratch);
      for (std::size_t r = 0; r < rows; ++r) {
        const T* i = in + static_cast<std::ptrdiff_t>(r) * in_dist;
        Engine<T, W>::split_r2c_row(p, i, out + 2 * static_cast<std::ptrdiff_t>(r) * out_dist, scale, work,
                                    work + s.sub->n, r + 1 < rows ? i + in_dist : nullptr);
      }
      return;
    }
  }
  const std::size_t elems = 2 * p.half.m;
  rows_driver<T>(Kind::r2c, &p, elems, in, out, rows, in_dist, 2 * out_dist, true, scale, scratch);
}

template <typename T>
void c2r_rows(const RealView<T>& p, const T* in, T* out, std::size_t rows, std::ptrdiff_t in_dist,
              std::ptrdiff_t out_dist, T scale, const ScratchSource& scratch) {
  if constexpr (native_lanes<T>() * sizeof(T) == 64) {
    if (RegisterRows<T>::takes(true, true, p.n)) {
      RegisterRows<T>::c2r_rows(p.n, in, out, rows, 2 * in_dist, out_dist, scale);
      return;
    }
  }
  const std::size_t elems = 2 * p.half.m + p.n / 2 + 1;
  rows_driver<T>(Kind::c2r, &p, elems, in, out, rows, 2 * in_dist, out_dist, false, scale, scratch);
}

}  // namespace

Kernels kernels() {
  Kernels k;
  k.name = AUDIOREP_FFT_NAME;
  k.f32 = {&c2c_rows<float>, &r2c_rows<float>, &c2r_rows<float>, static_cast<std::size_t>(native_lanes<float>())};
  k.f64 = {&c2c_rows<double>, &r2c_rows<double>, &c2r_rows<double>,
           static_cast<std::size_t>(native_lanes<double>())};
  return k;
}

}  // namespace AUDIOREP_FFT_ISA
}  // namespace detail
}  // namespace fft
}  // namespace audiorep
