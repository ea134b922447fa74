// CEA-608 caption encoding for texttocea608, without GObject: UTF-8 text to the byte pairs of data
// channel CC1 (field 1), one pair per video frame. Character mapping, word wrap, roll-up and
// pop-on sequences and the pacing of captions over time (in frames) live here; the element only
// turns timestamps into frame numbers. docs/element.md describes the behaviour.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace gstslowfast {
namespace cea608 {

constexpr int kColumns = 32;
constexpr int kRows = 15;
constexpr int64_t kNoFrame = INT64_MAX;

// A byte pair as transmitted: each byte carries odd parity in bit 7.
struct Pair {
  uint8_t first = 0x80;
  uint8_t second = 0x80;
  bool operator==(const Pair& other) const {
    return first == other.first && second == other.second;
  }
  bool operator!=(const Pair& other) const { return !(*this == other); }
};
// The null pair (0x00 0x00 with parity): sent whenever there is nothing to say.
constexpr Pair kNullPair{0x80, 0x80};

// The byte of a 7-bit code with bit 7 set when needed for an odd number of one bits.
uint8_t with_parity(uint8_t code);
bool has_odd_parity(uint8_t byte);
// A pair from two 7-bit codes.
Pair make_pair(uint8_t first, uint8_t second);

// Miscellaneous control codes of CC1: the second byte after 0x14.
enum class Control : uint8_t {
  kRCL = 0x20,  // resume caption loading (pop-on)
  kBS = 0x21,   // backspace
  kDER = 0x24,  // delete to end of row
  kRU2 = 0x25,  // roll-up, 2 rows
  kRU3 = 0x26,
  kRU4 = 0x27,
  kRDC = 0x29,  // resume direct captioning (paint-on)
  kEDM = 0x2C,  // erase displayed memory
  kCR = 0x2D,   // carriage return (roll-up: rolls the rows up)
  kENM = 0x2E,  // erase non-displayed memory
  kEOC = 0x2F,  // end of caption (pop-on: swaps the memories)
};
Pair control(Control code);
// Preamble address code: the cursor to `row` (1-15) at column `column` rounded down to a multiple
// of 4 (0-28), white, no underline. Columns count from 0.
Pair preamble(int row, int column);
// Tab offset TO1-TO3: the cursor `columns` (1-3) to the right.
Pair tab_offset(int columns);

// One displayed character.
struct Glyph {
  enum class Set : uint8_t {
    kBasic,      // one byte 0x20-0x7F
    kSpecial,    // 0x11 0x30-0x3F
    kExtended2,  // 0x12 0x20-0x3F: Spanish, French, miscellaneous
    kExtended3,  // 0x13 0x20-0x3F: Portuguese, German, Danish
  };
  Set set = Set::kBasic;
  uint8_t code = ' ';      // the second byte (or the byte, for kBasic), without parity
  uint8_t fallback = ' ';  // extended sets: the basic character sent first, which the decoder
                           // replaces (a decoder without the extended set shows it)
  bool operator==(const Glyph& other) const {
    return set == other.set && code == other.code && fallback == other.fallback;
  }
};

// The glyphs that stand for a code point: its own 608 character if it has one; else, for a Latin
// letter, its transliteration (the base letter, "ae" for æ, ...) and, for typographic punctuation,
// its ASCII equivalent ("-" for an en dash, "..." for an ellipsis); else '?'. Never empty.
std::vector<Glyph> map_code_point(char32_t c);
// UTF-8 to glyphs: every run of whitespace (newlines included) becomes one space, leading and
// trailing whitespace and other control characters are dropped, a byte that is not valid UTF-8
// becomes '?'.
std::vector<Glyph> map_text(std::string_view utf8);
// What a decoder shows for glyphs, as UTF-8 (the basic 0x27 apostrophe is written "'").
std::string to_utf8(const std::vector<Glyph>& glyphs);

using Word = std::vector<Glyph>;
using Row = std::vector<Word>;
// Greedy word wrap at `width` columns (spaces separate words); a word longer than a row is cut
// into row-long pieces.
std::vector<Row> wrap(const std::vector<Glyph>& text, int width);
// A row as its glyphs (words joined by spaces).
std::vector<Glyph> row_glyphs(const Row& row);

// Pairs grouped so that a doubled code is never split: each atom is sent in consecutive frames.
using Atom = std::vector<Pair>;
// The atoms of a run of glyphs: basic characters two per pair (a lone one padded with 0x00),
// special characters as a doubled code, extended characters as their fallback followed by the
// doubled code. A decoder reads a pair identical to the one just before it as the redundant copy
// of a control code, so when the same code must act twice in a row a null pair separates them.
std::vector<Atom> encode(const std::vector<Glyph>& glyphs);
std::vector<Pair> flatten(const std::vector<Atom>& atoms);

enum class Mode { kRollUp2, kRollUp3, kRollUp4, kPopOn };

struct Options {
  Mode mode = Mode::kRollUp2;
  // Roll-up: the base row (at least the roll-up depth). Pop-on: the last row of the caption.
  int origin_row = kRows;
  // The column rows start at; rows wrap at kColumns - origin_column.
  int origin_column = 0;
  // Frames per second: pop-on pages of a caption without duration last kPageSeconds each.
  double fps = 30000.0 / 1001.0;
};

// Pop-on captions longer than this many rows are shown as consecutive pages.
constexpr int kPopOnRows = 4;
constexpr double kPageSeconds = 3.0;
// Frames of lookahead in pop-on mode: the loading of a caption sent this long before its EOC.
constexpr double kPopOnLookaheadSeconds = 2.0;

// Captions on a timeline of frames. A roll-up caption's first character is on screen at its
// start frame, and it stays until rolled off; a pop-on caption is displayed (EOC) at its start
// and erased (EDM) at its end, unless the next caption replaces it first. Each caption is sent
// whole before the next begins. When captions come faster than 608 carries them (two characters a
// frame), the oldest words give way: a caption still being sent when the next one must begin has
// its unsent words dropped from its end, and a caption that could not show a single word before
// the next must begin is dropped whole. The stream never stalls: next() always answers.
class Encoder {
 public:
  explicit Encoder(Options options = {});

  // Applies to captions added afterwards.
  void set_options(const Options& options);
  const Options& options() const { return options_; }

  // Queues a caption. `start` must not decrease from one caption to the next; `end` is ignored
  // in roll-up mode, kNoFrame in pop-on mode keeps the caption until the next one. An empty text
  // queues nothing.
  void add(int64_t start, int64_t end, std::string_view utf8);
  // The pair of frame `frame`; frames are asked in increasing order (normally consecutive).
  Pair next(int64_t frame);
  // How many frames before a caption's start it may begin to be sent: a caller that delays its
  // output by this many frames shows captions at their start frame.
  int lookahead() const;
  // Nothing queued, being sent or waiting to be erased.
  bool idle() const;
  void reset();

  uint64_t words_dropped() const { return words_dropped_; }
  uint64_t captions_dropped() const { return captions_dropped_; }

 private:
  struct Unit {
    std::vector<Atom> atoms;
    bool droppable = false;
    uint32_t words = 0;
    size_t pairs() const;
  };
  struct Job {
    int64_t start = 0;
    int64_t end = kNoFrame;
    bool pop_on = false;
    std::deque<Unit> units;
    size_t lead() const;  // pairs sent before the caption is on screen
    size_t pairs() const;
    uint32_t words() const;
  };

  Job roll_up_job(const std::vector<Row>& rows, int depth) const;
  Job pop_on_job(const std::vector<Row>& rows) const;
  static int64_t begin(const Job& job);
  void drop_front_job();
  void trim_current(int64_t frame);
  bool take_atom(int64_t frame);
  Pair emit(Pair pair);

  Options options_;
  std::deque<Job> jobs_;  // jobs_.front() is being sent when started_
  bool started_ = false;
  std::deque<Atom> out_;   // the atoms of the unit being sent
  std::deque<Pair> atom_;  // the rest of the atom being sent
  int64_t erase_at_ = kNoFrame;
  bool erasing_ = false;  // the second EDM of the pair is due
  Pair last_ = kNullPair;
  uint64_t words_dropped_ = 0;
  uint64_t captions_dropped_ = 0;
};

}  // namespace cea608
}  // namespace gstslowfast
