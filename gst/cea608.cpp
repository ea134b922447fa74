#include "cea608.h"

#include <algorithm>
#include <cmath>

namespace gstslowfast {
namespace cea608 {
namespace {

using Set = Glyph::Set;

// Data channel 1 of field 1: the first byte of misc control codes, and of tab offsets.
constexpr uint8_t kMiscControl = 0x14;
constexpr uint8_t kTabOffset = 0x17;
constexpr uint8_t kSpecialSet = 0x11;
constexpr uint8_t kExtendedSet2 = 0x12;
constexpr uint8_t kExtendedSet3 = 0x13;

// Every character 608 can show other than the plain ASCII ones of the basic set, with the code
// point it stands for. The extended sets come with the basic character sent before them.
struct Entry {
  char32_t code_point;
  Set set;
  uint8_t code;
  uint8_t fallback;
};

constexpr Entry kTable[] = {
    // Basic set: where 608 differs from ASCII.
    {U'\u00e1', Set::kBasic, 0x2A, 0},
    {U'\u00e9', Set::kBasic, 0x5C, 0},
    {U'\u00ed', Set::kBasic, 0x5E, 0},
    {U'\u00f3', Set::kBasic, 0x5F, 0},
    {U'\u00fa', Set::kBasic, 0x60, 0},
    {U'\u00e7', Set::kBasic, 0x7B, 0},
    {U'\u00f7', Set::kBasic, 0x7C, 0},
    {U'\u00d1', Set::kBasic, 0x7D, 0},
    {U'\u00f1', Set::kBasic, 0x7E, 0},
    {U'\u2588', Set::kBasic, 0x7F, 0},
    {U'\u2019', Set::kBasic, 0x27, 0},  // the basic apostrophe; decoders often show it as U+2019
    // Special characters (0x11).
    {U'\u00ae', Set::kSpecial, 0x30, 0},
    {U'\u00b0', Set::kSpecial, 0x31, 0},
    {U'\u00bd', Set::kSpecial, 0x32, 0},
    {U'\u00bf', Set::kSpecial, 0x33, 0},
    {U'\u2122', Set::kSpecial, 0x34, 0},
    {U'\u00a2', Set::kSpecial, 0x35, 0},
    {U'\u00a3', Set::kSpecial, 0x36, 0},
    {U'\u266a', Set::kSpecial, 0x37, 0},
    {U'\u00e0', Set::kSpecial, 0x38, 0},
    {U'\u00a0', Set::kSpecial, 0x39, 0},  // transparent space: a space that never breaks a row
    {U'\u00e8', Set::kSpecial, 0x3A, 0},
    {U'\u00e2', Set::kSpecial, 0x3B, 0},
    {U'\u00ea', Set::kSpecial, 0x3C, 0},
    {U'\u00ee', Set::kSpecial, 0x3D, 0},
    {U'\u00f4', Set::kSpecial, 0x3E, 0},
    {U'\u00fb', Set::kSpecial, 0x3F, 0},
    // Extended Western European, Spanish/French/miscellaneous (0x12).
    {U'\u00c1', Set::kExtended2, 0x20, 'A'},
    {U'\u00c9', Set::kExtended2, 0x21, 'E'},
    {U'\u00d3', Set::kExtended2, 0x22, 'O'},
    {U'\u00da', Set::kExtended2, 0x23, 'U'},
    {U'\u00dc', Set::kExtended2, 0x24, 'U'},
    {U'\u00fc', Set::kExtended2, 0x25, 'u'},
    {U'\u00b4', Set::kExtended2, 0x26, '\''},
    {U'\u00a1', Set::kExtended2, 0x27, '!'},
    {U'*', Set::kExtended2, 0x28, '.'},
    {U'\u2018', Set::kExtended2, 0x29, '\''},
    {U'\u2014', Set::kExtended2, 0x2A, '-'},
    {U'\u00a9', Set::kExtended2, 0x2B, 'c'},
    {U'\u2120', Set::kExtended2, 0x2C, 'S'},
    {U'\u2022', Set::kExtended2, 0x2D, '.'},
    {U'\u201c', Set::kExtended2, 0x2E, '"'},
    {U'\u201d', Set::kExtended2, 0x2F, '"'},
    {U'\u00c0', Set::kExtended2, 0x30, 'A'},
    {U'\u00c2', Set::kExtended2, 0x31, 'A'},
    {U'\u00c7', Set::kExtended2, 0x32, 'C'},
    {U'\u00c8', Set::kExtended2, 0x33, 'E'},
    {U'\u00ca', Set::kExtended2, 0x34, 'E'},
    {U'\u00cb', Set::kExtended2, 0x35, 'E'},
    {U'\u00eb', Set::kExtended2, 0x36, 'e'},
    {U'\u00ce', Set::kExtended2, 0x37, 'I'},
    {U'\u00cf', Set::kExtended2, 0x38, 'I'},
    {U'\u00ef', Set::kExtended2, 0x39, 'i'},
    {U'\u00d4', Set::kExtended2, 0x3A, 'O'},
    {U'\u00d9', Set::kExtended2, 0x3B, 'U'},
    {U'\u00f9', Set::kExtended2, 0x3C, 'u'},
    {U'\u00db', Set::kExtended2, 0x3D, 'U'},
    {U'\u00ab', Set::kExtended2, 0x3E, '"'},
    {U'\u00bb', Set::kExtended2, 0x3F, '"'},
    // Extended Western European, Portuguese/German/Danish (0x13).
    {U'\u00c3', Set::kExtended3, 0x20, 'A'},
    {U'\u00e3', Set::kExtended3, 0x21, 'a'},
    {U'\u00cd', Set::kExtended3, 0x22, 'I'},
    {U'\u00cc', Set::kExtended3, 0x23, 'I'},
    {U'\u00ec', Set::kExtended3, 0x24, 'i'},
    {U'\u00d2', Set::kExtended3, 0x25, 'O'},
    {U'\u00f2', Set::kExtended3, 0x26, 'o'},
    {U'\u00d5', Set::kExtended3, 0x27, 'O'},
    {U'\u00f5', Set::kExtended3, 0x28, 'o'},
    {U'{', Set::kExtended3, 0x29, '('},
    {U'}', Set::kExtended3, 0x2A, ')'},
    {U'\\', Set::kExtended3, 0x2B, '/'},
    {U'^', Set::kExtended3, 0x2C, '\''},
    {U'_', Set::kExtended3, 0x2D, '-'},
    {U'|', Set::kExtended3, 0x2E, '!'},
    {U'~', Set::kExtended3, 0x2F, '-'},
    {U'\u00c4', Set::kExtended3, 0x30, 'A'},
    {U'\u00e4', Set::kExtended3, 0x31, 'a'},
    {U'\u00d6', Set::kExtended3, 0x32, 'O'},
    {U'\u00f6', Set::kExtended3, 0x33, 'o'},
    {U'\u00df', Set::kExtended3, 0x34, 's'},
    {U'\u00a5', Set::kExtended3, 0x35, 'Y'},
    {U'\u00a4', Set::kExtended3, 0x36, '$'},
    {U'\u00a6', Set::kExtended3, 0x37, '!'},
    {U'\u00c5', Set::kExtended3, 0x38, 'A'},
    {U'\u00e5', Set::kExtended3, 0x39, 'a'},
    {U'\u00d8', Set::kExtended3, 0x3A, 'O'},
    {U'\u00f8', Set::kExtended3, 0x3B, 'o'},
    {U'\u250c', Set::kExtended3, 0x3C, '+'},
    {U'\u2510', Set::kExtended3, 0x3D, '+'},
    {U'\u2514', Set::kExtended3, 0x3E, '+'},
    {U'\u2518', Set::kExtended3, 0x3F, '+'},
};

// Basic-set bytes that are not the ASCII character of the same code.
bool basic_differs_from_ascii(uint8_t code) {
  switch (code) {
    case 0x2A:
    case 0x5C:
    case 0x5E:
    case 0x5F:
    case 0x60:
    case 0x7B:
    case 0x7C:
    case 0x7D:
    case 0x7E:
    case 0x7F:
      return true;
    default:
      return false;
  }
}

Glyph basic(uint8_t code) {
  return Glyph{Set::kBasic, code, 0};
}

// Latin Extended-A (U+0100-U+017F) by base letter; '?' marks the ligatures spelled with two.
constexpr char kLatinExtendedA[] =
    "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIi??JjKkkLlLlLlL"
    "lLlNnNnNnnNnOoOoOo??RrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs";

std::vector<Glyph> ascii(const char* text) {
  std::vector<Glyph> out;
  for (; *text; ++text) out.push_back(basic(static_cast<uint8_t>(*text)));
  return out;
}

// Transliterations of the code points without a 608 form; nullptr when there is none.
const char* transliteration(char32_t c) {
  switch (c) {
    case U'\u00c6':
      return "AE";
    case U'\u00e6':
      return "ae";
    case U'\u00d0':
      return "D";
    case U'\u00f0':
      return "d";
    case U'\u00dd':
      return "Y";
    case U'\u00fd':
      return "y";
    case U'\u00ff':
      return "y";
    case U'\u00de':
      return "TH";
    case U'\u00fe':
      return "th";
    case U'\u0132':
      return "IJ";
    case U'\u0133':
      return "ij";
    case U'\u0152':
      return "OE";
    case U'\u0153':
      return "oe";
    // Typographic punctuation with a plain equivalent.
    case U'`':
      return "'";
    case U'\u00d7':
      return "x";
    case U'\u2010':
    case U'\u2011':
    case U'\u2012':
    case U'\u2013':
    case U'\u2212':
      return "-";
    case U'\u2026':
      return "...";
    case U'\u201a':
      return ",";
    case U'\u201e':
    case U'\u2033':
      return "\"";
    case U'\u2032':
      return "'";
    default:
      break;
  }
  return nullptr;
}

bool is_space(char32_t c) {
  return c == U' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// Code points that carry nothing to show: other controls, combining marks (a decomposed accent
// leaves its base letter, the transliteration), zero-width characters.
bool is_ignored(char32_t c) {
  return c < 0x20 || (c >= 0x7F && c <= 0x9F) || (c >= 0x0300 && c <= 0x036F) ||
         (c >= 0x200B && c <= 0x200D) || c == 0xFEFF;
}

// Decodes one code point at `i`, advancing it; an invalid sequence yields U+FFFD for one byte.
char32_t decode_utf8(std::string_view s, size_t& i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(i);
  int length = 0;
  char32_t c = 0;
  if (b0 < 0x80) {
    ++i;
    return b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    length = 2;
    c = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    length = 3;
    c = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    length = 4;
    c = b0 & 0x07;
  } else {
    ++i;
    return 0xFFFD;
  }
  if (i + length > s.size()) {
    ++i;
    return 0xFFFD;
  }
  for (int k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    c = (c << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < kMin[length] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
    ++i;
    return 0xFFFD;
  }
  i += length;
  return c;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

bool is_control_pair(Pair pair) {
  const uint8_t first = pair.first & 0x7F;
  return first >= 0x10 && first <= 0x1F;
}

Atom doubled(Pair pair) {
  return Atom{pair, pair};
}

Control roll_up_code(int depth) {
  return depth == 4 ? Control::kRU4 : depth == 3 ? Control::kRU3 : Control::kRU2;
}

}  // namespace

uint8_t with_parity(uint8_t code) {
  code &= 0x7F;
  int ones = 0;
  for (uint8_t b = code; b != 0; b >>= 1) ones += b & 1;
  return (ones % 2 == 0) ? static_cast<uint8_t>(code | 0x80) : code;
}

bool has_odd_parity(uint8_t byte) {
  int ones = 0;
  for (uint8_t b = byte; b != 0; b >>= 1) ones += b & 1;
  return ones % 2 == 1;
}

Pair make_pair(uint8_t first, uint8_t second) {
  return Pair{with_parity(first), with_parity(second)};
}

Pair control(Control code) {
  return make_pair(kMiscControl, static_cast<uint8_t>(code));
}

Pair preamble(int row, int column) {
  // First byte and 0x40/0x60 half of the second byte by row (CEA-608 PAC table, channel 1).
  static constexpr uint8_t kFirst[kRows + 1] = {0,    0x11, 0x11, 0x12, 0x12, 0x15, 0x15, 0x16,
                                                0x16, 0x17, 0x17, 0x10, 0x13, 0x13, 0x14, 0x14};
  static constexpr uint8_t kSecond[kRows + 1] = {0,    0x40, 0x60, 0x40, 0x60, 0x40, 0x60, 0x40,
                                                 0x60, 0x40, 0x60, 0x40, 0x40, 0x60, 0x40, 0x60};
  row = std::clamp(row, 1, kRows);
  column = std::clamp(column, 0, kColumns - 1);
  // 0x50 + 2k: white, indent 4k.
  const uint8_t indent = static_cast<uint8_t>(0x10 | ((column / 4) << 1));
  return make_pair(kFirst[row], static_cast<uint8_t>(kSecond[row] | indent));
}

Pair tab_offset(int columns) {
  return make_pair(kTabOffset, static_cast<uint8_t>(0x20 + std::clamp(columns, 1, 3)));
}

std::vector<Glyph> map_code_point(char32_t c) {
  if (c >= 0x20 && c < 0x7F && !basic_differs_from_ascii(static_cast<uint8_t>(c))) {
    return {basic(static_cast<uint8_t>(c))};
  }
  for (const Entry& entry : kTable) {
    if (entry.code_point == c) return {Glyph{entry.set, entry.code, entry.fallback}};
  }
  if (const char* text = transliteration(c)) return ascii(text);
  if (c >= 0x100 && c <= 0x17F) {
    const char letter = kLatinExtendedA[c - 0x100];
    if (letter != '?') return {basic(static_cast<uint8_t>(letter))};
  }
  return {basic('?')};
}

std::vector<Glyph> map_text(std::string_view utf8) {
  std::vector<Glyph> out;
  bool space = false;
  for (size_t i = 0; i < utf8.size();) {
    const char32_t c = decode_utf8(utf8, i);
    if (is_space(c)) {
      space = true;
      continue;
    }
    if (is_ignored(c)) continue;
    if (space && !out.empty()) out.push_back(basic(' '));
    space = false;
    for (const Glyph& glyph : map_code_point(c)) out.push_back(glyph);
  }
  return out;
}

std::string to_utf8(const std::vector<Glyph>& glyphs) {
  std::string out;
  for (const Glyph& glyph : glyphs) {
    if (glyph.set == Set::kBasic && glyph.code == 0x27) {
      out += '\'';
      continue;
    }
    if (glyph.set == Set::kBasic && !basic_differs_from_ascii(glyph.code)) {
      out += static_cast<char>(glyph.code);
      continue;
    }
    char32_t c = U'?';
    for (const Entry& entry : kTable) {
      if (entry.set == glyph.set && entry.code == glyph.code) {
        c = entry.code_point;
        break;
      }
    }
    append_utf8(out, c);
  }
  return out;
}

std::vector<Row> wrap(const std::vector<Glyph>& text, int width) {
  width = std::max(width, 1);
  std::vector<Word> words(1);
  for (const Glyph& glyph : text) {
    if (glyph.set == Set::kBasic && glyph.code == ' ') {
      if (!words.back().empty()) words.emplace_back();
    } else {
      words.back().push_back(glyph);
    }
  }
  std::vector<Row> rows;
  Row row;
  size_t length = 0;
  for (Word& word : words) {
    // A word longer than a row fills rows of its own.
    while (word.size() > static_cast<size_t>(width)) {
      if (!row.empty()) rows.push_back(std::move(row));
      row.clear();
      length = 0;
      rows.push_back(Row{Word(word.begin(), word.begin() + width)});
      word.erase(word.begin(), word.begin() + width);
    }
    if (word.empty()) continue;
    if (!row.empty() && length + 1 + word.size() > static_cast<size_t>(width)) {
      rows.push_back(std::move(row));
      row.clear();
      length = 0;
    }
    length += (row.empty() ? 0 : 1) + word.size();
    row.push_back(std::move(word));
  }
  if (!row.empty()) rows.push_back(std::move(row));
  return rows;
}

std::vector<Glyph> row_glyphs(const Row& row) {
  std::vector<Glyph> out;
  for (const Word& word : row) {
    if (!out.empty()) out.push_back(basic(' '));
    out.insert(out.end(), word.begin(), word.end());
  }
  return out;
}

std::vector<Atom> encode(const std::vector<Glyph>& glyphs) {
  std::vector<Atom> atoms;
  int pending = -1;  // a basic character waiting for the second byte of its pair
  const auto put_basic = [&](uint8_t code) {
    if (pending < 0) {
      pending = code;
    } else {
      atoms.push_back(Atom{make_pair(static_cast<uint8_t>(pending), code)});
      pending = -1;
    }
  };
  const auto flush = [&] {
    if (pending >= 0) atoms.push_back(Atom{make_pair(static_cast<uint8_t>(pending), 0x00)});
    pending = -1;
  };
  for (const Glyph& glyph : glyphs) {
    switch (glyph.set) {
      case Set::kBasic:
        put_basic(glyph.code);
        break;
      case Set::kSpecial:
        flush();
        atoms.push_back(doubled(make_pair(kSpecialSet, glyph.code)));
        break;
      case Set::kExtended2:
      case Set::kExtended3:
        // The decoder backspaces over the character before an extended one: send the fallback.
        put_basic(glyph.fallback);
        flush();
        atoms.push_back(doubled(
            make_pair(glyph.set == Set::kExtended2 ? kExtendedSet2 : kExtendedSet3, glyph.code)));
        break;
    }
  }
  flush();
  // Two identical control atoms in a row would read as one code and its redundant copy.
  std::vector<Atom> out;
  for (Atom& atom : atoms) {
    if (!out.empty() && is_control_pair(atom.front()) && out.back().back() == atom.front()) {
      out.push_back(Atom{kNullPair});
    }
    out.push_back(std::move(atom));
  }
  return out;
}

std::vector<Pair> flatten(const std::vector<Atom>& atoms) {
  std::vector<Pair> out;
  for (const Atom& atom : atoms) out.insert(out.end(), atom.begin(), atom.end());
  return out;
}

size_t Encoder::Unit::pairs() const {
  size_t n = 0;
  for (const Atom& atom : atoms) n += atom.size();
  return n;
}

size_t Encoder::Job::lead() const {
  if (units.empty()) return 0;
  if (!pop_on) return units.front().pairs();  // the head: mode, CR, PAC
  size_t n = 0;
  for (size_t i = 0; i + 1 < units.size(); ++i) n += units[i].pairs();  // all but the EOC
  return n;
}

size_t Encoder::Job::pairs() const {
  size_t n = 0;
  for (const Unit& unit : units) n += unit.pairs();
  return n;
}

uint32_t Encoder::Job::words() const {
  uint32_t n = 0;
  for (const Unit& unit : units) n += unit.words;
  return n;
}

Encoder::Encoder(Options options) {
  set_options(options);
}

void Encoder::set_options(const Options& options) {
  options_ = options;
  options_.origin_row = std::clamp(options_.origin_row, 1, kRows);
  options_.origin_column = std::clamp(options_.origin_column, 0, kColumns - 1);
  if (!(options_.fps > 0)) options_.fps = 30000.0 / 1001.0;
}

void Encoder::reset() {
  jobs_.clear();
  started_ = false;
  out_.clear();
  atom_.clear();
  erase_at_ = kNoFrame;
  erasing_ = false;
  last_ = kNullPair;
}

int Encoder::lookahead() const {
  if (options_.mode == Mode::kPopOn) {
    return static_cast<int>(std::ceil(kPopOnLookaheadSeconds * options_.fps));
  }
  return 6 + (options_.origin_column % 4 != 0 ? 2 : 0);
}

bool Encoder::idle() const {
  return jobs_.empty() && out_.empty() && atom_.empty() && erase_at_ == kNoFrame && !erasing_;
}

// The codes that put the cursor at the start of `row`.
static void place_cursor(std::vector<Atom>& atoms, int row, int column) {
  atoms.push_back(doubled(preamble(row, column)));
  if (column % 4 != 0) atoms.push_back(doubled(tab_offset(column % 4)));
}

Encoder::Job Encoder::roll_up_job(const std::vector<Row>& rows, int depth) const {
  Job job;
  const int base = std::max(options_.origin_row, depth);
  const int column = options_.origin_column;
  // Head: the mode (a decoder tuning in mid-stream learns it), a new base row, the cursor.
  Unit head;
  head.atoms.push_back(doubled(control(roll_up_code(depth))));
  head.atoms.push_back(doubled(control(Control::kCR)));
  place_cursor(head.atoms, base, column);
  job.units.push_back(std::move(head));
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t w = 0; w < rows[r].size(); ++w) {
      Unit unit;
      unit.droppable = true;
      unit.words = 1;
      if (r > 0 && w == 0) {
        unit.atoms.push_back(doubled(control(Control::kCR)));
        place_cursor(unit.atoms, base, column);
      }
      std::vector<Glyph> glyphs;
      if (w > 0) glyphs.push_back(basic(' '));
      glyphs.insert(glyphs.end(), rows[r][w].begin(), rows[r][w].end());
      for (Atom& atom : encode(glyphs)) unit.atoms.push_back(std::move(atom));
      job.units.push_back(std::move(unit));
    }
  }
  return job;
}

Encoder::Job Encoder::pop_on_job(const std::vector<Row>& rows) const {
  Job job;
  job.pop_on = true;
  const int count = static_cast<int>(rows.size());
  const int top = std::max(1, options_.origin_row - count + 1);
  Unit head;
  head.atoms.push_back(doubled(control(Control::kRCL)));
  head.atoms.push_back(doubled(control(Control::kENM)));
  job.units.push_back(std::move(head));
  for (int r = 0; r < count; ++r) {
    for (size_t w = 0; w < rows[r].size(); ++w) {
      Unit unit;
      unit.droppable = true;
      unit.words = 1;
      if (w == 0) place_cursor(unit.atoms, std::min(top + r, kRows), options_.origin_column);
      std::vector<Glyph> glyphs;
      if (w > 0) glyphs.push_back(basic(' '));
      glyphs.insert(glyphs.end(), rows[r][w].begin(), rows[r][w].end());
      for (Atom& atom : encode(glyphs)) unit.atoms.push_back(std::move(atom));
      job.units.push_back(std::move(unit));
    }
  }
  Unit tail;
  tail.atoms.push_back(doubled(control(Control::kEOC)));
  job.units.push_back(std::move(tail));
  return job;
}

void Encoder::add(int64_t start, int64_t end, std::string_view utf8) {
  const std::vector<Glyph> glyphs = map_text(utf8);
  if (glyphs.empty()) return;
  const std::vector<Row> rows = wrap(glyphs, kColumns - options_.origin_column);
  if (options_.mode != Mode::kPopOn) {
    const int depth = options_.mode == Mode::kRollUp4 ? 4 : options_.mode == Mode::kRollUp3 ? 3 : 2;
    Job job = roll_up_job(rows, depth);
    job.start = start;
    jobs_.push_back(std::move(job));
    return;
  }
  // Pop-on shows kPopOnRows rows at most: a longer caption becomes pages sharing its duration.
  const int64_t pages = (static_cast<int64_t>(rows.size()) + kPopOnRows - 1) / kPopOnRows;
  const int64_t page_frames = std::max<int64_t>(1, std::llround(kPageSeconds * options_.fps));
  const auto page_start = [&](int64_t k) {
    if (end != kNoFrame && end > start) return start + (end - start) * k / pages;
    return start + k * page_frames;
  };
  for (int64_t k = 0; k < pages; ++k) {
    const auto first = rows.begin() + k * kPopOnRows;
    const auto last = rows.begin() + std::min<int64_t>((k + 1) * kPopOnRows, rows.size());
    Job job = pop_on_job(std::vector<Row>(first, last));
    job.start = page_start(k);
    job.end = k + 1 < pages ? page_start(k + 1) : end;
    jobs_.push_back(std::move(job));
  }
}

int64_t Encoder::begin(const Job& job) {
  return job.start - static_cast<int64_t>(job.lead());
}

void Encoder::drop_front_job() {
  words_dropped_ += jobs_.front().words();
  ++captions_dropped_;
  jobs_.pop_front();
}

void Encoder::trim_current(int64_t frame) {
  if (jobs_.size() < 2) return;
  Job& job = jobs_.front();
  const int64_t next_begin = begin(jobs_[1]);
  while (frame + static_cast<int64_t>(job.pairs()) > next_begin) {
    // The newest words of the older caption give way (its end), the mandatory codes stay.
    auto it = std::find_if(job.units.rbegin(), job.units.rend(),
                           [](const Unit& unit) { return unit.droppable; });
    if (it == job.units.rend()) break;
    words_dropped_ += it->words;
    job.units.erase(std::next(it).base());
  }
}

bool Encoder::take_atom(int64_t frame) {
  while (out_.empty()) {
    if (!started_) {
      if (jobs_.empty() || frame < begin(jobs_.front())) return false;
      if (jobs_.size() > 1) {
        // Dropped whole when not even its first word would be out before the next must begin.
        const Job& job = jobs_.front();
        size_t minimum = 0;
        bool first_word = true;
        for (const Unit& unit : job.units) {
          if (!unit.droppable || first_word) minimum += unit.pairs();
          if (unit.droppable) first_word = false;
        }
        if (frame + static_cast<int64_t>(minimum) > begin(jobs_[1])) {
          drop_front_job();
          continue;
        }
      }
      started_ = true;
      // A pop-on caption displayed before the previous one's end replaces it: no erase.
      if (jobs_.front().pop_on && jobs_.front().start <= erase_at_) erase_at_ = kNoFrame;
    }
    trim_current(frame);
    Job& job = jobs_.front();
    if (job.units.empty()) {
      jobs_.pop_front();
      started_ = false;
      continue;
    }
    Unit unit = std::move(job.units.front());
    job.units.pop_front();
    if (job.pop_on && job.units.empty()) erase_at_ = job.end;  // the EOC goes out now
    for (Atom& atom : unit.atoms) out_.push_back(std::move(atom));
  }
  return true;
}

Pair Encoder::emit(Pair pair) {
  last_ = pair;
  return pair;
}

Pair Encoder::next(int64_t frame) {
  if (erasing_) {
    erasing_ = false;
    return emit(control(Control::kEDM));
  }
  if (!atom_.empty()) {
    const Pair pair = atom_.front();
    atom_.pop_front();
    return emit(pair);
  }
  if (erase_at_ != kNoFrame && frame >= erase_at_) {
    erase_at_ = kNoFrame;
    erasing_ = true;
    return emit(control(Control::kEDM));
  }
  if (!take_atom(frame)) return emit(kNullPair);
  const Atom& atom = out_.front();
  // An atom never straddles the erase, and a control code never follows its own copy.
  if (erase_at_ != kNoFrame && frame + static_cast<int64_t>(atom.size()) > erase_at_) {
    return emit(kNullPair);
  }
  if (is_control_pair(atom.front()) && atom.front() == last_) return emit(kNullPair);
  atom_.assign(atom.begin(), atom.end());
  out_.pop_front();
  const Pair pair = atom_.front();
  atom_.pop_front();
  return emit(pair);
}

}  // namespace cea608
}  // namespace gstslowfast
