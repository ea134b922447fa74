// CEA-608 encoder (gst/cea608.h) against hand-computed byte sequences: parity, doubled control
// codes, PACs, the character sets, the fallback, word wrap, roll-up and pop-on sequences, idle
// null pairs and the pacing policy. The expected bytes are written out here (parity included),
// computed independently of the encoder; a small decoder model checks what a viewer would see.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "cea608.h"

using namespace gstslowfast::cea608;

namespace {

struct ExtendedCase {
  const char* text;
  uint8_t fallback, first, second;
};
struct SpecialCase {
  const char* text;
  uint8_t second;
};

// Extended characters: code point, fallback byte, first byte, second byte (parity included).
const ExtendedCase kExtended[] = {
    {u8"\u00c1", 0xC1, 0x92, 0x20},  // 0x12 0x20
    {u8"\u00c9", 0x45, 0x92, 0xA1},  // 0x12 0x21
    {u8"\u00d3", 0x4F, 0x92, 0xA2},  // 0x12 0x22
    {u8"\u00da", 0xD5, 0x92, 0x23},  // 0x12 0x23
    {u8"\u00dc", 0xD5, 0x92, 0xA4},  // 0x12 0x24
    {u8"\u00fc", 0x75, 0x92, 0x25},  // 0x12 0x25
    {u8"\u00b4", 0xA7, 0x92, 0x26},  // 0x12 0x26
    {u8"\u00a1", 0xA1, 0x92, 0xA7},  // 0x12 0x27
    {u8"*", 0xAE, 0x92, 0xA8},       // 0x12 0x28
    {u8"\u2018", 0xA7, 0x92, 0x29},  // 0x12 0x29
    {u8"\u2014", 0xAD, 0x92, 0x2A},  // 0x12 0x2A
    {u8"\u00a9", 0xE3, 0x92, 0xAB},  // 0x12 0x2B
    {u8"\u2120", 0xD3, 0x92, 0x2C},  // 0x12 0x2C
    {u8"\u2022", 0xAE, 0x92, 0xAD},  // 0x12 0x2D
    {u8"\u201c", 0xA2, 0x92, 0xAE},  // 0x12 0x2E
    {u8"\u201d", 0xA2, 0x92, 0x2F},  // 0x12 0x2F
    {u8"\u00c0", 0xC1, 0x92, 0xB0},  // 0x12 0x30
    {u8"\u00c2", 0xC1, 0x92, 0x31},  // 0x12 0x31
    {u8"\u00c7", 0x43, 0x92, 0x32},  // 0x12 0x32
    {u8"\u00c8", 0x45, 0x92, 0xB3},  // 0x12 0x33
    {u8"\u00ca", 0x45, 0x92, 0x34},  // 0x12 0x34
    {u8"\u00cb", 0x45, 0x92, 0xB5},  // 0x12 0x35
    {u8"\u00eb", 0xE5, 0x92, 0xB6},  // 0x12 0x36
    {u8"\u00ce", 0x49, 0x92, 0x37},  // 0x12 0x37
    {u8"\u00cf", 0x49, 0x92, 0x38},  // 0x12 0x38
    {u8"\u00ef", 0xE9, 0x92, 0xB9},  // 0x12 0x39
    {u8"\u00d4", 0x4F, 0x92, 0xBA},  // 0x12 0x3A
    {u8"\u00d9", 0xD5, 0x92, 0x3B},  // 0x12 0x3B
    {u8"\u00f9", 0x75, 0x92, 0xBC},  // 0x12 0x3C
    {u8"\u00db", 0xD5, 0x92, 0x3D},  // 0x12 0x3D
    {u8"\u00ab", 0xA2, 0x92, 0x3E},  // 0x12 0x3E
    {u8"\u00bb", 0xA2, 0x92, 0xBF},  // 0x12 0x3F
    {u8"\u00c3", 0xC1, 0x13, 0x20},  // 0x13 0x20
    {u8"\u00e3", 0x61, 0x13, 0xA1},  // 0x13 0x21
    {u8"\u00cd", 0x49, 0x13, 0xA2},  // 0x13 0x22
    {u8"\u00cc", 0x49, 0x13, 0x23},  // 0x13 0x23
    {u8"\u00ec", 0xE9, 0x13, 0xA4},  // 0x13 0x24
    {u8"\u00d2", 0x4F, 0x13, 0x25},  // 0x13 0x25
    {u8"\u00f2", 0xEF, 0x13, 0x26},  // 0x13 0x26
    {u8"\u00d5", 0x4F, 0x13, 0xA7},  // 0x13 0x27
    {u8"\u00f5", 0xEF, 0x13, 0xA8},  // 0x13 0x28
    {u8"{", 0xA8, 0x13, 0x29},       // 0x13 0x29
    {u8"}", 0x29, 0x13, 0x2A},       // 0x13 0x2A
    {u8"\\", 0x2F, 0x13, 0xAB},      // 0x13 0x2B
    {u8"^", 0xA7, 0x13, 0x2C},       // 0x13 0x2C
    {u8"_", 0xAD, 0x13, 0xAD},       // 0x13 0x2D
    {u8"|", 0xA1, 0x13, 0xAE},       // 0x13 0x2E
    {u8"~", 0xAD, 0x13, 0x2F},       // 0x13 0x2F
    {u8"\u00c4", 0xC1, 0x13, 0xB0},  // 0x13 0x30
    {u8"\u00e4", 0x61, 0x13, 0x31},  // 0x13 0x31
    {u8"\u00d6", 0x4F, 0x13, 0x32},  // 0x13 0x32
    {u8"\u00f6", 0xEF, 0x13, 0xB3},  // 0x13 0x33
    {u8"\u00df", 0x73, 0x13, 0x34},  // 0x13 0x34
    {u8"\u00a5", 0xD9, 0x13, 0xB5},  // 0x13 0x35
    {u8"\u00a4", 0xA4, 0x13, 0xB6},  // 0x13 0x36
    {u8"\u00a6", 0xA1, 0x13, 0x37},  // 0x13 0x37
    {u8"\u00c5", 0xC1, 0x13, 0x38},  // 0x13 0x38
    {u8"\u00e5", 0x61, 0x13, 0xB9},  // 0x13 0x39
    {u8"\u00d8", 0x4F, 0x13, 0xBA},  // 0x13 0x3A
    {u8"\u00f8", 0xEF, 0x13, 0x3B},  // 0x13 0x3B
    {u8"\u250c", 0xAB, 0x13, 0xBC},  // 0x13 0x3C
    {u8"\u2510", 0xAB, 0x13, 0x3D},  // 0x13 0x3D
    {u8"\u2514", 0xAB, 0x13, 0x3E},  // 0x13 0x3E
    {u8"\u2518", 0xAB, 0x13, 0xBF},  // 0x13 0x3F
};
// Special characters (first byte 0x91): code point, second byte.
const SpecialCase kSpecial[] = {
    {u8"\u00ae", 0xB0},  // 0x11 0x30
    {u8"\u00b0", 0x31},  // 0x11 0x31
    {u8"\u00bd", 0x32},  // 0x11 0x32
    {u8"\u00bf", 0xB3},  // 0x11 0x33
    {u8"\u2122", 0x34},  // 0x11 0x34
    {u8"\u00a2", 0xB5},  // 0x11 0x35
    {u8"\u00a3", 0xB6},  // 0x11 0x36
    {u8"\u266a", 0x37},  // 0x11 0x37
    {u8"\u00e0", 0x38},  // 0x11 0x38
    {u8"\u00a0", 0xB9},  // 0x11 0x39
    {u8"\u00e8", 0xBA},  // 0x11 0x3A
    {u8"\u00e2", 0x3B},  // 0x11 0x3B
    {u8"\u00ea", 0xBC},  // 0x11 0x3C
    {u8"\u00ee", 0x3D},  // 0x11 0x3D
    {u8"\u00f4", 0x3E},  // 0x11 0x3E
    {u8"\u00fb", 0xBF},  // 0x11 0x3F
};

std::vector<Pair> pairs_of(const std::string& text) {
  return flatten(encode(map_text(text)));
}

std::vector<Pair> run(Encoder& encoder, int64_t from, int64_t to) {
  std::vector<Pair> out;
  for (int64_t f = from; f < to; ++f) out.push_back(encoder.next(f));
  return out;
}

std::string hex(const std::vector<Pair>& pairs) {
  std::string out;
  char buf[8];
  for (const Pair& p : pairs) {
    snprintf(buf, sizeof buf, "%s%02X%02X", out.empty() ? "" : " ", p.first, p.second);
    out += buf;
  }
  return out;
}

// A minimal CC1 decoder, written from the standard's description and independent of the encoder:
// displayed and non-displayed memories of 15 rows, roll-up, pop-on, the redundancy rule (a
// control pair equal to the one just before is ignored) and the extended characters' backspace.
class Decoder {
 public:
  void feed(Pair pair) {
    ASSERT_TRUE(has_odd_parity(pair.first) && has_odd_parity(pair.second));
    const uint8_t a = pair.first & 0x7F, b = pair.second & 0x7F;
    if (a == 0 && b == 0) {
      previous_ = {0, 0};
      return;
    }
    if (a >= 0x10 && a <= 0x1F) {
      if (previous_ == std::pair<uint8_t, uint8_t>{a, b}) {
        previous_ = {0, 0};
        return;
      }
      previous_ = {a, b};
      control(a, b);
      return;
    }
    previous_ = {0, 0};
    put(std::string(1, static_cast<char>(a)));
    if (b >= 0x20) put(std::string(1, static_cast<char>(b)));
  }
  std::string row(int r) const { return shown_[r]; }
  // The displayed rows, top to bottom, joined by '|'.
  std::string screen() const {
    std::string out;
    for (int r = 1; r <= kRows; ++r) {
      if (shown_[r].empty()) continue;
      if (!out.empty()) out += '|';
      out += shown_[r];
    }
    return out;
  }
  int cursor_row() const { return row_; }

 private:
  std::string* target() { return pop_on_ ? &hidden_[row_] : &shown_[row_]; }
  void put(const std::string& c) {
    std::string* line = target();
    if (line->size() < static_cast<size_t>(column_)) line->resize(column_, ' ');
    // Rows hold single-byte basic characters; others are kept as one "cell" each via markers.
    cells(line)[column_] = c;
    ++column_;
  }
  std::vector<std::string>& cells(std::string* line) {
    auto& v = cell_store_[line];
    if (v.size() < kColumns) v.resize(kColumns);
    v.resize(std::max<size_t>(v.size(), kColumns));
    rebuild_on_exit_ = line;
    return v;
  }
  void rebuild(std::string* line) {
    auto& v = cell_store_[line];
    std::string out;
    for (const std::string& c : v) out += c.empty() ? " " : c;
    while (!out.empty() && out.back() == ' ') out.pop_back();
    *line = out;
  }
  void clear(std::string* rows) {
    for (int r = 0; r <= kRows; ++r) {
      rows[r].clear();
      cell_store_.erase(&rows[r]);
    }
  }
  void control(uint8_t a, uint8_t b) {
    if (a == 0x14 && b >= 0x20 && b <= 0x2F) {
      switch (b) {
        case 0x20:
          pop_on_ = true;
          break;
        case 0x25:
        case 0x26:
        case 0x27:
          pop_on_ = false;
          depth_ = b - 0x23;
          break;
        case 0x2C:
          clear(shown_);
          break;
        case 0x2E:
          clear(hidden_);
          break;
        case 0x2F:
          for (int r = 0; r <= kRows; ++r) {
            std::swap(shown_[r], hidden_[r]);
            std::swap(cell_store_[&shown_[r]], cell_store_[&hidden_[r]]);
          }
          break;
        case 0x2D:
          if (!pop_on_) {
            for (int r = row_ - depth_ + 1; r < row_; ++r) {
              if (r < 1) continue;
              shown_[r] = shown_[r + 1];
              cell_store_[&shown_[r]] = cell_store_[&shown_[r + 1]];
            }
            for (int r = 1; r <= row_ - depth_; ++r) clear_row(shown_, r);
            clear_row(shown_, row_);
            column_ = 0;
          }
          break;
      }
      return;
    }
    if (a == 0x17 && b >= 0x21 && b <= 0x23) {
      column_ += b - 0x20;
      return;
    }
    if ((a == 0x11 || a == 0x12 || a == 0x13) && b >= 0x20 && b <= 0x3F) {
      if (a == 0x11 && b < 0x30) return;        // mid-row codes: not used
      if (a != 0x11 && column_ > 0) --column_;  // extended: replaces the character before
      put(std::string(1, static_cast<char>(a)) + static_cast<char>(b));
      return;
    }
    if (b >= 0x40 && b <= 0x7F) {  // PAC
      static const std::map<int, int> rows = {
          {0x11 * 2, 1},      {0x11 * 2 + 1, 2},  {0x12 * 2, 3},     {0x12 * 2 + 1, 4},
          {0x15 * 2, 5},      {0x15 * 2 + 1, 6},  {0x16 * 2, 7},     {0x16 * 2 + 1, 8},
          {0x17 * 2, 9},      {0x17 * 2 + 1, 10}, {0x10 * 2, 11},    {0x13 * 2, 12},
          {0x13 * 2 + 1, 13}, {0x14 * 2, 14},     {0x14 * 2 + 1, 15}};
      const auto it = rows.find(a * 2 + ((b & 0x20) ? 1 : 0));
      ASSERT_NE(it, rows.end());
      row_ = it->second;
      column_ = (b & 0x10) ? ((b & 0x0E) >> 1) * 4 : 0;
    }
  }
  void clear_row(std::string* rows, int r) {
    rows[r].clear();
    cell_store_.erase(&rows[r]);
  }

 public:
  // Rows are rebuilt from their cells after every pair.
  void settle() {
    for (int r = 0; r <= kRows; ++r) {
      if (cell_store_.count(&shown_[r])) rebuild(&shown_[r]);
      if (cell_store_.count(&hidden_[r])) rebuild(&hidden_[r]);
    }
  }

 private:
  std::string shown_[kRows + 1], hidden_[kRows + 1];
  std::map<std::string*, std::vector<std::string>> cell_store_;
  std::string* rebuild_on_exit_ = nullptr;
  std::pair<uint8_t, uint8_t> previous_{0, 0};
  bool pop_on_ = false;
  int depth_ = 2;
  int row_ = 15;
  int column_ = 0;
};

// Feeds frames [from, to) into a decoder, returning the screen after each frame.
std::vector<std::string> watch(Encoder& encoder, Decoder& decoder, int64_t from, int64_t to) {
  std::vector<std::string> screens;
  for (int64_t f = from; f < to; ++f) {
    decoder.feed(encoder.next(f));
    decoder.settle();
    screens.push_back(decoder.screen());
  }
  return screens;
}

}  // namespace

TEST(Cea608Parity, EveryCodeGetsOddParityAndKeepsItsBits) {
  for (int code = 0; code < 128; ++code) {
    const uint8_t byte = with_parity(static_cast<uint8_t>(code));
    EXPECT_TRUE(has_odd_parity(byte)) << code;
    EXPECT_EQ(byte & 0x7F, code);
  }
  EXPECT_EQ(with_parity(0x00), 0x80);
  EXPECT_EQ(with_parity(0x14), 0x94);
  EXPECT_EQ(with_parity(0x20), 0x20);
  EXPECT_EQ(with_parity('A'), 0xC1);
  EXPECT_EQ(with_parity(0x7F), 0x7F);
  EXPECT_FALSE(has_odd_parity(0x14));
}

TEST(Cea608Controls, MiscControlCodesOfCC1) {
  EXPECT_EQ(hex({control(Control::kRCL)}), "9420");
  EXPECT_EQ(hex({control(Control::kRU2)}), "9425");
  EXPECT_EQ(hex({control(Control::kRU3)}), "9426");
  EXPECT_EQ(hex({control(Control::kRU4)}), "94A7");
  EXPECT_EQ(hex({control(Control::kEOC)}), "942F");
  EXPECT_EQ(hex({control(Control::kEDM)}), "942C");
  EXPECT_EQ(hex({control(Control::kENM)}), "94AE");
  EXPECT_EQ(hex({control(Control::kCR)}), "94AD");
  EXPECT_EQ(hex({tab_offset(1), tab_offset(2), tab_offset(3)}), "97A1 97A2 9723");
}

TEST(Cea608Controls, PreambleAddressCodesForRows1To15) {
  const char* expected[kRows + 1] = {nullptr, "91D0", "9170", "92D0", "9270", "15D0",
                                     "1570",  "16D0", "1670", "97D0", "9770", "10D0",
                                     "13D0",  "1370", "94D0", "9470"};
  for (int row = 1; row <= kRows; ++row) EXPECT_EQ(hex({preamble(row, 0)}), expected[row]) << row;
  // Indents of 4 columns: row 15 column 8 (0x74), row 1 column 28 (0x5E); 30 rounds down to 28.
  EXPECT_EQ(hex({preamble(15, 8)}), "94F4");
  EXPECT_EQ(hex({preamble(1, 28)}), "915E");
  EXPECT_EQ(hex({preamble(1, 30)}), "915E");
}

TEST(Cea608Characters, BasicCharactersTwoPerPair) {
  EXPECT_EQ(hex(pairs_of("Hi")), "C8E9");
  EXPECT_EQ(hex(pairs_of("Hey")), "C8E5 7980");  // a lone character is padded with 0x00
  // The basic set where 608 differs from ASCII.
  EXPECT_EQ(hex(pairs_of(u8"\u00e1\u00e9")), "2ADC");  // á é
  EXPECT_EQ(hex(pairs_of(u8"\u00ed\u00f3")), "5EDF");  // í ó
  EXPECT_EQ(hex(pairs_of(u8"\u00fa\u00e7")), "E0FB");  // ú ç
  EXPECT_EQ(hex(pairs_of(u8"\u00f7\u00d1")), "7CFD");  // ÷ Ñ
  EXPECT_EQ(hex(pairs_of(u8"\u00f1\u2588")), "FE7F");  // ñ █
  EXPECT_EQ(to_utf8(map_text(u8"\u00e1\u00e9\u00ed\u00f3\u00fa\u00e7\u00f7\u00d1\u00f1\u2588")),
            u8"\u00e1\u00e9\u00ed\u00f3\u00fa\u00e7\u00f7\u00d1\u00f1\u2588");
}

TEST(Cea608Characters, EachSpecialCharacterIsADoubledCode) {
  for (const SpecialCase& c : kSpecial) {
    const std::vector<Atom> atoms = encode(map_text(c.text));
    ASSERT_EQ(atoms.size(), 1u) << c.text;
    const Pair pair{0x91, c.second};
    EXPECT_EQ(atoms[0], (Atom{pair, pair})) << c.text;
    EXPECT_EQ(to_utf8(map_text(c.text)), c.text);
  }
}

TEST(Cea608Characters, EachExtendedCharacterFollowsItsFallback) {
  for (const ExtendedCase& c : kExtended) {
    const std::vector<Atom> atoms = encode(map_text(c.text));
    const Pair code{c.first, c.second};
    ASSERT_EQ(atoms.size(), 2u) << c.text;
    EXPECT_EQ(atoms[0], (Atom{Pair{c.fallback, 0x80}})) << c.text;
    EXPECT_EQ(atoms[1], (Atom{code, code})) << c.text;
    EXPECT_EQ(to_utf8(map_text(c.text)), c.text);
  }
  // The fallback shares a pair with the character before; the decoder overwrites it.
  EXPECT_EQ(hex(pairs_of(u8"a\u00c4")), "61C1 13B0 13B0");
}

TEST(Cea608Characters, TheDecoderShowsTheExtendedCharacterNotItsFallback) {
  Encoder encoder;
  Decoder decoder;
  encoder.add(10, kNoFrame, u8"Stra\u00dfe \u00bfs\u00ed?");
  const std::vector<std::string> screens = watch(encoder, decoder, 0, 40);
  EXPECT_EQ(decoder.row(15), std::string("Stra") + "\x13\x34" + "e " + "\x11\x33" + "s^?");
}

TEST(Cea608Characters, FallbackForCharactersWithoutA608Form) {
  // Latin letters: transliterated.
  EXPECT_EQ(to_utf8(map_text(u8"\u0101\u0142\u017e\u0153\u00e6\u00fe")), "alzoeaeth");
  // A decomposed accent keeps its base letter.
  EXPECT_EQ(to_utf8(map_text(u8"cafe\u0301")), "cafe");
  // Typographic punctuation: its plain form.
  EXPECT_EQ(to_utf8(map_text(u8"a\u2013b\u2026")), "a-b...");
  // Anything else: '?', one per character, never dropped.
  EXPECT_EQ(to_utf8(map_text(u8"\u20ac5 \u4e2d\u6587 \U0001F600")), "?5 ?? ?");
  // Invalid UTF-8: '?' per bad byte.
  EXPECT_EQ(to_utf8(map_text("a\xff"
                             "b")),
            "a?b");
  EXPECT_EQ(hex(pairs_of(u8"\u20ac")), "BF80");
}

TEST(Cea608Characters, WhitespaceIsNormalized) {
  EXPECT_EQ(to_utf8(map_text("  A\tball\n\n moves.  ")), "A ball moves.");
  EXPECT_EQ(to_utf8(map_text("")), "");
}

TEST(Cea608Characters, RepeatedSpecialCharactersAreSeparatedByANullPair) {
  const Pair note{0x91, 0x37};
  EXPECT_EQ(encode(map_text(u8"\u266a\u266a")),
            (std::vector<Atom>{{note, note}, {kNullPair}, {note, note}}));
  Encoder encoder;
  Decoder decoder;
  encoder.add(10, kNoFrame, u8"\u266a\u266a");
  watch(encoder, decoder, 0, 30);
  EXPECT_EQ(decoder.row(15), "\x11\x37\x11\x37");
}

TEST(Cea608Wrap, WordsWrapAt32Columns) {
  const std::string text =
      "A white ball moves to the right and bounces off the edge of the screen.";
  std::vector<std::string> rows;
  for (const Row& row : wrap(map_text(text), kColumns)) rows.push_back(to_utf8(row_glyphs(row)));
  EXPECT_EQ(rows, (std::vector<std::string>{"A white ball moves to the right",
                                            "and bounces off the edge of the", "screen."}));
  for (const std::string& row : rows) EXPECT_LE(row.size(), 32u);
  // Exactly 32 columns fit; 33 do not.
  const std::string x32(32, 'x');
  EXPECT_EQ(wrap(map_text(x32 + " y"), kColumns).size(), 2u);
  EXPECT_EQ(wrap(map_text(x32.substr(0, 30) + " y"), kColumns).size(), 1u);
  // A word longer than a row is cut.
  const std::vector<Row> cut = wrap(map_text(std::string(40, 'z')), kColumns);
  ASSERT_EQ(cut.size(), 2u);
  EXPECT_EQ(row_glyphs(cut[0]).size(), 32u);
  EXPECT_EQ(row_glyphs(cut[1]).size(), 8u);
  // Extended characters take one column.
  EXPECT_EQ(wrap(map_text(std::string(30, 'x') + u8" \u00c4"), kColumns).size(), 1u);
}

TEST(Cea608Encoder, IdleIsNullPairs) {
  Encoder encoder;
  EXPECT_TRUE(encoder.idle());
  for (const Pair& pair : run(encoder, 0, 100)) EXPECT_EQ(hex({pair}), "8080");
  encoder.add(5, kNoFrame, " \n ");  // nothing to show
  EXPECT_TRUE(encoder.idle());
}

TEST(Cea608Encoder, RollUpSequence) {
  Encoder encoder;  // roll-up 2, base row 15
  ASSERT_EQ(encoder.lookahead(), 6);
  encoder.add(10, kNoFrame, "Hi there");
  // RU2 RU2 CR CR PAC PAC (row 15) start 6 frames early so that "Hi" is on screen at frame 10.
  EXPECT_EQ(hex(run(encoder, 0, 16)),
            "8080 8080 8080 8080 9425 9425 94AD 94AD 9470 9470 C8E9 20F4 68E5 F2E5 8080 8080");
  EXPECT_TRUE(encoder.idle());
}

TEST(Cea608Encoder, RollUpDepthsAndOrigin) {
  Options options;
  options.mode = Mode::kRollUp3;
  options.origin_row = 2;  // below the depth: raised to row 3
  options.origin_column = 5;
  Encoder encoder(options);
  ASSERT_EQ(encoder.lookahead(), 8);  // PAC + TO1
  encoder.add(8, kNoFrame, "Hi");
  EXPECT_EQ(hex(run(encoder, 0, 10)), "9426 9426 94AD 94AD 9252 9252 97A1 97A1 C8E9 8080");
  options.mode = Mode::kRollUp4;
  options.origin_row = 15;
  options.origin_column = 0;
  encoder.set_options(options);
  encoder.add(20, kNoFrame, "Hi");
  EXPECT_EQ(hex(run(encoder, 14, 21)), "94A7 94A7 94AD 94AD 9470 9470 C8E9");
}

TEST(Cea608Encoder, RollUpLongerThanFourRowsRollsEveryRow) {
  Options options;
  options.mode = Mode::kRollUp4;
  Encoder encoder(options);
  Decoder decoder;
  // Six rows of text: each row after the first is a CR (roll) and a PAC; the window keeps 4.
  std::string text;
  for (int i = 1; i <= 6; ++i) text += "row" + std::to_string(i) + std::string(25, 'x') + " ";
  encoder.add(10, kNoFrame, text);
  const std::vector<std::string> screens = watch(encoder, decoder, 0, 200);
  EXPECT_TRUE(encoder.idle());
  const std::string x(25, 'x');
  EXPECT_EQ(screens.back(), "row3" + x + "|row4" + x + "|row5" + x + "|row6" + x);
  // Every row was on screen at some point, in order, and the text started at frame 10.
  size_t last = 0;
  for (int i = 1; i <= 6; ++i) {
    const std::string row = "row" + std::to_string(i) + x;
    size_t at = last;
    while (at < screens.size() && screens[at].find(row) == std::string::npos) ++at;
    ASSERT_LT(at, screens.size()) << row;
    last = at;
  }
  EXPECT_EQ(screens[9], "");
  EXPECT_EQ(screens[10], "ro");
  EXPECT_EQ(encoder.words_dropped(), 0u);
}

TEST(Cea608Encoder, PopOnSequence) {
  Options options;
  options.mode = Mode::kPopOn;
  Encoder encoder(options);
  encoder.add(20, 40, "Hi");
  // RCL RCL ENM ENM PAC PAC "Hi" end so that EOC falls on frame 20; EDM at frame 40.
  EXPECT_EQ(hex(run(encoder, 11, 23)),
            "8080 8080 9420 9420 94AE 94AE 9470 9470 C8E9 942F 942F 8080");
  EXPECT_EQ(hex(run(encoder, 23, 40)).find("94"), std::string::npos);
  EXPECT_EQ(hex(run(encoder, 40, 43)), "942C 942C 8080");
  EXPECT_TRUE(encoder.idle());
}

TEST(Cea608Encoder, PopOnRowsAreBottomAlignedAndTheNextCaptionReplacesWithoutErase) {
  Options options;
  options.mode = Mode::kPopOn;
  options.origin_row = 14;
  Encoder encoder(options);
  Decoder decoder;
  encoder.add(60, 120, "A white ball moves to the right and bounces.");
  encoder.add(120, 150, "Next.");
  std::vector<std::string> screens = watch(encoder, decoder, 0, 200);
  EXPECT_EQ(screens[59], "");
  EXPECT_EQ(screens[60], "A white ball moves to the right|and bounces.");
  EXPECT_EQ(decoder.row(13), "");  // rows 13 and 14 during the first caption; now the second
  EXPECT_EQ(screens[119], "A white ball moves to the right|and bounces.");
  EXPECT_EQ(screens[120], "Next.");
  EXPECT_EQ(screens[149], "Next.");
  EXPECT_EQ(screens[151], "");  // EDM at 150 and its copy at 151
}

TEST(Cea608Encoder, PopOnLongerThanFourRowsBecomesPages) {
  Options options;
  options.mode = Mode::kPopOn;
  Encoder encoder(options);
  Decoder decoder;
  std::string text;
  for (int i = 1; i <= 6; ++i) text += "row" + std::to_string(i) + " " + std::string(26, 'x') + " ";
  encoder.add(100, 300, text);  // two pages: 100-200 and 200-300
  const std::vector<std::string> screens = watch(encoder, decoder, 0, 320);
  const std::string x(26, 'x');
  EXPECT_EQ(screens[100], "row1 " + x + "|row2 " + x + "|row3 " + x + "|row4 " + x);
  EXPECT_EQ(screens[200], "row5 " + x + "|row6 " + x);
  EXPECT_EQ(screens[301], "");
}

TEST(Cea608Pacing, ACaptionStillBeingSentGivesWayToTheNext) {
  Encoder encoder;
  Decoder decoder;
  // ~70 characters need about 40 frames; the next caption is due 20 frames later.
  encoder.add(10, kNoFrame, "one two three four five six seven eight nine ten eleven twelve");
  encoder.add(30, kNoFrame, "Next caption.");
  const std::vector<std::string> screens = watch(encoder, decoder, 0, 80);
  EXPECT_GT(encoder.words_dropped(), 0u);
  EXPECT_EQ(encoder.captions_dropped(), 0u);
  // The second caption's first characters are on screen at its start frame, on a new row.
  EXPECT_EQ(decoder.row(15).substr(0, 4), "Next");
  EXPECT_EQ(screens[30].substr(screens[30].find('|') + 1), "Ne");
  // The first caption kept its beginning, whole words only.
  const std::string first = decoder.row(14);
  EXPECT_EQ(first.substr(0, 7), "one two");
  EXPECT_NE(first.back(), ' ');
  EXPECT_EQ(
      std::string("one two three four five six seven eight nine ten eleven twelve").find(first),
      0u);
}

TEST(Cea608Pacing, ABurstKeepsOnlyTheNewestCaption) {
  Encoder encoder;
  Decoder decoder;
  encoder.add(10, kNoFrame, "first");
  encoder.add(10, kNoFrame, "second");
  encoder.add(11, kNoFrame, "third");
  watch(encoder, decoder, 0, 40);
  EXPECT_EQ(encoder.captions_dropped(), 2u);
  EXPECT_EQ(encoder.words_dropped(), 2u);
  EXPECT_EQ(decoder.screen(), "third");
}

TEST(Cea608Pacing, TextFasterThan608NeverStallsOrFallsBehind) {
  Encoder encoder;
  Decoder decoder;
  // A 60-character caption every 10 frames (180 characters a second, 3x what 608 carries).
  int64_t frame = 0;
  for (int i = 0; i < 30; ++i) {
    encoder.add(20 + 10 * i, kNoFrame,
                "caption" + std::to_string(i) + " with quite a few words that cannot fit");
    for (; frame < 20 + 10 * i; ++frame) decoder.feed(encoder.next(frame));
  }
  for (; frame < 400; ++frame) decoder.feed(encoder.next(frame));
  decoder.settle();
  EXPECT_TRUE(encoder.idle());
  EXPECT_GT(encoder.words_dropped(), 0u);
  // The newest caption is shown whole at the end: nothing queued up behind.
  EXPECT_EQ(decoder.row(14), "caption29 with quite a few words");
  EXPECT_EQ(decoder.row(15), "that cannot fit");
}

TEST(Cea608Pacing, PopOnKeepsItsEndOfCaptionWhenTrimmed) {
  Options options;
  options.mode = Mode::kPopOn;
  Encoder encoder(options);
  Decoder decoder;
  encoder.add(5, kNoFrame, "one two three four five six seven eight nine ten eleven twelve");
  encoder.add(30, kNoFrame, "Next.");
  const std::vector<std::string> screens = watch(encoder, decoder, 0, 60);
  EXPECT_GT(encoder.words_dropped(), 0u);
  EXPECT_EQ(screens[30], "Next.");
  // The first one was displayed (its EOC sent) before the second.
  bool shown = false;
  for (int f = 0; f < 30; ++f) shown |= screens[f].rfind("one", 0) == 0;
  EXPECT_TRUE(shown);
}
