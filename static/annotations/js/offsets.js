// Offsets between the browser and the stored text (annotation scheme section 2).
//
// Spans store [start, end) in Unicode code points of Document.text (Python str indexes), while
// the DOM counts UTF-16 units. Every function here is pure: it reads its arguments only.

export function isHighSurrogate(unit) {
  return unit >= 0xd800 && unit <= 0xdbff;
}

export function isLowSurrogate(unit) {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

// The code-point offset of UTF-16 offset u16: the scheme's reference formula.
export function codePointOffset(text, u16) {
  return Array.from(text.slice(0, u16)).length;
}

// The UTF-16 offset of code-point offset cp: the scheme's reference formula back.
export function utf16Offset(text, cp) {
  return Array.from(text).slice(0, cp).join("").length;
}

// True when u16 falls between the two halves of a surrogate pair.
export function splitsSurrogatePair(text, u16) {
  return u16 > 0 && u16 < text.length
    && isHighSurrogate(text.charCodeAt(u16 - 1)) && isLowSurrogate(text.charCodeAt(u16));
}

// Both directions in O(1) after one pass, for painting thousands of spans; agrees with
// codePointOffset/utf16Offset at every offset that does not split a pair.
export class OffsetIndex {
  constructor(text) {
    const n = text.length;
    const toCp = new Uint32Array(n + 1);
    const toU16 = new Uint32Array(n + 1);
    let cp = 0;
    let u = 0;
    while (u < n) {
      toCp[u] = cp;
      toU16[cp] = u;
      if (isHighSurrogate(text.charCodeAt(u)) && u + 1 < n && isLowSurrogate(text.charCodeAt(u + 1))) {
        // Inside a pair Array.from counts the lone high half as one code point.
        toCp[u + 1] = cp + 1;
        u += 2;
      } else {
        u += 1;
      }
      cp += 1;
    }
    toCp[n] = cp;
    toU16[cp] = n;
    this.text = text;
    this.length = cp;
    this.toCpTable = toCp;
    this.toU16Table = toU16.subarray(0, cp + 1);
  }

  toCodePoint(u16) {
    if (!(u16 >= 0 && u16 <= this.text.length)) throw new RangeError(`UTF-16 offset ${u16} is outside the text`);
    return this.toCpTable[u16];
  }

  toUtf16(cp) {
    if (!(cp >= 0 && cp <= this.length)) throw new RangeError(`Code point offset ${cp} is outside the text`);
    return this.toU16Table[cp];
  }
}

const segmenters = {
  grapheme: new Intl.Segmenter(undefined, { granularity: "grapheme" }),
  word: new Intl.Segmenter(undefined, { granularity: "word" }),
};
const segmentCache = new Map();

// Segments objects are lazy in V8: containing() walks only near the index, so keeping
// one per text makes snapping cheap even on long documents.
function segmentsOf(text, granularity) {
  const key = granularity;
  const cached = segmentCache.get(key);
  if (cached && cached.text === text) return cached.segments;
  const segments = segmenters[granularity].segment(text);
  segmentCache.set(key, { text, segments });
  return segments;
}

// The grapheme boundary at or before u16 (a combining mark stays with its base).
export function graphemeStart(text, u16) {
  if (u16 <= 0) return 0;
  if (u16 >= text.length) return text.length;
  return segmentsOf(text, "grapheme").containing(u16).index;
}

// The grapheme boundary at or after u16.
export function graphemeEnd(text, u16) {
  if (u16 <= 0) return 0;
  if (u16 >= text.length) return text.length;
  const segment = segmentsOf(text, "grapheme").containing(u16);
  return segment.index === u16 ? u16 : segment.index + segment.segment.length;
}

// The boundary one user-perceived character after u16.
export function nextGrapheme(text, u16) {
  if (u16 >= text.length) return text.length;
  const segment = segmentsOf(text, "grapheme").containing(Math.max(0, u16));
  return segment.index + segment.segment.length;
}

// The boundary one user-perceived character before u16.
export function previousGrapheme(text, u16) {
  if (u16 <= 0) return 0;
  return segmentsOf(text, "grapheme").containing(Math.min(u16, text.length) - 1).index;
}

// The end of the word at or after u16 (as Ctrl+Right moves).
export function nextWordEnd(text, u16) {
  const segments = segmentsOf(text, "word");
  let at = Math.max(0, u16);
  while (at < text.length) {
    const segment = segments.containing(at);
    const end = segment.index + segment.segment.length;
    if (segment.isWordLike && end > u16) return end;
    at = end;
  }
  return text.length;
}

// The start of the word at or before u16 (as Ctrl+Left moves).
export function previousWordStart(text, u16) {
  const segments = segmentsOf(text, "word");
  let at = Math.min(u16, text.length);
  while (at > 0) {
    const segment = segments.containing(at - 1);
    if (segment.isWordLike && segment.index < u16) return segment.index;
    at = segment.index;
  }
  return 0;
}

// Widen [start, end) so that it neither begins nor ends inside a word.
export function widenToWords(text, start, end) {
  const segments = segmentsOf(text, "word");
  let from = start;
  let to = end;
  if (from < text.length) {
    const first = segments.containing(from);
    if (first.isWordLike) from = first.index;
  }
  if (to > 0) {
    const last = segments.containing(to - 1);
    if (last.isWordLike) to = last.index + last.segment.length;
  }
  return snapToGraphemes(text, from, to);
}

// Order the ends and push them out to grapheme boundaries, so neither a surrogate pair nor
// a base and its combining marks are ever split.
export function snapToGraphemes(text, start, end) {
  const from = Math.max(0, Math.min(start, end));
  const to = Math.min(text.length, Math.max(start, end));
  return { start: graphemeStart(text, from), end: graphemeEnd(text, to) };
}

const EDGE_SPACE = /[ \t\n\r\f]/;

// Drop ASCII spaces, tabs and line breaks from both ends (a drag often catches them); a
// no-break space is text and stays.
export function trimSpaces(text, start, end) {
  let from = start;
  let to = end;
  while (from < to && EDGE_SPACE.test(text[from])) from += 1;
  while (to > from && EDGE_SPACE.test(text[to - 1])) to -= 1;
  return { start: from, end: to };
}

// The UTF-16 offset of DOM boundary point (node, offset) inside container, whose text nodes
// together hold the stored text; null when the point lies outside container.
export function boundaryOffset(container, node, offset) {
  if (node !== container && !container.contains(node)) return null;
  const range = container.ownerDocument.createRange();
  range.setStart(container, 0);
  range.setEnd(node, offset);
  return range.toString().length;
}

// The UTF-16 [start, end) that a DOM Range covers within container, clamped to it.
export function rangeToUtf16(container, range) {
  const whole = container.ownerDocument.createRange();
  whole.selectNodeContents(container);
  if (range.compareBoundaryPoints(Range.START_TO_END, whole) <= 0
    || range.compareBoundaryPoints(Range.END_TO_START, whole) >= 0) {
    return null;
  }
  const textLength = whole.toString().length;
  const start = range.compareBoundaryPoints(Range.START_TO_START, whole) <= 0
    ? 0 : boundaryOffset(container, range.startContainer, range.startOffset);
  const end = range.compareBoundaryPoints(Range.END_TO_END, whole) >= 0
    ? textLength : boundaryOffset(container, range.endContainer, range.endOffset);
  if (start === null || end === null) return null;
  return { start, end };
}

// A passage from UTF-16 offsets: snapped to graphemes, optionally trimmed, in code points
// with its quote; null when nothing is left. An OffsetIndex of text, when given, saves the
// reference formula's walk over everything before the passage.
export function passageFromUtf16(text, start, end, { trim = true, index = null } = {}) {
  let bounds = snapToGraphemes(text, start, end);
  if (trim) bounds = trimSpaces(text, bounds.start, bounds.end);
  if (bounds.end <= bounds.start) return null;
  const toCodePoint = index ? (u16) => index.toCodePoint(u16) : (u16) => codePointOffset(text, u16);
  return {
    start: toCodePoint(bounds.start),
    end: toCodePoint(bounds.end),
    text: text.slice(bounds.start, bounds.end),
    u16Start: bounds.start,
    u16End: bounds.end,
  };
}

// A DOM Range over the rendered text as the passage the API expects (options as above).
export function passageFromRange(text, container, range, options) {
  const bounds = rangeToUtf16(container, range);
  if (bounds === null) return null;
  return passageFromUtf16(text, bounds.start, bounds.end, options);
}
