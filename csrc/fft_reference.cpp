// The plain scalar FFT (radix-2 with a bit-reversal permutation, Bluestein,
// real transforms through the half-length transform and the split step), kept
// as the correctness baseline of the fast kernels: see fft::reference in fft.hpp.
#include "audiorep/fft.hpp"

#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "audiorep/parallel.hpp"
#include "audiorep/sizes.hpp"

namespace audiorep {
namespace fft {
namespace reference {
namespace {

constexpr long double kPi = 3.141592653589793238462643383279502884L;

// exp(-2 pi i k / n), accurate for every k thanks to the long double angle.
template <typename T>
std::complex<T> unit_root(std::size_t k, std::size_t n) {
  const long double a = -2.0L * kPi * static_cast<long double>(k) / static_cast<long double>(n);
  return {static_cast<T>(std::cos(a)), static_cast<T>(std::sin(a))};
}

template <typename T>
inline std::complex<T> cmul(std::complex<T> a, std::complex<T> b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}

template <typename T>
inline std::complex<T> cmulc(std::complex<T> a, std::complex<T> b) {  // a * conj(b)
  return {a.real() * b.real() + a.imag() * b.imag(), a.imag() * b.real() - a.real() * b.imag()};
}

// Power-of-two plan: bit-reversal table and twiddles exp(-2 pi i k / n), k < n/2.
template <typename T>
struct Pow2Plan {
  std::size_t n;
  std::vector<std::uint32_t> bitrev;
  std::vector<std::complex<T>> twiddle;

  explicit Pow2Plan(std::size_t n_) : n(n_), bitrev(n_), twiddle(n_ / 2) {
    const unsigned bits = log2_pow2(n);
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t r = 0;
      for (unsigned b = 0; b < bits; ++b)
        if (i & (std::size_t{1} << b)) r |= std::size_t{1} << (bits - 1 - b);
      bitrev[i] = static_cast<std::uint32_t>(r);
    }
    for (std::size_t k = 0; k < n / 2; ++k) twiddle[k] = unit_root<T>(k, n);
  }

  // out = DFT(in); in and out may be the same buffer only if in == out is not used.
  void execute(const std::complex<T>* in, std::complex<T>* out, bool forward) const {
    for (std::size_t i = 0; i < n; ++i) out[bitrev[i]] = in[i];
    for (std::size_t len = 2; len <= n; len <<= 1) {
      const std::size_t half = len / 2, step = n / len;
      for (std::size_t i = 0; i < n; i += len) {
        for (std::size_t j = 0; j < half; ++j) {
          const std::complex<T> w = twiddle[j * step];
          const std::complex<T> u = out[i + j];
          const std::complex<T> v = forward ? cmul(out[i + j + half], w) : cmulc(out[i + j + half], w);
          out[i + j] = u + v;
          out[i + j + half] = u - v;
        }
      }
    }
  }
};

template <typename T>
std::shared_ptr<const Pow2Plan<T>> get_pow2_plan(std::size_t n);

// Any length: a power of two directly, otherwise Bluestein's chirp-z on a
// power-of-two transform of length m >= 2n - 1.
template <typename T>
struct ComplexPlan {
  std::size_t n, m;
  std::shared_ptr<const Pow2Plan<T>> pow2;
  std::vector<std::complex<T>> chirp;   // exp(-i pi k^2 / n)
  std::vector<std::complex<T>> kernel;  // FFT_m of conj(chirp), wrapped

  explicit ComplexPlan(std::size_t n_) : n(n_), m(0) {
    if (is_pow2(n)) {
      pow2 = get_pow2_plan<T>(n);
      return;
    }
    m = next_pow2(2 * n - 1);
    pow2 = get_pow2_plan<T>(m);
    chirp.resize(n);
    const std::uint64_t two_n = 2 * static_cast<std::uint64_t>(n);
    for (std::size_t k = 0; k < n; ++k) {
      const std::uint64_t kk = (static_cast<std::uint64_t>(k) * k) % two_n;
      chirp[k] = unit_root<T>(static_cast<std::size_t>(kk), static_cast<std::size_t>(two_n));
    }
    std::vector<std::complex<T>> b(m, std::complex<T>(0, 0));
    b[0] = std::conj(chirp[0]);
    for (std::size_t k = 1; k < n; ++k) b[k] = b[m - k] = std::conj(chirp[k]);
    kernel.resize(m);
    pow2->execute(b.data(), kernel.data(), true);
  }

  std::size_t scratch_size() const { return m == 0 ? 0 : 2 * m; }

  void execute(const std::complex<T>* in, std::complex<T>* out, bool forward,
               std::complex<T>* scratch) const {
    if (m == 0) {
      pow2->execute(in, out, forward);
      return;
    }
    // The inverse transform is the forward one of the conjugated input, conjugated.
    std::complex<T>* a = scratch;
    std::complex<T>* fa = scratch + m;
    for (std::size_t k = 0; k < n; ++k) {
      const std::complex<T> x = forward ? in[k] : std::conj(in[k]);
      a[k] = cmul(x, chirp[k]);
    }
    for (std::size_t k = n; k < m; ++k) a[k] = std::complex<T>(0, 0);
    pow2->execute(a, fa, true);
    for (std::size_t k = 0; k < m; ++k) fa[k] = cmul(fa[k], kernel[k]);
    pow2->execute(fa, a, false);
    const T inv_m = T(1) / static_cast<T>(m);
    for (std::size_t k = 0; k < n; ++k) {
      const std::complex<T> y = cmul(a[k], chirp[k]) * inv_m;
      out[k] = forward ? y : std::conj(y);
    }
  }
};

template <typename T>
std::shared_ptr<const ComplexPlan<T>> get_complex_plan(std::size_t n);

// Real transforms of even length n through one complex transform of n/2.
template <typename T>
struct RealPlan {
  std::size_t n;
  std::shared_ptr<const ComplexPlan<T>> half;  // length n/2 (even n) or n (odd n)
  std::vector<std::complex<T>> twiddle;        // exp(-2 pi i k / n), k <= n/2

  explicit RealPlan(std::size_t n_) : n(n_) {
    if (n % 2 == 0) {
      half = get_complex_plan<T>(n / 2);
      twiddle.resize(n / 2 + 1);
      for (std::size_t k = 0; k <= n / 2; ++k) twiddle[k] = unit_root<T>(k, n);
    } else {
      half = get_complex_plan<T>(n);
    }
  }

  std::size_t scratch_size() const { return 2 * n + half->scratch_size() + 2; }

  void forward(const T* in, std::complex<T>* out, std::complex<T>* scratch) const {
    std::complex<T>* z = scratch;
    std::complex<T>* zf = scratch + n;
    std::complex<T>* inner = scratch + 2 * n;
    if (n % 2 == 1) {
      for (std::size_t k = 0; k < n; ++k) z[k] = std::complex<T>(in[k], 0);
      half->execute(z, zf, true, inner);
      for (std::size_t k = 0; k <= n / 2; ++k) out[k] = zf[k];
      return;
    }
    const std::size_t h = n / 2;
    for (std::size_t j = 0; j < h; ++j) z[j] = std::complex<T>(in[2 * j], in[2 * j + 1]);
    half->execute(z, zf, true, inner);
    for (std::size_t k = 0; k <= h; ++k) {
      const std::complex<T> a = zf[k == h ? 0 : k];
      const std::complex<T> b = std::conj(zf[k == 0 ? 0 : h - k]);
      const std::complex<T> even = (a + b) * T(0.5);
      const std::complex<T> odd = (a - b) * std::complex<T>(0, T(-0.5));
      out[k] = even + cmul(odd, twiddle[k]);
    }
  }

  void inverse(const std::complex<T>* in, T* out, std::complex<T>* scratch) const {
    std::complex<T>* z = scratch;
    std::complex<T>* zt = scratch + n;
    std::complex<T>* inner = scratch + 2 * n;
    if (n % 2 == 1) {
      z[0] = std::complex<T>(in[0].real(), 0);
      for (std::size_t k = 1; k <= n / 2; ++k) {
        z[k] = in[k];
        z[n - k] = std::conj(in[k]);
      }
      half->execute(z, zt, false, inner);
      for (std::size_t k = 0; k < n; ++k) out[k] = zt[k].real();
      return;
    }
    const std::size_t h = n / 2;
    for (std::size_t k = 0; k < h; ++k) {
      std::complex<T> a = in[k];
      std::complex<T> b = std::conj(in[h - k]);
      if (k == 0) {
        a = std::complex<T>(in[0].real(), 0);
        b = std::complex<T>(in[h].real(), 0);
      }
      const std::complex<T> even = a + b;
      const std::complex<T> odd = cmulc(a - b, twiddle[k]);  // (a - b) * exp(+2 pi i k / n)
      z[k] = even + std::complex<T>(-odd.imag(), odd.real());
    }
    half->execute(z, zt, false, inner);
    for (std::size_t j = 0; j < h; ++j) {
      out[2 * j] = zt[j].real();
      out[2 * j + 1] = zt[j].imag();
    }
  }
};

template <typename T>
std::shared_ptr<const RealPlan<T>> get_real_plan(std::size_t n);

// Plan caches: one map per plan type and precision, guarded by a mutex. Plans
// are immutable once built, so shared_ptr<const ...> can be used from any thread.
template <typename P>
std::shared_ptr<const P> cached(std::size_t n) {
  static std::mutex mutex;
  static std::unordered_map<std::size_t, std::shared_ptr<const P>> cache;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(n);
    if (it != cache.end()) return it->second;
  }
  auto plan = std::make_shared<const P>(n);  // built outside the lock: may recurse
  std::lock_guard<std::mutex> lock(mutex);
  auto inserted = cache.emplace(n, plan);
  return inserted.first->second;
}


template <typename T>
std::shared_ptr<const Pow2Plan<T>> get_pow2_plan(std::size_t n) { return cached<Pow2Plan<T>>(n); }
template <typename T>
std::shared_ptr<const ComplexPlan<T>> get_complex_plan(std::size_t n) { return cached<ComplexPlan<T>>(n); }
template <typename T>
std::shared_ptr<const RealPlan<T>> get_real_plan(std::size_t n) { return cached<RealPlan<T>>(n); }

void check_args(std::size_t n, int nthreads) {
  if (n == 0) throw std::invalid_argument("FFT length must be at least 1");
  if (n > (std::size_t{1} << 31)) throw std::invalid_argument("FFT length is too large (more than 2**31)");
  if (nthreads < 1) throw std::invalid_argument("nthreads must be at least 1");
}

}  // namespace

template <typename T>
void c2c(const std::complex<T>* in, std::complex<T>* out, std::size_t n, std::size_t howmany,
         std::ptrdiff_t in_dist, std::ptrdiff_t out_dist, bool forward, T scale, int nthreads) {
  check_args(n, nthreads);
  auto plan = get_complex_plan<T>(n);
  parallel_for(howmany, nthreads, [&](std::size_t begin, std::size_t end) {
    std::vector<std::complex<T>> scratch(plan->scratch_size());
    for (std::size_t r = begin; r < end; ++r) {
      std::complex<T>* o = out + static_cast<std::ptrdiff_t>(r) * out_dist;
      plan->execute(in + static_cast<std::ptrdiff_t>(r) * in_dist, o, forward, scratch.data());
      if (scale != T(1))
        for (std::size_t k = 0; k < n; ++k) o[k] *= scale;
    }
  });
}

template <typename T>
void r2c(const T* in, std::complex<T>* out, std::size_t n, std::size_t howmany,
         std::ptrdiff_t in_dist, std::ptrdiff_t out_dist, T scale, int nthreads) {
  check_args(n, nthreads);
  auto plan = get_real_plan<T>(n);
  parallel_for(howmany, nthreads, [&](std::size_t begin, std::size_t end) {
    std::vector<std::complex<T>> scratch(plan->scratch_size());
    for (std::size_t r = begin; r < end; ++r) {
      std::complex<T>* o = out + static_cast<std::ptrdiff_t>(r) * out_dist;
      plan->forward(in + static_cast<std::ptrdiff_t>(r) * in_dist, o, scratch.data());
      if (scale != T(1))
        for (std::size_t k = 0; k <= n / 2; ++k) o[k] *= scale;
    }
  });
}

template <typename T>
void c2r(const std::complex<T>* in, T* out, std::size_t n, std::size_t howmany,
         std::ptrdiff_t in_dist, std::ptrdiff_t out_dist, T scale, int nthreads) {
  check_args(n, nthreads);
  auto plan = get_real_plan<T>(n);
  parallel_for(howmany, nthreads, [&](std::size_t begin, std::size_t end) {
    std::vector<std::complex<T>> scratch(plan->scratch_size());
    for (std::size_t r = begin; r < end; ++r) {
      T* o = out + static_cast<std::ptrdiff_t>(r) * out_dist;
      plan->inverse(in + static_cast<std::ptrdiff_t>(r) * in_dist, o, scratch.data());
      if (scale != T(1))
        for (std::size_t k = 0; k < n; ++k) o[k] *= scale;
    }
  });
}

template void c2c<float>(const std::complex<float>*, std::complex<float>*, std::size_t, std::size_t,
                         std::ptrdiff_t, std::ptrdiff_t, bool, float, int);
template void c2c<double>(const std::complex<double>*, std::complex<double>*, std::size_t, std::size_t,
                          std::ptrdiff_t, std::ptrdiff_t, bool, double, int);
template void r2c<float>(const float*, std::complex<float>*, std::size_t, std::size_t, std::ptrdiff_t,
                         std::ptrdiff_t, float, int);
template void r2c<double>(const double*, std::complex<double>*, std::size_t, std::size_t, std::ptrdiff_t,
                          std::ptrdiff_t, double, int);
template void c2r<float>(const std::complex<float>*, float*, std::size_t, std::size_t, std::ptrdiff_t,
                         std::ptrdiff_t, float, int);
template void c2r<double>(const std::complex<double>*, double*, std::size_t, std::size_t, std::ptrdiff_t,
                          std::ptrdiff_t, double, int);

}  // namespace reference
}  // namespace fft
}  // namespace audiorep
