#include "tokenizer/unicode.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>
#include <unicode/uchar.h>

#include "slowfast.h"

namespace slowfast::unicode {

namespace {

bool in_range(unsigned char byte, unsigned char low, unsigned char high) {
  return byte >= low && byte <= high;
}

}  // namespace

Sequence read_sequence(std::string_view bytes, size_t pos) {
  const auto lead = static_cast<unsigned char>(bytes[pos]);
  if (lead < 0x80) return {SequenceKind::Valid, 1, lead};
  size_t length = 0;
  unsigned char second_low = 0x80, second_high = 0xBF;
  char32_t code_point = 0;
  if (in_range(lead, 0xC2, 0xDF)) {
    length = 2;
    code_point = lead & 0x1F;
  } else if (in_range(lead, 0xE0, 0xEF)) {
    length = 3;
    code_point = lead & 0x0F;
    if (lead == 0xE0) second_low = 0xA0;   // no overlong forms
    if (lead == 0xED) second_high = 0x9F;  // no surrogates
  } else if (in_range(lead, 0xF0, 0xF4)) {
    length = 4;
    code_point = lead & 0x07;
    if (lead == 0xF0) second_low = 0x90;   // no overlong forms
    if (lead == 0xF4) second_high = 0x8F;  // nothing above U+10FFFF
  } else {
    return {SequenceKind::Invalid, 1, 0};
  }
  for (size_t k = 1; k < length; ++k) {
    if (pos + k >= bytes.size()) return {SequenceKind::Truncated, k, 0};
    const auto byte = static_cast<unsigned char>(bytes[pos + k]);
    const bool ok = k == 1 ? in_range(byte, second_low, second_high) : in_range(byte, 0x80, 0xBF);
    if (!ok) return {SequenceKind::Invalid, k, 0};
    code_point = (code_point << 6) | (byte & 0x3F);
  }
  return {SequenceKind::Valid, length, code_point};
}

bool is_valid_utf8(std::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (static_cast<unsigned char>(bytes[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const Sequence sequence = read_sequence(bytes, pos);
    if (sequence.kind != SequenceKind::Valid) return false;
    pos += sequence.length;
  }
  return true;
}

std::string to_valid_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    const Sequence sequence = read_sequence(bytes, pos);
    if (sequence.kind == SequenceKind::Valid) {
      out.append(bytes.data() + pos, sequence.length);
    } else {
      append_utf8(out, kReplacementCharacter);
    }
    pos += sequence.length;
  }
  return out;
}

size_t incomplete_suffix_length(std::string_view bytes) {
  // A sequence is at most 4 bytes, so only the last 3 bytes can start an unfinished one.
  const size_t first = bytes.size() > 3 ? bytes.size() - 3 : 0;
  for (size_t pos = first; pos < bytes.size(); ++pos) {
    const auto byte = static_cast<unsigned char>(bytes[pos]);
    if (byte < 0xC0) continue;  // ASCII or a continuation byte: starts nothing
    const Sequence sequence = read_sequence(bytes, pos);
    if (sequence.kind == SequenceKind::Truncated) return bytes.size() - pos;
  }
  return 0;
}

void append_utf8(std::string& out, char32_t code_point) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

char32_t next_code_point(std::string_view text, size_t& pos) {
  const Sequence sequence = read_sequence(text, pos);
  pos += sequence.length;
  return sequence.kind == SequenceKind::Valid ? sequence.code_point : kReplacementCharacter;
}

char32_t previous_code_point(std::string_view text, size_t end, size_t* start) {
  size_t begin = end - 1;
  while (begin > 0 && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) --begin;
  if (start) *start = begin;
  size_t pos = begin;
  return next_code_point(text, pos);
}

const std::array<char32_t, 256>& byte_to_code_point() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> result{};
    char32_t next_extra = 256;
    for (int byte = 0; byte < 256; ++byte) {
      const bool printable = (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) ||
                             (byte >= 0xAE && byte <= 0xFF);
      result[byte] = printable ? static_cast<char32_t>(byte) : next_extra++;
    }
    return result;
  }();
  return table;
}

int code_point_to_byte(char32_t code_point) {
  // The alphabet covers U+0021..U+0143; a dense reverse table of that range.
  static const std::array<int16_t, 0x144> table = [] {
    std::array<int16_t, 0x144> result;
    result.fill(-1);
    const auto& forward = byte_to_code_point();
    for (int byte = 0; byte < 256; ++byte) result[forward[byte]] = static_cast<int16_t>(byte);
    return result;
  }();
  return code_point < table.size() ? table[code_point] : -1;
}

bool byte_level_to_bytes(std::string_view token, std::string& out) {
  std::string bytes;
  bytes.reserve(token.size());
  size_t pos = 0;
  while (pos < token.size()) {
    const int byte = code_point_to_byte(next_code_point(token, pos));
    if (byte < 0) return false;
    bytes.push_back(static_cast<char>(byte));
  }
  out = std::move(bytes);
  return true;
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  const auto& table = byte_to_code_point();
  for (const char byte : bytes) append_utf8(out, table[static_cast<unsigned char>(byte)]);
  return out;
}

bool is_white_space(char32_t code_point) {
  return u_isUWhiteSpace(static_cast<UChar32>(code_point));
}

bool is_word_character(char32_t code_point) {
  const auto c = static_cast<UChar32>(code_point);
  if (u_isUAlphabetic(c) || u_hasBinaryProperty(c, UCHAR_JOIN_CONTROL)) return true;
  const int8_t type = u_charType(c);
  return type == U_NON_SPACING_MARK || type == U_COMBINING_SPACING_MARK ||
         type == U_ENCLOSING_MARK || type == U_DECIMAL_DIGIT_NUMBER ||
         type == U_CONNECTOR_PUNCTUATION;
}

const char* to_string(NormalizationForm form) {
  switch (form) {
    case NormalizationForm::NFC:
      return "NFC";
    case NormalizationForm::NFD:
      return "NFD";
    case NormalizationForm::NFKC:
      return "NFKC";
    case NormalizationForm::NFKD:
      return "NFKD";
  }
  return "?";
}

std::string normalize(std::string_view text, NormalizationForm form) {
  bool ascii = true;
  for (const char c : text) ascii &= static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(text);  // ASCII is invariant under every form

  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = nullptr;
  switch (form) {
    case NormalizationForm::NFC:
      normalizer = icu::Normalizer2::getNFCInstance(status);
      break;
    case NormalizationForm::NFD:
      normalizer = icu::Normalizer2::getNFDInstance(status);
      break;
    case NormalizationForm::NFKC:
      normalizer = icu::Normalizer2::getNFKCInstance(status);
      break;
    case NormalizationForm::NFKD:
      normalizer = icu::Normalizer2::getNFKDInstance(status);
      break;
  }
  const icu::StringPiece piece(text.data(), static_cast<int32_t>(text.size()));
  if (U_SUCCESS(status) && normalizer->isNormalizedUTF8(piece, status) && U_SUCCESS(status)) {
    return std::string(text);
  }
  std::string out;
  if (U_SUCCESS(status)) {
    status = U_ZERO_ERROR;
    icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(text.size()));
    normalizer->normalizeUTF8(0, piece, sink, nullptr, status);
  }
  if (U_FAILURE(status)) {
    throw Error(std::string("ICU ") + to_string(form) +
                " normalization failed: " + u_errorName(status));
  }
  return out;
}

}  // namespace slowfast::unicode
