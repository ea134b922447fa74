#include "tokenizer/added_tokens.h"

#include <algorithm>
#include <cstring>

#include "tokenizer/unicode.h"

namespace slowfast::tokenization {

namespace {

bool ends_with_word(std::string_view text) {
  return !text.empty() &&
         unicode::is_word_character(unicode::previous_code_point(text, text.size()));
}

bool starts_with_word(std::string_view text) {
  if (text.empty()) return false;
  size_t pos = 0;
  return unicode::is_word_character(unicode::next_code_point(text, pos));
}

// Start of the white space that ends `text`.
size_t trailing_space_begin(std::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    size_t start = 0;
    if (!unicode::is_white_space(unicode::previous_code_point(text, end, &start))) break;
    end = start;
  }
  return end;
}

// Length of the white space that starts `text`.
size_t leading_space_length(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t next = pos;
    if (!unicode::is_white_space(unicode::next_code_point(text, next))) break;
    pos = next;
  }
  return pos;
}

}  // namespace

void AddedTokenMatcher::add(const std::string& pattern, int token, const AddedToken& options) {
  if (pattern.empty()) return;
  auto& candidates = by_first_byte_[static_cast<unsigned char>(pattern[0])];
  const auto position = std::find_if(candidates.begin(), candidates.end(), [&](const Entry& e) {
    return e.pattern.size() < pattern.size();
  });
  candidates.insert(position,
                    {pattern, token, options.lstrip, options.rstrip, options.single_word});
  ++entries_;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<TextSegment>& segments) const {
  size_t plain_begin = 0;  // where the text not yet covered by a segment starts
  size_t pos = 0;
  while (pos < text.size()) {
    const auto& candidates = by_first_byte_[static_cast<unsigned char>(text[pos])];
    const Entry* hit = nullptr;
    for (const Entry& entry : candidates) {
      if (text.size() - pos >= entry.pattern.size() &&
          std::memcmp(text.data() + pos, entry.pattern.data(), entry.pattern.size()) == 0) {
        hit = &entry;
        break;
      }
    }
    if (!hit) {
      ++pos;
      continue;
    }
    size_t begin = pos, end = pos + hit->pattern.size();
    // Matches do not overlap: the search goes on after this one even when it is discarded.
    pos = end;
    if (hit->single_word &&
        (ends_with_word(text.substr(0, begin)) || starts_with_word(text.substr(end)))) {
      continue;
    }
    if (hit->lstrip) begin = std::max(trailing_space_begin(text.substr(0, begin)), plain_begin);
    if (hit->rstrip) pos = end = end + leading_space_length(text.substr(end));
    if (plain_begin < begin) segments.push_back({plain_begin, begin, -1});
    segments.push_back({begin, end, hit->token});
    plain_begin = end;
  }
  if (plain_begin < text.size()) segments.push_back({plain_begin, text.size(), -1});
}

}  // namespace slowfast::tokenization
