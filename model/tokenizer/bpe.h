// Byte-level BPE: a piece's bytes start as one symbol each and the lowest-ranked adjacent pair
// is merged until no pair has a merge rule (leftmost first among equal ranks), as the Hugging
// Face tokenizers library does. Merges run over a linked list of symbols with a priority queue;
// results are cached per piece.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace slowfast::tokenization {

class BpeModel {
 public:
  struct Options {
    std::optional<int32_t> unk_id;  // stands for bytes that have no symbol in the vocabulary
    bool ignore_merges = false;     // a piece that is itself a token skips the merges
  };

  // `vocab` maps tokens written in the byte-level alphabet to ids; `merges` are pairs of such
  // tokens, highest priority first. Throws slowfast::Error naming `where` and the bad entry.
  BpeModel(const std::unordered_map<std::string, int32_t>& vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, Options options,
           const std::string& where);

  // Appends the ids of one pre-tokenized piece (raw bytes). Thread-safe.
  void encode(std::string_view piece, std::vector<int64_t>& ids) const;

  size_t merge_count() const { return merge_count_; }

 private:
  struct MergeSlot {
    uint64_t pair = kEmptyPair;  // left id << 32 | right id
    int32_t rank = 0;
    int32_t merged_id = 0;
  };
  static constexpr uint64_t kEmptyPair = ~uint64_t{0};
  static constexpr size_t kCacheCapacity = 1 << 16;
  static constexpr size_t kMaxCachedPieceBytes = 256;

  const MergeSlot* find_merge(int32_t left, int32_t right) const;
  void insert_merge(int32_t left, int32_t right, int32_t rank, int32_t merged_id);
  int32_t byte_symbol(unsigned char byte) const;
  void merge(std::string_view piece, std::vector<int32_t>& out) const;

  std::vector<int32_t> byte_ids_;       // 256 entries; -1 where the vocabulary lacks the byte
  std::vector<MergeSlot> merge_table_;  // open addressing, power-of-two size
  size_t merge_count_ = 0;
  Options options_;
  std::unordered_map<std::string, int32_t> piece_ids_;  // raw bytes -> id, for ignore_merges
  std::string where_;

  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace slowfast::tokenization
