#include "tools/npy.h"

#include <cctype>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>

#include "slowfast.h"

namespace slowfast {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
// NumPy pads the header so the data starts on a 64-byte boundary (aligned loads, mmap).
constexpr size_t kHeaderAlignment = 64;

struct NpyDtype {
  const char* descr;
  torch::ScalarType type;
  size_t itemsize;
};

// '|' marks byte-sized types, '<' little-endian ones; these are what NumPy itself writes.
constexpr NpyDtype kDtypes[] = {
    {"|u1", torch::kUInt8, 1},   {"|b1", torch::kBool, 1}, {"<i4", torch::kInt32, 4},
    {"<i8", torch::kInt64, 8},   {"<f2", torch::kHalf, 2}, {"<f4", torch::kFloat32, 4},
    {"<f8", torch::kFloat64, 8},
};

std::string supported_descrs() {
  std::string out;
  for (const auto& dtype : kDtypes) {
    if (!out.empty()) out += ", ";
    out += dtype.descr;
  }
  return out;
}

// The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False,
// 'shape': (3, 4), }. This parses exactly the subset NumPy writes: string keys, and string,
// boolean or tuple-of-integers values.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : text_(text), path_(path) {}

  struct Value {
    std::optional<std::string> str;
    std::optional<bool> boolean;
    std::optional<std::vector<int64_t>> tuple;
  };

  std::map<std::string, Value> parse_dict() {
    std::map<std::string, Value> dict;
    expect('{');
    skip_space();
    while (peek() != '}') {
      std::string key = parse_string();
      expect(':');
      dict[key] = parse_value();
      skip_space();
      if (peek() == ',') {
        ++pos_;
        skip_space();
      } else if (peek() != '}') {
        fail("expected ',' or '}'");
      }
    }
    ++pos_;
    return dict;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("npy file " + path_ + ": malformed header (" + what + " at offset " +
                std::to_string(pos_) + "): " + text_);
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  char peek() {
    skip_space();
    if (pos_ >= text_.size()) fail("unexpected end");
    return text_[pos_];
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  std::string parse_string() {
    char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a string");
    size_t close = text_.find(quote, pos_ + 1);
    if (close == std::string::npos) fail("unterminated string");
    std::string out = text_.substr(pos_ + 1, close - pos_ - 1);
    pos_ = close + 1;
    return out;
  }
  int64_t parse_int() {
    skip_space();
    size_t start = pos_;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    if (pos_ == start) fail("expected a non-negative integer");
    // Trailing 'L' of Python 2 longs, as written by old NumPy versions.
    std::string digits = text_.substr(start, pos_ - start);
    if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;
    if (digits.size() > 18) fail("dimension too large");
    return std::stoll(digits);
  }
  Value parse_value() {
    Value value;
    char c = peek();
    if (c == '\'' || c == '"') {
      value.str = parse_string();
    } else if (text_.compare(pos_, 4, "True") == 0) {
      value.boolean = true;
      pos_ += 4;
    } else if (text_.compare(pos_, 5, "False") == 0) {
      value.boolean = false;
      pos_ += 5;
    } else if (c == '(') {
      ++pos_;
      std::vector<int64_t> dims;
      while (peek() != ')') {
        dims.push_back(parse_int());
        if (peek() == ',') {
          ++pos_;
        } else if (peek() != ')') {
          fail("expected ',' or ')'");
        }
      }
      ++pos_;
      value.tuple = std::move(dims);
    } else {
      fail("unsupported value");
    }
    return value;
  }

  const std::string& text_;
  const std::string& path_;
  size_t pos_ = 0;
};

uint32_t read_le(const unsigned char* bytes, size_t count) {
  uint32_t value = 0;
  for (size_t i = 0; i < count; ++i) value |= static_cast<uint32_t>(bytes[i]) << (8 * i);
  return value;
}

const NpyDtype& dtype_for(torch::ScalarType type, const std::string& path) {
  for (const auto& dtype : kDtypes) {
    if (dtype.type == type) return dtype;
  }
  throw Error("write_npy " + path + ": unsupported tensor dtype " +
              std::string(c10::toString(type)) + "; supported: " + supported_descrs());
}

// The header as error messages quote it: a header can be as long as the file.
std::string header_excerpt(const std::string& header) {
  constexpr size_t kShown = 200;
  if (header.size() <= kShown) return header;
  return header.substr(0, kShown) + "... (" + std::to_string(header.size()) + " bytes)";
}

}  // namespace

torch::Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open npy file " + path + ": " + std::strerror(errno));

  unsigned char preamble[kMagicSize + 2];
  if (!in.read(reinterpret_cast<char*>(preamble), sizeof(preamble)) ||
      std::memcmp(preamble, kMagic, kMagicSize) != 0) {
    throw Error("npy file " + path + ": not a .npy file (missing \\x93NUMPY magic)");
  }
  const int major = preamble[kMagicSize];
  const int minor = preamble[kMagicSize + 1];
  if (major < 1 || major > 3 || minor != 0) {
    throw Error("npy file " + path + ": unsupported format version " + std::to_string(major) + "." +
                std::to_string(minor) + "; supported: 1.0, 2.0, 3.0");
  }
  // Version 1.0 stores the header length in 2 bytes, 2.0 and 3.0 in 4 (3.0 only adds UTF-8).
  const size_t length_bytes = major == 1 ? 2 : 4;
  unsigned char length_field[4] = {0, 0, 0, 0};
  if (!in.read(reinterpret_cast<char*>(length_field), static_cast<std::streamsize>(length_bytes))) {
    throw Error("npy file " + path + ": truncated before the header length");
  }
  const uint32_t header_length = read_le(length_field, length_bytes);
  // Sizes read from the file are checked against the file before anything is allocated.
  std::error_code size_error;
  const uint64_t file_size = std::filesystem::file_size(path, size_error);
  if (size_error) throw Error("npy file " + path + ": cannot stat: " + size_error.message());
  const uint64_t header_end = sizeof(preamble) + length_bytes + uint64_t{header_length};
  if (header_end > file_size) {
    throw Error("npy file " + path + ": truncated header (declared " +
                std::to_string(header_length) + " bytes, the file has " +
                std::to_string(file_size) + " in all)");
  }
  std::string header(header_length, '\0');
  if (!in.read(header.data(), header_length)) {
    throw Error("npy file " + path + ": truncated header (declared " +
                std::to_string(header_length) + " bytes)");
  }

  auto dict = HeaderParser(header, path).parse_dict();
  auto descr_it = dict.find("descr");
  auto fortran_it = dict.find("fortran_order");
  auto shape_it = dict.find("shape");
  if (descr_it == dict.end() || !descr_it->second.str) {
    throw Error("npy file " + path + ": header lacks a string 'descr': " + header_excerpt(header));
  }
  if (fortran_it == dict.end() || !fortran_it->second.boolean) {
    throw Error("npy file " + path +
                ": header lacks a boolean 'fortran_order': " + header_excerpt(header));
  }
  if (shape_it == dict.end() || !shape_it->second.tuple) {
    throw Error("npy file " + path + ": header lacks a tuple 'shape': " + header_excerpt(header));
  }
  if (*fortran_it->second.boolean) {
    throw Error("npy file " + path + ": Fortran-order arrays are not supported (save C order)");
  }

  std::string descr = *descr_it->second.str;
  // Byte-sized types carry no byte order; accept any marker NumPy might use for them.
  if (descr.size() == 3 && descr[2] == '1' && (descr[0] == '<' || descr[0] == '=')) {
    descr[0] = '|';
  }
  if (!descr.empty() && descr[0] == '>') {
    throw Error("npy file " + path + ": big-endian dtype " + descr +
                " is not supported (save little-endian)");
  }
  const NpyDtype* dtype = nullptr;
  for (const auto& candidate : kDtypes) {
    if (descr == candidate.descr) dtype = &candidate;
  }
  if (dtype == nullptr) {
    throw Error("npy file " + path + ": unsupported dtype '" + *descr_it->second.str +
                "'; supported: " + supported_descrs());
  }

  const std::vector<int64_t>& shape = *shape_it->second.tuple;
  uint64_t numel = 1;
  for (int64_t dim : shape) {
    if (dim != 0 &&
        numel > std::numeric_limits<uint64_t>::max() / 16 / static_cast<uint64_t>(dim)) {
      throw Error("npy file " + path + ": shape too large: " + header_excerpt(header));
    }
    numel *= static_cast<uint64_t>(dim);
  }
  const uint64_t data_bytes = numel * dtype->itemsize;
  if (data_bytes > file_size - header_end) {
    throw Error("npy file " + path + ": truncated data (expected " + std::to_string(data_bytes) +
                " bytes for shape " + c10::str(c10::IntArrayRef(shape)) + ", the file has " +
                std::to_string(file_size - header_end) + " after the header)");
  }

  auto tensor = torch::empty(shape, torch::TensorOptions().dtype(dtype->type));
  if (data_bytes > 0 &&
      !in.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(data_bytes))) {
    throw Error("npy file " + path + ": truncated data (expected " + std::to_string(data_bytes) +
                " bytes for shape " + c10::str(tensor.sizes()) + ", got " +
                std::to_string(in.gcount()) + ")");
  }
  if (in.peek() != std::char_traits<char>::eof()) {
    throw Error("npy file " + path + ": trailing bytes after " + std::to_string(data_bytes) +
                " bytes of data for shape " + c10::str(tensor.sizes()));
  }
  return tensor;
}

void write_npy(const std::string& path, const torch::Tensor& tensor) {
  if (!tensor.device().is_cpu()) {
    throw Error("write_npy " + path + ": tensor must be on the CPU, not " + tensor.device().str());
  }
  const NpyDtype& dtype = dtype_for(tensor.scalar_type(), path);
  torch::Tensor data = tensor.contiguous();

  std::string shape = "(";
  for (int64_t i = 0; i < data.dim(); ++i) {
    shape += std::to_string(data.size(i));
    // A one-element Python tuple needs its trailing comma.
    if (data.dim() == 1 || i + 1 < data.dim()) shape += data.dim() == 1 ? "," : ", ";
  }
  shape += ")";
  std::string header = std::string("{'descr': '") + dtype.descr +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces and end with '\n' so magic + version + length + header is aligned.
  const size_t prefix = kMagicSize + 2 + 2;
  const size_t unpadded = prefix + header.size() + 1;
  header.append((kHeaderAlignment - unpadded % kHeaderAlignment) % kHeaderAlignment, ' ');
  header += '\n';
  if (header.size() > std::numeric_limits<uint16_t>::max()) {
    throw Error("write_npy " + path + ": header too long for format 1.0");
  }

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("write_npy: cannot create " + path + ": " + std::strerror(errno));
  const unsigned char version_and_length[4] = {1, 0,
                                               static_cast<unsigned char>(header.size() & 0xff),
                                               static_cast<unsigned char>(header.size() >> 8)};
  out.write(kMagic, kMagicSize);
  out.write(reinterpret_cast<const char*>(version_and_length), sizeof(version_and_length));
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(static_cast<const char*>(data.data_ptr()),
            static_cast<std::streamsize>(data.numel() * data.element_size()));
  out.close();
  if (!out) throw Error("write_npy: failed writing " + path + ": " + std::strerror(errno));
}

}  // namespace slowfast
