#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "checkpoint/safetensors.h"
#include "checkpoint/weights.h"
#include "slowfast.h"
#include "test_util.h"
#include "util/log.h"

namespace {

namespace fs = std::filesystem;
using slowfast::test::mapped_file_of;

// Options for a CPU load in `dtype`, skipping `ignored_prefixes`; the rest as defaulted.
slowfast::LoadWeightsOptions cpu_options(torch::ScalarType dtype,
                                         std::vector<std::string> ignored_prefixes = {}) {
  slowfast::LoadWeightsOptions options;
  options.dtype = dtype;
  options.ignored_prefixes = std::move(ignored_prefixes);
  return options;
}

// A small tree with nested modules, a ModuleList, a bias-free Linear, a bare parameter and a
// buffer: layers.{0,1}.proj.{weight,bias}, layers.{0,1}.gate, layers.{0,1}.scale, head.weight.
struct BlockImpl : torch::nn::Module {
  BlockImpl() {
    proj = register_module("proj", torch::nn::Linear(4, 3));
    gate = register_parameter("gate", torch::zeros({1}));
    scale = register_buffer("scale", torch::ones({3}));
  }
  // x: [N, 4] -> [N, 3]
  torch::Tensor forward(const torch::Tensor& x) { return proj(x) * scale * gate; }
  torch::nn::Linear proj{nullptr};
  torch::Tensor gate, scale;
};
TORCH_MODULE(Block);

struct TreeImpl : torch::nn::Module {
  TreeImpl() {
    layers = register_module("layers", torch::nn::ModuleList(Block(), Block()));
    head = register_module("head", torch::nn::Linear(torch::nn::LinearOptions(3, 2).bias(false)));
  }
  torch::nn::ModuleList layers{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(Tree);

std::map<std::string, torch::Tensor> tree_tensors(torch::ScalarType dtype) {
  torch::manual_seed(3);
  std::map<std::string, torch::Tensor> tensors;
  for (const char* layer : {"layers.0.", "layers.1."}) {
    tensors[std::string(layer) + "proj.weight"] = torch::randn({3, 4}).to(dtype);
    tensors[std::string(layer) + "proj.bias"] = torch::randn({3}).to(dtype);
    tensors[std::string(layer) + "gate"] = torch::randn({1}).to(dtype);
    tensors[std::string(layer) + "scale"] = torch::randn({3}).to(dtype);
  }
  tensors["head.weight"] = torch::randn({2, 3}).to(dtype);
  return tensors;
}

std::map<std::string, torch::Tensor> tree_values(Tree& tree) {
  std::map<std::string, torch::Tensor> values;
  for (const auto& item : tree->named_parameters()) values[item.key()] = item.value();
  for (const auto& item : tree->named_buffers()) values[item.key()] = item.value();
  return values;
}

class LoadWeights : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "slowfast-weights-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = fs::canonical(pattern);
  }
  void TearDown() override {
    slowfast::set_log_callback(nullptr);
    fs::remove_all(dir_);
  }
  std::string save(const std::string& name, const std::map<std::string, torch::Tensor>& tensors) {
    const std::string file = (dir_ / name).string();
    slowfast::save_safetensors(file, tensors);
    return file;
  }
  fs::path dir_;
};

TEST_F(LoadWeights, MatchingDtypeSharesTheMappedFileAndKeepsRequiresGrad) {
  for (auto dtype : {torch::kBFloat16, torch::kFloat32}) {
    SCOPED_TRACE(c10::toString(dtype));
    const auto stored = tree_tensors(dtype);
    const std::string file =
        save(std::string("tree-") + c10::toString(dtype) + ".safetensors", stored);
    Tree tree;
    tree->layers[1]->as<Block>()->gate.set_requires_grad(false);
    slowfast::load_weights(*tree, slowfast::Checkpoint::open(file), cpu_options(dtype));

    const auto values = tree_values(tree);
    ASSERT_EQ(values.size(), stored.size());
    for (const auto& [name, value] : values) {
      EXPECT_EQ(value.scalar_type(), dtype) << name;
      EXPECT_TRUE(torch::equal(value, stored.at(name))) << name;
      EXPECT_EQ(mapped_file_of(value.data_ptr()), file) << name << " was copied";
    }
    EXPECT_TRUE(tree->head->weight.requires_grad());
    EXPECT_TRUE(tree->layers[0]->as<Block>()->proj->bias.requires_grad());
    EXPECT_FALSE(tree->layers[1]->as<Block>()->gate.requires_grad());
    EXPECT_FALSE(tree->layers[0]->as<Block>()->scale.requires_grad());
    // The modules compute with the loaded tensors: head(x) == x W^T.
    const torch::Tensor x = torch::randn({5, 3}).to(dtype);
    EXPECT_TRUE(torch::allclose(tree->head(x).to(torch::kFloat32),
                                torch::matmul(x, stored.at("head.weight").t()).to(torch::kFloat32),
                                /*rtol=*/1e-2, /*atol=*/1e-3));
  }
}

// --weights-in-memory: the same values, in anonymous memory rather than the file's mapping, and
// still correct after the checkpoint (and its mapping) is gone.
TEST_F(LoadWeights, InMemoryCopiesOutOfTheMappedFile) {
  const auto stored = tree_tensors(torch::kBFloat16);
  const std::string file = save("in-memory.safetensors", stored);
  Tree tree;
  slowfast::LoadWeightsOptions options = cpu_options(torch::kBFloat16);
  options.in_memory = true;
  slowfast::load_weights(*tree, slowfast::Checkpoint::open(file), options);
  fs::remove(file);
  const auto values = tree_values(tree);
  ASSERT_EQ(values.size(), stored.size());
  for (const auto& [name, value] : values) {
    EXPECT_EQ(value.scalar_type(), torch::kBFloat16) << name;
    EXPECT_TRUE(torch::equal(value, stored.at(name))) << name;
    const std::string backing = mapped_file_of(value.data_ptr());
    EXPECT_EQ(backing.find("in-memory.safetensors"), std::string::npos) << name << ": " << backing;
  }
  EXPECT_TRUE(tree->head->weight.requires_grad());
}

TEST_F(LoadWeights, OtherDtypesAreConvertedPerTensor) {
  // bf16 checkpoint into a float32 model: exact widening, private copies.
  const auto bf16 = tree_tensors(torch::kBFloat16);
  const std::string bf16_file = save("bf16.safetensors", bf16);
  Tree wide;
  slowfast::load_weights(*wide, slowfast::Checkpoint::open(bf16_file),
                         cpu_options(torch::kFloat32));
  for (const auto& [name, value] : tree_values(wide)) {
    EXPECT_EQ(value.scalar_type(), torch::kFloat32) << name;
    EXPECT_TRUE(torch::equal(value, bf16.at(name).to(torch::kFloat32))) << name;
    EXPECT_NE(mapped_file_of(value.data_ptr()), bf16_file) << name;
  }

  // A float32 checkpoint into a bf16 model stays bf16 in the model.
  const auto f32 = tree_tensors(torch::kFloat32);
  Tree narrow;
  slowfast::load_weights(*narrow, slowfast::Checkpoint::open(save("f32.safetensors", f32)),
                         cpu_options(torch::kBFloat16));
  for (const auto& [name, value] : tree_values(narrow)) {
    EXPECT_EQ(value.scalar_type(), torch::kBFloat16) << name;
    EXPECT_TRUE(torch::equal(value, f32.at(name).to(torch::kBFloat16))) << name;
  }
  EXPECT_TRUE(narrow->head->weight.requires_grad());
}

TEST_F(LoadWeights, OneErrorNamesMissingUnexpectedAndMisShapedTensors) {
  auto tensors = tree_tensors(torch::kBFloat16);
  tensors.erase("head.weight");
  tensors.erase("layers.1.scale");
  tensors["layers.0.proj.weight"] = torch::zeros({4, 3}, torch::kBFloat16);
  tensors["extra.bias"] = torch::zeros({7}, torch::kBFloat16);
  const std::string file = save("bad.safetensors", tensors);
  Tree tree;
  const torch::Tensor before = tree->layers[1]->as<Block>()->proj->weight.clone();
  try {
    slowfast::load_weights(*tree, slowfast::Checkpoint::open(file), cpu_options(torch::kBFloat16));
    FAIL() << "a mismatched checkpoint was loaded";
  } catch (const slowfast::Error& e) {
    const std::string message = e.what();
    for (const std::string& part :
         std::vector<std::string>{file, "missing", "head.weight [2, 3]", "layers.1.scale [3]",
                                  "unexpected", "extra.bias [7] (BF16)", "shape mismatch",
                                  "layers.0.proj.weight: checkpoint [4, 3]", "module [3, 4]"}) {
      EXPECT_NE(message.find(part), std::string::npos) << "lacks '" << part << "': " << message;
    }
  }
  // Nothing was half-loaded.
  EXPECT_TRUE(torch::equal(tree->layers[1]->as<Block>()->proj->weight, before));
}

TEST_F(LoadWeights, IgnoredPrefixesAreSkippedAndLoggedAtDebugLevel) {
  auto tensors = tree_tensors(torch::kFloat32);
  tensors["vision.head.fc.weight"] = torch::zeros({5, 5});
  tensors["vision.head.fc.bias"] = torch::zeros({5});
  const std::string file = save("extra.safetensors", tensors);
  std::vector<std::string> debug_lines;
  slowfast::set_log_callback([&](slowfast::LogLevel level, const std::string& message) {
    if (level == slowfast::LogLevel::Debug) debug_lines.push_back(message);
  });
  Tree tree;
  slowfast::load_weights(*tree, slowfast::Checkpoint::open(file),
                         cpu_options(torch::kFloat32, {"vision.head."}));
  EXPECT_TRUE(torch::equal(tree->head->weight, tensors.at("head.weight")));
  for (const char* name : {"vision.head.fc.weight", "vision.head.fc.bias"}) {
    bool logged = false;
    for (const auto& line : debug_lines) logged |= line.find(name) != std::string::npos;
    EXPECT_TRUE(logged) << name << " was not logged";
  }
  // Without the prefix the same tensors are unexpected.
  Tree strict;
  EXPECT_THROW(slowfast::load_weights(*strict, slowfast::Checkpoint::open(file),
                                      cpu_options(torch::kFloat32)),
               slowfast::Error);
}

}  // namespace
