// Safetensors checkpoints: a memory-mapped file with a validated JSON header, single or sharded
// (model.safetensors.index.json). Tensors are handed out as views of the mapping without copying.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace slowfast {

struct TensorInfo {
  std::string dtype;  // "F32", "F16" or "BF16"
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range inside the data area
};

// One memory-mapped .safetensors file. Thread-safe after open().
class SafetensorsFile : public std::enable_shared_from_this<SafetensorsFile> {
 public:
  // Maps `path` and validates its header; throws slowfast::Error naming the file and problem.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // A CPU tensor viewing the mapped bytes (a private copy-on-write mapping, so a write costs a
  // page copy, never a crash or a change to the file); the mapping
  // stays alive as long as the tensor does. Throws slowfast::Error for an unknown name.
  torch::Tensor view(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;  // start of the data area
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A checkpoint directory (or a single .safetensors file): model.safetensors, or shards listed by
// model.safetensors.index.json. Refuses pickled .bin/.pt checkpoints with an explanation.
class Checkpoint {
 public:
  static Checkpoint open(const std::string& path);

  std::vector<std::string> names() const;
  bool contains(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;
  // The stored tensor on the CPU, without a copy when `dtype` is absent or equals the stored one;
  // converted otherwise.
  torch::Tensor get(const std::string& name,
                    std::optional<torch::ScalarType> dtype = std::nullopt) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::map<std::string, std::shared_ptr<SafetensorsFile>> by_name_;
};

// Writes CPU tensors (F32, F16 or BF16) as one .safetensors file, the header padded with spaces so
// the data area starts 8-byte aligned. For tests, tools and tiny checkpoints.
void save_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace slowfast
