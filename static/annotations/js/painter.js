// Paints spans over the text: the text is cut at every span boundary into segments, and each
// segment knows the spans covering it, so overlapping and nested spans all stay visible and
// clickable. Uncovered stretches stay plain text nodes.
//
// Each line of the text (up to and including its line break) is a block of its own, so that a
// change relays out one block rather than the whole document. Blocks off screen skip layout at
// first (content-visibility in workbench.css), so the first screen shows at once; layOut() then
// lays them out a few at a time while the page is idle, because a skipped block costs a layout
// every time it scrolls back into view. The text nodes together still hold exactly the stored
// text, which is what offsets.js measures.

const EMPTY = Object.freeze([]);
const MAX_LINES = 2;

// Innermost first: the latest start, then the earliest end.
function innermostFirst(a, b) {
  return b.u16Start - a.u16Start || a.u16End - b.u16End;
}

export class Painter {
  constructor(container, text, styles) {
    this.container = container;
    this.text = text;
    this.styles = styles;
    this.spans = [];
    this.segments = [];
    this.blockStarts = [0];
    for (let at = text.indexOf("\n"); at !== -1 && at + 1 < text.length; at = text.indexOf("\n", at + 1)) {
      this.blockStarts.push(at + 1);
    }
    this.blocks = [];
    this.laidOut = 0;
    this.segmentOf = new WeakMap();
    this.selectedKey = null;
    // Counts rebuilds: ranges into the text from before a rebuild may point at removed nodes.
    this.generation = 0;
  }

  // The records to paint; each has key, u16Start, u16End, themes, stance, state, badge.
  setSpans(spans) {
    this.spans = spans;
  }

  paintAll() {
    this.generation += 1;
    const fragment = document.createDocumentFragment();
    this.segments = [];
    this.blocks = this.buildBlocks(0, this.blockStarts.length - 1, fragment);
    this.container.replaceChildren(fragment);
  }

  blockEnd(index) {
    return index + 1 < this.blockStarts.length ? this.blockStarts[index + 1] : this.text.length;
  }

  blockAt(u16) {
    let low = 0;
    let high = this.blockStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.blockStarts[middle] <= u16) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  // Build blocks first..last into fragment, appending their segments to this.segments.
  buildBlocks(first, last, fragment) {
    // Hand each block only the spans that reach into it.
    const buckets = Array.from({ length: last - first + 1 }, () => []);
    const from = this.blockStarts[first];
    const to = this.blockEnd(last);
    for (const span of this.spans) {
      if (span.u16End <= from || span.u16Start >= to) continue;
      const top = Math.min(last, this.blockAt(span.u16End - 1));
      for (let i = Math.max(first, this.blockAt(span.u16Start)); i <= top; i += 1) buckets[i - first].push(span);
    }
    const blocks = [];
    for (let i = first; i <= last; i += 1) {
      const block = document.createElement("div");
      block.className = i < this.laidOut
        ? "block laid-out" : `block ${this.styles.blockClass(this.blockEnd(i) - this.blockStarts[i])}`;
      this.segments.push(...this.build(this.blockStarts[i], this.blockEnd(i), block, buckets[i - first]));
      blocks.push(block);
      fragment.appendChild(block);
    }
    return blocks;
  }

  // Lay out the next blocks, about `chars` characters' worth; false once every block is done.
  layOutMore(chars) {
    let budget = chars;
    while (this.laidOut < this.blocks.length && budget > 0) {
      this.blocks[this.laidOut].classList.add("laid-out");
      budget -= this.blockEnd(this.laidOut) - this.blockStarts[this.laidOut];
      this.laidOut += 1;
    }
    return this.laidOut < this.blocks.length;
  }

  // Rebuild only the blocks touching [from, to), so that a save repaints a few elements rather
  // than the whole document.
  repaint(from, to) {
    if (!this.blocks.length) {
      this.paintAll();
      return;
    }
    this.generation += 1;
    const first = this.blockAt(from);
    const last = this.blockAt(Math.max(from, to - 1));
    const firstSegment = this.indexAt(this.blockStarts[first]);
    const lastSegment = this.indexAt(this.blockEnd(last) - 1);
    const kept = this.segments.splice(lastSegment + 1);
    this.segments.length = firstSegment;
    const fragment = document.createDocumentFragment();
    const fresh = this.buildBlocks(first, last, fragment);
    this.blocks[first].before(fragment);
    for (let i = first; i <= last; i += 1) this.blocks[i].remove();
    this.blocks.splice(first, last - first + 1, ...fresh);
    for (const segment of kept) this.segments.push(segment);
  }

  // Refresh the classes of the segments touching [from, to) when only a state changed (saving,
  // saved, selected): the elements, and any selection inside them, stay as they are.
  restyle(from, to) {
    if (!this.segments.length) return;
    const last = this.indexAt(Math.max(from, to - 1));
    for (let i = this.indexAt(from); i <= last; i += 1) {
      const segment = this.segments[i];
      if (segment.spans.length) this.decorate(segment.node, segment.start, segment.end, segment.spans);
    }
  }

  build(from, to, fragment, candidates) {
    const relevant = [];
    const cuts = new Set([from, to]);
    for (const span of candidates) {
      if (span.u16End <= from || span.u16Start >= to) continue;
      relevant.push(span);
      if (span.u16Start > from) cuts.add(span.u16Start);
      if (span.u16End < to) cuts.add(span.u16End);
    }
    const points = Array.from(cuts).sort((a, b) => a - b);
    relevant.sort((a, b) => a.u16Start - b.u16Start);
    const segments = [];
    let active = [];
    let next = 0;
    for (let i = 0; i < points.length - 1; i += 1) {
      const start = points[i];
      const end = points[i + 1];
      active = active.filter((span) => span.u16End > start);
      while (next < relevant.length && relevant[next].u16Start <= start) {
        if (relevant[next].u16End > start) active.push(relevant[next]);
        next += 1;
      }
      const chunk = this.text.slice(start, end);
      let node;
      let covering = EMPTY;
      if (active.length === 0) {
        node = document.createTextNode(chunk);
      } else {
        covering = active.slice().sort(innermostFirst);
        node = document.createElement("span");
        node.textContent = chunk;
        this.decorate(node, start, end, covering);
      }
      const segment = { start, end, spans: covering, node };
      if (covering !== EMPTY) this.segmentOf.set(node, segment);
      segments.push(segment);
      fragment.appendChild(node);
    }
    return segments;
  }

  decorate(node, start, end, covering) {
    const inner = covering[0];
    const classes = ["hl", ...this.styles.segmentClasses(inner, covering.slice(1, 1 + MAX_LINES))];
    if (covering.length > 1) classes.push(`depth-${Math.min(covering.length, 1 + MAX_LINES)}`);
    // Deeper nesting than the lines can show gets a dotted frame; the chooser lists them all.
    if (covering.length > 1 + MAX_LINES) classes.push("deeper");
    const badges = [];
    let opens = false;
    let closes = false;
    for (const span of covering) {
      if (span.state === "saving") classes.push("is-saving");
      else if (span.state === "unsaved" || span.state === "conflict") classes.push("is-unsaved");
      if (span.key === this.selectedKey) classes.push("is-selected");
      if (span.u16Start === start) {
        opens = true;
        badges.push(span.badge);
      }
      if (span.u16End === end) closes = true;
    }
    if (opens) {
      classes.push("span-open");
      node.dataset.badge = badges.reverse().join(" ");
    } else {
      delete node.dataset.badge;
    }
    if (closes) classes.push("span-close");
    node.className = classes.join(" ");
  }

  // Index of the segment holding UTF-16 offset u16 (the last one for the text's end).
  indexAt(u16) {
    let low = 0;
    let high = this.segments.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.segments[middle].start <= u16) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  // A DOM boundary point for UTF-16 offset u16.
  pointAt(u16) {
    const segment = this.segments[this.indexAt(u16)];
    const node = segment.node.nodeType === Node.TEXT_NODE ? segment.node : segment.node.firstChild;
    return { node, offset: Math.min(u16 - segment.start, node.length) };
  }

  rangeFor(u16Start, u16End) {
    const range = document.createRange();
    const start = this.pointAt(u16Start);
    const end = this.pointAt(u16End);
    range.setStart(start.node, start.offset);
    range.setEnd(end.node, end.offset);
    return range;
  }

  // The segment under an event target, or null outside any highlight.
  segmentFor(target) {
    const element = target instanceof Element ? target.closest(".hl") : null;
    return element ? this.segmentOf.get(element) ?? null : null;
  }

  // Spans covering u16, innermost first.
  spansAt(u16) {
    return this.segments.length ? this.segments[this.indexAt(u16)].spans : EMPTY;
  }

  elementAt(u16) {
    const node = this.segments[this.indexAt(u16)].node;
    return node.nodeType === Node.TEXT_NODE ? null : node;
  }

  select(key) {
    this.selectedKey = key;
  }
}
