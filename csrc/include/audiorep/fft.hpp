// audiorep FFT: iterative mixed-radix decimation-in-time transforms (a
// digit-reversal permutation, then passes of radix 4, 2, 3, 5, 7 and any larger
// prime factor) for every length whose prime factors are small enough;
// Bluestein's chirp-z, on a length 2^a times 1, 3, 5, 7, 9 or 15, for lengths
// with a large prime factor. Rows of a batch go through SIMD lanes together
// (AVX-512, AVX2/FMA or the x86-64 baseline, chosen at run time).
//
// All entry points are batched: `howmany` rows, row r of the input starting at
// in + r * in_dist and of the output at out + r * out_dist (in elements of the
// respective type). Elements inside a row are contiguous. The output is
// multiplied by `scale`. `nthreads` >= 1 threads share the rows. Input and
// output must not overlap. Plans are built once per (length, precision),
// cached (the most recently used ones), and shared between threads.
#pragma once

#include <complex>
#include <cstddef>
#include <string>
#include <vector>

namespace audiorep {
namespace fft {

// Complex to complex, length n, forward (sign -1) or inverse (sign +1, unnormalised).
template <typename T>
void c2c(const std::complex<T>* in, std::complex<T>* out, std::size_t n, std::size_t howmany,
         std::ptrdiff_t in_dist, std::ptrdiff_t out_dist, bool forward, T scale, int nthreads);

// Real to complex: n real samples to n/2+1 complex bins.
template <typename T>
void r2c(const T* in, std::complex<T>* out, std::size_t n, std::size_t howmany,
         std::ptrdiff_t in_dist, std::ptrdiff_t out_dist, T scale, int nthreads);

// Complex to real (inverse of r2c, unnormalised): n/2+1 Hermitian bins to n
// real samples. The imaginary parts of bin 0 (and of bin n/2 for even n) are
// ignored, as in numpy.fft.irfft.
template <typename T>
void c2r(const std::complex<T>* in, T* out, std::size_t n, std::size_t howmany,
         std::ptrdiff_t in_dist, std::ptrdiff_t out_dist, T scale, int nthreads);

// Name of the SIMD code path chosen at run time ("avx512", "avx2" or "generic"):
// the widest this CPU runs, capped by the environment variable AUDIOREP_SIMD
// (one of those names) when it is set at the first call.
std::string simd_path();

// Rows the current code path transforms together, one per SIMD lane (16 float
// or 8 double rows with AVX-512, 8 or 4 with AVX2, 4 or 2 otherwise). Batches
// of a multiple of it run fastest; fewer rows of long lengths (2**14 and
// up) go one by one through a four-step split that fills the lanes again.
template <typename T>
std::size_t batch_rows();

// The SIMD code paths this CPU can run, narrowest first.
std::vector<std::string> available_simd_paths();

// Switches to another code path (one of available_simd_paths()) for every later
// call and returns the previous one; std::invalid_argument for any other name.
std::string set_simd_path(const std::string& path);

// Number of plans currently cached (for tests and diagnostics). The cache keeps
// the most recently used plans of each kind and precision.
std::size_t cached_plans();

// Bytes of work buffers kept between calls (up to 96 MB, and besides them the
// largest single buffer over that, such as the middle buffer of a long row),
// and a call that frees them, returning their bytes.
std::size_t kept_memory();
std::size_t release_memory();

// The same transforms computed the plain way (scalar radix-2, Bluestein, split
// step; no SIMD, no blocking), kept as the correctness baseline of the fast
// kernels above. Same arguments and semantics; slow.
namespace reference {
template <typename T>
void c2c(const std::complex<T>* in, std::complex<T>* out, std::size_t n, std::size_t howmany,
         std::ptrdiff_t in_dist, std::ptrdiff_t out_dist, bool forward, T scale, int nthreads);
template <typename T>
void r2c(const T* in, std::complex<T>* out, std::size_t n, std::size_t howmany,
         std::ptrdiff_t in_dist, std::ptrdiff_t out_dist, T scale, int nthreads);
template <typename T>
void c2r(const std::complex<T>* in, T* out, std::size_t n, std::size_t howmany,
         std::ptrdiff_t in_dist, std::ptrdiff_t out_dist, T scale, int nthreads);
}  // namespace reference

}  // namespace fft
}  // namespace audiorep
