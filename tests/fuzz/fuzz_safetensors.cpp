// libFuzzer harness: the safetensors header parser and the sharded-checkpoint index. The first
// byte picks the target: even, the input is a .safetensors file; odd, it is
// model.safetensors.index.json beside one valid shard. Every tensor the parser accepts is viewed
// and its first and last bytes read, so an accepted offset outside the mapping is a crash.
#include <cstdint>
#include <map>
#include <string>

#include "checkpoint/safetensors.h"
#include "fuzz_support.h"
#include "slowfast.h"

namespace {

void read_ends(const torch::Tensor& tensor) {
  if (tensor.numel() == 0) return;
  const auto* bytes = static_cast<const volatile uint8_t*>(tensor.data_ptr());
  const size_t last = static_cast<size_t>(tensor.numel()) * tensor.element_size() - 1;
  (void)bytes[0];
  (void)bytes[last];
}

// The shard the index harness maps names to: two small tensors.
void write_shard_once(const std::string& path) {
  static bool written = false;
  if (written) return;
  slowfast::save_safetensors(path, {{"a", torch::arange(6, torch::kFloat32).reshape({2, 3})},
                                    {"b", torch::ones({4}, torch::kBFloat16)}});
  written = true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool index_mode = data[0] % 2 == 1;
  try {
    if (!index_mode) {
      const auto file = slowfast::SafetensorsFile::open(
          slowfast::fuzz::write_file("input.safetensors", data + 1, size - 1));
      for (const auto& [name, info] : file->tensors()) {
        slowfast::fuzz::require(info.begin <= info.end, "tensor byte range is ordered");
        read_ends(file->view(name));
      }
    } else {
      const auto dir = slowfast::fuzz::scratch_dir() / "sharded";
      std::filesystem::create_directories(dir);
      write_shard_once((dir / "model-00001-of-00001.safetensors").string());
      slowfast::fuzz::write_file("sharded/model.safetensors.index.json", data + 1, size - 1);
      const auto checkpoint = slowfast::Checkpoint::open(dir.string());
      for (const auto& name : checkpoint.names()) read_ends(checkpoint.get(name));
    }
  } catch (const slowfast::Error&) {
    // A refused input with a message is the expected outcome; any other exception escapes and
    // is reported as a finding.
  }
  return 0;
}
