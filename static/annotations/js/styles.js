// Colours and positions that depend on data live in one constructed stylesheet, so pages carry
// no style attributes: a class per theme sets its colour as custom properties, which the rules
// in workbench.css combine (background, underline, lines for enclosing spans).

const HEX = /^#[0-9a-fA-F]{6}$/;
const FALLBACK_COLOUR = "#777777";
// Underline style per stance so that stance reads without colour (order of the schema's
// stances; the default schema gives FAVOR solid, AGAINST wavy, NEUTRAL dashed, NONE dotted).
const UNDERLINES = ["solid", "wavy", "dashed", "dotted"];

export class DynamicStyles {
  constructor(schema) {
    this.sheet = new CSSStyleSheet();
    // Positions change with every caret move and panel placement; in a sheet of their own,
    // a change makes the browser look again at these few id rules only, not at the theme
    // rules that match every highlight (about 2 ms a change on a 2,000-span document).
    this.positionSheet = new CSSStyleSheet();
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, this.sheet, this.positionSheet];
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
    this.positions = new Map();
    this.blockSizes = new Set();
  }

  add(rule, sheet = this.sheet) {
    return sheet.cssRules[sheet.insertRule(rule, sheet.cssRules.length)];
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

  // Place an element by its id through a stylesheet rule rather than a style attribute.
  place(id, properties) {
    let rule = this.positions.get(id);
    if (rule === undefined) {
      rule = this.add(`#${id} {}`, this.positionSheet);
      this.positions.set(id, rule);
    }
    for (const [name, value] of Object.entries(properties)) rule.style.setProperty(name, value);
  }
}
