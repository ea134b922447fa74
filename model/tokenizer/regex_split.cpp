#include "tokenizer/regex_split.h"

#include <algorithm>
#include <cstdint>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "slowfast.h"

namespace slowfast::tokenization {

namespace {

// Unicode White_Space as class items (Oniguruma's \s): the ASCII controls TAB..CR, SPACE, NEL,
// NBSP, OGHAM SPACE MARK, EN QUAD..HAIR SPACE, LINE/PARAGRAPH SEPARATOR, NNBSP, MMSP, IDEOGRAPHIC.
constexpr const char* kWhiteSpaceItems =
    "\\t\\n\\x0B\\f\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
    "\\x{202F}\\x{205F}\\x{3000}";

std::string pcre2_error_text(int code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(code, buffer, sizeof(buffer)) < 0)
    return "error " + std::to_string(code);
  return reinterpret_cast<const char*>(buffer);
}

// Per-thread match state: PCRE2 match data and JIT stacks must not be shared between threads.
struct MatchScratch {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;

  MatchScratch() {
    data = pcre2_match_data_create(16, nullptr);
    context = pcre2_match_context_create(nullptr);
    // Long runs of one class (e.g. thousands of spaces before `(?!\S)`) need more than the
    // default 32 KiB machine-stack area.
    jit_stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
    if (!data || !context || !jit_stack) throw Error("PCRE2: out of memory for match data");
    pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~MatchScratch() {
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
  MatchScratch(const MatchScratch&) = delete;
  MatchScratch& operator=(const MatchScratch&) = delete;
};

MatchScratch& match_scratch() {
  thread_local MatchScratch scratch;
  return scratch;
}

size_t utf8_char_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  return 2;
}

}  // namespace

std::string oniguruma_to_pcre2(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 64);
  bool in_class = false;
  size_t i = 0;
  while (i < pattern.size()) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char escaped = pattern[i + 1];
      if (escaped == 's') {
        out += in_class ? std::string(kWhiteSpaceItems) : "[" + std::string(kWhiteSpaceItems) + "]";
      } else if (escaped == 'S' && !in_class) {
        out += "[^" + std::string(kWhiteSpaceItems) + "]";
      } else {
        out += c;
        out += escaped;
      }
      i += 2;
      continue;
    }
    if (in_class) {
      if (c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {
        // A POSIX class such as [:alpha:] inside a bracket expression: copy it whole.
        const size_t close = pattern.find(":]", i + 2);
        if (close != std::string_view::npos) {
          out.append(pattern.substr(i, close + 2 - i));
          i = close + 2;
          continue;
        }
      }
      if (c == ']') in_class = false;
      out += c;
      ++i;
      continue;
    }
    out += c;
    ++i;
    if (c == '[') {
      in_class = true;
      if (i < pattern.size() && pattern[i] == '^') out += pattern[i++];
      if (i < pattern.size() && pattern[i] == ']') out += pattern[i++];  // a literal ']'
    }
  }
  return out;
}

struct RegexSplitter::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

RegexSplitter::RegexSplitter(const std::string& pattern, bool is_literal, SplitBehavior behavior,
                             const std::string& where)
    : compiled_(std::make_unique<Compiled>()), behavior_(behavior) {
  const std::string source = is_literal ? pattern : oniguruma_to_pcre2(pattern);
  const uint32_t options = is_literal ? (PCRE2_UTF | PCRE2_LITERAL) : (PCRE2_UTF | PCRE2_UCP);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(),
                                  options, &error_code, &error_offset, nullptr);
  if (!compiled_->code) {
    throw Error(where + ": cannot compile the split pattern '" + pattern + "': " +
                pcre2_error_text(error_code) + " at offset " + std::to_string(error_offset));
  }
  // Without JIT (unsupported CPU) the interpreter gives the same matches, only slower.
  pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE);
}

RegexSplitter::~RegexSplitter() = default;
RegexSplitter::RegexSplitter(RegexSplitter&&) noexcept = default;
RegexSplitter& RegexSplitter::operator=(RegexSplitter&&) noexcept = default;

void RegexSplitter::split(std::string_view text, std::vector<ByteRange>& pieces) const {
  // Segments covering the text: matches and the gaps between them, in order.
  struct Segment {
    size_t begin, end;
    bool is_match;
  };
  std::vector<Segment> segments;
  MatchScratch& scratch = match_scratch();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  // PCRE2's default limit (10^7 steps per match) refuses valid text: a run of megabytes of
  // whitespace makes `\s*[\r\n]+` scan it and back off before `\s+(?!\S)` takes it whole. A
  // limit proportional to the text keeps every match linear and still ends runaway patterns.
  constexpr uint64_t kDefaultMatchLimit = 10'000'000, kStepsPerByte = 64;
  pcre2_set_match_limit(
      scratch.context, static_cast<uint32_t>(std::min<uint64_t>(
                           UINT32_MAX, std::max(kDefaultMatchLimit, kStepsPerByte * text.size()))));
  size_t gap_begin = 0;
  size_t offset = 0;
  while (offset < text.size()) {
    const int rc = pcre2_match(compiled_->code, subject, text.size(), offset, PCRE2_NO_UTF_CHECK,
                               scratch.data, scratch.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw Error("tokenizer: split pattern failed to match: " + pcre2_error_text(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(scratch.data);
    const size_t begin = ovector[0], end = ovector[1];
    if (end == begin) {
      // An empty match splits nothing; search again one character further on.
      if (begin >= text.size()) break;
      offset = begin + utf8_char_length(static_cast<unsigned char>(text[begin]));
      continue;
    }
    if (begin > gap_begin) segments.push_back({gap_begin, begin, false});
    segments.push_back({begin, end, true});
    gap_begin = offset = end;
  }
  if (gap_begin < text.size()) segments.push_back({gap_begin, text.size(), false});

  switch (behavior_) {
    case SplitBehavior::Isolated:
      for (const Segment& s : segments) pieces.push_back({s.begin, s.end});
      break;
    case SplitBehavior::Removed:
      for (const Segment& s : segments) {
        if (!s.is_match) pieces.push_back({s.begin, s.end});
      }
      break;
    case SplitBehavior::MergedWithPrevious: {
      // A match joins the piece before it.
      const size_t first = pieces.size();
      bool previous_match = false;
      for (const Segment& s : segments) {
        if (s.is_match && !previous_match && pieces.size() > first) {
          pieces.back().end = s.end;
        } else {
          pieces.push_back({s.begin, s.end});
        }
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      // A match joins the piece after it.
      std::vector<ByteRange> reversed;
      bool previous_match = false;
      for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        if (it->is_match && !previous_match && !reversed.empty()) {
          reversed.back().begin = it->begin;
        } else {
          reversed.push_back({it->begin, it->end});
        }
        previous_match = it->is_match;
      }
      pieces.insert(pieces.end(), reversed.rbegin(), reversed.rend());
      break;
    }
  }
}

}  // namespace slowfast::tokenization
