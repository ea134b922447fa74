// UTF-8 and Unicode helpers of the tokenizer: decoding with U+FFFD replacement (as Python's
// errors='replace' and Rust's from_utf8_lossy do), the byte-level BPE alphabet, character
// properties and normalization forms (ICU).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace slowfast::unicode {

constexpr char32_t kReplacementCharacter = 0xFFFD;

// What the bytes at a position hold.
enum class SequenceKind {
  Valid,      // a complete, well-formed sequence of `length` bytes
  Invalid,    // an ill-formed maximal subpart of `length` bytes (one U+FFFD)
  Truncated,  // the text ends inside a sequence that was well-formed so far
};
struct Sequence {
  SequenceKind kind;
  size_t length;
  char32_t code_point;  // for Valid only
};
// Classifies the UTF-8 sequence starting at bytes[pos] (pos < size) after Unicode's Table 3-7.
Sequence read_sequence(std::string_view bytes, size_t pos);

// Replaces every ill-formed maximal subpart, including a truncated sequence at the end, by U+FFFD.
std::string to_valid_utf8(std::string_view bytes);
bool is_valid_utf8(std::string_view bytes);
// Number of bytes at the end that begin a well-formed sequence that is not complete yet.
size_t incomplete_suffix_length(std::string_view bytes);

void append_utf8(std::string& out, char32_t code_point);
// Decodes the code point at text[pos] of valid UTF-8 and advances pos past it.
char32_t next_code_point(std::string_view text, size_t& pos);
// The code point that ends at text[end] (exclusive) of valid UTF-8; end > 0.
char32_t previous_code_point(std::string_view text, size_t end, size_t* start = nullptr);

// The GPT-2 byte-level alphabet: every byte maps to a printable code point (printable Latin-1
// bytes to themselves, the rest to U+0100 onwards, in byte order).
const std::array<char32_t, 256>& byte_to_code_point();
// The byte whose symbol is `code_point`, or -1 when it is not in the alphabet.
int code_point_to_byte(char32_t code_point);
// Decodes a token written in the byte-level alphabet into its raw bytes. Returns false (out
// untouched) when a character is not in the alphabet.
bool byte_level_to_bytes(std::string_view token, std::string& out);
// Writes raw bytes in the byte-level alphabet (UTF-8).
std::string bytes_to_byte_level(std::string_view bytes);

// Unicode White_Space (Rust's char::is_whitespace, Oniguruma's \s).
bool is_white_space(char32_t code_point);
// Unicode \w as Rust's regex crate has it: Alphabetic, marks, decimal digits, connector
// punctuation, Join_Control.
bool is_word_character(char32_t code_point);

enum class NormalizationForm { NFC, NFD, NFKC, NFKD };
const char* to_string(NormalizationForm form);
// Normalizes valid UTF-8. Throws slowfast::Error when ICU fails.
std::string normalize(std::string_view text, NormalizationForm form);

}  // namespace slowfast::unicode
