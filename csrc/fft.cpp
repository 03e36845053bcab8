// FFT plans, the plan cache and the run-time choice of SIMD kernels. The
// transforms themselves live in fft_kernels.hpp.
#include "audiorep/fft.hpp"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <list>
#include <string>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

#include "audiorep/parallel.hpp"
#include "audiorep/sizes.hpp"
#include "fft_internal.hpp"

namespace audiorep {
namespace fft {
namespace {

using detail::ComplexView;
using detail::Kernels;
using detail::RadixView;
using detail::RealView;

constexpr long double kPi = 3.141592653589793238462643383279502884L;

// exp(-2 pi i k / n), accurate for every k thanks to the long double angle.
template <typename T>
std::complex<T> unit_root(std::size_t k, std::size_t n) {
  const long double a = -2.0L * kPi * static_cast<long double>(k % n) / static_cast<long double>(n);
  return {static_cast<T>(std::cos(a)), static_cast<T>(std::sin(a))};
}

// All the roots exp(-2 pi i k / n) of one n, cheaply: from sines and cosines of
// the first octant when 8 divides n (the symmetries are exact); otherwise, for
// long n, as products of two long double roots, exp(-2 pi i (hB + l) / n) =
// hi[h] lo[l] with B ~ sqrt(n), whose error stays far below double precision.
// Building a plan of length n thus costs n/8 or 2 sqrt(n) trigonometric calls.
class Roots {
 public:
  explicit Roots(std::size_t n) : n_(n), octant_(n % 8 == 0) {
    if (octant_) {
      const std::size_t m = n / 8;
      cos_.resize(m + 1);
      sin_.resize(m + 1);
      for (std::size_t k = 0; k <= m; ++k) {
        const long double a = 2.0L * kPi * static_cast<long double>(k) / static_cast<long double>(n);
        cos_[k] = static_cast<double>(std::cos(a));
        sin_[k] = static_cast<double>(std::sin(a));
      }
      return;
    }
    if (n <= kDirect) return;
    block_ = static_cast<std::size_t>(std::sqrt(static_cast<double>(n))) + 1;
    for (std::size_t l = 0; l < block_; ++l) lo_.push_back(root(l));
    for (std::size_t h = 0; h * block_ < n; ++h) hi_.push_back(root(h * block_));
  }

  template <typename T>
  std::complex<T> get(std::size_t k) const {
    k %= n_;
    if (!octant_) {
      if (block_ == 0) return unit_root<T>(k, n_);
      const std::complex<long double> w = hi_[k / block_] * lo_[k % block_];
      return {static_cast<T>(w.real()), static_cast<T>(w.imag())};
    }
    // Reduce the angle 2 pi k / n to the first octant, tracking signs and a swap.
    bool neg_sin = false, neg_cos = false, swap = false;
    if (2 * k > n_) {
      k = n_ - k;
      neg_sin = true;
    }
    if (4 * k > n_) {
      k = n_ / 2 - k;
      neg_cos = true;
    }
    if (8 * k > n_) {
      k = n_ / 4 - k;
      swap = true;
    }
    double c = swap ? sin_[k] : cos_[k];
    double s = swap ? cos_[k] : sin_[k];
    if (neg_cos) c = -c;
    if (neg_sin) s = -s;
    return {static_cast<T>(c), static_cast<T>(-s)};
  }

 private:
  static constexpr std::size_t kDirect = 4096;

  std::complex<long double> root(std::size_t k) const {
    const long double a = -2.0L * kPi * static_cast<long double>(k) / static_cast<long double>(n_);
    return {std::cos(a), std::sin(a)};
  }

  std::size_t n_;
  bool octant_;
  std::vector<double> cos_, sin_;
  std::size_t block_ = 0;
  std::vector<std::complex<long double>> lo_, hi_;
};

// Prime factors of n in increasing order, with multiplicity.
std::vector<std::size_t> prime_factors(std::size_t n) {
  std::vector<std::size_t> f;
  for (std::size_t p = 2; p * p <= n; p += (p == 2 ? 1 : 2))
    while (n % p == 0) {
      f.push_back(p);
      n /= p;
    }
  if (n > 1) f.push_back(n);
  return f;
}

// Bluestein's length for n: the smallest m >= 2n - 1 of the form 2^a times 1, 3,
// 5, 7, 9 or 15. At most one or two odd passes keep its error near that of a
// power of two (many radix-3 or radix-5 passes would add up), at most 1.2 (2n - 1).
std::size_t bluestein_size(std::size_t n) {
  const std::size_t need = 2 * n - 1;
  std::size_t best = next_pow2(need);
  for (std::size_t odd : {3, 5, 7, 9, 15}) {
    std::size_t m = odd;
    while (m < need) m *= 2;
    best = std::min(best, m);
  }
  return best;
}

// Rough cost of a direct transform of length n, in units of one radix-2
// butterfly per element: a pass of radix r costs about r per element, with a
// penalty for the generic odd radices (the estimate of pocketfft, which numpy
// and scipy use; following its choice keeps the errors comparable too).
double direct_cost(std::size_t n) {
  double per_element = 0;
  std::size_t twos = 0;
  for (std::size_t p : prime_factors(n)) {
    if (p == 2)
      ++twos;
    else
      per_element += p <= 7 ? static_cast<double>(p) : 1.1 * static_cast<double>(p);
  }
  per_element += 2.0 * static_cast<double>(twos / 2) + 1.1 * static_cast<double>(twos % 2);
  return per_element * static_cast<double>(n);
}

// The smallest m >= n whose prime factors are at most 11 (the length
// pocketfft's Bluestein would use).
std::size_t smooth11_size(std::size_t n) {
  std::size_t best = next_pow2(n);
  for (std::size_t a = 1; a < best; a *= 11)
    for (std::size_t b = a; b < best; b *= 7)
      for (std::size_t c = b; c < best; c *= 5)
        for (std::size_t d = c; d < best; d *= 3) {
          std::size_t m = d;
          while (m < n) m *= 2;
          best = std::min(best, m);
        }
  return best;
}

// How a complex transform of length n is computed: directly (mixed radix) or
// through Bluestein. Bluestein's error is about that of its two long
// transforms, a direct transform's that of its passes. The choice is made
// with pocketfft's cost estimate (numpy's and scipy's FFT), a little more in
// favour of direct transforms than pocketfft is: where they go direct, so do
// we, and where we take Bluestein, so do they (our Bluestein length is the
// more accurate).
// Their real transforms go direct more often than their complex ones (a
// direct real pass costs half as much), so the real plans ask for
// `real_length`, the length of the real transform that the complex one serves
// (n or 2n), and get the direct transform then too. Prime factors above
// kMaxOddRadix always take Bluestein.
bool direct_length(std::size_t n, std::size_t real_length) {
  const auto f = prime_factors(n);
  if (f.empty()) return true;
  const std::size_t largest = f.back();
  if (largest > detail::kMaxOddRadix) return false;
  if (largest <= 7 || n < 50 || largest * largest <= n) return true;
  if (direct_cost(n) <= 6.0 * direct_cost(smooth11_size(2 * n - 1)) ||
      direct_cost(2 * n) <= 6.0 * direct_cost(smooth11_size(4 * n - 1)))
    return true;
  return real_length > 0 && 0.5 * direct_cost(real_length) <= 6.0 * direct_cost(smooth11_size(2 * real_length - 1));
}

// Mixed-radix plan (layout in fft_internal.hpp): the factors 4, then one 2 for an
// odd power of two (first, where it needs no twiddles), then 3, 5, 7 and any
// larger primes. A power of two thus keeps the bit-reversed radix-4 passes, and
// the odd factors, with the largest tables, come last.
template <typename T>
struct RadixPlan {
  std::vector<std::uint32_t> perm;
  std::vector<T> twiddle;
  std::vector<detail::RadixPass> passes;
  RadixView<T> view;

  explicit RadixPlan(std::size_t n) : perm(n) {
    std::vector<std::size_t> radices, odd;
    std::size_t twos = 0;
    for (std::size_t p : prime_factors(n)) {
      if (p == 2)
        ++twos;
      else
        odd.push_back(p);
    }
    if (twos % 2 == 1) radices.push_back(2);
    for (std::size_t i = 0; i < twos / 2; ++i) radices.push_back(4);
    radices.insert(radices.end(), odd.begin(), odd.end());

    // Input k goes where the passes expect it: its digits (least significant
    // for the last pass) in reverse order of the passes, radix-4 digits as
    // their own 2-bit reversal.
    for (std::size_t k = 0; k < n; ++k) {
      std::size_t pos = 0, rest = k, size = n;
      for (std::size_t s = radices.size(); s-- > 0;) {
        const std::size_t r = radices[s];
        std::size_t digit = rest % r;
        if (r == 4 && (digit == 1 || digit == 2)) digit = 3 - digit;
        size /= r;
        pos += digit * size;
        rest /= r;
      }
      perm[k] = static_cast<std::uint32_t>(pos);
    }

    const Roots roots(n);
    std::size_t q = 1;
    for (std::size_t r : radices) {
      passes.push_back({static_cast<std::uint32_t>(r), static_cast<std::uint32_t>(q), twiddle.size()});
      const std::size_t stride = n / (r * q);  // w = exp(-2 pi i / (r q)) is root `stride` of n
      if (r != 2 && r != 4)
        for (std::size_t t = 0; t < r; ++t) {
          const std::complex<T> w = roots.get<T>(t * (n / r));
          twiddle.push_back(w.real());
          twiddle.push_back(w.imag());
        }
      if (r != 2)
        for (std::size_t j = 0; j < q; ++j)
          for (std::size_t t = 1; t < r; ++t) {
            const std::complex<T> w = roots.get<T>(t * j * stride);
            twiddle.push_back(w.real());
            twiddle.push_back(w.imag());
          }
      q *= r;
    }
    std::size_t scratch = 0;
    for (std::size_t r : radices)
      if (r > 7) scratch = std::max(scratch, 2 * r);
    view = {n, perm.data(), twiddle.data(), passes.data(), passes.size(), scratch};
  }
};

template <typename T>
std::shared_ptr<const RadixPlan<T>> get_radix_plan(std::size_t n);

// Any length: directly when its prime factors are small, otherwise Bluestein's
// chirp-z on a transform of length m = bluestein_size(n).
template <typename T>
struct ComplexPlan;
template <typename T>
std::shared_ptr<const ComplexPlan<T>> get_complex_plan(std::size_t n, std::size_t real_length = 0);

// Lengths from this one on get a four-step split for single rows (and the rows
// left over after the full row groups): from 2048 on it is 1.5-4x faster than
// one row in scalar lanes.
constexpr std::size_t kFourStepMin = std::size_t{1} << 11;
// Both sides of the split fill the widest SIMD lanes (16 rows).
constexpr std::size_t kFourStepSide = 16;

// The side n1 <= sqrt(n) of the four-step split, the largest divisor of n that
// is not above sqrt(n); 0 when n is too short or has no usable split.
std::size_t four_step_side(std::size_t n) {
  if (n < kFourStepMin) return 0;
  std::size_t n1 = static_cast<std::size_t>(std::sqrt(static_cast<double>(n)));
  while (n1 * n1 > n) --n1;
  while (n % n1 != 0) --n1;
  return n1 >= kFourStepSide ? n1 : 0;
}

// Whether no row group of any code path can hold a transform of length m (the
// kernels then run every row through the four-step split, and the direct
// tables would be dead weight).
template <typename T>
bool rows_only_four_step(std::size_t m) {
  return 8 * m * sizeof(T) > detail::kWorkBytes;
}

template <typename T>
void c2c_impl(const std::complex<T>* in, std::complex<T>* out, std::size_t n, std::size_t howmany,
              std::ptrdiff_t in_dist, std::ptrdiff_t out_dist, bool forward, T scale, int nthreads);

template <typename T>
struct ComplexPlan {
  std::shared_ptr<const RadixPlan<T>> radix, cols, rows;
  std::vector<T> chirp, kernel;
  std::shared_ptr<const ComplexPlan<T>> whole;
  std::vector<T> step_hi_re, step_hi_im, step_lo_re, step_lo_im;
  std::size_t step_h = 0;
  std::shared_ptr<const RadixPlan<T>> split_sub;
  std::vector<T> split_tw;
  ComplexView<T> view;

  // key: the length n, times 2, plus 1 for a direct plan that a real transform
  // asked for where a complex one would take Bluestein (see direct_length).
  explicit ComplexPlan(std::size_t key) {
    const std::size_t n = key / 2;
    const bool direct = key % 2 == 1 || direct_length(n, 0);
    const std::size_t m = direct ? n : bluestein_size(n);
    const std::size_t n1 = direct ? four_step_side(n) : 0;
    if (n1 > 0) {
      const std::size_t n2 = n / n1;
      cols = get_radix_plan<T>(n1);
      rows = get_radix_plan<T>(n2);
      using detail::kStepHi;
      using detail::kStepLo;
      step_h = (n2 + kStepHi - 1) / kStepHi;
      step_hi_re.resize(n1 * step_h);
      step_hi_im.resize(n1 * step_h);
      step_lo_re.resize(n1 * kStepLo);
      step_lo_im.resize(n1 * kStepLo);
      const Roots roots(n);
      for (std::size_t k1 = 0; k1 < n1; ++k1) {
        for (std::size_t h = 0; h < step_h; ++h) {
          const std::complex<T> w = roots.get<T>(k1 * h * kStepHi);
          step_hi_re[k1 * step_h + h] = w.real();
          step_hi_im[k1 * step_h + h] = w.imag();
        }
        for (std::size_t l = 0; l < kStepLo; ++l) {
          const std::complex<T> w = roots.get<T>(k1 * l);
          step_lo_re[k1 * kStepLo + l] = w.real();
          step_lo_im[k1 * kStepLo + l] = w.imag();
        }
      }
    }
    if (!direct) {
      if (m >= kFourStepMin) whole = get_complex_plan<T>(m);
      chirp.resize(2 * n);
      std::vector<std::complex<double>> b(m, std::complex<double>(0, 0));
      const std::uint64_t two_n = 2 * static_cast<std::uint64_t>(n);
      const Roots roots(static_cast<std::size_t>(two_n));
      for (std::size_t k = 0; k < n; ++k) {
        // k^2 mod 2n keeps the angle small and exact.
        const std::uint64_t kk = (static_cast<std::uint64_t>(k) * k) % two_n;
        const std::complex<double> c = roots.get<double>(static_cast<std::size_t>(kk));
        chirp[2 * k] = static_cast<T>(c.real());
        chirp[2 * k + 1] = static_cast<T>(c.imag());
        b[k] = std::conj(c);
        if (k > 0) b[m - k] = std::conj(c);
      }
      // The kernel's transform, in double precision whatever T is (m is direct).
      std::vector<std::complex<double>> fb(m);
      c2c_impl<double>(b.data(), fb.data(), m, 1, 0, 0, true, 1.0, 1);
      kernel.resize(2 * m);
      const double inv_m = 1.0 / static_cast<double>(m);
      for (std::size_t k = 0; k < m; ++k) {
        kernel[2 * k] = static_cast<T>(fb[k].real() * inv_m);
        kernel[2 * k + 1] = static_cast<T>(fb[k].imag() * inv_m);
      }
    }
    const bool split = direct ? n1 > 0 : (whole && whole->view.n1 > 0);
    if (!(split && rows_only_four_step<T>(m))) radix = get_radix_plan<T>(m);
    const RadixView<T> none{m, nullptr, nullptr, nullptr, 0, 0};
    view = {n,
            m,
            radix ? radix->view : none,
            chirp.empty() ? nullptr : chirp.data(),
            kernel.empty() ? nullptr : kernel.data(),
            n1,
            cols ? &cols->view : nullptr,
            rows ? &rows->view : nullptr,
            step_hi_re.empty() ? nullptr : step_hi_re.data(),
            step_hi_im.empty() ? nullptr : step_hi_im.data(),
            step_lo_re.empty() ? nullptr : step_lo_re.data(),
            step_lo_im.empty() ? nullptr : step_lo_im.data(),
            step_h,
            whole ? &whole->view : nullptr,
            {0, nullptr, nullptr}};
    constexpr std::size_t r = 64 / sizeof(T);
    if (direct && n >= detail::kSplitMin && n <= detail::kSplitMax && n % r == 0) {
      const std::size_t M = n / r;
      split_sub = get_radix_plan<T>(M);
      split_tw.resize(2 * (r - 1) * M);
      const Roots roots(n);
      for (std::size_t u = 1; u < r; ++u)
        for (std::size_t c = 0; c < M; ++c) {
          const std::complex<T> w = roots.get<T>(u * c);
          split_tw[(u - 1) * M + c] = w.real();
          split_tw[(r - 1) * M + (u - 1) * M + c] = w.imag();
        }
      view.split = {r, &split_sub->view, split_tw.data()};
    }
  }
};

// Real transforms of even length n through one complex transform of n/2 and
// a split step; odd lengths through a complex transform of length n, and so
// are the shortest even ones: there the split step's rounding would weigh
// more than numpy's (up to 1.4 times its error at n = 12), for no speed to win.
constexpr std::size_t kHalfMin = 16;
template <typename T>
struct RealPlan {
  std::shared_ptr<const ComplexPlan<T>> half;
  std::vector<T> twiddle;
  RealView<T> view;

  explicit RealPlan(std::size_t n) {
    if (n % 2 == 0 && n >= kHalfMin) {
      half = get_complex_plan<T>(n / 2, n);
      twiddle.resize(n + 2);
      const Roots roots(n);
      for (std::size_t k = 0; k <= n / 2; ++k) {
        const std::complex<T> w = roots.get<T>(k);
        twiddle[2 * k] = w.real();
        twiddle[2 * k + 1] = w.imag();
      }
    } else {
      half = get_complex_plan<T>(n, n);
    }
    view = {n, half->view, twiddle.empty() ? nullptr : twiddle.data()};
  }
};

// Plan caches: one per plan type and precision, each a small LRU list guarded
// by a mutex. Plans are immutable once built, so shared_ptr<const ...> can be
// used from any thread; an evicted plan lives on while a caller still holds it.
std::atomic<std::size_t> g_cached{0};
constexpr std::size_t kCacheEntries = 32;

template <typename P>
std::shared_ptr<const P> cached(std::size_t n) {
  static std::mutex mutex;
  static std::list<std::pair<std::size_t, std::shared_ptr<const P>>> lru;  // most recent first
  static std::unordered_map<std::size_t, decltype(lru.begin())> index;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = index.find(n);
    if (it != index.end()) {
      lru.splice(lru.begin(), lru, it->second);
      return it->second->second;
    }
  }
  auto plan = std::make_shared<const P>(n);  // built outside the lock: may recurse
  std::lock_guard<std::mutex> lock(mutex);
  auto it = index.find(n);
  if (it != index.end()) return it->second->second;  // another thread was faster
  lru.emplace_front(n, plan);
  index.emplace(n, lru.begin());
  ++g_cached;
  if (lru.size() > kCacheEntries) {
    index.erase(lru.back().first);
    lru.pop_back();
    --g_cached;
  }
  return plan;
}

template <typename T>
std::shared_ptr<const RadixPlan<T>> get_radix_plan(std::size_t n) { return cached<RadixPlan<T>>(n); }
// Complex plans of real transforms get their own cache entries only where
// their choice of direct or Bluestein differs.
template <typename T>
std::shared_ptr<const ComplexPlan<T>> get_complex_plan(std::size_t n, std::size_t real_length) {
  const bool own = real_length > 0 && direct_length(n, real_length) != direct_length(n, 0);
  return cached<ComplexPlan<T>>(2 * n + (own ? 1 : 0));
}
template <typename T>
std::shared_ptr<const RealPlan<T>> get_real_plan(std::size_t n) { return cached<RealPlan<T>>(n); }

void check_args(std::size_t n, int nthreads) {
  if (n == 0) throw std::invalid_argument("FFT length must be at least 1");
  if (n > (std::size_t{1} << 31)) throw std::invalid_argument("FFT length is too large (more than 2**31)");
  if (nthreads < 1) throw std::invalid_argument("nthreads must be at least 1");
}

// ------------------------------------------------------------ kernel choice

bool cpu_has(const char* path) {
  const std::string p(path);
  if (p == "generic") return true;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (p == "avx2") return avx2;
  if (p == "avx512")
    return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
#endif
  return false;
}

const Kernels* table(const std::string& path) {
  static const Kernels generic = detail::generic::kernels();
  static const Kernels avx2 = detail::avx2::kernels();
  static const Kernels avx512 = detail::avx512::kernels();
  if (path == "generic") return &generic;
  if (path == "avx2") return &avx2;
  if (path == "avx512") return &avx512;
  return nullptr;
}

const Kernels* best_kernels() {
  // AUDIOREP_SIMD=generic|avx2 caps the choice (for comparisons and debugging).
  const char* cap = std::getenv("AUDIOREP_SIMD");
  std::string want = cap ? cap : "";
  if (table(want) == nullptr) want = "avx512";
  bool allowed = false;
  for (const char* path : {"avx512", "avx2", "generic"}) {
    allowed = allowed || want == path;
    if (allowed && cpu_has(path)) return table(path);
  }
  return table("generic");
}

std::atomic<const Kernels*>& active() {
  static std::atomic<const Kernels*> kernels{best_kernels()};
  return kernels;
}

template <typename T>
const detail::KernelSet<T>& kernel_set();
template <>
const detail::KernelSet<float>& kernel_set<float>() { return active().load()->f32; }
template <>
const detail::KernelSet<double>& kernel_set<double>() { return active().load()->f64; }

// ------------------------------------------------------------ scratch memory

// Work buffers outlive the calls: a chunk of rows borrows one from the pool and
// gives it back, so that repeated calls do not fault fresh pages in every time,
// whichever thread runs the chunk. The pool keeps up to kMaxBuffers buffers of
// kMaxBytes in all, and besides them the largest buffer given back that is
// over that limit (the four-step middle buffer of a long row: one complex
// float64 row of 10**7 points ran 1.4x faster with its 160 MB kept than with
// them faulted in again each call). release_memory() frees them all.
class ScratchPool {
 public:
  struct Buffer {
    void* data = nullptr;
    std::size_t bytes = 0;
  };

  Buffer take() {  // the largest, so that calls of one size keep reusing theirs
    std::lock_guard<std::mutex> lock(mutex_);
    if (large_.data != nullptr) {
      const Buffer b = large_;
      large_ = {};
      return b;
    }
    if (free_.empty()) return {};
    auto best = std::max_element(free_.begin(), free_.end(),
                                 [](const Buffer& a, const Buffer& b) { return a.bytes < b.bytes; });
    const Buffer b = *best;
    *best = free_.back();
    free_.pop_back();
    kept_ -= b.bytes;
    return b;
  }

  void give(Buffer b) {
    if (b.data == nullptr) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (b.bytes > kMaxBytes) {
        if (b.bytes > large_.bytes) std::swap(b, large_);  // keep the larger; free the other below
      } else if (free_.size() < kMaxBuffers && kept_ + b.bytes <= kMaxBytes) {
        free_.push_back(b);
        kept_ += b.bytes;
        return;
      }
    }
    std::free(b.data);
  }

  // Frees the buffers not lent out; returns their bytes.
  std::size_t release() {
    std::vector<Buffer> gone;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      gone.swap(free_);
      if (large_.data != nullptr) gone.push_back(large_);
      large_ = {};
      kept_ = 0;
    }
    std::size_t bytes = 0;
    for (const Buffer& b : gone) {
      bytes += b.bytes;
      std::free(b.data);
    }
    return bytes;
  }

  std::size_t kept() {
    std::lock_guard<std::mutex> lock(mutex_);
    return kept_ + large_.bytes;
  }

 private:
  static constexpr std::size_t kMaxBuffers = 8;
  static constexpr std::size_t kMaxBytes = std::size_t{96} << 20;
  std::mutex mutex_;
  std::vector<Buffer> free_;
  std::size_t kept_ = 0;
  Buffer large_;
};

ScratchPool& scratch_pool() {
  static ScratchPool* pool = new ScratchPool;  // never destroyed: threads may still return buffers at exit
  return *pool;
}

class ScratchLease {
 public:
  ScratchLease() : buffer_(scratch_pool().take()) {}
  ~ScratchLease() { scratch_pool().give(buffer_); }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;

  detail::ScratchSource source() { return {&ScratchLease::get, this}; }

 private:
  static void* get(void* self, std::size_t bytes) {
    auto& b = static_cast<ScratchLease*>(self)->buffer_;
    if (bytes > b.bytes) {
      std::free(b.data);
      b = {};
      const std::size_t rounded = (bytes + 63) / 64 * 64;
      b.data = std::aligned_alloc(64, rounded);
      if (b.data == nullptr) throw std::bad_alloc();
      b.bytes = rounded;
    }
    return b.data;
  }
  ScratchPool::Buffer buffer_;
};

// Points a thread should get before another one is woken for a transform: a
// pool thread takes some 10-20 microseconds to start on a chunk, about what a
// transform of 32K points costs on one core.
constexpr std::size_t kMinPointsPerThread = std::size_t{1} << 16;

// Splits `howmany` rows of `n` points into groups of whole SIMD row groups, one
// chunk per thread, using no more threads than the work is worth.
template <typename T, typename F>
void for_row_chunks(std::size_t howmany, std::size_t n, int nthreads, std::size_t lanes, F&& f) {
  const std::size_t groups = (howmany + lanes - 1) / lanes;
  const std::size_t worth = std::max<std::size_t>(1, howmany * n / kMinPointsPerThread);  // howmany * n elements exist
  nthreads = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(nthreads), worth));
  parallel_for(groups, nthreads, [&](std::size_t g0, std::size_t g1) {
    const std::size_t r0 = g0 * lanes, r1 = std::min(howmany, g1 * lanes);
    if (r1 <= r0) return;
    ScratchLease lease;
    f(r0, r1 - r0, lease.source());
  });
}

template <typename T>
void c2c_impl(const std::complex<T>* in, std::complex<T>* out, std::size_t n, std::size_t howmany,
              std::ptrdiff_t in_dist, std::ptrdiff_t out_dist, bool forward, T scale, int nthreads) {
  auto plan = get_complex_plan<T>(n);
  const auto& k = kernel_set<T>();
  const T* src = reinterpret_cast<const T*>(in);
  T* dst = reinterpret_cast<T*>(out);
  for_row_chunks<T>(howmany, n, nthreads, k.lanes, [&](std::size_t r, std::size_t rows, const detail::ScratchSource& scratch) {
    const auto ri = static_cast<std::ptrdiff_t>(r);
    k.c2c(plan->view, src + 2 * ri * in_dist, dst + 2 * ri * out_dist, rows, in_dist, out_dist, forward, scale,
          scratch);
  });
}

}  // namespace

template <typename T>
void c2c(const std::complex<T>* in, std::complex<T>* out, std::size_t n, std::size_t howmany,
         std::ptrdiff_t in_dist, std::ptrdiff_t out_dist, bool forward, T scale, int nthreads) {
  check_args(n, nthreads);
  c2c_impl(in, out, n, howmany, in_dist, out_dist, forward, scale, nthreads);
}

template <typename T>
void r2c(const T* in, std::complex<T>* out, std::size_t n, std::size_t howmany,
         std::ptrdiff_t in_dist, std::ptrdiff_t out_dist, T scale, int nthreads) {
  check_args(n, nthreads);
  auto plan = get_real_plan<T>(n);
  const auto& k = kernel_set<T>();
  T* dst = reinterpret_cast<T*>(out);
  for_row_chunks<T>(howmany, n, nthreads, k.lanes, [&](std::size_t r, std::size_t rows, const detail::ScratchSource& scratch) {
    const auto ri = static_cast<std::ptrdiff_t>(r);
    k.r2c(plan->view, in + ri * in_dist, dst + 2 * ri * out_dist, rows, in_dist, out_dist, scale, scratch);
  });
}

template <typename T>
void c2r(const std::complex<T>* in, T* out, std::size_t n, std::size_t howmany,
         std::ptrdiff_t in_dist, std::ptrdiff_t out_dist, T scale, int nthreads) {
  check_args(n, nthreads);
  auto plan = get_real_plan<T>(n);
  const auto& k = kernel_set<T>();
  const T* src = reinterpret_cast<const T*>(in);
  for_row_chunks<T>(howmany, n, nthreads, k.lanes, [&](std::size_t r, std::size_t rows, const detail::ScratchSource& scratch) {
    const auto ri = static_cast<std::ptrdiff_t>(r);
    k.c2r(plan->view, src + 2 * ri * in_dist, out + ri * out_dist, rows, in_dist, out_dist, scale, scratch);
  });
}

std::string simd_path() { return active().load()->name; }

template <typename T>
std::size_t batch_rows() {
  return kernel_set<T>().lanes;
}
template std::size_t batch_rows<float>();
template std::size_t batch_rows<double>();

std::vector<std::string> available_simd_paths() {
  std::vector<std::string> paths;
  for (const char* path : {"generic", "avx2", "avx512"})
    if (cpu_has(path)) paths.emplace_back(path);
  return paths;
}

std::string set_simd_path(const std::string& path) {
  const Kernels* k = table(path);
  if (k == nullptr) throw std::invalid_argument("unknown SIMD path '" + path + "' (generic, avx2 or avx512)");
  if (!cpu_has(path.c_str())) throw std::invalid_argument("this CPU cannot run the '" + path + "' SIMD path");
  return active().exchange(k)->name;
}

std::size_t cached_plans() { return g_cached.load(); }

std::size_t kept_memory() { return scratch_pool().kept(); }

std::size_t release_memory() { return scratch_pool().release(); }

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

}  // namespace fft
}  // namespace audiorep
