// ConvNeXt tower and projector: checkpoint names, shapes, errors, golden parity of the vision
// features and an ablation showing they follow the frames.
#include <gtest/gtest.h>

#include <iostream>
#include <set>
#include <string>

#include <torch/torch.h>

#include "checkpoint/config.h"
#include "checkpoint/safetensors.h"
#include "checkpoint/weights.h"
#include "layers/random_init.h"
#include "slowfast.h"
#include "test_vision_util.h"
#include "tools/npy.h"
#include "vision/convnext.h"
#include "vision/projector.h"
#include "vision/vision_tower.h"

namespace slowfast {
namespace {

constexpr char kTowerPrefix[] = "model.vision_tower.vision_tower.";

// "model" -> {"vision_tower", "mm_projector"}: the checkpoint's layout of the vision half.
class VisionModelImpl : public torch::nn::Module {
 public:
  explicit VisionModelImpl(const Config& config) {
    vision_tower = register_module("vision_tower", VisionTower(config, torch::TensorOptions()));
    mm_projector = register_module("mm_projector", Projector(config, torch::TensorOptions()));
  }
  // pixels: [T, 3, S, S] -> [T, N, H]
  torch::Tensor forward(const torch::Tensor& pixels) {
    return mm_projector->forward(vision_tower->forward(pixels));
  }
  VisionTower vision_tower{nullptr};
  Projector mm_projector{nullptr};
};
TORCH_MODULE(VisionModel);

class RootImpl : public torch::nn::Module {
 public:
  explicit RootImpl(const Config& config) { model = register_module("model", VisionModel(config)); }
  VisionModel model{nullptr};
};
TORCH_MODULE(Root);

Config small_config() {
  Config config;
  config.hidden_size = 24;
  config.mm_hidden_size = 20;
  config.mm_projector_type = "mlp2x_gelu";
  config.mm_vision_tower = "convnext-576";
  config.vision.depths = {1, 2, 1, 1};
  config.vision.dims = {8, 12, 16, 20};
  config.vision.image_size = 64;
  return config;
}

TEST(VisionTower, ParameterPathsFollowTheCheckpointLayout) {
  Root root(small_config());
  std::set<std::string> names;
  for (const auto& item : root->named_parameters()) names.insert(item.key());
  const std::string tower = kTowerPrefix;
  for (const std::string& name :
       {tower + "stem.0.weight", tower + "stem.0.bias", tower + "stem.1.weight",
        tower + "stem.1.bias", tower + "stages.0.blocks.0.conv_dw.weight",
        tower + "stages.0.blocks.0.norm.bias", tower + "stages.0.blocks.0.mlp.fc1.weight",
        tower + "stages.0.blocks.0.mlp.fc2.bias", tower + "stages.0.blocks.0.weight",
        tower + "stages.1.blocks.1.weight", tower + "stages.1.downsample.0.weight",
        tower + "stages.1.downsample.1.weight", tower + "stages.3.downsample.1.bias",
        std::string("model.mm_projector.0.weight"), std::string("model.mm_projector.2.bias")}) {
    EXPECT_EQ(names.count(name), 1u) << name;
  }
  EXPECT_EQ(names.count(tower + "stages.0.downsample.0.weight"), 0u);
  // 4 stem + 3 stages * 4 downsample + 5 blocks * 9 + 4 projector.
  EXPECT_EQ(names.size(), 4u + 12u + 45u + 4u);
  const auto params = root->named_parameters();
  EXPECT_EQ(params[tower + "stages.1.blocks.0.conv_dw.weight"].sizes(),
            (c10::IntArrayRef{12, 1, 7, 7}));
  EXPECT_EQ(params[tower + "stages.2.downsample.1.weight"].sizes(),
            (c10::IntArrayRef{16, 12, 2, 2}));
  EXPECT_EQ(params[tower + "stages.2.blocks.0.mlp.fc1.weight"].sizes(), (c10::IntArrayRef{64, 16}));
  EXPECT_EQ(params["model.mm_projector.0.weight"].sizes(), (c10::IntArrayRef{24, 20}));
}

// Parameters come in the run's dtype straight away, none in float32 first: what keeps loading
// the release's tower from building and converting 3.5 GB of float32 weights. On the meta
// device no initialiser could run at all, so construction must not need one.
TEST(VisionTower, ParametersAreBuiltInTheRunsDtypeAndDevice) {
  const Config config = small_config();
  for (const auto& options :
       {torch::TensorOptions().dtype(torch::kBFloat16),
        torch::TensorOptions().dtype(torch::kBFloat16).device(torch::kMeta)}) {
    VisionTower tower(config, options);
    Projector projector(config, options);
    size_t count = 0;
    for (const auto* module : {static_cast<torch::nn::Module*>(tower.get()),
                               static_cast<torch::nn::Module*>(projector.get())}) {
      for (const auto& item : module->named_parameters()) {
        EXPECT_EQ(item.value().scalar_type(), torch::kBFloat16) << item.key();
        EXPECT_EQ(item.value().device(), options.device()) << item.key();
        EXPECT_FALSE(item.value().requires_grad()) << item.key();
        ++count;
      }
    }
    EXPECT_EQ(count, 4u + 12u + 45u + 4u);
  }
}

TEST(VisionTower, ForwardShapes) {
  Root root(small_config());
  init_random_parameters(*root, 3);
  const torch::Tensor pixels = torch::randn({3, 3, 64, 64});
  const torch::Tensor tower = root->model->vision_tower->forward(pixels);
  EXPECT_EQ(tower.sizes(), (c10::IntArrayRef{3, 4, 20}));
  const torch::Tensor features = root->model->forward(pixels);
  EXPECT_EQ(features.sizes(), (c10::IntArrayRef{3, 4, 24}));
  EXPECT_TRUE(torch::isfinite(features).all().item<bool>());
}

TEST(VisionTower, RejectsWhatItCannotRun) {
  Config config = small_config();
  config.mm_projector_type = "linear";
  try {
    Projector projector(config, torch::TensorOptions());
    FAIL() << "a linear projector was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("linear"), std::string::npos) << e.what();
  }
  config = small_config();
  config.mm_hidden_size = 32;
  EXPECT_THROW(VisionTower tower(config, torch::TensorOptions()), Error);
  config = small_config();
  config.vision.depths = {1, 1, 1};
  EXPECT_THROW(ConvNeXt convnext(config.vision, torch::TensorOptions()), Error);
  Root root(small_config());
  EXPECT_THROW(root->model->vision_tower->forward(torch::zeros({1, 3, 32, 32})), Error);
  EXPECT_THROW(root->model->mm_projector->forward(torch::zeros({1, 4, 7})), Error);
}

// The checkpoint's vision half in float32 (the reference ran in float32 from the bf16 weights).
Root load_golden(const std::string& dir, torch::ScalarType dtype, Config* config_out = nullptr) {
  const Config config = load_config(dir + "/model/config.json");
  Root root(config);
  const Checkpoint checkpoint = Checkpoint::open(dir + "/model");
  LoadWeightsOptions options;
  options.dtype = dtype;
  options.ignored_prefixes = {std::string(kTowerPrefix) + "head.", "model.embed_tokens.",
                              "model.layers.", "model.norm.", "lm_head."};
  load_weights(*root, checkpoint, options);
  if (config_out != nullptr) *config_out = config;
  return root;
}

void expect_golden_features(const std::string& dir) {
  Root root = load_golden(dir, torch::kFloat32);
  const torch::Tensor pixels = read_npy(dir + "/expected/pixel_values.npy");
  const torch::Tensor expected = read_npy(dir + "/expected/vision_features.npy");
  const torch::Tensor features = root->model->forward(pixels);
  ASSERT_EQ(features.sizes(), expected.sizes());
  ASSERT_EQ(features.scalar_type(), torch::kFloat32);
  const double error = test::rel_l2(features, expected);
  std::cout << "vision_features vs reference: rel L2 " << error << "\n";
  EXPECT_LE(error, test::kGoldenRelL2);
}

TEST(VisionTower, GoldenA_VisionFeatures) {
  SLOWFAST_REQUIRE_GOLDEN(dir, "a");
  expect_golden_features(dir);
}

TEST(VisionTower, GoldenB_VisionFeatures) {
  SLOWFAST_REQUIRE_GOLDEN(dir, "b");
  expect_golden_features(dir);
}

TEST(VisionTower, GoldenCheckpointHasExactlyTheseVisionTensors) {
  SLOWFAST_REQUIRE_GOLDEN(dir, "b");
  Root root = load_golden(dir, torch::kFloat32);
  const Checkpoint checkpoint = Checkpoint::open(dir + "/model");
  std::set<std::string> module_names;
  for (const auto& item : root->named_parameters()) module_names.insert(item.key());
  std::set<std::string> checkpoint_names;
  const std::string head = std::string(kTowerPrefix) + "head.";
  for (const auto& name : checkpoint.names()) {
    const bool vision =
        name.rfind("model.vision_tower.", 0) == 0 || name.rfind("model.mm_projector.", 0) == 0;
    if (vision && name.rfind(head, 0) != 0) checkpoint_names.insert(name);
  }
  EXPECT_EQ(module_names, checkpoint_names);
}

TEST(VisionTower, FeaturesFollowTheFramesAndIgnoreTheBatch) {
  SLOWFAST_REQUIRE_GOLDEN(dir, "a");
  Root root = load_golden(dir, torch::kFloat32);
  const torch::Tensor pixels = read_npy(dir + "/expected/pixel_values.npy").slice(0, 0, 4);
  const torch::Tensor batch = root->model->forward(pixels);
  // Different frames give clearly different features ...
  EXPECT_GT(test::rel_l2(batch[0], batch[3]), 1e-2);
  // ... a frame's features do not depend on the other frames of its batch ...
  const torch::Tensor alone = root->model->forward(pixels.slice(0, 3, 4));
  EXPECT_LE(test::rel_l2(alone[0], batch[3]), 1e-5);
  // ... and a changed patch of a frame changes them.
  torch::Tensor edited = pixels.slice(0, 3, 4).clone();
  edited.slice(2, 0, 32).slice(3, 0, 32).fill_(1.0);
  EXPECT_GT(test::rel_l2(root->model->forward(edited)[0], batch[3]), 1e-3);
}

TEST(VisionTower, BFloat16StaysCloseToFloat32) {
  SLOWFAST_REQUIRE_GOLDEN(dir, "a");
  Root root32 = load_golden(dir, torch::kFloat32);
  Root root16 = load_golden(dir, torch::kBFloat16);
  const torch::Tensor pixels = read_npy(dir + "/expected/pixel_values.npy").slice(0, 0, 4);
  const torch::Tensor f32 = root32->model->forward(pixels);
  const torch::Tensor f16 = root16->model->forward(pixels);
  EXPECT_EQ(f16.scalar_type(), torch::kBFloat16);
  const double error = test::rel_l2(f16, f32);
  std::cout << "bfloat16 vs float32 vision features: rel L2 " << error << "\n";
  EXPECT_LE(error, 3e-2);
}

}  // namespace
}  // namespace slowfast
