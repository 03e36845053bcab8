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
#include "audiorep/fft_harness.hpp"
#include "audiorep/obj.hpp"
#ifdef AUDIOREP_HAVE_CUDA
#include "audiorep/cuda.hpp"
#endif

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
  // The kernels load whole T values; a view into a byte buffer can start anywhere.
  if (reinterpret_cast<std::uintptr_t>(a.data()) % alignof(T) != 0)
    throw py::value_error(std::string(name) + ": expected an aligned array");
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
  m.def("fft_kept_memory", &audiorep::fft::kept_memory, "Bytes of FFT work buffers kept between calls.");
  m.def("fft_release_memory", &audiorep::fft::release_memory,
        "Free the FFT work buffers kept between calls; returns their bytes.");
}

// ---------------------------------------------------------------- autocorrelation


// Optional window: None, or a C-contiguous 1-D array of `length` values of dtype T.
template <typename T>
const T* window_ptr(const py::object& window, std::size_t length, py::array& keep) {
  if (window.is_none()) return nullptr;
  keep = py::reinterpret_borrow<py::array>(window);
  if (!py::isinstance<py::array_t<T>>(keep))
    throw py::type_error("window: dtype " + std::string(py::str(keep.dtype())) + " does not match the signal");
  if (keep.ndim() != 1 || static_cast<std::size_t>(keep.shape(0)) != length)
    throw py::value_error("window: expected a 1-D array of frame_length = " + std::to_string(length) + " values");
  if (!(keep.flags() & py::array::c_style)) throw py::value_error("window: expected a contiguous array");
  if (reinterpret_cast<std::uintptr_t>(keep.data()) % alignof(T) != 0)
    throw py::value_error("window: expected an aligned array");
  return static_cast<const T*>(keep.data());
}

template <typename T>
py::tuple autocorrelogram_impl(const py::array& x, const py::object& window, std::size_t frame_length,
                               std::size_t hop, std::size_t n_frames, std::size_t max_lag, std::size_t nfft,
                               bool normalize, int nthreads) {
  auto in = require_rows<T>(x, "autocorrelogram");
  py::array keep;
  const T* w = window_ptr<T>(window, frame_length, keep);
  const auto rows = in.shape(0);
  py::array_t<T> values({rows, static_cast<py::ssize_t>(n_frames), static_cast<py::ssize_t>(max_lag)});
  py::array_t<T> energy({rows, static_cast<py::ssize_t>(n_frames)});
  const T* src = in.data();
  T* v = values.mutable_data();
  T* e = energy.mutable_data();
  const auto n = static_cast<std::size_t>(in.shape(1));
  {
    py::gil_scoped_release release;
    audiorep::acf::autocorrelogram<T>(src, n, static_cast<std::size_t>(rows), in.shape(1), w, frame_length, hop,
                                      n_frames, max_lag, nfft, normalize, v, e, nthreads);
  }
  return py::make_tuple(values, energy);
}

template <typename T>
py::tuple correlogram_impl(const py::array& x, const py::object& window, std::size_t frame_length,
                           std::size_t hop, std::size_t n_frames, const py::array& weights, std::size_t max_lag,
                           std::size_t nfft, bool normalize, int nthreads) {
  auto in = require_rows<T>(x, "correlogram");
  auto wts = require_rows<T>(weights, "correlogram weights");
  if (static_cast<std::size_t>(wts.shape(1)) != nfft / 2 + 1)
    throw py::value_error("correlogram weights: rows must hold nfft/2+1 = " + std::to_string(nfft / 2 + 1) +
                          " bins");
  py::array keep;
  const T* w = window_ptr<T>(window, frame_length, keep);
  const auto rows = in.shape(0);
  const auto bands = wts.shape(0);
  py::array_t<T> values(
      {rows, static_cast<py::ssize_t>(n_frames), bands, static_cast<py::ssize_t>(max_lag)});
  py::array_t<T> energy({rows, static_cast<py::ssize_t>(n_frames), bands});
  const T* src = in.data();
  const T* wp = wts.data();
  T* v = values.mutable_data();
  T* e = energy.mutable_data();
  const auto n = static_cast<std::size_t>(in.shape(1));
  {
    py::gil_scoped_release release;
    audiorep::acf::correlogram<T>(src, n, static_cast<std::size_t>(rows), in.shape(1), w, frame_length, hop,
                                  n_frames, wp, static_cast<std::size_t>(bands), max_lag, nfft, normalize, v, e,
                                  nthreads);
  }
  return py::make_tuple(values, energy);
}

template <typename T>
py::array power_spectrogram_impl(const py::array& x, const py::object& window, std::size_t frame_length,
                                 std::size_t hop, std::size_t n_frames, double power, int nthreads) {
  auto in = require_rows<T>(x, "power_spectrogram");
  py::array keep;
  const T* w = window_ptr<T>(window, frame_length, keep);
  const auto rows = in.shape(0);
  py::array_t<T> out({rows, static_cast<py::ssize_t>(n_frames), static_cast<py::ssize_t>(frame_length / 2 + 1)});
  const T* src = in.data();
  T* o = out.mutable_data();
  const auto n = static_cast<std::size_t>(in.shape(1));
  {
    py::gil_scoped_release release;
    audiorep::acf::power_spectrogram<T>(src, n, static_cast<std::size_t>(rows), in.shape(1), w, frame_length, hop,
                                        n_frames, static_cast<T>(power), o, nthreads);
  }
  return out;
}

void bind_autocorr(py::module_& m) {
  m.def("acf_fft_size", &audiorep::acf::fft_size, py::arg("frame_length"), py::arg("max_lag"),
        "Power-of-two FFT length for lags 0..max_lag-1 of frames of frame_length samples (correlogram, GPU).");
  m.def("acf_fast_fft_size", &audiorep::acf::fast_fft_size, py::arg("frame_length"), py::arg("max_lag"),
        "FFT length the CPU autocorrelation takes for lags 0..max_lag-1 of frames of frame_length samples.");
  m.def(
      "autocorrelogram",
      [](const py::array& x, const py::object& window, std::size_t frame_length, std::size_t hop,
         std::size_t n_frames, std::size_t max_lag, std::size_t nfft, bool normalize, int nthreads) -> py::tuple {
        check_threads(nthreads);
        if (py::isinstance<py::array_t<float>>(x))
          return autocorrelogram_impl<float>(x, window, frame_length, hop, n_frames, max_lag, nfft, normalize,
                                             nthreads);
        return autocorrelogram_impl<double>(x, window, frame_length, hop, n_frames, max_lag, nfft, normalize,
                                            nthreads);
      },
      py::arg("x"), py::arg("window"), py::arg("frame_length"), py::arg("hop"), py::arg("n_frames"),
      py::arg("max_lag"), py::arg("nfft"), py::arg("normalize"), py::arg("nthreads"),
      "Fused windowed autocorrelation of the frames of each row: (values, energy).");
  m.def(
      "correlogram",
      [](const py::array& x, const py::object& window, std::size_t frame_length, std::size_t hop,
         std::size_t n_frames, const py::array& weights, std::size_t max_lag, std::size_t nfft, bool normalize,
         int nthreads) -> py::tuple {
        check_threads(nthreads);
        if (py::isinstance<py::array_t<float>>(x))
          return correlogram_impl<float>(x, window, frame_length, hop, n_frames, weights, max_lag, nfft, normalize,
                                         nthreads);
        return correlogram_impl<double>(x, window, frame_length, hop, n_frames, weights, max_lag, nfft, normalize,
                                        nthreads);
      },
      py::arg("x"), py::arg("window"), py::arg("frame_length"), py::arg("hop"), py::arg("n_frames"),
      py::arg("weights"), py::arg("max_lag"), py::arg("nfft"), py::arg("normalize"), py::arg("nthreads"),
      "Fused per-band autocorrelation of the frames of each row: (values, energy).");
  m.def(
      "power_spectrogram",
      [](const py::array& x, const py::object& window, std::size_t frame_length, std::size_t hop,
         std::size_t n_frames, double power, int nthreads) -> py::array {
        check_threads(nthreads);
        if (py::isinstance<py::array_t<float>>(x))
          return power_spectrogram_impl<float>(x, window, frame_length, hop, n_frames, power, nthreads);
        return power_spectrogram_impl<double>(x, window, frame_length, hop, n_frames, power, nthreads);
      },
      py::arg("x"), py::arg("window"), py::arg("frame_length"), py::arg("hop"), py::arg("n_frames"),
      py::arg("power"), py::arg("nthreads"), "Fused |rfft(windowed frame)|^power of the frames of each row.");
}

// ---------------------------------------------------------------- obj

template <typename T>
int write_heightfield_impl(const std::string& path, const py::array& x, const py::array& y, const py::array& z,
                           const audiorep::obj::HeightFieldOptions& options, int nthreads) {
  // The kernel takes element strides, so views (slices, transposes) need no copy.
  if (!py::isinstance<py::array_t<T>>(z))
    throw py::type_error("write_heightfield: unexpected dtype " + std::string(py::str(z.dtype())));
  if (z.ndim() != 2) throw py::value_error("write_heightfield: expected a 2-D grid");
  const auto item = static_cast<py::ssize_t>(sizeof(T));
  if (z.strides(0) % item != 0 || z.strides(1) % item != 0)
    throw py::value_error("write_heightfield: grid strides must be whole elements");
  auto xa = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(x);
  auto ya = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(y);
  if (!xa || !ya || xa.ndim() != 1 || ya.ndim() != 1) throw py::value_error("write_heightfield: x and y must be 1-D");
  const auto rows = static_cast<std::size_t>(z.shape(0)), cols = static_cast<std::size_t>(z.shape(1));
  if (static_cast<std::size_t>(xa.shape(0)) != rows || static_cast<std::size_t>(ya.shape(0)) != cols)
    throw py::value_error("write_heightfield: x and y must match the grid's rows and columns");
  const double* px = xa.data();
  const double* py_ = ya.data();
  const auto* pz = static_cast<const T*>(z.data());
  const std::ptrdiff_t row_stride = z.strides(0) / item, col_stride = z.strides(1) / item;
  py::gil_scoped_release release;
  return audiorep::obj::write_heightfield<T>(path.c_str(), px, py_, pz, rows, cols, row_stride, col_stride, options,
                                            nthreads);
}

// Hands a vector's buffer to numpy without a copy; the capsule frees it with the array.
template <typename T, typename A>
py::array_t<T> take_rows(std::vector<T, A>&& values, py::ssize_t width) {
  using Vec = std::vector<T, A>;
  const auto rows = static_cast<py::ssize_t>(values.size()) / width;
  if (values.empty()) return py::array_t<T>(std::vector<py::ssize_t>{0, width});
  auto* heap = new Vec(std::move(values));
  py::capsule owner(heap, [](void* p) { delete static_cast<Vec*>(p); });
  return py::array_t<T>({rows, width}, heap->data(), owner);
}

py::dict parse_obj(const py::bytes& data, int nthreads) {
  check_threads(nthreads);
  char* buffer = nullptr;
  Py_ssize_t size = 0;
  if (PyBytes_AsStringAndSize(data.ptr(), &buffer, &size) != 0) throw py::error_already_set();
  audiorep::obj::ParseResult result;
  {
    py::gil_scoped_release release;
    result = audiorep::obj::parse(buffer, static_cast<std::size_t>(size), nthreads);
  }
  py::dict out;
  if (!result.ok) {
    out["error_line"] = result.error_line;
    out["error"] = result.error;
    return out;
  }
  auto& mesh = result.mesh;
  out["vertices"] = take_rows(std::move(mesh.vertices), 3);
  out["texcoords"] = take_rows(std::move(mesh.texcoords), 2);
  out["normals"] = take_rows(std::move(mesh.normals), 3);
  out["faces"] = take_rows(std::move(mesh.faces), 4);
  out["face_texcoords"] = take_rows(std::move(mesh.face_texcoords), 4);
  out["face_normals"] = take_rows(std::move(mesh.face_normals), 4);
  py::dict groups;
  for (std::size_t g = 0; g < mesh.group_names.size(); ++g) {
    auto faces = take_rows(std::move(mesh.group_faces[g]), 1);
    groups[py::bytes(mesh.group_names[g])] = faces.attr("reshape")(-1);
  }
  out["groups"] = groups;
  return out;
}

void bind_obj(py::module_& m) {
  m.def(
      "write_heightfield",
      [](const py::bytes& path, const py::array& x, const py::array& y, const py::array& z, int precision,
         bool normals, bool flip, double sx, double sy, double sz, int nthreads) {
        check_threads(nthreads);
        if (precision < 0 || precision > 17) throw py::value_error("write_heightfield: precision must be in [0, 17]");
        audiorep::obj::HeightFieldOptions options;
        options.precision = precision;
        options.normals = normals;
        options.flip = flip;
        options.scale[0] = sx;
        options.scale[1] = sy;
        options.scale[2] = sz;
        const std::string target = path;
        const int err = py::isinstance<py::array_t<float>>(z)
                            ? write_heightfield_impl<float>(target, x, y, z, options, nthreads)
                            : write_heightfield_impl<double>(target, x, y, z, options, nthreads);
        if (err != 0) {
          errno = err;
          PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path.ptr());
          throw py::error_already_set();
        }
      },
      py::arg("path"), py::arg("x"), py::arg("y"), py::arg("z"), py::arg("precision"), py::arg("normals"),
      py::arg("flip"), py::arg("sx"), py::arg("sy"), py::arg("sz"), py::arg("nthreads"),
      "Write the OBJ height-field mesh of a float32/float64 grid z (any strides) over the axes x, y to path.");
  m.def("parse_obj", &parse_obj, py::arg("data"), py::arg("nthreads"),
        "Parse OBJ text; a dict of arrays, or of error_line and error when the text is malformed.");
}


// ---------------------------------------------------------------- cuda
//
// The harness_* functions run the GPU algorithms on the CPU (always built); the
// cuda_* functions exist only in CUDA builds. cuda_*_host take numpy arrays and
// copy them through the device; cuda_*_ptr take device pointers (as integers)
// of contiguous rows, a device index and a stream, and only queue the work.

int device_count() {
#ifdef AUDIOREP_HAVE_CUDA
  return audiorep::cuda::device_count();
#else
  return 0;
#endif
}

std::size_t harness_limit(std::size_t block_limit, bool double_precision) {
  if (block_limit) return block_limit;
  return double_precision ? audiorep::harness::default_block_limit<double>()
                          : audiorep::harness::default_block_limit<float>();
}

template <typename T>
py::array harness_c2c_impl(const py::array& x, bool forward, double scale, std::size_t block_limit) {
  using C = std::complex<T>;
  auto in = require_rows<C>(x, "harness_c2c");
  py::array_t<C> out({in.shape(0), in.shape(1)});
  const C* src = in.data();
  C* dst = out.mutable_data();
  const auto rows = static_cast<std::size_t>(in.shape(0)), n = static_cast<std::size_t>(in.shape(1));
  py::gil_scoped_release release;
  audiorep::harness::c2c<T>(src, dst, n, rows, forward, static_cast<T>(scale), block_limit);
  return out;
}

template <typename T>
py::array harness_r2c_impl(const py::array& x, double scale, std::size_t block_limit) {
  using C = std::complex<T>;
  auto in = require_rows<T>(x, "harness_r2c");
  const auto rows = static_cast<std::size_t>(in.shape(0)), n = static_cast<std::size_t>(in.shape(1));
  py::array_t<C> out({in.shape(0), static_cast<py::ssize_t>(n / 2 + 1)});
  const T* src = in.data();
  C* dst = out.mutable_data();
  py::gil_scoped_release release;
  audiorep::harness::r2c<T>(src, dst, n, rows, static_cast<T>(scale), block_limit);
  return out;
}

template <typename T>
py::array harness_c2r_impl(const py::array& x, std::size_t n, double scale, std::size_t block_limit) {
  using C = std::complex<T>;
  auto in = require_rows<C>(x, "harness_c2r");
  if (n < 1 || static_cast<std::size_t>(in.shape(1)) != n / 2 + 1)
    throw py::value_error("harness_c2r: input rows must hold n/2+1 bins with n >= 1");
  const auto rows = static_cast<std::size_t>(in.shape(0));
  py::array_t<T> out({in.shape(0), static_cast<py::ssize_t>(n)});
  const C* src = in.data();
  T* dst = out.mutable_data();
  py::gil_scoped_release release;
  audiorep::harness::c2r<T>(src, dst, n, rows, static_cast<T>(scale), block_limit);
  return out;
}

template <typename T>
py::tuple harness_autocorrelogram_impl(const py::array& x, const py::object& window, std::size_t frame_length,
                                       std::size_t hop, std::size_t n_frames, std::size_t max_lag, std::size_t nfft,
                                       bool normalize) {
  auto in = require_rows<T>(x, "harness_autocorrelogram");
  py::array keep;
  const T* w = window_ptr<T>(window, frame_length, keep);
  const auto rows = in.shape(0);
  py::array_t<T> values({rows, static_cast<py::ssize_t>(n_frames), static_cast<py::ssize_t>(max_lag)});
  py::array_t<T> energy({rows, static_cast<py::ssize_t>(n_frames)});
  const T* src = in.data();
  T* v = values.mutable_data();
  T* e = energy.mutable_data();
  const auto n = static_cast<std::size_t>(in.shape(1));
  {
    py::gil_scoped_release release;
    audiorep::harness::autocorrelogram<T>(src, n, static_cast<std::size_t>(rows), in.shape(1), w, frame_length, hop,
                                          n_frames, max_lag, nfft, normalize, v, e);
  }
  return py::make_tuple(values, energy);
}

#ifdef AUDIOREP_HAVE_CUDA
namespace cu = audiorep::cuda;

void* as_pointer(std::uintptr_t address) { return reinterpret_cast<void*>(address); }

// Host arrays through a device transform: copy `src` up, run `kernel(device_in,
// device_out)`, wait, copy the result down into `dst`. Called without the GIL.
template <typename In, typename Out, typename Kernel>
void device_round_trip(const In* src, std::size_t in_count, Out* dst, std::size_t out_count, int device,
                       Kernel&& kernel) {
  cu::Buffer a(in_count * sizeof(In), device), b(out_count * sizeof(Out), device);
  a.upload(src, in_count * sizeof(In));
  kernel(static_cast<const In*>(a.get()), static_cast<Out*>(b.get()));
  cu::synchronize(device, nullptr);
  b.download(dst, out_count * sizeof(Out));
}

template <typename T>
py::array cuda_c2c_host(const py::array& x, bool forward, double scale, int device) {
  using C = std::complex<T>;
  auto in = require_rows<C>(x, "cuda_c2c");
  py::array_t<C> out({in.shape(0), in.shape(1)});
  const auto rows = static_cast<std::size_t>(in.shape(0)), n = static_cast<std::size_t>(in.shape(1));
  const C* src = in.data();
  C* dst = out.mutable_data();
  py::gil_scoped_release release;
  device_round_trip(src, rows * n, dst, rows * n, device, [&](const C* a, C* b) {
    cu::c2c<T>(a, b, n, rows, forward, static_cast<T>(scale), device, nullptr);
  });
  return out;
}

template <typename T>
py::array cuda_r2c_host(const py::array& x, double scale, int device) {
  using C = std::complex<T>;
  auto in = require_rows<T>(x, "cuda_r2c");
  const auto rows = static_cast<std::size_t>(in.shape(0)), n = static_cast<std::size_t>(in.shape(1));
  const std::size_t h = n / 2 + 1;
  py::array_t<C> out({in.shape(0), static_cast<py::ssize_t>(h)});
  const T* src = in.data();
  C* dst = out.mutable_data();
  py::gil_scoped_release release;
  device_round_trip(src, rows * n, dst, rows * h, device, [&](const T* a, C* b) {
    cu::r2c<T>(a, b, n, rows, static_cast<T>(scale), device, nullptr);
  });
  return out;
}

template <typename T>
py::array cuda_c2r_host(const py::array& x, std::size_t n, double scale, int device) {
  using C = std::complex<T>;
  auto in = require_rows<C>(x, "cuda_c2r");
  const std::size_t h = n / 2 + 1;
  if (n < 1 || static_cast<std::size_t>(in.shape(1)) != h)
    throw py::value_error("cuda_c2r: input rows must hold n/2+1 bins with n >= 1");
  const auto rows = static_cast<std::size_t>(in.shape(0));
  py::array_t<T> out({in.shape(0), static_cast<py::ssize_t>(n)});
  const C* src = in.data();
  T* dst = out.mutable_data();
  py::gil_scoped_release release;
  device_round_trip(src, rows * h, dst, rows * n, device, [&](const C* a, T* b) {
    cu::c2r<T>(a, b, n, rows, static_cast<T>(scale), device, nullptr);
  });
  return out;
}

template <typename T>
py::tuple cuda_autocorrelogram_host(const py::array& x, const py::object& window, std::size_t frame_length,
                                    std::size_t hop, std::size_t n_frames, std::size_t max_lag, std::size_t nfft,
                                    bool normalize, int device) {
  auto in = require_rows<T>(x, "cuda_autocorrelogram");
  py::array keep;
  const T* w = window_ptr<T>(window, frame_length, keep);
  const auto rows = static_cast<std::size_t>(in.shape(0)), n = static_cast<std::size_t>(in.shape(1));
  py::array_t<T> values({in.shape(0), static_cast<py::ssize_t>(n_frames), static_cast<py::ssize_t>(max_lag)});
  py::array_t<T> energy({in.shape(0), static_cast<py::ssize_t>(n_frames)});
  const T* src = in.data();
  T* v = values.mutable_data();
  T* e = energy.mutable_data();
  py::gil_scoped_release release;
  cu::Buffer dx(rows * n * sizeof(T), device), dw(w ? frame_length * sizeof(T) : 0, device);
  cu::Buffer dv(rows * n_frames * max_lag * sizeof(T), device), de(rows * n_frames * sizeof(T), device);
  dx.upload(src, rows * n * sizeof(T));
  if (w) dw.upload(w, frame_length * sizeof(T));
  cu::autocorrelogram<T>(static_cast<const T*>(dx.get()), n, rows, static_cast<std::ptrdiff_t>(n),
                         w ? static_cast<const T*>(dw.get()) : nullptr, frame_length, hop, n_frames, max_lag, nfft,
                         normalize, static_cast<T*>(dv.get()), static_cast<T*>(de.get()), device, nullptr);
  cu::synchronize(device, nullptr);
  dv.download(v, rows * n_frames * max_lag * sizeof(T));
  de.download(e, rows * n_frames * sizeof(T));
  return py::make_tuple(values, energy);
}
#endif

void bind_cuda(py::module_& m) {
  m.def(
      "harness_c2c",
      [](const py::array& x, bool forward, double scale, std::size_t block_limit) -> py::array {
        if (py::isinstance<py::array_t<std::complex<float>>>(x))
          return harness_c2c_impl<float>(x, forward, scale, harness_limit(block_limit, false));
        return harness_c2c_impl<double>(x, forward, scale, harness_limit(block_limit, true));
      },
      py::arg("x"), py::arg("forward"), py::arg("scale") = 1.0, py::arg("block_limit") = 0,
      "The GPU c2c algorithm run on the CPU through the shared device functions (0: the GPU's block limit).");
  m.def(
      "harness_r2c",
      [](const py::array& x, double scale, std::size_t block_limit) -> py::array {
        if (py::isinstance<py::array_t<float>>(x))
          return harness_r2c_impl<float>(x, scale, harness_limit(block_limit, false));
        return harness_r2c_impl<double>(x, scale, harness_limit(block_limit, true));
      },
      py::arg("x"), py::arg("scale") = 1.0, py::arg("block_limit") = 0,
      "The GPU r2c algorithm run on the CPU through the shared device functions.");
  m.def(
      "harness_c2r",
      [](const py::array& x, std::size_t n, double scale, std::size_t block_limit) -> py::array {
        if (py::isinstance<py::array_t<std::complex<float>>>(x))
          return harness_c2r_impl<float>(x, n, scale, harness_limit(block_limit, false));
        return harness_c2r_impl<double>(x, n, scale, harness_limit(block_limit, true));
      },
      py::arg("x"), py::arg("n"), py::arg("scale") = 1.0, py::arg("block_limit") = 0,
      "The GPU c2r algorithm run on the CPU through the shared device functions.");
  m.def(
      "harness_autocorrelogram",
      [](const py::array& x, const py::object& window, std::size_t frame_length, std::size_t hop,
         std::size_t n_frames, std::size_t max_lag, std::size_t nfft, bool normalize) -> py::tuple {
        if (py::isinstance<py::array_t<float>>(x))
          return harness_autocorrelogram_impl<float>(x, window, frame_length, hop, n_frames, max_lag, nfft,
                                                     normalize);
        return harness_autocorrelogram_impl<double>(x, window, frame_length, hop, n_frames, max_lag, nfft,
                                                    normalize);
      },
      py::arg("x"), py::arg("window"), py::arg("frame_length"), py::arg("hop"), py::arg("n_frames"),
      py::arg("max_lag"), py::arg("nfft"), py::arg("normalize"),
      "The GPU autocorrelogram algorithm (one frame pair per block) run on the CPU: (values, energy).");
  m.def("cuda_device_count", &device_count, "CUDA devices usable by this build (0 without CUDA or a driver).");
#ifdef AUDIOREP_HAVE_CUDA
  m.def(
      "cuda_c2c_host",
      [](const py::array& x, bool forward, double scale, int device) -> py::array {
        if (py::isinstance<py::array_t<std::complex<float>>>(x)) return cuda_c2c_host<float>(x, forward, scale, device);
        return cuda_c2c_host<double>(x, forward, scale, device);
      },
      py::arg("x"), py::arg("forward"), py::arg("scale"), py::arg("device"));
  m.def(
      "cuda_r2c_host",
      [](const py::array& x, double scale, int device) -> py::array {
        if (py::isinstance<py::array_t<float>>(x)) return cuda_r2c_host<float>(x, scale, device);
        return cuda_r2c_host<double>(x, scale, device);
      },
      py::arg("x"), py::arg("scale"), py::arg("device"));
  m.def(
      "cuda_c2r_host",
      [](const py::array& x, std::size_t n, double scale, int device) -> py::array {
        if (py::isinstance<py::array_t<std::complex<float>>>(x)) return cuda_c2r_host<float>(x, n, scale, device);
        return cuda_c2r_host<double>(x, n, scale, device);
      },
      py::arg("x"), py::arg("n"), py::arg("scale"), py::arg("device"));
  m.def(
      "cuda_autocorrelogram_host",
      [](const py::array& x, const py::object& window, std::size_t frame_length, std::size_t hop,
         std::size_t n_frames, std::size_t max_lag, std::size_t nfft, bool normalize, int device) -> py::tuple {
        if (py::isinstance<py::array_t<float>>(x))
          return cuda_autocorrelogram_host<float>(x, window, frame_length, hop, n_frames, max_lag, nfft, normalize,
                                                  device);
        return cuda_autocorrelogram_host<double>(x, window, frame_length, hop, n_frames, max_lag, nfft, normalize,
                                                 device);
      },
      py::arg("x"), py::arg("window"), py::arg("frame_length"), py::arg("hop"), py::arg("n_frames"),
      py::arg("max_lag"), py::arg("nfft"), py::arg("normalize"), py::arg("device"));
  m.def(
      "cuda_c2c_ptr",
      [](std::uintptr_t in, std::uintptr_t out, std::size_t n, std::size_t rows, bool forward, double scale,
         bool double_precision, int device, std::uintptr_t stream) {
        py::gil_scoped_release release;
        if (double_precision)
          cu::c2c<double>(static_cast<const std::complex<double>*>(as_pointer(in)),
                          static_cast<std::complex<double>*>(as_pointer(out)), n, rows, forward, scale, device,
                          as_pointer(stream));
        else
          cu::c2c<float>(static_cast<const std::complex<float>*>(as_pointer(in)),
                         static_cast<std::complex<float>*>(as_pointer(out)), n, rows, forward,
                         static_cast<float>(scale), device, as_pointer(stream));
      },
      py::arg("x_ptr"), py::arg("out_ptr"), py::arg("n"), py::arg("rows"), py::arg("forward"), py::arg("scale"),
      py::arg("double_precision"), py::arg("device"), py::arg("stream"));
  m.def(
      "cuda_r2c_ptr",
      [](std::uintptr_t in, std::uintptr_t out, std::size_t n, std::size_t rows, double scale, bool double_precision,
         int device, std::uintptr_t stream) {
        py::gil_scoped_release release;
        if (double_precision)
          cu::r2c<double>(static_cast<const double*>(as_pointer(in)), static_cast<std::complex<double>*>(as_pointer(out)),
                          n, rows, scale, device, as_pointer(stream));
        else
          cu::r2c<float>(static_cast<const float*>(as_pointer(in)), static_cast<std::complex<float>*>(as_pointer(out)),
                         n, rows, static_cast<float>(scale), device, as_pointer(stream));
      },
      py::arg("x_ptr"), py::arg("out_ptr"), py::arg("n"), py::arg("rows"), py::arg("scale"),
      py::arg("double_precision"), py::arg("device"), py::arg("stream"));
  m.def(
      "cuda_c2r_ptr",
      [](std::uintptr_t in, std::uintptr_t out, std::size_t n, std::size_t rows, double scale, bool double_precision,
         int device, std::uintptr_t stream) {
        py::gil_scoped_release release;
        if (double_precision)
          cu::c2r<double>(static_cast<const std::complex<double>*>(as_pointer(in)), static_cast<double*>(as_pointer(out)),
                          n, rows, scale, device, as_pointer(stream));
        else
          cu::c2r<float>(static_cast<const std::complex<float>*>(as_pointer(in)), static_cast<float*>(as_pointer(out)),
                         n, rows, static_cast<float>(scale), device, as_pointer(stream));
      },
      py::arg("x_ptr"), py::arg("out_ptr"), py::arg("n"), py::arg("rows"), py::arg("scale"),
      py::arg("double_precision"), py::arg("device"), py::arg("stream"));
  m.def(
      "cuda_autocorrelogram_ptr",
      [](std::uintptr_t x, std::size_t n_samples, std::size_t rows, std::uintptr_t window, std::size_t frame_length,
         std::size_t hop, std::size_t n_frames, std::size_t max_lag, std::size_t nfft, bool normalize,
         std::uintptr_t values, std::uintptr_t energy, bool double_precision, int device, std::uintptr_t stream) {
        py::gil_scoped_release release;
        const auto dist = static_cast<std::ptrdiff_t>(n_samples);
        if (double_precision)
          cu::autocorrelogram<double>(static_cast<const double*>(as_pointer(x)), n_samples, rows, dist,
                                      static_cast<const double*>(as_pointer(window)), frame_length, hop, n_frames,
                                      max_lag, nfft, normalize, static_cast<double*>(as_pointer(values)),
                                      static_cast<double*>(as_pointer(energy)), device, as_pointer(stream));
        else
          cu::autocorrelogram<float>(static_cast<const float*>(as_pointer(x)), n_samples, rows, dist,
                                     static_cast<const float*>(as_pointer(window)), frame_length, hop, n_frames,
                                     max_lag, nfft, normalize, static_cast<float*>(as_pointer(values)),
                                     static_cast<float*>(as_pointer(energy)), device, as_pointer(stream));
      },
      py::arg("x_ptr"), py::arg("n_samples"), py::arg("rows"), py::arg("window_ptr"), py::arg("frame_length"),
      py::arg("hop"), py::arg("n_frames"), py::arg("max_lag"), py::arg("nfft"), py::arg("normalize"),
      py::arg("values_ptr"), py::arg("energy_ptr"), py::arg("double_precision"), py::arg("device"),
      py::arg("stream"));
#endif
}

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
  info["simd_paths"] = audiorep::fft::available_simd_paths();
  py::dict cuda;
#ifdef AUDIOREP_HAVE_CUDA
  cuda["built"] = true;
  cuda["architectures"] = audiorep::cuda::architectures();
  cuda["runtime_version"] = audiorep::cuda::runtime_version();
  cuda["driver_version"] = audiorep::cuda::driver_version();
#else
  cuda["built"] = false;
#endif
  cuda["device_count"] = device_count();
  info["cuda"] = cuda;
  return info;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "audiorep compiled kernels (private; use the audiorep package)";
  bind_fft(m);
  bind_autocorr(m);
  bind_obj(m);
  bind_cuda(m);
  m.def("build_info", &build_info, "What this build of the core was compiled with.");
}
