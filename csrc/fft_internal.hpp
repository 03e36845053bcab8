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

// Power-of-two transform, decimation in time. The input goes to position
// bitrev[k]; then, when log2n is odd, one radix-2 pass (group size 2), then
// radix-4 passes with quarter sizes q = 1, 4, 16, ... (or 2, 8, 32, ... after
// the radix-2 pass). Pass q reads 6q twiddles (w^j, w^2j, w^3j for j < q, as
// re, im pairs, w = exp(-2 pi i / 4q)), stored one pass after the other.
template <typename T>
struct Pow2View {
  std::size_t n;
  unsigned log2n;
  const std::uint32_t* bitrev;
  const T* twiddle;
};

// Any length n. m == n for powers of two; otherwise Bluestein on length m:
// chirp[k] = exp(-i pi k^2 / n) (k < n) and kernel = FFT_m(conj chirp, wrapped) / m.
//
// Long powers of two also carry a four-step split n = n1 * n2 (n1 > 0), used
// when too few rows are left to fill the SIMD lanes: transforms of length n1
// down the columns of the n1 x n2 matrix, a twiddle step exp(-2 pi i k1 b / n)
// stored at [k1 * n2 + b] as separate re and im arrays, transforms of length
// n2 along its rows, and a transposed store. Long Bluestein lengths point to
// the plan of their m (`whole`), so that they can use its four-step split.
template <typename T>
struct ComplexView {
  std::size_t n, m;
  Pow2View<T> pow2;
  const T* chirp;
  const T* kernel;
  std::size_t n1;
  const ComplexView<T>* cols;
  const ComplexView<T>* rows;
  const T* step_re;
  const T* step_im;
  const ComplexView<T>* whole;
};

// Real transforms: for even n, `half` has length n/2 and twiddle[k] =
// exp(-2 pi i k / n), k <= n/2; for odd n, `half` has length n.
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
