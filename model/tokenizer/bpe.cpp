#include "tokenizer/bpe.h"

#include <algorithm>
#include <cstdio>
#include <functional>

#include "slowfast.h"
#include "tokenizer/unicode.h"

namespace slowfast::tokenization {

namespace {

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

uint64_t mix(uint64_t x) {  // splitmix64 finalizer: spreads ids over the table
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string byte_name(unsigned char byte) {
  char buffer[8];
  std::snprintf(buffer, sizeof(buffer), "0x%02X", byte);
  return buffer;
}

}  // namespace

BpeModel::BpeModel(const std::unordered_map<std::string, int32_t>& vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, Options options,
                   const std::string& where)
    : byte_ids_(256, -1), options_(options), where_(where) {
  const auto& alphabet = unicode::byte_to_code_point();
  for (int byte = 0; byte < 256; ++byte) {
    std::string symbol;
    unicode::append_utf8(symbol, alphabet[byte]);
    const auto it = vocab.find(symbol);
    if (it != vocab.end()) byte_ids_[byte] = it->second;
  }

  size_t table_size = 1024;
  while (table_size < merges.size() * 2) table_size *= 2;
  merge_table_.resize(table_size);
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    // Not a structured binding: C++17 does not let a lambda capture one (clang refuses).
    const std::string& left = merges[rank].first;
    const std::string& right = merges[rank].second;
    auto id_of = [&](const std::string& token) {
      const auto it = vocab.find(token);
      if (it == vocab.end()) {
        throw Error(where + ": merge " + std::to_string(rank) + " ('" + left + "' '" + right +
                    "'): '" + token + "' is not in the vocabulary");
      }
      return it->second;
    };
    const int32_t left_id = id_of(left);
    const int32_t right_id = id_of(right);
    insert_merge(left_id, right_id, static_cast<int32_t>(rank), id_of(left + right));
  }

  if (options_.ignore_merges) {
    std::string bytes;
    for (const auto& [token, id] : vocab) {
      if (unicode::byte_level_to_bytes(token, bytes)) piece_ids_.emplace(bytes, id);
    }
  }
}

const BpeModel::MergeSlot* BpeModel::find_merge(int32_t left, int32_t right) const {
  const uint64_t key = pair_key(left, right);
  const size_t mask = merge_table_.size() - 1;
  for (size_t slot = mix(key) & mask;; slot = (slot + 1) & mask) {
    const MergeSlot& entry = merge_table_[slot];
    if (entry.pair == key) return &entry;
    if (entry.pair == kEmptyPair) return nullptr;
  }
}

void BpeModel::insert_merge(int32_t left, int32_t right, int32_t rank, int32_t merged_id) {
  const uint64_t key = pair_key(left, right);
  const size_t mask = merge_table_.size() - 1;
  for (size_t slot = mix(key) & mask;; slot = (slot + 1) & mask) {
    MergeSlot& entry = merge_table_[slot];
    if (entry.pair == kEmptyPair) ++merge_count_;
    if (entry.pair == kEmptyPair || entry.pair == key) {
      // A repeated pair takes its later rank, as tokenizers' merge map does.
      entry = {key, rank, merged_id};
      return;
    }
  }
}

int32_t BpeModel::byte_symbol(unsigned char byte) const {
  const int32_t id = byte_ids_[byte];
  if (id >= 0) return id;
  if (!options_.unk_id) {
    throw Error(where_ + ": byte " + byte_name(byte) +
                " has no token in the vocabulary and the model has no unk_token");
  }
  return *options_.unk_id;
}

void BpeModel::merge(std::string_view piece, std::vector<int32_t>& out) const {
  struct Symbol {
    int32_t id;    // -1 once merged into its left neighbour
    int32_t prev;  // -1 at the start
    int32_t next;  // -1 at the end
  };
  // Reused between calls: most pieces are short and allocation would dominate.
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<uint64_t> queue;
  const auto n = static_cast<int32_t>(piece.size());
  symbols.resize(n);
  for (int32_t i = 0; i < n; ++i) {
    symbols[i] = {byte_symbol(static_cast<unsigned char>(piece[i])), i - 1, i + 1 < n ? i + 1 : -1};
  }

  // A min-heap of rank << 32 | position: lowest rank first, then leftmost.
  queue.clear();
  const std::greater<> later;
  auto push_pair = [&](int32_t pos) {
    const Symbol& left = symbols[pos];
    if (left.next < 0) return;
    if (const MergeSlot* m = find_merge(left.id, symbols[left.next].id)) {
      queue.push_back((static_cast<uint64_t>(m->rank) << 32) | static_cast<uint32_t>(pos));
      std::push_heap(queue.begin(), queue.end(), later);
    }
  };
  for (int32_t i = 0; i + 1 < n; ++i) push_pair(i);

  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), later);
    const uint64_t top = queue.back();
    queue.pop_back();
    const auto rank = static_cast<int32_t>(top >> 32);
    const auto pos = static_cast<int32_t>(top & 0xFFFFFFFFu);
    Symbol& left = symbols[pos];
    if (left.id < 0 || left.next < 0) continue;
    const MergeSlot* m = find_merge(left.id, symbols[left.next].id);
    if (!m || m->rank != rank) continue;  // stale: a neighbour changed since the push
    Symbol& right = symbols[left.next];
    left.id = m->merged_id;
    left.next = right.next;
    right.id = -1;
    if (left.next >= 0) symbols[left.next].prev = pos;
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(pos);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

void BpeModel::encode(std::string_view piece, std::vector<int64_t>& ids) const {
  if (piece.empty()) return;
  if (piece.size() == 1) {
    ids.push_back(byte_symbol(static_cast<unsigned char>(piece[0])));
    return;
  }
  if (options_.ignore_merges) {
    const auto it = piece_ids_.find(std::string(piece));
    if (it != piece_ids_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  const bool cacheable = piece.size() <= kMaxCachedPieceBytes;
  std::string key;
  if (cacheable) {
    key.assign(piece);
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto it = cache_.find(key);
    if (it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> merged;
  merge(piece, merged);
  ids.insert(ids.end(), merged.begin(), merged.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    // A full cache keeps what it has: the frequent pieces arrive early.
    if (cache_.size() < kCacheCapacity) cache_.emplace(std::move(key), std::move(merged));
  }
}

}  // namespace slowfast::tokenization
