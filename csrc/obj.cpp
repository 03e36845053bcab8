// Wavefront OBJ height-field writer and reader (see obj.hpp).
#include "audiorep/obj.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

#include "audiorep/parallel.hpp"

namespace audiorep {
namespace obj {
namespace {

// Big enough for any double in fixed notation (309 integer digits) with 17 decimals.
constexpr std::size_t kNumberBuffer = 352;
// Room for the longest line: three numbers, or a face of four corners with three indices.
constexpr std::size_t kLineBuffer = 3 * kNumberBuffer + 16;

constexpr std::uint64_t kPow10[18] = {1ULL,
                                      10ULL,
                                      100ULL,
                                      1000ULL,
                                      10000ULL,
                                      100000ULL,
                                      1000000ULL,
                                      10000000ULL,
                                      100000000ULL,
                                      1000000000ULL,
                                      10000000000ULL,
                                      100000000000ULL,
                                      1000000000000ULL,
                                      10000000000000ULL,
                                      100000000000000ULL,
                                      1000000000000000ULL,
                                      10000000000000000ULL,
                                      100000000000000000ULL};

// Writes `value` in fixed notation with `precision` decimals, correctly rounded (as printf
// and Python do), at p; returns the new end (at most kNumberBuffer characters later).
// Most values of a mesh are small: scale by 10^precision (exact in double) and round the
// product. Rounding is monotonic and half-integers below 2^52 are doubles, so the rounded
// product lies on the same side of every half-integer as the exact one unless it lands on
// one; those ties, and large values, go to std::to_chars.
inline char* put_fixed(char* p, double value, int precision) {
  const double scaled = std::fabs(value) * static_cast<double>(kPow10[precision]);
  if (scaled < 0x1p52) {
    const double whole = std::floor(scaled);
    const double frac = scaled - whole;  // exact
    if (frac != 0.5) {
      const auto n = static_cast<std::uint64_t>(frac > 0.5 ? whole + 1.0 : whole);
      const std::uint64_t unit = kPow10[precision];
      if (std::signbit(value)) *p++ = '-';
      p = std::to_chars(p, p + 24, n / unit).ptr;
      if (precision > 0) {
        *p++ = '.';
        std::uint64_t rest = n % unit;
        for (int k = precision - 1; k >= 0; --k) {
          p[k] = static_cast<char>('0' + rest % 10);
          rest /= 10;
        }
        p += precision;
      }
      return p;
    }
  }
  return std::to_chars(p, p + kNumberBuffer, value, std::chars_format::fixed, precision).ptr;
}

inline char* put_index(char* p, std::size_t value) { return std::to_chars(p, p + 24, value).ptr; }

// Growable text written through raw pointers: ask for room, write, commit the new end.
// Unlike std::string it neither zero-fills nor checks every character.
class TextBuffer {
 public:
  explicit TextBuffer(std::size_t capacity = 0) : data_(new char[capacity]), capacity_(capacity) {}

  char* room(std::size_t n) {
    if (size_ + n > capacity_) grow(std::max(2 * capacity_, size_ + n));
    return data_.get() + size_;
  }
  void commit(const char* end) { size_ = static_cast<std::size_t>(end - data_.get()); }
  void clear() { size_ = 0; }
  const char* data() const { return data_.get(); }
  std::size_t size() const { return size_; }

 private:
  void grow(std::size_t capacity) {
    std::unique_ptr<char[]> bigger(new char[capacity]);
    if (size_ > 0) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = capacity;
  }

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0, capacity_ = 0;
};

// Values formatted once, each in a slot of `width` bytes (a multiple of 8), so that copying
// one into a line is a few word moves instead of a memcpy call. A copy writes the whole
// slot; the caller's room must allow for that.
class NumberTable {
 public:
  NumberTable(const std::vector<double>& values, int precision) : lengths_(values.size()) {
    std::vector<std::string> texts(values.size());
    char buf[kNumberBuffer];
    for (std::size_t i = 0; i < values.size(); ++i) {
      texts[i].assign(buf, put_fixed(buf, values[i], precision));
      longest_ = std::max(longest_, texts[i].size());
    }
    width_ = (longest_ + 7) / 8 * 8;
    slots_.assign(values.size() * width_, ' ');
    for (std::size_t i = 0; i < values.size(); ++i) {
      std::memcpy(&slots_[i * width_], texts[i].data(), texts[i].size());
      lengths_[i] = texts[i].size();
    }
  }

  char* put(char* p, std::size_t i) const {
    const char* slot = slots_.data() + i * width_;
    for (std::size_t k = 0; k < width_; k += 8) std::memcpy(p + k, slot + k, 8);
    return p + lengths_[i];
  }
  std::size_t longest() const { return longest_; }

 private:
  std::vector<char> slots_;
  std::vector<std::size_t> lengths_;
  std::size_t width_ = 0, longest_ = 0;
};

// Weights of numpy.gradient (second order inside, first order at the edges) so that
// normals agree with a numpy reference: dz/dx(i) = wm*z(i-1) + w0*z(i) + wp*z(i+1).
struct GradientWeights {
  std::vector<double> wm, w0, wp;
  explicit GradientWeights(const std::vector<double>& x) : wm(x.size()), w0(x.size()), wp(x.size()) {
    const std::size_t n = x.size();
    if (n < 2) return;  // one sample: no slope along this axis
    w0[0] = -1.0 / (x[1] - x[0]);
    wp[0] = 1.0 / (x[1] - x[0]);
    wm[n - 1] = -1.0 / (x[n - 1] - x[n - 2]);
    w0[n - 1] = 1.0 / (x[n - 1] - x[n - 2]);
    for (std::size_t i = 1; i + 1 < n; ++i) {
      const double d1 = x[i] - x[i - 1], d2 = x[i + 1] - x[i];
      wm[i] = -d2 / (d1 * (d1 + d2));
      w0[i] = (d2 - d1) / (d1 * d2);
      wp[i] = d1 / (d2 * (d1 + d2));
    }
  }
};

std::vector<double> scaled(const double* values, std::size_t n, double factor) {
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = values[i] * factor;
  return out;
}

std::vector<double> unit_steps(std::size_t n) {
  std::vector<double> out(n, 0.0);
  for (std::size_t i = 0; n > 1 && i < n; ++i) out[i] = static_cast<double>(i) / static_cast<double>(n - 1);
  return out;
}

// The file in sections (v, vt, vn, f lines), each formatted for any range of grid rows
// independently of the others, so that threads can share the work.
template <typename T>
class HeightFieldText {
 public:
  enum Section { kVertices, kTexcoords, kNormals, kFaces };

  HeightFieldText(const double* x, const double* y, const T* z, std::size_t rows, std::size_t cols,
                  std::ptrdiff_t row_stride, std::ptrdiff_t col_stride, const HeightFieldOptions& options)
      : z_(z),
        rows_(rows),
        cols_(cols),
        row_stride_(row_stride),
        col_stride_(col_stride),
        options_(check(options, rows, cols)),
        xs_(scaled(x, rows, options.scale[0])),
        ys_(scaled(y, cols, options.scale[1])),
        x_text_(xs_, options.precision),
        y_text_(ys_, options.precision),
        u_text_(unit_steps(rows), options.precision),
        v_text_(unit_steps(cols), options.precision),
        gx_(xs_),
        gy_(ys_) {
    for (std::size_t k = rows * cols; k >= 10; k /= 10) ++index_digits_;
  }

  std::size_t rows() const { return rows_; }

  std::vector<Section> sections() const {
    if (options_.normals) return {kVertices, kTexcoords, kNormals, kFaces};
    return {kVertices, kTexcoords, kFaces};
  }

  std::string header() const {
    return "# audiorep height-field rows=" + std::to_string(rows_) + " cols=" + std::to_string(cols_) + "\n";
  }

  // A first guess of the text of one grid row in a section (heights and normals mostly
  // have one integer digit); buffers grow when it is short.
  std::size_t row_bytes(Section section) const {
    const std::size_t number = static_cast<std::size_t>(options_.precision) + 4;
    switch (section) {
      case kVertices:
        return cols_ * (5 + x_text_.longest() + y_text_.longest() + number);
      case kTexcoords:
        return cols_ * (5 + u_text_.longest() + v_text_.longest());
      case kNormals:
        return cols_ * (6 + 3 * number);
      case kFaces:
        return cols_ * (3 + 4 * (2 + (options_.normals ? 3 : 2) * index_digits_));
    }
    return 0;
  }

  // Appends the lines of grid rows [r0, r1) in `section` to out. Faces are those of the
  // cells whose lower row is in the range.
  void format(Section section, std::size_t r0, std::size_t r1, TextBuffer& out) const {
    switch (section) {
      case kVertices:
        return vertices(r0, r1, out);
      case kTexcoords:
        return texcoords(r0, r1, out);
      case kNormals:
        return normals(r0, r1, out);
      case kFaces:
        return faces(r0, std::min(r1, rows_ - 1), out);
    }
  }

 private:
  const T* z_;
  std::size_t rows_, cols_;
  std::ptrdiff_t row_stride_, col_stride_;
  HeightFieldOptions options_;
  std::vector<double> xs_, ys_;
  NumberTable x_text_, y_text_, u_text_, v_text_;
  GradientWeights gx_, gy_;
  std::size_t index_digits_ = 1;

  static const HeightFieldOptions& check(const HeightFieldOptions& options, std::size_t rows, std::size_t cols) {
    if (rows < 1 || cols < 1) throw std::invalid_argument("write_heightfield: the grid must not be empty");
    if (options.precision < 0 || options.precision > 17)
      throw std::invalid_argument("write_heightfield: precision must be in [0, 17]");
    return options;
  }

  double zat(std::size_t i, std::size_t j) const {
    const auto at = static_cast<std::ptrdiff_t>(i) * row_stride_ + static_cast<std::ptrdiff_t>(j) * col_stride_;
    return static_cast<double>(z_[at]) * options_.scale[2];
  }

  void vertices(std::size_t r0, std::size_t r1, TextBuffer& out) const {
    for (std::size_t i = r0; i < r1; ++i) {
      for (std::size_t j = 0; j < cols_; ++j) {
        char* p = out.room(kLineBuffer);
        *p++ = 'v';
        *p++ = ' ';
        p = x_text_.put(p, i);
        *p++ = ' ';
        p = y_text_.put(p, j);
        *p++ = ' ';
        p = put_fixed(p, zat(i, j), options_.precision);
        *p++ = '\n';
        out.commit(p);
      }
    }
  }

  void texcoords(std::size_t r0, std::size_t r1, TextBuffer& out) const {
    for (std::size_t i = r0; i < r1; ++i) {
      for (std::size_t j = 0; j < cols_; ++j) {
        char* p = out.room(kLineBuffer);
        *p++ = 'v';
        *p++ = 't';
        *p++ = ' ';
        p = u_text_.put(p, i);
        *p++ = ' ';
        p = v_text_.put(p, j);
        *p++ = '\n';
        out.commit(p);
      }
    }
  }

  void normals(std::size_t r0, std::size_t r1, TextBuffer& out) const {
    for (std::size_t i = r0; i < r1; ++i) {
      for (std::size_t j = 0; j < cols_; ++j) {
        double dx = 0.0, dy = 0.0;
        if (rows_ > 1) {
          dx = gx_.w0[i] * zat(i, j);
          if (i > 0) dx += gx_.wm[i] * zat(i - 1, j);
          if (i + 1 < rows_) dx += gx_.wp[i] * zat(i + 1, j);
        }
        if (cols_ > 1) {
          dy = gy_.w0[j] * zat(i, j);
          if (j > 0) dy += gy_.wm[j] * zat(i, j - 1);
          if (j + 1 < cols_) dy += gy_.wp[j] * zat(i, j + 1);
        }
        // hypot: slopes of huge grids must not overflow when squared.
        const double len = std::hypot(dx, dy, 1.0);
        double normal[3] = {-dx / len, -dy / len, 1.0 / len};
        if (!(std::isfinite(len) && std::isfinite(normal[0]) && std::isfinite(normal[1]))) {
          // Repeated axis values or overflowing differences leave the slope undefined.
          normal[0] = normal[1] = 0.0;
          normal[2] = 1.0;
        }
        char* p = out.room(kLineBuffer);
        *p++ = 'v';
        *p++ = 'n';
        for (double c : normal) {
          *p++ = ' ';
          p = put_fixed(p, c, options_.precision);
        }
        *p++ = '\n';
        out.commit(p);
      }
    }
  }

  // Quads counter-clockwise seen from +z when x and y both increase:
  // (i, j) -> (i+1, j) -> (i+1, j+1) -> (i, j+1).
  void faces(std::size_t c0, std::size_t c1, TextBuffer& out) const {
    const int copies = options_.normals ? 2 : 1;
    for (std::size_t i = c0; i < c1; ++i) {
      for (std::size_t j = 0; j + 1 < cols_; ++j) {
        std::size_t corner[4] = {i * cols_ + j + 1, (i + 1) * cols_ + j + 1, (i + 1) * cols_ + j + 2,
                                 i * cols_ + j + 2};
        if (options_.flip) std::swap(corner[1], corner[3]);
        char* p = out.room(kLineBuffer);
        *p++ = 'f';
        for (std::size_t c : corner) {
          *p++ = ' ';
          char* first = p;
          p = put_index(p, c);
          const auto len = static_cast<std::size_t>(p - first);
          // The texture coordinate (and normal) of a vertex has the vertex's own index.
          for (int k = 0; k < copies; ++k) {
            *p++ = '/';
            std::memcpy(p, first, len);
            p += len;
          }
        }
        *p++ = '\n';
        out.commit(p);
      }
    }
  }
};

}  // namespace

template <typename T>
int write_heightfield(const char* path, const double* x, const double* y, const T* z, std::size_t rows,
                      std::size_t cols, std::ptrdiff_t row_stride, std::ptrdiff_t col_stride,
                      const HeightFieldOptions& options, int nthreads) {
  if (nthreads < 1) throw std::invalid_argument("write_heightfield: nthreads must be at least 1");
  const HeightFieldText<T> text(x, y, z, rows, cols, row_stride, col_stride, options);
  errno = 0;
  std::FILE* file = std::fopen(path, "wb");
  if (!file) return errno ? errno : EIO;
  int err = 0;
  auto write = [&](const char* data, std::size_t size) {
    if (err == 0 && std::fwrite(data, 1, size, file) != size) err = errno ? errno : EIO;
  };
  const std::string header = text.header();
  write(header.data(), header.size());
  // The text streams out in rounds of one block per thread, about 1 MiB each, through buffers
  // that are reused: the whole file never sits in memory, and fresh memory is slow to touch.
  constexpr std::size_t kBlockBytes = std::size_t{1} << 20;
  const auto workers = static_cast<std::size_t>(nthreads);
  std::vector<TextBuffer> buffers(workers);
  for (auto section : text.sections()) {
    if (section == HeightFieldText<T>::kFaces) write("g mesh\n", 7);
    const std::size_t row_bytes = std::max<std::size_t>(1, text.row_bytes(section));
    const std::size_t rows_per_block = std::max<std::size_t>(1, kBlockBytes / row_bytes);
    for (std::size_t r = 0; r < rows && err == 0; r += rows_per_block * workers) {
      const std::size_t nb = std::min(workers, (rows - r + rows_per_block - 1) / rows_per_block);
      parallel_for(nb, nthreads, [&](std::size_t b0, std::size_t b1) {
        for (std::size_t b = b0; b < b1; ++b) {
          const std::size_t r0 = r + b * rows_per_block, r1 = std::min(rows, r0 + rows_per_block);
          buffers[b].clear();
          text.format(section, r0, r1, buffers[b]);
        }
      });
      for (std::size_t b = 0; b < nb; ++b) write(buffers[b].data(), buffers[b].size());
    }
  }
  if (std::fclose(file) != 0 && err == 0) err = errno ? errno : EIO;
  return err;
}

template int write_heightfield<float>(const char*, const double*, const double*, const float*, std::size_t,
                                      std::size_t, std::ptrdiff_t, std::ptrdiff_t, const HeightFieldOptions&, int);
template int write_heightfield<double>(const char*, const double*, const double*, const double*, std::size_t,
                                       std::size_t, std::ptrdiff_t, std::ptrdiff_t, const HeightFieldOptions&, int);

// ---------------------------------------------------------------- reader

namespace {

struct LineError {
  std::string what;
};

// Byte classes for the scanner: statements end at a newline or a comment.
enum : unsigned char { kOther = 0, kBlank = 1, kStop = 2 };

struct ByteClasses {
  unsigned char of[256] = {};
  ByteClasses() {
    for (unsigned char c : {' ', '\t', '\r', '\v', '\f'}) of[c] = kBlank;
    of[static_cast<unsigned char>('\n')] = kStop;
    of[static_cast<unsigned char>('#')] = kStop;
  }
};
const ByteClasses kClasses;

inline unsigned char byte_class(char c) { return kClasses.of[static_cast<unsigned char>(c)]; }

// A token as it may be shown in a message: printable ASCII kept, other bytes escaped,
// long tokens cut, so that any input gives a valid (UTF-8) message.
std::string quote(std::string_view token) {
  constexpr std::size_t kMax = 40;
  std::string out = "'";
  const std::size_t n = std::min(token.size(), kMax);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(token[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      static const char hex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  if (token.size() > kMax) out += "...";
  out += "'";
  return out;
}

// Reads the text in one pass: tokens of the current statement, then on to the next line.
class Scanner {
 public:
  Scanner(const char* begin, const char* end) : p_(begin), end_(end) {}

  bool at_end_of_text() const { return p_ >= end_; }

  // Skips blanks; true when the statement is over (newline, comment or end of text).
  bool done() {
    while (p_ < end_ && byte_class(*p_) == kBlank) ++p_;
    return p_ == end_ || byte_class(*p_) == kStop;
  }

  std::string_view token() {
    done();
    const char* s = p_;
    while (p_ < end_ && byte_class(*p_) == kOther) ++p_;
    return {s, static_cast<std::size_t>(p_ - s)};
  }

  // The next token as a finite number; the caller has checked that there is one.
  double number(const char* keyword) {
    const char* s = p_;
    // from_chars takes no leading '+', which some exporters write.
    if (*s == '+' && s + 1 < end_ && s[1] != '-' && s[1] != '+') ++s;
    double value = 0.0;
    const auto r = std::from_chars(s, end_, value);
    if (r.ec != std::errc() || (r.ptr < end_ && byte_class(*r.ptr) == kOther) || !std::isfinite(value))
      throw LineError{"bad number " + quote(token()) + " in a '" + keyword + "' statement"};
    p_ = r.ptr;
    return value;
  }

  void next_line() {
    const auto* nl = static_cast<const char*>(std::memchr(p_, '\n', static_cast<std::size_t>(end_ - p_)));
    p_ = nl ? nl + 1 : end_;
  }

 private:
  const char* p_;
  const char* end_;
};

struct Corner {
  std::int64_t v, vt, vn;
};

std::int64_t resolve(std::int64_t k, std::size_t count, const char* what) {
  if (k > 0 && static_cast<std::uint64_t>(k) <= count) return k - 1;
  // Compared as k >= -count so that k = INT64_MIN is never negated.
  if (k < 0 && k >= -static_cast<std::int64_t>(count)) return static_cast<std::int64_t>(count) + k;
  if (k == 0) throw LineError{std::string(what) + " index 0 is not valid (indices start at 1)"};
  throw LineError{std::string(what) + " index " + std::to_string(k) + " is out of range (" + std::to_string(count) +
                  " defined so far)"};
}

// Parses one corner `v`, `v/t`, `v//n` or `v/t/n`; a missing part is -1.
Corner parse_corner(std::string_view t, std::size_t nv, std::size_t nvt, std::size_t nvn) {
  const char* p = t.data();
  const char* e = p + t.size();
  auto bad = [&]() { return LineError{"bad face corner " + quote(t)}; };
  auto read_int = [&](std::int64_t& out) {
    const auto r = std::from_chars(p, e, out);
    if (r.ec != std::errc()) throw bad();
    p = r.ptr;
  };
  Corner c{-1, -1, -1};
  std::int64_t k = 0;
  read_int(k);
  c.v = resolve(k, nv, "vertex");
  if (p < e) {
    if (*p != '/') throw bad();
    ++p;
    if (p < e && *p != '/') {
      read_int(k);
      c.vt = resolve(k, nvt, "texture coordinate");
    }
    if (p < e) {
      if (*p != '/') throw bad();
      ++p;
      if (p < e) {
        read_int(k);
        c.vn = resolve(k, nvn, "normal");
      }
    }
    if (p != e) throw bad();
  }
  return c;
}

// Statements that start a line, counted ahead of parsing: they give each chunk the number
// of elements before it (for index checks) and its slice of the final arrays, so that
// chunks write their results in place. For text that parses, these are exactly the
// statements the parser accepts: both split lines alike and both see a statement where the
// keyword is followed by a blank (a keyword followed by nothing is an error).
struct Counts {
  std::size_t lines = 0, v = 0, vt = 0, vn = 0, f = 0;
};

Counts count_statements(const char* p, const char* end) {
  Counts c;
  while (p < end) {
    ++c.lines;
    while (p < end && byte_class(*p) == kBlank) ++p;
    if (end - p >= 2) {
      if (p[0] == 'v') {
        if (byte_class(p[1]) == kBlank) {
          ++c.v;
        } else if (end - p >= 3 && byte_class(p[2]) == kBlank) {
          c.vt += p[1] == 't';
          c.vn += p[1] == 'n';
        }
      } else if (p[0] == 'f' && byte_class(p[1]) == kBlank) {
        ++c.f;
      }
    }
    const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    p = nl ? nl + 1 : end;
  }
  return c;
}

// A chunk's slice of the final arrays. Faces get one slot per 'f' line; polygons split
// into several triangles overflow into the chunk's own arrays.
struct Slots {
  double* v = nullptr;
  double* vt = nullptr;
  double* vn = nullptr;
  std::int64_t* f = nullptr;
  std::int64_t* ft = nullptr;
  std::int64_t* fn = nullptr;
};

// Parses one chunk of the text. Indices are resolved against the counts of all earlier
// chunks plus what this chunk has read so far, so they come out global.
class ChunkParser {
 public:
  // Faces from first_face on (up to the next run) belong to these chunk-local groups; groups
  // change rarely, so runs cost far less than a group entry per face. A run that inherits
  // continues the groups in force at the end of the previous chunk.
  struct Run {
    std::int64_t first_face;
    std::vector<std::size_t> groups;
    bool inherits;
  };

  std::vector<std::string> names;
  std::vector<Run> runs;
  std::size_t nv = 0, nvt = 0, nvn = 0, nf = 0;  // parsed by this chunk
  Vector<std::int64_t> extra_f, extra_ft, extra_fn;

  ChunkParser(const Counts& base, const Counts& capacity, const Slots& slots)
      : base_(base), cap_(capacity), slots_(slots) {}

  void statement(Scanner& s) {
    const std::string_view kw = s.token();
    if (kw.empty()) return;
    if (kw == "v") {
      vertex(s);
    } else if (kw == "vt") {
      texcoord(s);
    } else if (kw == "vn") {
      normal(s);
    } else if (kw == "f") {
      face(s);
    } else if (kw == "g") {
      group(s);
    }
    // Everything else (o, s, usemtl, mtllib, l, p, curves ...) carries nothing we keep.
  }

 private:
  Counts base_, cap_;
  Slots slots_;
  std::vector<Corner> corners_;
  std::unordered_map<std::string, std::size_t> ids_;

  static void check_room(std::size_t used, std::size_t capacity) {
    if (used >= capacity) throw std::logic_error("OBJ parser: more statements than counted");
  }

  void vertex(Scanner& s) {
    double xyz[3];
    for (int k = 0; k < 3; ++k) {
      if (s.done()) throw LineError{"'v' needs 3 coordinates, found " + std::to_string(k)};
      xyz[k] = s.number("v");
    }
    // An optional w or an r g b colour follows; it must still be numbers.
    while (!s.done()) s.number("v");
    check_room(nv, cap_.v);
    std::memcpy(slots_.v + 3 * nv++, xyz, sizeof xyz);
  }

  void texcoord(Scanner& s) {
    if (s.done()) throw LineError{"'vt' needs at least 1 coordinate, found 0"};
    double uv[2] = {s.number("vt"), 0.0};
    if (!s.done()) uv[1] = s.number("vt");
    while (!s.done()) s.number("vt");
    check_room(nvt, cap_.vt);
    std::memcpy(slots_.vt + 2 * nvt++, uv, sizeof uv);
  }

  void normal(Scanner& s) {
    double n[3];
    for (int k = 0; k < 3; ++k) {
      if (s.done()) throw LineError{"'vn' needs 3 components, found " + std::to_string(k)};
      n[k] = s.number("vn");
    }
    if (!s.done()) throw LineError{"'vn' has more than 3 components"};
    check_room(nvn, cap_.vn);
    std::memcpy(slots_.vn + 3 * nvn++, n, sizeof n);
  }

  void group(Scanner& s) {
    std::vector<std::size_t> groups;
    while (!s.done()) {
      const std::size_t g = group_id(std::string(s.token()));
      if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
    }
    if (groups.empty()) groups.push_back(group_id("default"));
    start_run(std::move(groups), false);
  }

  std::size_t group_id(const std::string& name) {
    auto it = ids_.find(name);
    if (it != ids_.end()) return it->second;
    ids_.emplace(name, names.size());
    names.push_back(name);
    return names.size() - 1;
  }

  void start_run(std::vector<std::size_t> groups, bool inherits) {
    const auto first = static_cast<std::int64_t>(nf);
    if (!runs.empty() && runs.back().first_face == first) runs.pop_back();
    runs.push_back(Run{first, std::move(groups), inherits});
  }

  void face(Scanner& s) {
    corners_.clear();
    while (!s.done()) corners_.push_back(parse_corner(s.token(), base_.v + nv, base_.vt + nvt, base_.vn + nvn));
    if (corners_.size() < 3)
      throw LineError{"a face needs at least 3 vertices, found " + std::to_string(corners_.size())};
    if (runs.empty()) start_run({}, true);
    if (corners_.size() <= 4) {
      emit(corners_[0], corners_[1], corners_[2], corners_.size() == 4 ? &corners_[3] : nullptr);
    } else {
      for (std::size_t k = 1; k + 1 < corners_.size(); ++k) emit(corners_[0], corners_[k], corners_[k + 1], nullptr);
    }
  }

  void emit(const Corner& a, const Corner& b, const Corner& c, const Corner* d) {
    const Corner none{-1, -1, -1};
    const Corner& dd = d ? *d : none;
    const std::int64_t f[4] = {a.v, b.v, c.v, dd.v};
    const std::int64_t ft[4] = {a.vt, b.vt, c.vt, dd.vt};
    const std::int64_t fn[4] = {a.vn, b.vn, c.vn, dd.vn};
    if (nf < cap_.f) {
      std::memcpy(slots_.f + 4 * nf, f, sizeof f);
      std::memcpy(slots_.ft + 4 * nf, ft, sizeof ft);
      std::memcpy(slots_.fn + 4 * nf, fn, sizeof fn);
    } else {
      extra_f.insert(extra_f.end(), f, f + 4);
      extra_ft.insert(extra_ft.end(), ft, ft + 4);
      extra_fn.insert(extra_fn.end(), fn, fn + 4);
    }
    ++nf;
  }
};

struct Chunk {
  const char* begin = nullptr;
  const char* end = nullptr;
  Counts counts, base;
  std::unique_ptr<ChunkParser> parser;
  bool ok = true;
  std::size_t error_line = 0;  // within the chunk
  std::string error;
};

void parse_chunk(Chunk& chunk, const Slots& slots) {
  chunk.parser = std::make_unique<ChunkParser>(chunk.base, chunk.counts, slots);
  Scanner scanner(chunk.begin, chunk.end);
  std::size_t line = 0;
  try {
    while (!scanner.at_end_of_text()) {
      ++line;
      chunk.parser->statement(scanner);
      scanner.next_line();
    }
  } catch (const LineError& e) {
    chunk.ok = false;
    chunk.error_line = line;
    chunk.error = e.what;
  }
}

// Polygons split into fans gave some chunks more faces than slots: lay the faces out again.
void gather_faces(std::vector<Chunk>& chunks, Vector<std::int64_t>& out, Vector<std::int64_t> ChunkParser::*extra) {
  std::size_t total = 0;
  for (const auto& c : chunks) total += c.parser->nf;
  Vector<std::int64_t> all;
  all.reserve(4 * total);
  for (const auto& c : chunks) {
    const std::size_t in_slots = std::min(c.parser->nf, c.counts.f);
    const auto* first = out.data() + 4 * c.base.f;
    all.insert(all.end(), first, first + 4 * in_slots);
    const auto& more = (*c.parser).*extra;
    all.insert(all.end(), more.begin(), more.end());
  }
  out = std::move(all);
}

// Joins the chunks' groups by name, in order of first appearance, as face-index lists.
void merge_groups(const std::vector<Chunk>& chunks, Mesh& mesh) {
  struct Segment {
    std::int64_t first, last;
    std::vector<std::size_t> groups;
  };
  std::vector<std::string> names;
  std::unordered_map<std::string, std::size_t> ids;
  auto id_of = [&](const std::string& name) {
    auto it = ids.find(name);
    if (it != ids.end()) return it->second;
    ids.emplace(name, names.size());
    names.push_back(name);
    return names.size() - 1;
  };
  std::vector<Segment> segments;
  std::vector<std::size_t> current;  // groups in force at the end of the previous chunk
  std::int64_t face_base = 0;
  for (const auto& chunk : chunks) {
    const ChunkParser& p = *chunk.parser;
    const auto nfaces = static_cast<std::int64_t>(p.nf);
    for (std::size_t r = 0; r < p.runs.size(); ++r) {
      const auto& run = p.runs[r];
      if (run.inherits) {
        // Faces before any 'g' statement are in the group "default" (OBJ specification).
        if (current.empty()) current.push_back(id_of("default"));
      } else {
        current.clear();
        for (std::size_t g : run.groups) current.push_back(id_of(p.names[g]));
      }
      const std::int64_t last = r + 1 < p.runs.size() ? p.runs[r + 1].first_face : nfaces;
      segments.push_back(Segment{face_base + run.first_face, face_base + last, current});
    }
    face_base += nfaces;
  }
  std::vector<std::size_t> sizes(names.size());
  for (const auto& seg : segments)
    for (std::size_t g : seg.groups) sizes[g] += static_cast<std::size_t>(seg.last - seg.first);
  std::vector<std::vector<std::int64_t>> lists(names.size());
  for (std::size_t g = 0; g < names.size(); ++g) lists[g].reserve(sizes[g]);
  for (const auto& seg : segments)
    for (std::size_t g : seg.groups)
      for (std::int64_t f = seg.first; f < seg.last; ++f) lists[g].push_back(f);
  for (std::size_t g = 0; g < names.size(); ++g) {
    if (lists[g].empty()) continue;
    mesh.group_names.push_back(std::move(names[g]));
    mesh.group_faces.push_back(std::move(lists[g]));
  }
}

}  // namespace

ParseResult parse(const char* text, std::size_t size, int nthreads) {
  if (nthreads < 1) throw std::invalid_argument("parse: nthreads must be at least 1");
  // Chunks of at least 1 MiB, cut after a newline so that every line lies in one chunk.
  constexpr std::size_t kMinChunk = std::size_t{1} << 20;
  const std::size_t nchunks = std::max<std::size_t>(1, std::min<std::size_t>(nthreads, size / kMinChunk));
  const char* const end = text + size;
  std::vector<Chunk> chunks(nchunks);
  const char* begin = text;
  for (std::size_t k = 0; k < nchunks; ++k) {
    const char* stop = end;
    if (k + 1 < nchunks) {
      stop = std::max(begin, text + size * (k + 1) / nchunks);
      const auto* nl = static_cast<const char*>(std::memchr(stop, '\n', static_cast<std::size_t>(end - stop)));
      stop = nl ? nl + 1 : end;
    }
    chunks[k].begin = begin;
    chunks[k].end = stop;
    begin = stop;
  }
  const int workers = static_cast<int>(std::min<std::size_t>(nchunks, static_cast<std::size_t>(nthreads)));
  parallel_for(nchunks, workers, [&](std::size_t b, std::size_t e) {
    for (std::size_t k = b; k < e; ++k) chunks[k].counts = count_statements(chunks[k].begin, chunks[k].end);
  });
  Counts total = chunks[0].counts;
  for (std::size_t k = 1; k < nchunks; ++k) {
    const Counts& n = chunks[k].counts;
    chunks[k].base = total;
    total = Counts{total.lines + n.lines, total.v + n.v, total.vt + n.vt, total.vn + n.vn, total.f + n.f};
  }

  ParseResult result;
  Mesh& mesh = result.mesh;
  mesh.vertices.resize(3 * total.v);
  mesh.texcoords.resize(2 * total.vt);
  mesh.normals.resize(3 * total.vn);
  mesh.faces.resize(4 * total.f);
  mesh.face_texcoords.resize(4 * total.f);
  mesh.face_normals.resize(4 * total.f);
  parallel_for(nchunks, workers, [&](std::size_t b, std::size_t e) {
    for (std::size_t k = b; k < e; ++k) {
      const Counts& at = chunks[k].base;
      Slots slots;
      slots.v = mesh.vertices.data() + 3 * at.v;
      slots.vt = mesh.texcoords.data() + 2 * at.vt;
      slots.vn = mesh.normals.data() + 3 * at.vn;
      slots.f = mesh.faces.data() + 4 * at.f;
      slots.ft = mesh.face_texcoords.data() + 4 * at.f;
      slots.fn = mesh.face_normals.data() + 4 * at.f;
      parse_chunk(chunks[k], slots);
    }
  });

  // Chunks before the first failing one parsed completely, so its base line count is exact.
  for (const auto& chunk : chunks) {
    if (!chunk.ok) {
      result = ParseResult{};
      result.ok = false;
      result.error_line = chunk.base.lines + chunk.error_line;
      result.error = chunk.error;
      return result;
    }
  }
  bool regather = false;
  for (const auto& chunk : chunks) {
    const ChunkParser& p = *chunk.parser;
    if (p.nv != chunk.counts.v || p.nvt != chunk.counts.vt || p.nvn != chunk.counts.vn)
      throw std::logic_error("OBJ parser: fewer statements than counted");
    regather = regather || p.nf != chunk.counts.f;
  }
  if (regather) {
    gather_faces(chunks, mesh.faces, &ChunkParser::extra_f);
    gather_faces(chunks, mesh.face_texcoords, &ChunkParser::extra_ft);
    gather_faces(chunks, mesh.face_normals, &ChunkParser::extra_fn);
  }
  merge_groups(chunks, mesh);
  return result;
}

}  // namespace obj
}  // namespace audiorep
