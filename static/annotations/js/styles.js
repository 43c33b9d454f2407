// Colours that depend on data live in one constructed stylesheet, so that no markup carries a
// style attribute: a class per theme sets its colour as custom properties, which the rules in
// workbench.css combine (background, underline, lines for enclosing spans).

const HEX = /^#[0-9a-fA-F]{6}$/;
const FALLBACK_COLOUR = "#777777";
// Underline style per stance so that stance reads without colour (order of the schema's
// stances; the default schema gives FAVOR solid, AGAINST wavy, NEUTRAL dashed, NONE dotted).
const UNDERLINES = ["solid", "wavy", "dashed", "dotted"];

export class DynamicStyles {
  constructor(schema) {
    this.sheet = new CSSStyleSheet();
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, this.sheet];
    this.themeIndex = new Map();
    const rules = [];
    schema.themes.forEach((theme, index) => {
      const colour = HEX.test(theme.colour) ? theme.colour : FALLBACK_COLOUR;
      this.themeIndex.set(theme.code, index);
      rules.push(`.th-${index} { --theme: ${colour}; }`, `.outer1-${index} { --outer1: ${colour}; }`,
        `.outer2-${index} { --outer2: ${colour}; }`);
    });
    this.stanceIndex = new Map(schema.stances.map((stance, index) => [stance.key, index]));
    schema.stances.forEach((stance, index) => {
      rules.push(`.underline-${index} { text-decoration-style: ${UNDERLINES[index % UNDERLINES.length]}; }`);
    });
    this.sheet.replaceSync(rules.join("\n"));
    this.blockSizes = new Set();
  }

  add(rule) {
    this.sheet.insertRule(rule, this.sheet.cssRules.length);
  }

  themeClass(code) {
    return `th-${this.themeIndex.get(code) ?? "x"}`;
  }

  // The classes painting a text segment: the innermost span's first theme as background, its
  // stance as underline style, and up to two enclosing spans as coloured lines beneath.
  segmentClasses(inner, outers) {
    const classes = [this.themeClass(inner.themes[0])];
    const stance = this.stanceIndex.get(inner.stance);
    classes.push(stance === undefined ? "no-stance" : `underline-${stance}`);
    outers.forEach((span, depth) => classes.push(`outer${depth + 1}-${this.themeIndex.get(span.themes[0]) ?? "x"}`));
    return classes;
  }

  // Blocks off screen are not laid out; until they have been, they count as this many lines
  // (about 80 characters a line), which keeps the scroll bar close to the truth.
  blockClass(length) {
    const lines = Math.min(400, Math.max(1, Math.ceil(length / 80)));
    const name = `lines-${lines}`;
    if (!this.blockSizes.has(lines)) {
      this.add(`.doc-text .${name} { contain-intrinsic-block-size: auto ${(lines * 1.9).toFixed(1)}em; }`);
      this.blockSizes.add(lines);
    }
    return name;
  }

  // Positions (caret, panel, chooser) go on the element itself, set from script. Any change to
  // a stylesheet, even to a rule of its own, makes the browser gather the document's style
  // rules again: 10 ms and more on this page, at every caret move.
  place(element, properties) {
    for (const [name, value] of Object.entries(properties)) {
      if (element.style.getPropertyValue(name) !== value) element.style.setProperty(name, value);
    }
  }
}
