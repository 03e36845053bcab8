// The only file that knows about Python. It checks shapes and dtypes, releases
// the GIL around every kernel call and lets pybind11 turn C++ exceptions into
// Python ones (std::invalid_argument -> ValueError, std::bad_alloc -> MemoryError).
// User-facing validation with named messages lives in the Python package.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <complex>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "audiorep/autocorr.hpp"
#include "audiorep/fft.hpp"
#include "audiorep/obj.hpp"

namespace py = pybind11;

namespace {

// ---------------------------------------------------------------- helpers

template <typename T>
py::array_t<T, py::array::c_style> require_rows(const py::array& a, const char* name) {
  if (!py::isinstance<py::array_t<T>>(a))
    throw py::type_error(std::string(name) + ": unexpected dtype " + std::string(py::str(a.dtype())));
  if (a.ndim() != 2) throw py::value_error(std::string(name) + ": expected a 2-D array of rows");
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + ": expected a C-contiguous array");
  return py::reinterpret_borrow<py::array_t<T, py::array::c_style>>(a);
}

int check_threads(int nthreads) {
  if (nthreads < 1) throw py::value_error("nthreads must be at least 1");
  return nthreads;
}

// ---------------------------------------------------------------- fft

template <typename T>
using C2c = void (*)(const std::complex<T>*, std::complex<T>*, std::size_t, std::size_t, std::ptrdiff_t,
                     std::ptrdiff_t, bool, T, int);
template <typename T>
using R2c = void (*)(const T*, std::complex<T>*, std::size_t, std::size_t, std::ptrdiff_t, std::ptrdiff_t, T, int);
template <typename T>
using C2r = void (*)(const std::complex<T>*, T*, std::size_t, std::size_t, std::ptrdiff_t, std::ptrdiff_t, T, int);

template <typename T>
py::array c2c_impl(const py::array& x, bool forward, double scale, int nthreads,
                   C2c<T> kernel = &audiorep::fft::c2c<T>) {
  using C = std::complex<T>;
  auto in = require_rows<C>(x, "c2c");
  const auto howmany = static_cast<std::size_t>(in.shape(0));
  const auto n = static_cast<std::size_t>(in.shape(1));
  py::array_t<C> out({in.shape(0), in.shape(1)});
  const C* src = in.data();
  C* dst = out.mutable_data();
  {
    py::gil_scoped_release release;
    kernel(src, dst, n, howmany, static_cast<std::ptrdiff_t>(n), static_cast<std::ptrdiff_t>(n), forward,
           static_cast<T>(scale), nthreads);
  }
  return out;
}

template <typename T>
py::array r2c_impl(const py::array& x, double scale, int nthreads, R2c<T> kernel = &audiorep::fft::r2c<T>) {
  using C = std::complex<T>;
  auto in = require_rows<T>(x, "r2c");
  const auto howmany = static_cast<std::size_t>(in.shape(0));
  const auto n = static_cast<std::size_t>(in.shape(1));
  const auto m = static_cast<py::ssize_t>(n / 2 + 1);
  py::array_t<C> out({in.shape(0), m});
  const T* src = in.data();
  C* dst = out.mutable_data();
  {
    py::gil_scoped_release release;
    kernel(src, dst, n, howmany, static_cast<std::ptrdiff_t>(n), m, static_cast<T>(scale), nthreads);
  }
  return out;
}

template <typename T>
py::array c2r_impl(const py::array& x, std::size_t n, double scale, int nthreads,
                   C2r<T> kernel = &audiorep::fft::c2r<T>) {
  using C = std::complex<T>;
  auto in = require_rows<C>(x, "c2r");
  if (n < 1) throw py::value_error("c2r: n must be at least 1");
  if (static_cast<std::size_t>(in.shape(1)) != n / 2 + 1)
    throw py::value_error("c2r: input rows must hold n/2+1 = " + std::to_string(n / 2 + 1) + " bins");
  const auto howmany = static_cast<std::size_t>(in.shape(0));
  py::array_t<T> out({in.shape(0), static_cast<py::ssize_t>(n)});
  const C* src = in.data();
  T* dst = out.mutable_data();
  {
    py::gil_scoped_release release;
    kernel(src, dst, n, howmany, in.shape(1), static_cast<std::ptrdiff_t>(n), static_cast<T>(scale), nthreads);
  }
  return out;
}

void bind_fft(py::module_& m) {
  m.def(
      "c2c",
      [](const py::array& x, bool forward, double scale, int nthreads) -> py::array {
        check_threads(nthreads);
        if (py::isinstance<py::array_t<std::complex<float>>>(x)) return c2c_impl<float>(x, forward, scale, nthreads);
        return c2c_impl<double>(x, forward, scale, nthreads);
      },
      py::arg("x"), py::arg("forward"), py::arg("scale"), py::arg("nthreads"),
      "Batched complex FFT over the rows of a C-contiguous complex64/complex128 array.");
  m.def(
      "r2c",
      [](const py::array& x, double scale, int nthreads) -> py::array {
        check_threads(nthreads);
        if (py::isinstance<py::array_t<float>>(x)) return r2c_impl<float>(x, scale, nthreads);
        return r2c_impl<double>(x, scale, nthreads);
      },
      py::arg("x"), py::arg("scale"), py::arg("nthreads"),
      "Batched real-to-complex FFT over the rows of a C-contiguous float32/float64 array.");
  m.def(
      "c2r",
      [](const py::array& x, std::size_t n, double scale, int nthreads) -> py::array {
        check_threads(nthreads);
        if (py::isinstance<py::array_t<std::complex<float>>>(x)) return c2r_impl<float>(x, n, scale, nthreads);
        return c2r_impl<double>(x, n, scale, nthreads);
      },
      py::arg("x"), py::arg("n"), py::arg("scale"), py::arg("nthreads"),
      "Batched complex-to-real inverse FFT: rows of n/2+1 bins to rows of n samples.");
  m.def("simd_path", &audiorep::fft::simd_path, "SIMD code path chosen at run time.");
  namespace ref = audiorep::fft::reference;
  m.def(
      "reference_c2c",
      [](const py::array& x, bool forward, double scale, int nthreads) -> py::array {
        check_threads(nthreads);
        if (py::isinstance<py::array_t<std::complex<float>>>(x))
          return c2c_impl<float>(x, forward, scale, nthreads, &ref::c2c<float>);
        return c2c_impl<double>(x, forward, scale, nthreads, &ref::c2c<double>);
      },
      py::arg("x"), py::arg("forward"), py::arg("scale"), py::arg("nthreads"),
      "c2c computed by the plain scalar reference FFT (the correctness baseline).");
  m.def(
      "reference_r2c",
      [](const py::array& x, double scale, int nthreads) -> py::array {
        check_threads(nthreads);
        if (py::isinstance<py::array_t<float>>(x)) return r2c_impl<float>(x, scale, nthreads, &ref::r2c<float>);
        return r2c_impl<double>(x, scale, nthreads, &ref::r2c<double>);
      },
      py::arg("x"), py::arg("scale"), py::arg("nthreads"),
      "r2c computed by the plain scalar reference FFT (the correctness baseline).");
  m.def(
      "reference_c2r",
      [](const py::array& x, std::size_t n, double scale, int nthreads) -> py::array {
        check_threads(nthreads);
        if (py::isinstance<py::array_t<std::complex<float>>>(x))
          return c2r_impl<float>(x, n, scale, nthreads, &ref::c2r<float>);
        return c2r_impl<double>(x, n, scale, nthreads, &ref::c2r<double>);
      },
      py::arg("x"), py::arg("n"), py::arg("scale"), py::arg("nthreads"),
      "c2r computed by the plain scalar reference FFT (the correctness baseline).");
  m.def(
      "batch_rows",
      [](bool double_precision) {
        return double_precision ? audiorep::fft::batch_rows<double>() : audiorep::fft::batch_rows<float>();
      },
      py::arg("double_precision"), "Rows the current SIMD path transforms together.");
  m.def("available_simd_paths", &audiorep::fft::available_simd_paths, "SIMD code paths this CPU can run.");
  m.def("set_simd_path", &audiorep::fft::set_simd_path, py::arg("path"),
        "Switch the FFT to another SIMD code path; returns the previous one.");
  m.def("cached_plans", &audiorep::fft::cached_plans, "Number of FFT plans in the cache.");
}

// ---------------------------------------------------------------- autocorrelation

void bind_autocorr(py::module_& /*m*/) {}

// ---------------------------------------------------------------- obj

void bind_obj(py::module_& /*m*/) {}

// ---------------------------------------------------------------- build info

py::dict build_info() {
  py::dict info;
#ifdef AUDIOREP_VERSION
  info["version"] = AUDIOREP_VERSION;
#endif
  info["simd_path"] = audiorep::fft::simd_path();
#if defined(__VERSION__)
  info["compiler"] = __VERSION__;
#endif
  info["cuda"] = false;
  return info;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "audiorep compiled kernels (private; use the audiorep package)";
  bind_fft(m);
  bind_autocorr(m);
  bind_obj(m);
  m.def("build_info", &build_info, "What this build of the core was compiled with.");
}
