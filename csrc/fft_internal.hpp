// Private to the FFT: the plan views handed to the SIMD kernels and the table
// of kernels one instruction set provides.
//
// The kernel sources (fft_kernels.hpp, compiled once per instruction set) see
// only the plain structs below and no standard-library templates: an inline
// template instantiated in an AVX-512 object could otherwise be picked by the
// linker for baseline code and crash older CPUs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace audiorep {
namespace fft {
namespace detail {

// Mixed-radix transform, decimation in time. Input k goes to position perm[k]
// (the digit reversal of k for the radices below); then the passes run in
// order. Pass s combines `radix` adjacent transforms of length q (the product
// of the radices before it) into one of length radix * q, in every group of
// radix * q elements. Radix 2 appears only as the first pass.
//
// Within a group, block t (elements j + t q, j < q) holds the transform of the
// inputs whose next digit is t, except for radix 4, whose blocks 1 and 2 are
// swapped (digits 0, 2, 1, 3): then a power of two is plain bit reversal and
// two radix-4 passes in a row fuse into one radix-16 sweep.
//
// Pass s reads its table at twiddle + tw: for radices 3 and up except 4, first
// the radix roots exp(-2 pi i t / radix), t < radix (re, im); then, for each
// j < q, w^(t j) for t = 1 .. radix - 1 (re, im), w = exp(-2 pi i / (radix q)).
// Radix 2 has no table (it is first, q = 1).
struct RadixPass {
  std::uint32_t radix, q;
  std::size_t tw;
};

// `scratch`: work elements the passes need besides the data (2p for the
// largest radix p that has no pass of its own, else 0).
template <typename T>
struct RadixView {
  std::size_t n;
  const std::uint32_t* perm;
  const T* twiddle;
  const RadixPass* passes;
  std::size_t npasses;
  std::size_t scratch;
};

// Columns per step_hi entry of the four-step split, and entries per row of
// step_lo: a group of up to 16 lanes starting at any column b reads
// step_lo[l .. l + 16), l = b % 16.
constexpr std::size_t kStepHi = 16;
constexpr std::size_t kStepLo = 32;

// Largest prime factor that a pass handles directly; lengths with a larger
// one go through Bluestein.
constexpr std::size_t kMaxOddRadix = 1021;

// Upper bound on one row group's work buffer in the kernels; longer transforms
// use fewer lanes (narrow lanes are slow: a whole cache line per element is
// worth the memory). Plans of lengths that no row group can hold skip their
// direct tables and run row by row through the four-step split.
constexpr std::size_t kWorkBytes = std::size_t{16} << 20;

// Any length n. m == n for lengths transformed directly (prime factors at most
// kMaxOddRadix and, when they are large, cheaper than the alternative);
// otherwise Bluestein on a length m >= 2n - 1 of the form 2^a times 1, 3, 5, 7, 9 or 15:
// chirp[k] = exp(-i pi k^2 / n) (k < n) and kernel = FFT_m(conj chirp, wrapped) / m.
// `radix` is the plan of m (perm == nullptr when its tables were skipped).
//
// Long lengths also carry a four-step split m = n1 * n2 (n1 > 0), used when too
// few rows are left to fill the SIMD lanes: transforms of length n1 down the
// columns of the n1 x n2 matrix, a twiddle step w^(k1 b), w = exp(-2 pi i / n),
// transforms of length n2 along its rows, and a transposed store. The twiddle
// step is the product of two tables (separate re and im arrays), so that it
// takes n / 16 rather than n elements: with b = 16 h + l,
// w^(k1 b) = step_hi[k1 * step_h + h] * step_lo[k1 * kStepLo + l], l < kStepLo. Long Bluestein lengths point to the plan of
// their m (`whole`), so that they can use its four-step split.
// The lane split of a direct length n = r M for one row at a time, r the
// lane count of 64-byte vectors (16 float, 8 double): `sub` is the plan of
// M, and tw holds w^(u c), w = exp(-2 pi i / n), for 1 <= u < r and c < M:
// the real parts at tw[(u - 1) M + c], the imaginary ones (r - 1) M further
// on. r == 0 where the length has no split.
//
// Direct lengths in [kSplitMin, kSplitMax] that are multiples of r have one.
// On AVX-512 their rows go one at a time through it instead of through the
// row groups from kSplitAlways points on (a group's work buffer, 128 bytes a
// point, then outgrows half the L2), and from kSplitMin on where the rows
// crowd the cache sets (the groups then run at half width). On an Intel
// Xeon against the row groups (bench/ab_builds.py, 1M points): complex
// float32 4096-131072 points 1.06-1.66x, float64 1.02-1.51x; crowded
// float64 rows of 256 and 1024 points 1.03-1.17x, 512 and 2048 1.00-1.02x,
// crowded float32 rows of 768-1792 points (shorter powers of two run in
// registers) 1.05-1.14x (median of three runs; single runs 0.81-1.16x).
// Uncrowded rows below 4096 were mixed (float64 1200-3840 0.96-1.06x,
// float32 1600-3840 0.84-1.06x) and stay in the groups.
constexpr std::size_t kSplitMin = std::size_t{1} << 8;
constexpr std::size_t kSplitAlways = std::size_t{1} << 12;
constexpr std::size_t kSplitMax = std::size_t{1} << 17;
// Real rows of n values take the lane split of n/2 (then the split step on
// the bins) from n/2 = kSplitRealMin on (float32 rows of up to 4096 values
// run in registers first): against the row groups, float64 4096 values
// 1.12x, float32 and float64 5120-8192 1.02-1.26x and 9600-262144
// 1.10-1.68x; but 4800 0.96x and float64 6000 0.985x.
constexpr std::size_t kSplitRealMin = 2048;
template <typename T>
struct RowSplit {
  std::size_t r;
  const RadixView<T>* sub;
  const T* tw;
};

template <typename T>
struct ComplexView {
  std::size_t n, m;
  RadixView<T> radix;
  const T* chirp;
  const T* kernel;
  std::size_t n1;
  const RadixView<T>* cols;
  const RadixView<T>* rows;
  const T* step_hi_re;
  const T* step_hi_im;
  const T* step_lo_re;
  const T* step_lo_im;
  std::size_t step_h;
  const ComplexView<T>* whole;
  RowSplit<T> split;
};

// Real transforms: for even n, `half` has length n/2 and twiddle[k] =
// exp(-2 pi i k / n), k <= n/2; for odd n and short even n, `half` has
// length n (and twiddle is null).
template <typename T>
struct RealView {
  std::size_t n;
  ComplexView<T> half;
  const T* twiddle;
};

// Scratch memory for the kernels, provided by the caller: get(self, bytes)
// returns a 64-byte aligned block valid until the next get on the same source.
struct ScratchSource {
  void* (*get)(void* self, std::size_t bytes);
  void* self;
};

// Row-range kernels. Complex data are interleaved (re, im); distances count
// elements of the respective type (complex or real).
template <typename T>
struct KernelSet {
  void (*c2c)(const ComplexView<T>&, const T* in, T* out, std::size_t rows, std::ptrdiff_t in_dist,
              std::ptrdiff_t out_dist, bool forward, T scale, const ScratchSource& scratch);
  void (*r2c)(const RealView<T>&, const T* in, T* out, std::size_t rows, std::ptrdiff_t in_dist,
              std::ptrdiff_t out_dist, T scale, const ScratchSource& scratch);
  void (*c2r)(const RealView<T>&, const T* in, T* out, std::size_t rows, std::ptrdiff_t in_dist,
              std::ptrdiff_t out_dist, T scale, const ScratchSource& scratch);
  std::size_t lanes;  // rows transformed together at full width
};

struct Kernels {
  const char* name;
  KernelSet<float> f32;
  KernelSet<double> f64;
};

namespace generic {
Kernels kernels();
}
namespace avx2 {
Kernels kernels();
}
namespace avx512 {
Kernels kernels();
}

}  // namespace detail
}  // namespace fft
}  // namespace audiorep
