#include "checkpoint/weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <sstream>

#include "slowfast.h"
#include "util/log.h"

namespace slowfast {
namespace {

std::string shape_string(c10::IntArrayRef shape) {
  std::ostringstream out;
  out << shape;
  return out.str();
}

// A copy of `stored` in its own anonymous mapping, advised to use transparent huge pages: 2 MiB
// pages fault in far faster than 4 KiB ones and relieve the TLB while decode streams the weights.
torch::Tensor copy_to_anonymous_memory(const torch::Tensor& stored) {
  const size_t bytes = std::max<size_t>(stored.nbytes(), 1);
  void* memory = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    throw Error("cannot allocate " + std::to_string(bytes) + " bytes for a weight in memory");
  }
#ifdef MADV_HUGEPAGE
  ::madvise(memory, bytes, MADV_HUGEPAGE);  // advice only: without THP, 4 KiB pages
#endif
  torch::Tensor copy = torch::from_blob(
      memory, stored.sizes(), [bytes](void* pointer) { ::munmap(pointer, bytes); },
      stored.options());
  copy.copy_(stored);
  // The source pages are clean views of the page cache: drop them from this process, so its
  // resident size holds the weights once, not twice, while loading. Only whole pages inside the
  // tensor (neighbours may share the edges); they stay cached for other processes.
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(stored.data_ptr());
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = (begin + stored.nbytes()) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  return copy;
}

// Names listed per kind of mismatch: the first few say what is wrong, and a config off by 10^5
// layers must not make a message of megabytes.
constexpr size_t kListedPerKind = 20;

bool has_ignored_prefix(const std::string& name, const std::vector<std::string>& prefixes) {
  for (const auto& prefix : prefixes) {
    if (name.compare(0, prefix.size(), prefix) == 0) return true;
  }
  return false;
}

}  // namespace

void load_weights(torch::nn::Module& root, const Checkpoint& checkpoint,
                  const LoadWeightsOptions& options) {
  // Parameters and buffers by full dotted path; both must come from the checkpoint.
  std::vector<std::pair<std::string, torch::Tensor>> targets;
  for (const auto& item : root.named_parameters(/*recurse=*/true)) {
    targets.emplace_back(item.key(), item.value());
  }
  for (const auto& item : root.named_buffers(/*recurse=*/true)) {
    targets.emplace_back(item.key(), item.value());
  }

  std::vector<std::string> missing;
  std::vector<std::string> mis_shaped;
  std::set<std::string> used;
  for (const auto& [name, target] : targets) {
    if (!checkpoint.contains(name)) {
      missing.push_back(name + " " + shape_string(target.sizes()));
      continue;
    }
    used.insert(name);
    const TensorInfo& info = checkpoint.info(name);
    if (c10::IntArrayRef(info.shape) != target.sizes()) {
      mis_shaped.push_back(name + ": checkpoint " + shape_string(info.shape) + " (" + info.dtype +
                           "), module " + shape_string(target.sizes()));
    }
  }
  std::vector<std::string> unexpected;
  size_t ignored = 0;
  for (const auto& name : checkpoint.names()) {
    if (used.count(name) != 0) continue;
    if (has_ignored_prefix(name, options.ignored_prefixes)) {
      log(LogLevel::Debug, "checkpoint ", checkpoint.path(), ": ignoring unused tensor ", name);
      ++ignored;
      continue;
    }
    const TensorInfo& info = checkpoint.info(name);
    unexpected.push_back(name + " " + shape_string(info.shape) + " (" + info.dtype + ")");
  }

  if (!missing.empty() || !unexpected.empty() || !mis_shaped.empty()) {
    std::ostringstream message;
    message << "checkpoint " << checkpoint.path() << " does not match the model:";
    auto list = [&message](const char* title, const std::vector<std::string>& names) {
      if (names.empty()) return;
      message << "\n  " << title << " (" << names.size() << "):";
      for (size_t i = 0; i < std::min(names.size(), kListedPerKind); ++i) {
        message << "\n    " << names[i];
      }
      if (names.size() > kListedPerKind) {
        message << "\n    ... and " << names.size() - kListedPerKind << " more";
      }
    };
    list("missing from the checkpoint", missing);
    list("unexpected in the checkpoint", unexpected);
    list("shape mismatch", mis_shaped);
    throw Error(message.str());
  }

  // set_data swaps a tensor's storage and dtype but keeps its identity and requires_grad, so
  // modules holding the parameter see the loaded values.
  torch::NoGradGuard no_grad;
  size_t shared = 0;
  size_t placed = 0;
  for (auto& [name, target] : targets) {
    torch::Tensor stored = checkpoint.get(name);
    const bool floating = target.is_floating_point();
    const torch::ScalarType dtype = floating ? options.dtype : target.scalar_type();
    if (options.device.is_cpu() && stored.scalar_type() == dtype && options.in_memory) {
      target.set_data(copy_to_anonymous_memory(stored.contiguous()));
    } else if (options.device.is_cpu() && stored.scalar_type() == dtype) {
      // A view of the mapping: no copy; a later in-place write copies only the touched pages.
      target.set_data(stored);
      ++shared;
    } else {
      // Converted one tensor at a time, so peak extra memory is one tensor, never the model.
      target.set_data(stored.to(options.device, dtype));
    }
    if (options.on_tensor) options.on_tensor(++placed, targets.size());
  }
  log(LogLevel::Debug, "checkpoint ", checkpoint.path(), ": loaded ", targets.size(), " tensors (",
      shared, " sharing the mapped file), ignored ", ignored);
}

}  // namespace slowfast
