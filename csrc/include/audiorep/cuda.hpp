// GPU transforms and autocorrelograms (csrc/cuda/). Same semantics as fft.hpp
// and autocorr.hpp, on device memory: rows are contiguous and packed (row r of
// an n-element input starts at element r * n). `stream` is a cudaStream_t (null:
// the legacy default stream); the work is queued on it and the call returns
// without waiting, except where it says otherwise. `device` is the CUDA device
// that owns the pointers. CUDA failures throw std::runtime_error naming the call.
//
// Only built when the CUDA toolkit was found (AUDIOREP_HAVE_CUDA); the library
// links the CUDA runtime statically, so it loads on machines without a driver,
// where device_count() is 0.
#pragma once

#include <complex>
#include <cstddef>
#include <string>

namespace audiorep {
namespace cuda {

// Number of usable CUDA devices; 0 when there is no driver or any other error.
int device_count();
// CUDA runtime version the library was built against (e.g. 13000), and the
// driver's supported version (0 without a driver).
int runtime_version();
int driver_version();
// Architectures the kernels were compiled for, e.g. "80-real;90-real;90-virtual".
std::string architectures();

template <typename T>
void c2c(const std::complex<T>* in, std::complex<T>* out, std::size_t n, std::size_t howmany, bool forward, T scale,
         int device, void* stream);
template <typename T>
void r2c(const T* in, std::complex<T>* out, std::size_t n, std::size_t howmany, T scale, int device, void* stream);
template <typename T>
void c2r(const std::complex<T>* in, T* out, std::size_t n, std::size_t howmany, T scale, int device, void* stream);

// values [howmany][n_frames][max_lag], energy [howmany][n_frames]; window may be null.
template <typename T>
void autocorrelogram(const T* x, std::size_t n_samples, std::size_t howmany, std::ptrdiff_t row_dist,
                     const T* window, std::size_t frame_length, std::size_t hop, std::size_t n_frames,
                     std::size_t max_lag, std::size_t nfft, bool normalize, T* values, T* energy, int device,
                     void* stream);

// Device memory of `bytes` on `device`, freed by the destructor; copies to and
// from host memory are synchronous.
class Buffer {
 public:
  Buffer(std::size_t bytes, int device);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  void* get() const { return ptr_; }
  void upload(const void* host, std::size_t bytes);
  void download(void* host, std::size_t bytes) const;

 private:
  void* ptr_ = nullptr;
  int device_ = 0;
};

// Waits for the work queued on `stream` of `device`.
void synchronize(int device, void* stream);

}  // namespace cuda
}  // namespace audiorep
