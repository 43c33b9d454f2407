// A visible caret over the read-only text, so that a passage can be chosen without a mouse:
// arrows move it by character (Ctrl: by word), Up/Down by line, Home/End to the line's ends,
// and Shift extends the selection. Offsets are UTF-16 units of the stored text.

import {
  boundaryOffset, graphemeEnd, graphemeStart, nextGrapheme, nextWordEnd, previousGrapheme, previousWordStart,
} from "./offsets.js";

const MOVES = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End"]);

export class Caret {
  constructor({ container, column, element, text, painter, styles }) {
    this.container = container;
    this.column = column;
    this.element = element;
    this.text = text;
    this.painter = painter;
    this.styles = styles;
    this.anchor = 0;
    this.focus = 0;
  }

  get start() {
    return Math.min(this.anchor, this.focus);
  }

  get end() {
    return Math.max(this.anchor, this.focus);
  }

  get collapsed() {
    return this.anchor === this.focus;
  }

  set(anchor, focus = anchor) {
    this.goalX = undefined;
    this.apply(anchor, focus);
  }

  apply(anchor, focus) {
    this.anchor = anchor;
    this.focus = focus;
    this.render();
  }

  collapse(at) {
    this.set(at, at);
  }

  // Adopt the document selection (after a mouse gesture) if it lies in the text.
  adoptSelection() {
    const selection = document.getSelection();
    if (!selection.rangeCount || !this.container.contains(selection.anchorNode)) return false;
    const anchor = boundaryOffset(this.container, selection.anchorNode, selection.anchorOffset);
    const focus = this.container.contains(selection.focusNode)
      ? boundaryOffset(this.container, selection.focusNode, selection.focusOffset)
      : (selection.focusNode.compareDocumentPosition(this.container) & Node.DOCUMENT_POSITION_FOLLOWING ? 0 : this.text.length);
    this.goalX = undefined;
    this.anchor = anchor <= focus ? graphemeStart(this.text, anchor) : graphemeEnd(this.text, anchor);
    this.focus = anchor <= focus ? graphemeEnd(this.text, focus) : graphemeStart(this.text, focus);
    this.drawCaret();
    return true;
  }

  handles(event) {
    return MOVES.has(event.key) && !event.altKey && !event.metaKey;
  }

  onKey(event) {
    const { key, shiftKey, ctrlKey } = event;
    // Up and Down keep aiming at the column where vertical movement began.
    if (key !== "ArrowUp" && key !== "ArrowDown") this.goalX = undefined;
    let target;
    if (!shiftKey && !this.collapsed && (key === "ArrowLeft" || key === "ArrowRight")) {
      target = key === "ArrowLeft" ? this.start : this.end;
    } else if (key === "ArrowLeft") {
      target = ctrlKey ? previousWordStart(this.text, this.focus) : previousGrapheme(this.text, this.focus);
    } else if (key === "ArrowRight") {
      target = ctrlKey ? nextWordEnd(this.text, this.focus) : nextGrapheme(this.text, this.focus);
    } else if (key === "ArrowUp" || key === "ArrowDown") {
      target = this.lineMove(key === "ArrowUp" ? -1 : 1);
    } else if (key === "Home") {
      target = ctrlKey ? 0 : this.lineEdge(-1);
    } else {
      target = ctrlKey ? this.text.length : this.lineEdge(1);
    }
    event.preventDefault();
    this.apply(shiftKey ? this.anchor : target, target);
  }

  // The on-screen box of the position u16 (zero width), in viewport coordinates.
  rectAt(u16) {
    const { node, offset } = this.painter.pointAt(u16);
    const range = document.createRange();
    range.setStart(node, offset);
    range.collapse(true);
    const rect = range.getClientRects()[0];
    if (rect && rect.height) return rect;
    if (u16 < this.text.length) {
      const after = this.painter.pointAt(nextGrapheme(this.text, u16));
      range.setEnd(after.node, after.offset);
      const next = range.getClientRects()[0];
      if (next) return new DOMRect(next.left, next.top, 0, next.height);
    }
    return this.container.getBoundingClientRect();
  }

  offsetAtPoint(x, y) {
    const position = document.caretPositionFromPoint
      ? document.caretPositionFromPoint(x, y)
      : null;
    const node = position ? position.offsetNode : document.caretRangeFromPoint(x, y)?.startContainer;
    const offset = position ? position.offset : document.caretRangeFromPoint(x, y)?.startOffset;
    if (!node) return null;
    const u16 = boundaryOffset(this.container, node, offset);
    return u16 === null ? null : graphemeStart(this.text, u16);
  }

  lineMove(direction) {
    const rect = this.rectAt(this.focus);
    const step = rect.height || 20;
    if (this.goalX === undefined) this.goalX = rect.left;
    const y = direction < 0 ? rect.top - step / 2 : rect.bottom + step / 2;
    const bounds = this.container.getBoundingClientRect();
    if (y < bounds.top) return 0;
    if (y > bounds.bottom) return this.text.length;
    if (y < 0 || y > window.innerHeight) window.scrollBy(0, direction * step * 3);
    const after = this.rectAt(this.focus);
    return this.offsetAtPoint(this.goalX, after.top + (direction < 0 ? -step / 2 : after.height + step / 2)) ?? this.focus;
  }

  lineEdge(direction) {
    const rect = this.rectAt(this.focus);
    const bounds = this.container.getBoundingClientRect();
    const style = getComputedStyle(this.container);
    const x = direction < 0
      ? bounds.left + parseFloat(style.paddingLeft) + 1
      : bounds.right - parseFloat(style.paddingRight) - 1;
    return this.offsetAtPoint(x, rect.top + rect.height / 2) ?? this.focus;
  }

  render() {
    const selection = document.getSelection();
    if (this.collapsed) {
      selection.removeAllRanges();
    } else {
      const anchor = this.painter.pointAt(this.anchor);
      const focus = this.painter.pointAt(this.focus);
      selection.setBaseAndExtent(anchor.node, anchor.offset, focus.node, focus.offset);
    }
    this.drawCaret();
  }

  // Drawn on the next frame: measuring forces a layout, which should never sit between a key
  // press and the change it makes.
  drawCaret() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.drawNow();
    });
  }

  drawNow() {
    // Without the keyboard the caret is not shown, and measuring it would cost a layout.
    if (document.activeElement !== this.container) {
      this.hide();
      return;
    }
    const rect = this.rectAt(this.focus);
    const column = this.column.getBoundingClientRect();
    // Moved by a transform, which needs no layout; its height changes only with the font.
    this.styles.place(this.element, {
      transform: `translate(${rect.left - column.left}px, ${rect.top - column.top}px)`,
      height: `${rect.height}px`,
    });
    if (this.element.hidden) this.element.hidden = false;
    this.element.scrollIntoView({ block: "nearest" });
  }

  hide() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    if (!this.element.hidden) this.element.hidden = true;
  }
}
