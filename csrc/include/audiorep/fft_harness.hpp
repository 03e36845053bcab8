// The GPU transforms run on the CPU: one thread plays every thread of each CUDA
// block, calling the shared __host__ __device__ functions of fft_index.hpp in the
// order the kernels of csrc/cuda/ call them, with the same decomposition
// (in-block transform up to `block_limit` elements, global-memory passes above,
// Bluestein for other lengths, the same real-to-complex steps). It exists to
// test that arithmetic without a GPU; it is slow and single-threaded.
// Same semantics as fft.hpp / autocorr.hpp with packed rows.
#pragma once

#include <complex>
#include <cstddef>

namespace audiorep {
namespace harness {

// Largest power-of-two length the GPU transforms inside one block (shared
// memory of the block), per precision, on the devices we build for.
template <typename T>
std::size_t default_block_limit();

template <typename T>
void c2c(const std::complex<T>* in, std::complex<T>* out, std::size_t n, std::size_t howmany, bool forward, T scale,
         std::size_t block_limit);
template <typename T>
void r2c(const T* in, std::complex<T>* out, std::size_t n, std::size_t howmany, T scale, std::size_t block_limit);
template <typename T>
void c2r(const std::complex<T>* in, T* out, std::size_t n, std::size_t howmany, T scale, std::size_t block_limit);
template <typename T>
void autocorrelogram(const T* x, std::size_t n_samples, std::size_t howmany, std::ptrdiff_t row_dist,
                     const T* window, std::size_t frame_length, std::size_t hop, std::size_t n_frames,
                     std::size_t max_lag, std::size_t nfft, bool normalize, T* values, T* energy);

}  // namespace harness
}  // namespace audiorep
