// Wavefront OBJ height-field writer and reader (see obj.hpp).
#include "audiorep/obj.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include "audiorep/parallel.hpp"

namespace audiorep {
namespace obj {
namespace {

// Big enough for any double in fixed notation (309 integer digits) with 17 decimals.
constexpr std::size_t kNumberBuffer = 352;

inline void append_fixed(std::string& out, double value, int precision) {
  char buf[kNumberBuffer];
  const auto r = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, precision);
  out.append(buf, r.ptr);
}

inline void append_index(std::string& out, std::size_t value) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, r.ptr);
}

std::vector<std::string> format_all(const std::vector<double>& values, int precision) {
  std::vector<std::string> out(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) append_fixed(out[i], values[i], precision);
  return out;
}

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

struct Pieces {
  std::string v, vt, vn, f;
};

}  // namespace

template <typename T>
std::vector<std::string> format_heightfield(const double* x, const double* y, const T* z, std::size_t rows,
                                            std::size_t cols, std::ptrdiff_t row_stride, std::ptrdiff_t col_stride,
                                            const HeightFieldOptions& options, int nthreads) {
  if (rows < 1 || cols < 1) throw std::invalid_argument("format_heightfield: the grid must not be empty");
  if (options.precision < 0 || options.precision > 17)
    throw std::invalid_argument("format_heightfield: precision must be in [0, 17]");
  if (nthreads < 1) throw std::invalid_argument("format_heightfield: nthreads must be at least 1");
  const int prec = options.precision;
  const double sx = options.scale[0], sy = options.scale[1], sz = options.scale[2];

  // x, y, u and v repeat along rows and columns: format each value once.
  std::vector<double> xs(rows), ys(cols), us(rows), vs(cols);
  for (std::size_t i = 0; i < rows; ++i) {
    xs[i] = x[i] * sx;
    us[i] = rows > 1 ? static_cast<double>(i) / static_cast<double>(rows - 1) : 0.0;
  }
  for (std::size_t j = 0; j < cols; ++j) {
    ys[j] = y[j] * sy;
    vs[j] = cols > 1 ? static_cast<double>(j) / static_cast<double>(cols - 1) : 0.0;
  }
  const auto xs_text = format_all(xs, prec), ys_text = format_all(ys, prec);
  const auto us_text = format_all(us, prec), vs_text = format_all(vs, prec);
  const GradientWeights gx(xs), gy(ys);
  auto zat = [&](std::size_t i, std::size_t j) {
    return static_cast<double>(z[static_cast<std::ptrdiff_t>(i) * row_stride + static_cast<std::ptrdiff_t>(j) * col_stride]) *
           sz;
  };

  // Several blocks per thread keep the threads busy when rows format at different speeds.
  const std::size_t nblocks = std::min(rows, static_cast<std::size_t>(nthreads) * 4);
  std::vector<Pieces> blocks(nblocks);
  parallel_for(nblocks, nthreads, [&](std::size_t b_begin, std::size_t b_end) {
    for (std::size_t b = b_begin; b < b_end; ++b) {
      const std::size_t r0 = rows * b / nblocks, r1 = rows * (b + 1) / nblocks;
      Pieces& out = blocks[b];
      const std::size_t n = (r1 - r0) * cols;
      out.v.reserve(n * (8 + 3 * static_cast<std::size_t>(prec + 4)));
      out.vt.reserve(n * (6 + 2 * static_cast<std::size_t>(prec + 2)));
      for (std::size_t i = r0; i < r1; ++i) {
        for (std::size_t j = 0; j < cols; ++j) {
          out.v.append("v ", 2);
          out.v.append(xs_text[i]);
          out.v.push_back(' ');
          out.v.append(ys_text[j]);
          out.v.push_back(' ');
          append_fixed(out.v, zat(i, j), prec);
          out.v.push_back('\n');
          out.vt.append("vt ", 3);
          out.vt.append(us_text[i]);
          out.vt.push_back(' ');
          out.vt.append(vs_text[j]);
          out.vt.push_back('\n');
        }
      }
      if (options.normals) {
        for (std::size_t i = r0; i < r1; ++i) {
          for (std::size_t j = 0; j < cols; ++j) {
            double dx = 0.0, dy = 0.0;
            if (rows > 1) {
              dx = gx.w0[i] * zat(i, j);
              if (i > 0) dx += gx.wm[i] * zat(i - 1, j);
              if (i + 1 < rows) dx += gx.wp[i] * zat(i + 1, j);
            }
            if (cols > 1) {
              dy = gy.w0[j] * zat(i, j);
              if (j > 0) dy += gy.wm[j] * zat(i, j - 1);
              if (j + 1 < cols) dy += gy.wp[j] * zat(i, j + 1);
            }
            const double len = std::sqrt(dx * dx + dy * dy + 1.0);
            double n[3] = {-dx / len, -dy / len, 1.0 / len};
            if (!(std::isfinite(n[0]) && std::isfinite(n[1]) && std::isfinite(n[2]))) {
              // Repeated axis values leave the slope undefined; point straight up.
              n[0] = n[1] = 0.0;
              n[2] = 1.0;
            }
            out.vn.append("vn ", 3);
            append_fixed(out.vn, n[0], prec);
            out.vn.push_back(' ');
            append_fixed(out.vn, n[1], prec);
            out.vn.push_back(' ');
            append_fixed(out.vn, n[2], prec);
            out.vn.push_back('\n');
          }
        }
      }
      // Quads of the cells whose lower row is in this block, counter-clockwise seen from +z
      // when x and y both increase: (i, j) -> (i+1, j) -> (i+1, j+1) -> (i, j+1).
      const std::size_t c1 = std::min(r1, rows - 1);
      for (std::size_t i = r0; i < c1; ++i) {
        for (std::size_t j = 0; j + 1 < cols; ++j) {
          std::size_t corner[4] = {i * cols + j + 1, (i + 1) * cols + j + 1, (i + 1) * cols + j + 2, i * cols + j + 2};
          if (options.flip) std::swap(corner[1], corner[3]);
          out.f.push_back('f');
          for (std::size_t c : corner) {
            out.f.push_back(' ');
            append_index(out.f, c);
            out.f.push_back('/');
            append_index(out.f, c);
            if (options.normals) {
              out.f.push_back('/');
              append_index(out.f, c);
            }
          }
          out.f.push_back('\n');
        }
      }
    }
  });

  std::vector<std::string> pieces;
  pieces.reserve(4 * nblocks + 2);
  std::string header = "# audiorep height-field rows=";
  append_index(header, rows);
  header += " cols=";
  append_index(header, cols);
  header += '\n';
  pieces.push_back(std::move(header));
  for (auto& b : blocks) pieces.push_back(std::move(b.v));
  for (auto& b : blocks) pieces.push_back(std::move(b.vt));
  if (options.normals)
    for (auto& b : blocks) pieces.push_back(std::move(b.vn));
  pieces.emplace_back("g mesh\n");
  for (auto& b : blocks) pieces.push_back(std::move(b.f));
  return pieces;
}

template <typename T>
int write_heightfield(const char* path, const double* x, const double* y, const T* z, std::size_t rows,
                      std::size_t cols, std::ptrdiff_t row_stride, std::ptrdiff_t col_stride,
                      const HeightFieldOptions& options, int nthreads) {
  const auto pieces = format_heightfield<T>(x, y, z, rows, cols, row_stride, col_stride, options, nthreads);
  errno = 0;
  std::FILE* file = std::fopen(path, "wb");
  if (!file) return errno ? errno : EIO;
  int err = 0;
  for (const auto& piece : pieces) {
    if (std::fwrite(piece.data(), 1, piece.size(), file) != piece.size()) {
      err = errno ? errno : EIO;
      break;
    }
  }
  if (std::fclose(file) != 0 && err == 0) err = errno ? errno : EIO;
  return err;
}

template std::vector<std::string> format_heightfield<float>(const double*, const double*, const float*, std::size_t,
                                                            std::size_t, std::ptrdiff_t, std::ptrdiff_t,
                                                            const HeightFieldOptions&, int);
template std::vector<std::string> format_heightfield<double>(const double*, const double*, const double*, std::size_t,
                                                             std::size_t, std::ptrdiff_t, std::ptrdiff_t,
                                                             const HeightFieldOptions&, int);
template int write_heightfield<float>(const char*, const double*, const double*, const float*, std::size_t,
                                      std::size_t, std::ptrdiff_t, std::ptrdiff_t, const HeightFieldOptions&, int);
template int write_heightfield<double>(const char*, const double*, const double*, const double*, std::size_t,
                                       std::size_t, std::ptrdiff_t, std::ptrdiff_t, const HeightFieldOptions&, int);

// ---------------------------------------------------------------- reader

namespace {

struct LineError {
  std::string what;
};

inline bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

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

class Line {
 public:
  Line(const char* begin, const char* end) : p_(begin), end_(end) {}

  void skip_blanks() {
    while (p_ < end_ && is_blank(*p_)) ++p_;
  }
  bool done() {
    skip_blanks();
    return p_ == end_;
  }
  std::string_view token() {
    skip_blanks();
    const char* s = p_;
    while (p_ < end_ && !is_blank(*p_)) ++p_;
    return {s, static_cast<std::size_t>(p_ - s)};
  }
  // Next whitespace-separated token as a finite number.
  double number(const char* keyword) {
    skip_blanks();
    const char* s = p_;
    // from_chars takes no leading '+', which some exporters write.
    if (s < end_ && *s == '+' && s + 1 < end_ && s[1] != '-' && s[1] != '+') ++s;
    double value = 0.0;
    const auto r = std::from_chars(s, end_, value);
    if (r.ec != std::errc() || (r.ptr < end_ && !is_blank(*r.ptr)) || !std::isfinite(value))
      throw LineError{"bad number " + quote(token()) + " in a '" + keyword + "' statement"};
    p_ = r.ptr;
    return value;
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

class Parser {
 public:
  Mesh mesh;

  void line(const char* begin, const char* end) {
    Line ln(begin, end);
    const std::string_view kw = ln.token();
    if (kw.empty()) return;
    if (kw == "v") {
      vertex(ln);
    } else if (kw == "vt") {
      texcoord(ln);
    } else if (kw == "vn") {
      normal(ln);
    } else if (kw == "f") {
      face(ln);
    } else if (kw == "g") {
      group(ln);
    }
    // Everything else (o, s, usemtl, mtllib, l, p, curves ...) carries nothing we keep.
  }

  void finish() {
    Mesh& m = mesh;
    std::vector<std::string> names;
    std::vector<std::vector<std::int64_t>> faces;
    for (std::size_t g = 0; g < all_names_.size(); ++g) {
      if (all_faces_[g].empty()) continue;
      names.push_back(std::move(all_names_[g]));
      faces.push_back(std::move(all_faces_[g]));
    }
    m.group_names = std::move(names);
    m.group_faces = std::move(faces);
  }

 private:
  std::vector<Corner> corners_;
  std::vector<std::string> all_names_;
  std::vector<std::vector<std::int64_t>> all_faces_;
  std::unordered_map<std::string, std::size_t> group_ids_;
  std::vector<std::size_t> current_;
  bool grouped_ = false;

  void vertex(Line& ln) {
    double xyz[3];
    for (int k = 0; k < 3; ++k) {
      if (ln.done()) throw LineError{"'v' needs 3 coordinates, found " + std::to_string(k)};
      xyz[k] = ln.number("v");
    }
    // An optional w or an r g b colour follows; it must still be numbers.
    while (!ln.done()) ln.number("v");
    mesh.vertices.insert(mesh.vertices.end(), xyz, xyz + 3);
  }

  void texcoord(Line& ln) {
    if (ln.done()) throw LineError{"'vt' needs at least 1 coordinate, found 0"};
    double uv[2] = {ln.number("vt"), 0.0};
    if (!ln.done()) uv[1] = ln.number("vt");
    while (!ln.done()) ln.number("vt");
    mesh.texcoords.insert(mesh.texcoords.end(), uv, uv + 2);
  }

  void normal(Line& ln) {
    double n[3];
    for (int k = 0; k < 3; ++k) {
      if (ln.done()) throw LineError{"'vn' needs 3 components, found " + std::to_string(k)};
      n[k] = ln.number("vn");
    }
    if (!ln.done()) throw LineError{"'vn' has more than 3 components"};
    mesh.normals.insert(mesh.normals.end(), n, n + 3);
  }

  void group(Line& ln) {
    current_.clear();
    grouped_ = true;
    while (!ln.done()) current_.push_back(group_id(std::string(ln.token())));
    if (current_.empty()) current_.push_back(group_id("default"));
  }

  std::size_t group_id(const std::string& name) {
    auto it = group_ids_.find(name);
    if (it != group_ids_.end()) return it->second;
    group_ids_.emplace(name, all_names_.size());
    all_names_.push_back(name);
    all_faces_.emplace_back();
    return all_names_.size() - 1;
  }

  void face(Line& ln) {
    const std::size_t nv = mesh.vertices.size() / 3, nvt = mesh.texcoords.size() / 2, nvn = mesh.normals.size() / 3;
    corners_.clear();
    while (!ln.done()) corners_.push_back(parse_corner(ln.token(), nv, nvt, nvn));
    if (corners_.size() < 3)
      throw LineError{"a face needs at least 3 vertices, found " + std::to_string(corners_.size())};
    if (!grouped_) {
      // Faces before any 'g' statement are in the group "default" (OBJ specification).
      current_.push_back(group_id("default"));
      grouped_ = true;
    }
    if (corners_.size() <= 4) {
      emit(corners_[0], corners_[1], corners_[2], corners_.size() == 4 ? &corners_[3] : nullptr);
    } else {
      for (std::size_t k = 1; k + 1 < corners_.size(); ++k) emit(corners_[0], corners_[k], corners_[k + 1], nullptr);
    }
  }

  void emit(const Corner& a, const Corner& b, const Corner& c, const Corner* d) {
    const std::int64_t index = static_cast<std::int64_t>(mesh.faces.size() / 4);
    const Corner none{-1, -1, -1};
    const Corner& dd = d ? *d : none;
    mesh.faces.insert(mesh.faces.end(), {a.v, b.v, c.v, dd.v});
    mesh.face_texcoords.insert(mesh.face_texcoords.end(), {a.vt, b.vt, c.vt, dd.vt});
    mesh.face_normals.insert(mesh.face_normals.end(), {a.vn, b.vn, c.vn, dd.vn});
    for (std::size_t g : current_) all_faces_[g].push_back(index);
  }
};

}  // namespace

ParseResult parse(const char* text, std::size_t size) {
  ParseResult result;
  Parser parser;
  const char* p = text;
  const char* const end = text + size;
  std::size_t line = 0;
  try {
    while (p < end) {
      ++line;
      const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      const char* eol = nl ? nl : end;
      const auto* hash = static_cast<const char*>(std::memchr(p, '#', static_cast<std::size_t>(eol - p)));
      parser.line(p, hash ? hash : eol);
      p = nl ? nl + 1 : end;
    }
  } catch (const LineError& e) {
    result.ok = false;
    result.error_line = line;
    result.error = e.what;
    return result;
  }
  parser.finish();
  result.mesh = std::move(parser.mesh);
  return result;
}

}  // namespace obj
}  // namespace audiorep
