#include "checkpoint/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "slowfast.h"
#include "util/json_file.h"
#include "util/log.h"

namespace slowfast {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// A header larger than this is corrupt or hostile; the 7B release's header is ~50 KB.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
constexpr uint64_t kHeaderLengthBytes = 8;
constexpr char kSingleFileName[] = "model.safetensors";
constexpr char kIndexFileName[] = "model.safetensors.index.json";

struct StoredDtype {
  const char* name;
  torch::ScalarType type;
  uint64_t itemsize;
};
constexpr StoredDtype kStoredDtypes[] = {
    {"F32", torch::kFloat32, 4},
    {"F16", torch::kHalf, 2},
    {"BF16", torch::kBFloat16, 2},
};
constexpr char kSupportedDtypes[] = "F32, F16, BF16";

const StoredDtype* find_dtype(const std::string& name) {
  for (const auto& dtype : kStoredDtypes) {
    if (name == dtype.name) return &dtype;
  }
  return nullptr;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

uint64_t read_u64_le(const uint8_t* bytes) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  return value;
}

// Parses one header entry; `where` prefixes error messages ("tensor 'x' in FILE").
TensorInfo parse_tensor_entry(const json& entry, const std::string& where) {
  if (!entry.is_object()) throw Error(where + ": entry is not a JSON object");
  auto dtype_it = entry.find("dtype");
  auto shape_it = entry.find("shape");
  auto offsets_it = entry.find("data_offsets");
  if (dtype_it == entry.end() || !dtype_it->is_string()) {
    throw Error(where + ": missing string 'dtype'");
  }
  if (shape_it == entry.end() || !shape_it->is_array()) {
    throw Error(where + ": missing array 'shape'");
  }
  if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
      !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned()) {
    throw Error(where + ": 'data_offsets' must be two non-negative integers");
  }
  TensorInfo info;
  info.dtype = dtype_it->get<std::string>();
  const StoredDtype* dtype = find_dtype(info.dtype);
  if (dtype == nullptr) {
    throw Error(where + " has dtype " + info.dtype + "; supported: " + kSupportedDtypes);
  }
  // Element count with overflow checks: a hostile shape must not wrap around to a small size.
  uint64_t bytes = dtype->itemsize;
  bool overflow = false;
  for (const auto& dim : *shape_it) {
    if (!dim.is_number_unsigned() ||
        dim.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw Error(where + ": shape " + shape_it->dump() +
                  " has a dimension that is not a "
                  "non-negative integer");
    }
    const uint64_t size = dim.get<uint64_t>();
    info.shape.push_back(static_cast<int64_t>(size));
    if (size != 0 && bytes > std::numeric_limits<uint64_t>::max() / size) overflow = true;
    bytes *= size;
  }
  info.begin = (*offsets_it)[0].get<uint64_t>();
  info.end = (*offsets_it)[1].get<uint64_t>();
  if (info.end < info.begin) {
    throw Error(where + ": data_offsets [" + std::to_string(info.begin) + ", " +
                std::to_string(info.end) + "] end before they begin");
  }
  if (overflow || bytes != info.end - info.begin) {
    throw Error(where + ": dtype " + info.dtype + " and shape " + shape_string(info.shape) +
                " need " + (overflow ? std::string("more than 2^64") : std::to_string(bytes)) +
                " bytes but data_offsets [" + std::to_string(info.begin) + ", " +
                std::to_string(info.end) + "] span " + std::to_string(info.end - info.begin));
  }
  return info;
}

bool has_suffix(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_pickle_name(const std::string& name) {
  return has_suffix(name, ".bin") || has_suffix(name, ".pt") || has_suffix(name, ".pth") ||
         has_suffix(name, ".ckpt") || has_suffix(name, ".pkl");
}

[[noreturn]] void refuse_pickle(const std::string& where, const std::string& files) {
  throw Error(where + " holds only a pickled PyTorch checkpoint (" + files +
              "), which is refused: unpickling can execute arbitrary code. Convert it to "
              "safetensors (in Python: safetensors.torch.save_file(torch.load(f, "
              "weights_only=True), 'model.safetensors'), or save_pretrained(..., "
              "safe_serialization=True)) and load that instead.");
}

}  // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open safetensors file " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("safetensors file " + path + " is not a regular file");
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < kHeaderLengthBytes) {
    ::close(fd);
    throw Error("safetensors file " + path + " is truncated: " + std::to_string(file_size) +
                " bytes, less than the 8-byte header length");
  }
  // Private and writable: a stray write through a tensor copies the page instead of faulting or
  // changing the file.
  void* map = ::mmap(nullptr, file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  if (map == MAP_FAILED) {
    throw Error("cannot memory-map safetensors file " + path + ": " + std::strerror(map_errno));
  }
  // From here the destructor unmaps on any error.
  file->map_ = map;
  file->map_size_ = file_size;
  const auto* bytes = static_cast<const uint8_t*>(map);

  const uint64_t header_size = read_u64_le(bytes);
  if (header_size > kMaxHeaderBytes) {
    throw Error("safetensors file " + path + ": header length " + std::to_string(header_size) +
                " exceeds the " + std::to_string(kMaxHeaderBytes) +
                "-byte limit (corrupt or not a safetensors file)");
  }
  if (header_size > file_size - kHeaderLengthBytes) {
    throw Error("safetensors file " + path + ": header length " + std::to_string(header_size) +
                " runs past the end of the file (" + std::to_string(file_size) +
                " bytes; truncated?)");
  }
  const uint64_t data_offset = kHeaderLengthBytes + header_size;
  const uint64_t data_size = file_size - data_offset;
  file->data_ = bytes + data_offset;

  json header;
  try {
    header = json::parse(reinterpret_cast<const char*>(bytes + kHeaderLengthBytes),
                         reinterpret_cast<const char*>(bytes + data_offset));
  } catch (const json::exception& e) {
    throw Error("safetensors file " + path + ": malformed JSON header: " + e.what());
  }
  if (!header.is_object()) {
    throw Error("safetensors file " + path + ": header is not a JSON object but " +
                std::string(header.type_name()));
  }

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) {
        throw Error("safetensors file " + path + ": __metadata__ is not a JSON object");
      }
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) {
          throw Error("safetensors file " + path + ": __metadata__ value of '" + key +
                      "' is not a string");
        }
        file->metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    TensorInfo info = parse_tensor_entry(entry, "tensor '" + name + "' in " + path);
    if (info.end > data_size) {
      throw Error("tensor '" + name + "' in " + path + ": data_offsets [" +
                  std::to_string(info.begin) + ", " + std::to_string(info.end) +
                  "] run past the data area (" + std::to_string(data_size) + " bytes; truncated?)");
    }
    file->tensors_.emplace(name, std::move(info));
  }

  // Overlapping byte ranges mean two tensors alias each other: a corrupt or crafted file.
  std::vector<std::pair<const std::string*, const TensorInfo*>> by_offset;
  for (const auto& [name, info] : file->tensors_) {
    if (info.end > info.begin) by_offset.emplace_back(&name, &info);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const auto& [prev_name, prev] = by_offset[i - 1];
    const auto& [name, info] = by_offset[i];
    if (info->begin < prev->end) {
      throw Error("safetensors file " + path + ": tensors '" + *prev_name + "' [" +
                  std::to_string(prev->begin) + ", " + std::to_string(prev->end) + ") and '" +
                  *name + "' [" + std::to_string(info->begin) + ", " + std::to_string(info->end) +
                  ") overlap");
    }
  }
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

torch::Tensor SafetensorsFile::view(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error("no tensor '" + name + "' in " + path_);
  const TensorInfo& info = it->second;
  const StoredDtype* dtype = find_dtype(info.dtype);
  auto options = torch::TensorOptions().dtype(dtype->type).device(torch::kCPU);
  void* ptr = const_cast<uint8_t*>(data_ + info.begin);
  // The header only aligns the data area to 8 bytes by convention; a misaligned tensor is copied
  // so kernels never see a pointer misaligned for its element type.
  if (reinterpret_cast<uintptr_t>(ptr) % dtype->itemsize != 0) {
    auto copy = torch::empty(info.shape, options);
    // An empty tensor has no storage: memcpy from or to null is undefined even for 0 bytes.
    if (info.end > info.begin) std::memcpy(copy.data_ptr(), ptr, info.end - info.begin);
    return copy;
  }
  // The deleter holds the file (and so the mapping) alive as long as any view exists.
  std::shared_ptr<const SafetensorsFile> keep_alive = shared_from_this();
  return torch::from_blob(
      ptr, info.shape, [keep_alive](void*) mutable { keep_alive.reset(); }, options);
}

Checkpoint Checkpoint::open(const std::string& path) {
  Checkpoint checkpoint;
  checkpoint.path_ = path;
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (error || !fs::exists(status)) {
    throw Error("checkpoint " + path + " does not exist");
  }

  std::string single_file;
  std::string index_file;
  if (fs::is_directory(status)) {
    const fs::path dir(path);
    if (fs::is_regular_file(dir / kSingleFileName)) {
      single_file = (dir / kSingleFileName).string();
    } else if (fs::is_regular_file(dir / kIndexFileName)) {
      index_file = (dir / kIndexFileName).string();
    } else {
      std::vector<std::string> pickles;
      for (const auto& entry : fs::directory_iterator(dir, error)) {
        const std::string name = entry.path().filename().string();
        if (entry.is_regular_file() && is_pickle_name(name)) pickles.push_back(name);
      }
      std::sort(pickles.begin(), pickles.end());
      if (!pickles.empty()) {
        std::string list;
        for (const auto& name : pickles) list += (list.empty() ? "" : ", ") + name;
        refuse_pickle("checkpoint directory " + path, list);
      }
      throw Error("checkpoint directory " + path + " has neither " + kSingleFileName + " nor " +
                  kIndexFileName);
    }
  } else if (has_suffix(path, ".index.json")) {
    index_file = path;
  } else if (is_pickle_name(path)) {
    refuse_pickle("checkpoint " + path, fs::path(path).filename().string());
  } else {
    single_file = path;
  }

  if (!single_file.empty()) {
    auto file = SafetensorsFile::open(single_file);
    for (const auto& [name, info] : file->tensors()) checkpoint.by_name_.emplace(name, file);
    return checkpoint;
  }

  const json index = read_json_file(index_file, "checkpoint index");
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    throw Error("checkpoint index " + index_file + " has no 'weight_map' object");
  }
  const fs::path dir = fs::path(index_file).parent_path();
  std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
  for (const auto& [name, shard_value] : index["weight_map"].items()) {
    if (!shard_value.is_string()) {
      throw Error("checkpoint index " + index_file + ": weight_map entry '" + name +
                  "' is not a file name");
    }
    const std::string shard = shard_value.get<std::string>();
    // Shards live beside the index; a path that leaves the directory is refused.
    const fs::path shard_path(shard);
    if (shard_path.is_absolute() || shard_path.filename() != shard_path) {
      throw Error("checkpoint index " + index_file + " maps '" + name + "' to '" + shard +
                  "', which is not a file name in the index's directory");
    }
    auto it = shards.find(shard);
    if (it == shards.end()) {
      const fs::path full = dir / shard_path;
      if (!fs::exists(full)) {
        throw Error("shard " + full.string() + " listed in checkpoint index " + index_file +
                    " (for tensor '" + name + "') does not exist");
      }
      it = shards.emplace(shard, SafetensorsFile::open(full.string())).first;
    }
    if (it->second->tensors().count(name) == 0) {
      throw Error("checkpoint index " + index_file + " maps tensor '" + name + "' to shard " +
                  it->second->path() + ", which does not contain it");
    }
    checkpoint.by_name_.emplace(name, it->second);
  }
  // Tensors a shard holds beyond the index are still part of the checkpoint (Hugging Face loads
  // whole shards), so load_weights sees and judges them; the same name in two shards is ambiguous.
  for (const auto& [shard, file] : shards) {
    for (const auto& [name, info] : file->tensors()) {
      auto [it, inserted] = checkpoint.by_name_.emplace(name, file);
      if (!inserted && it->second != file) {
        throw Error("tensor '" + name + "' is in both " + it->second->path() + " and " +
                    file->path() + " (checkpoint index " + index_file + ")");
      }
      if (inserted) {
        log(LogLevel::Debug, "tensor '", name, "' of shard ", file->path(), " is not listed in ",
            index_file);
      }
    }
  }
  return checkpoint;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(by_name_.size());
  for (const auto& [name, file] : by_name_) out.push_back(name);
  return out;
}

bool Checkpoint::contains(const std::string& name) const {
  return by_name_.count(name) != 0;
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) throw Error("checkpoint " + path_ + " has no tensor '" + name + "'");
  return it->second->tensors().at(name);
}

torch::Tensor Checkpoint::get(const std::string& name,
                              std::optional<torch::ScalarType> dtype) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) throw Error("checkpoint " + path_ + " has no tensor '" + name + "'");
  torch::Tensor stored = it->second->view(name);
  if (!dtype || *dtype == stored.scalar_type()) return stored;
  return stored.to(*dtype);
}

void save_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const StoredDtype* dtype = nullptr;
    for (const auto& candidate : kStoredDtypes) {
      if (candidate.type == tensor.scalar_type()) dtype = &candidate;
    }
    if (dtype == nullptr) {
      throw Error("save_safetensors " + path + ": tensor '" + name + "' has dtype " +
                  std::string(c10::toString(tensor.scalar_type())) +
                  "; supported: " + kSupportedDtypes);
    }
    if (!tensor.device().is_cpu()) {
      throw Error("save_safetensors " + path + ": tensor '" + name + "' is not on the CPU");
    }
    data.push_back(tensor.contiguous());
    const uint64_t bytes = data.back().numel() * dtype->itemsize;
    header[name] = {{"dtype", dtype->name},
                    {"shape", tensor.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("save_safetensors: cannot create " + path + ": " + std::strerror(errno));
  uint8_t length[kHeaderLengthBytes];
  for (uint64_t i = 0; i < kHeaderLengthBytes; ++i) {
    length[i] = static_cast<uint8_t>(static_cast<uint64_t>(header_text.size()) >> (8 * i));
  }
  out.write(reinterpret_cast<const char*>(length), sizeof(length));
  out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
  for (const auto& tensor : data) {
    out.write(static_cast<const char*>(tensor.data_ptr()),
              static_cast<std::streamsize>(tensor.numel() * tensor.element_size()));
  }
  out.close();
  if (!out) throw Error("save_safetensors: failed writing " + path + ": " + std::strerror(errno));
}

}  // namespace slowfast
