#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "slowfast.h"
#include "test_util.h"
#include "tools/npy.h"

namespace {

namespace fs = std::filesystem;
using slowfast::test::expect_error;

class Npy : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "slowfast-npy-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A hand-made .npy file: magic, version, header length field of `length_bytes`, header, data.
  std::string write_raw(const std::string& name, int major, const std::string& header,
                        const std::string& data) const {
    std::string bytes = "\x93NUMPY";
    bytes += static_cast<char>(major);
    bytes += '\0';
    const size_t length_bytes = major == 1 ? 2 : 4;
    for (size_t i = 0; i < length_bytes; ++i) {
      bytes += static_cast<char>((header.size() >> (8 * i)) & 0xff);
    }
    bytes += header + data;
    const std::string file = path(name);
    std::ofstream(file, std::ios::binary) << bytes;
    return file;
  }

  static std::string read_bytes(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  fs::path dir_;
};

TEST_F(Npy, RoundTripsEveryDtype) {
  const std::vector<torch::ScalarType> dtypes = {torch::kUInt8,  torch::kBool,    torch::kInt32,
                                                 torch::kInt64,  torch::kFloat16, torch::kFloat32,
                                                 torch::kFloat64};
  torch::manual_seed(0);
  for (auto dtype : dtypes) {
    const torch::Tensor source = (torch::randn({3, 5, 2}) * 50).to(dtype);
    const std::string file = path(std::string(c10::toString(dtype)) + ".npy");
    slowfast::write_npy(file, source);
    const torch::Tensor loaded = slowfast::read_npy(file);
    EXPECT_EQ(loaded.scalar_type(), dtype);
    EXPECT_EQ(loaded.sizes(), source.sizes());
    EXPECT_TRUE(torch::equal(loaded, source)) << c10::toString(dtype);
  }
}

TEST_F(Npy, RoundTripsScalarEmptyAndNonContiguous) {
  const torch::Tensor scalar = torch::tensor(2.5f);
  slowfast::write_npy(path("scalar.npy"), scalar);
  const torch::Tensor scalar_back = slowfast::read_npy(path("scalar.npy"));
  EXPECT_EQ(scalar_back.dim(), 0);
  EXPECT_EQ(scalar_back.item<float>(), 2.5f);

  const torch::Tensor empty = torch::zeros({0, 4});
  slowfast::write_npy(path("empty.npy"), empty);
  EXPECT_EQ(slowfast::read_npy(path("empty.npy")).sizes(), empty.sizes());

  const torch::Tensor transposed = torch::arange(12, torch::kFloat32).reshape({3, 4}).t();
  ASSERT_FALSE(transposed.is_contiguous());
  slowfast::write_npy(path("transposed.npy"), transposed);
  EXPECT_TRUE(torch::equal(slowfast::read_npy(path("transposed.npy")), transposed));
}

TEST_F(Npy, WritesVersion1HeaderAlignedTo64Bytes) {
  for (const auto& shape : std::vector<std::vector<int64_t>>{{}, {7}, {2, 3, 4}, {123456, 0}}) {
    const std::string file = path("aligned.npy");
    slowfast::write_npy(file, torch::zeros(shape));
    const std::string bytes = read_bytes(file);
    ASSERT_GT(bytes.size(), 10u);
    EXPECT_EQ(bytes.substr(0, 6), "\x93NUMPY");
    EXPECT_EQ(bytes[6], 1);
    EXPECT_EQ(bytes[7], 0);
    const size_t header_length =
        static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
    EXPECT_EQ((10 + header_length) % 64, 0u) << "data must start 64-byte aligned";
    const std::string header = bytes.substr(10, header_length);
    EXPECT_EQ(header.back(), '\n');
    EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos) << header;
    EXPECT_NE(header.find("'fortran_order': False"), std::string::npos) << header;
    std::string shape_text = "(";
    for (size_t i = 0; i < shape.size(); ++i) {
      shape_text += std::to_string(shape[i]) + (shape.size() == 1 ? "," : "");
      if (i + 1 < shape.size()) shape_text += ", ";
    }
    shape_text += ")";
    EXPECT_NE(header.find("'shape': " + shape_text), std::string::npos) << header;
    int64_t numel = 1;
    for (int64_t dim : shape) numel *= dim;
    EXPECT_EQ(bytes.size(), 10 + header_length + 4 * static_cast<size_t>(numel));
  }
}

TEST_F(Npy, ReadsFormats2And3AndNumpyHeaderVariants) {
  const float values[3] = {1.5f, -2.0f, 0.25f};
  const std::string data(reinterpret_cast<const char*>(values), sizeof(values));
  for (int major : {1, 2, 3}) {
    // Double quotes, no trailing comma, and the keys in another order are all valid Python.
    const std::string file = write_raw("v" + std::to_string(major) + ".npy", major,
                                       "{\"shape\": (3,), \"fortran_order\": False, "
                                       "\"descr\": \"<f4\"}   \n",
                                       data);
    const torch::Tensor loaded = slowfast::read_npy(file);
    ASSERT_EQ(loaded.sizes(), c10::IntArrayRef({3}));
    EXPECT_EQ(loaded[0].item<float>(), 1.5f);
    EXPECT_EQ(loaded[1].item<float>(), -2.0f);
    EXPECT_EQ(loaded[2].item<float>(), 0.25f);
  }
  // uint8 is written with '|' by NumPy; '<' is accepted too.
  const std::string file =
      write_raw("u1.npy", 1, "{'descr': '<u1', 'fortran_order': False, 'shape': (2, 1), }\n",
                std::string("\x07\xff", 2));
  const torch::Tensor bytes = slowfast::read_npy(file);
  EXPECT_EQ(bytes.scalar_type(), torch::kUInt8);
  EXPECT_EQ(bytes[1][0].item<int>(), 255);
}

TEST_F(Npy, RejectsBadFilesNamingFileAndProblem) {
  const std::string f4 = std::string(8, '\0');
  const std::string not_npy = path("plain.txt");
  std::ofstream(not_npy) << "hello, this is text";
  expect_error([&] { slowfast::read_npy(not_npy); }, {not_npy, "not a .npy file"});

  expect_error([&] { slowfast::read_npy(path("absent.npy")); },
               {path("absent.npy"), "cannot open"});

  std::string file =
      write_raw("fortran.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }\n", f4);
  expect_error([&] { slowfast::read_npy(file); }, {file, "Fortran"});

  file = write_raw("big.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", f4);
  expect_error([&] { slowfast::read_npy(file); }, {file, "big-endian", ">f4"});

  file = write_raw("complex.npy", 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }\n",
                   f4);
  expect_error([&] { slowfast::read_npy(file); }, {file, "unsupported dtype", "<c8"});

  file =
      write_raw("short.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", f4);
  expect_error([&] { slowfast::read_npy(file); }, {file, "truncated data", "12 bytes"});

  file =
      write_raw("long.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n", f4);
  expect_error([&] { slowfast::read_npy(file); }, {file, "trailing bytes"});

  file = write_raw("version.npy", 4, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n",
                   f4);
  expect_error([&] { slowfast::read_npy(file); }, {file, "unsupported format version 4.0"});

  file = write_raw("noshape.npy", 1, "{'descr': '<f4', 'fortran_order': False, }\n", f4);
  expect_error([&] { slowfast::read_npy(file); }, {file, "'shape'"});

  file =
      write_raw("garbled.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': [2], }\n", f4);
  expect_error([&] { slowfast::read_npy(file); }, {file, "malformed header"});

  // A header length that promises more bytes than the file holds.
  std::string bytes = read_bytes(write_raw("header.npy", 1, "{'descr': '<f4'", ""));
  bytes[8] = static_cast<char>(0xff);
  file = path("header_cut.npy");
  std::ofstream(file, std::ios::binary) << bytes;
  expect_error([&] { slowfast::read_npy(file); }, {file, "truncated header"});

  expect_error([&] { slowfast::write_npy(path("c.npy"), torch::zeros({2}, torch::kComplexFloat)); },
               {path("c.npy"), "unsupported tensor dtype"});
}

// Found by tests/fuzz (fuzz_npy): sizes from the file were allocated before being checked
// against it (a 4 GiB version-2 header length, a terabyte shape in a file of 100 bytes).
TEST_F(Npy, RefusesSizesBeyondTheFileBeforeAllocating) {
  std::string bytes = read_bytes(
      write_raw("v2.npy", 2, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }\n", "ab"));
  for (int i = 8; i < 12; ++i) bytes[i] = static_cast<char>(0xf0);
  std::string file = path("v2_cut.npy");
  std::ofstream(file, std::ios::binary) << bytes;
  expect_error([&] { slowfast::read_npy(file); }, {file, "truncated header", "4042322160 bytes"});

  file = write_raw("huge.npy", 1,
                   "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }\n", "");
  expect_error([&] { slowfast::read_npy(file); }, {file, "truncated data", "4000000000000 bytes"});
}

// frames.npy of the golden cases was written by NumPy itself.
TEST_F(Npy, ReadsNumpyWrittenGoldenFrames) {
  const char* shared = std::getenv("SLOWFAST_SHARED");
  if (shared == nullptr || !fs::exists(fs::path(shared) / "golden")) {
    GTEST_SKIP() << "SLOWFAST_SHARED is not set or has no golden/ cases";
  }
  for (const char* name : {"a", "b"}) {
    const fs::path golden = fs::path(shared) / "golden" / name;
    std::ifstream case_file(golden / "case.json");
    const auto frames = nlohmann::json::parse(case_file).at("frames");
    const torch::Tensor loaded = slowfast::read_npy((golden / "frames.npy").string());
    EXPECT_EQ(loaded.scalar_type(), torch::kUInt8) << name;
    EXPECT_EQ(loaded.sizes(),
              c10::IntArrayRef({frames.at("T").get<int64_t>(), frames.at("H").get<int64_t>(),
                                frames.at("W").get<int64_t>(), 3}))
        << name;
    // Random frames: all 256 byte values are expected, constant data would mean a bad offset.
    EXPECT_GT(loaded.to(torch::kFloat32).std().item<float>(), 10.0f) << name;

    const torch::Tensor pixels =
        slowfast::read_npy((golden / "expected/pixel_values.npy").string());
    EXPECT_EQ(pixels.scalar_type(), torch::kFloat32);
    EXPECT_EQ(pixels.size(0), frames.at("T").get<int64_t>());
    EXPECT_TRUE(torch::isfinite(pixels).all().item<bool>());
  }
}

}  // namespace
