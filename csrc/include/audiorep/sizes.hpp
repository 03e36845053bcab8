// Transform sizes: the one definition of the power-of-two helpers, shared by
// the CPU kernels (fft.cpp, fft_reference.cpp, autocorr.cpp) and the GPU index
// math (fft_index.hpp, which the CUDA sources compile as device code too).
#pragma once

#include <cstddef>

#if !defined(AUDIOREP_HD_INLINE)
#if defined(__CUDACC__)
#define AUDIOREP_HD __host__ __device__
#define AUDIOREP_HD_INLINE __host__ __device__ __forceinline__
#else
#define AUDIOREP_HD
#define AUDIOREP_HD_INLINE inline
#endif
#endif

namespace audiorep {

AUDIOREP_HD_INLINE bool is_pow2(std::size_t n) { return n != 0 && (n & (n - 1)) == 0; }

// The smallest power of two >= n (1 for n = 0).
AUDIOREP_HD_INLINE std::size_t next_pow2(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

// The smallest even m >= n whose prime factors are 2, 3 and 5 (2 for n <= 2).
inline std::size_t next_even_smooth5(std::size_t n) {
  std::size_t best = next_pow2(n < 2 ? 2 : n);
  for (std::size_t a = 2; a < best; a *= 5)
    for (std::size_t b = a; b < best; b *= 3) {
      std::size_t m = b;
      while (m < n) m *= 2;
      if (m < best) best = m;
    }
  return best;
}

// log2 of the smallest power of two >= n.
AUDIOREP_HD_INLINE unsigned log2_pow2(std::size_t n) {
  unsigned s = 0;
  while ((std::size_t{1} << s) < n) ++s;
  return s;
}

}  // namespace audiorep
