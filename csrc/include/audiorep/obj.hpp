// Wavefront OBJ height-field writer and reader.
//
// The writer turns a rows x cols grid z(i, j) over the axes x(i) and y(j) into
// one vertex per grid point (row-major), one texture coordinate per vertex,
// optional per-vertex normals and one quad per grid cell. The reader parses the
// usual OBJ subset (v, vt, vn, f, g) into flat arrays.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace audiorep {
namespace obj {

struct HeightFieldOptions {
  int precision = 6;        // digits after the decimal point
  bool normals = false;     // write vn lines and a/a/a face corners
  bool flip = false;        // reverse the winding (the axes run in opposite directions)
  double scale[3] = {1.0, 1.0, 1.0};
};

// Writes the mesh of the grid z, whose element (i, j) is z[i * row_stride + j * col_stride]
// (strides in elements), with x of length rows and y of length cols, to `path` (created or
// truncated), streaming the text through a few reusable buffers; blocks of rows are formatted
// on up to `nthreads` threads.
// Throws std::invalid_argument on rows or cols < 1, a precision outside [0, 17] or nthreads < 1.
// Returns 0 on success or the errno value of the failed open/write/close.
template <typename T>
int write_heightfield(const char* path, const double* x, const double* y, const T* z, std::size_t rows,
                      std::size_t cols, std::ptrdiff_t row_stride, std::ptrdiff_t col_stride,
                      const HeightFieldOptions& options, int nthreads);

// Leaves new elements of arithmetic type uninitialised, so that arrays which the parser
// fills completely are written once, not zeroed first.
template <typename T>
struct NoInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = NoInitAllocator<U>;
  };
  NoInitAllocator() noexcept = default;
  template <typename U>
  NoInitAllocator(const NoInitAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

template <typename T>
using Vector = std::vector<T, NoInitAllocator<T>>;

// A parsed mesh. Index arrays are 0-based; each face has 4 slots with -1 in the
// fourth for triangles, and -1 wherever a texture coordinate or normal is absent.
struct Mesh {
  Vector<double> vertices;   // 3 per vertex (x y z; w and colours are dropped)
  Vector<double> texcoords;  // 2 per texture coordinate (u v; w is dropped)
  Vector<double> normals;    // 3 per normal
  Vector<std::int64_t> faces;
  Vector<std::int64_t> face_texcoords;
  Vector<std::int64_t> face_normals;
  std::vector<std::string> group_names;               // groups that hold at least one face
  std::vector<std::vector<std::int64_t>> group_faces;  // face indices, one list per name
};

struct ParseResult {
  Mesh mesh;
  bool ok = true;
  std::size_t error_line = 0;  // 1-based line of the first error
  std::string error;           // what is wrong on that line
};

// Parses OBJ text, on up to `nthreads` threads for large texts. Never throws on malformed
// text: the first error is reported in the result. Polygons with more than four corners are
// split into a fan of triangles. Throws std::invalid_argument on nthreads < 1.
ParseResult parse(const char* text, std::size_t size, int nthreads);

}  // namespace obj
}  // namespace audiorep
