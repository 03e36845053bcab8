// Batched windowed autocorrelation, autocorrelograms, correlograms and power
// spectrograms, each fused into one pass per block of frames: framing,
// windowing, forward FFT, power, inverse FFT, lag selection and normalisation
// run on small per-thread buffers, so no full-size intermediate array exists.
//
// Common arguments of the framed kernels:
//   x            first sample of the first signal row
//   n_samples    samples per row (after any centre padding, which the caller does)
//   howmany      number of rows; row r starts at x + r * row_dist
//   window       frame_length weights, or nullptr for a rectangular window
//   frame_length samples per frame; frame f of a row starts at sample f * hop
//   n_frames     frames per row; (n_frames - 1) * hop + frame_length <= n_samples
//   nthreads     threads (>= 1) that share the blocks of frames
// Outputs are C-contiguous, row-major in the order the arguments list their axes.
// Broken invariants throw std::invalid_argument; argument checks with friendly
// messages belong to the caller.
#pragma once

#include <cstddef>

namespace audiorep {
namespace acf {

// Smallest power of two >= frame_length + max_lag - 1: the FFT length that keeps
// lags 0..max_lag-1 of the linear autocorrelation free of circular wrap-around.
std::size_t fft_size(std::size_t frame_length, std::size_t max_lag);

// The FFT length the CPU autocorrelation takes: the smallest even length with factors 2, 3
// and 5 that is >= frame_length + max_lag - 1, unless it saves less than 30 % over the
// power of two, whose plans skip the zero-padded half of the input and of the output
// (measured: 3072 is slower than 4096 for 2048-sample frames; 1350 is 18 % faster than 2048
// for 882). The lags do not depend on the length, only their rounding does. The per-band
// correlogram keeps fft_size: its band weights sit on the FFT's bins, so its values do.
std::size_t fast_fft_size(std::size_t frame_length, std::size_t max_lag);

// Autocorrelation of each windowed frame, lags 0..max_lag-1.
//   values  [howmany][n_frames][max_lag]; lag k is sum_n v[n] v[n+k] with v the
//           windowed frame, divided by the lag-0 value when `normalize` (frames
//           of zero energy give zeros)
//   energy  [howmany][n_frames] lag-0 value before normalisation (sum of v^2), or nullptr
// nfft must be >= frame_length + max_lag - 1 (see fft_size).
template <typename T>
void autocorrelogram(const T* x, std::size_t n_samples, std::size_t howmany, std::ptrdiff_t row_dist,
                     const T* window, std::size_t frame_length, std::size_t hop, std::size_t n_frames,
                     std::size_t max_lag, std::size_t nfft, bool normalize, T* values, T* energy,
                     int nthreads);

// Per-band autocorrelation: each windowed frame is transformed once; band b's
// power spectrum is weights[b][k] * |X[k]|^2 over the bins k = 0..nfft/2, and its
// inverse transform gives the band's lags 0..max_lag-1.
//   weights [n_bands][nfft/2 + 1], real, applied symmetrically to bins k and nfft-k
//   values  [howmany][n_frames][n_bands][max_lag] (normalised per band when `normalize`)
//   energy  [howmany][n_frames][n_bands] band lag-0 value before normalisation, or nullptr
template <typename T>
void correlogram(const T* x, std::size_t n_samples, std::size_t howmany, std::ptrdiff_t row_dist,
                 const T* window, std::size_t frame_length, std::size_t hop, std::size_t n_frames,
                 const T* weights, std::size_t n_bands, std::size_t max_lag, std::size_t nfft, bool normalize,
                 T* values, T* energy, int nthreads);

// |rfft(windowed frame)|^power, n_fft = frame_length.
//   out [howmany][n_frames][frame_length/2 + 1]
template <typename T>
void power_spectrogram(const T* x, std::size_t n_samples, std::size_t howmany, std::ptrdiff_t row_dist,
                       const T* window, std::size_t frame_length, std::size_t hop, std::size_t n_frames,
                       T power, T* out, int nthreads);

}  // namespace acf
}  // namespace audiorep
