// Colours and positions that depend on data live in one constructed stylesheet: pages carry
// no style attributes, and every highlight shares a class per (theme, stance, nesting) mix.

const HEX = /^#[0-9a-fA-F]{6}$/;
const FALLBACK_COLOUR = "#777777";
// Underline style per stance so that stance reads without colour (order of the schema's
// stances; the default schema gives FAVOR solid, AGAINST wavy, NEUTRAL dashed, NONE dotted).
const UNDERLINES = ["solid", "wavy", "dashed", "dotted"];
const NO_STANCE_UNDERLINE = "double";

export class DynamicStyles {
  constructor(schema) {
    this.sheet = new CSSStyleSheet();
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, this.sheet];
    this.themeIndex = new Map();
    this.colours = [];
    schema.themes.forEach((theme, index) => {
      const colour = HEX.test(theme.colour) ? theme.colour : FALLBACK_COLOUR;
      this.themeIndex.set(theme.code, index);
      this.colours.push(colour);
      this.add(`.th-${index} { --theme: ${colour}; }`);
    });
    this.stanceIndex = new Map(schema.stances.map((stance, index) => [stance.key, index]));
    schema.stances.forEach((stance, index) => {
      this.add(`.underline-${index} { text-decoration-style: ${UNDERLINES[index % UNDERLINES.length]}; }`);
    });
    this.combos = new Map();
    this.positions = new Map();
  }

  add(rule) {
    return this.sheet.cssRules[this.sheet.insertRule(rule, this.sheet.cssRules.length)];
  }

  themeClass(code) {
    return `th-${this.themeIndex.get(code) ?? "x"}`;
  }

  underlineFor(stance) {
    const index = this.stanceIndex.get(stance);
    return index === undefined ? NO_STANCE_UNDERLINE : UNDERLINES[index % UNDERLINES.length];
  }

  colourOf(code) {
    return this.colours[this.themeIndex.get(code)] ?? FALLBACK_COLOUR;
  }

  // The class painting a text segment: the innermost span's first theme as background, its
  // stance as underline style, and up to two enclosing spans as coloured lines beneath.
  comboClass(inner, outers) {
    const key = [inner.themes[0] ?? "", inner.stance ?? "", ...outers.map((s) => s.themes[0] ?? "")].join("|");
    let name = this.combos.get(key);
    if (name === undefined) {
      name = `hc${this.combos.size}`;
      const colour = this.colourOf(inner.themes[0]);
      const lines = outers.map((span, depth) => `0 ${3 * (depth + 1)}px 0 0 ${this.colourOf(span.themes[0])}`);
      this.add(
        `.doc-text .${name} { background-color: color-mix(in srgb, ${colour} ${outers.length ? 42 : 28}%, transparent);`
        + ` text-decoration-line: underline; text-decoration-color: color-mix(in srgb, ${colour} 65%, black);`
        + ` text-decoration-style: ${this.underlineFor(inner.stance)};`
        + (lines.length ? ` box-shadow: ${lines.join(", ")};` : "")
        + " }",
      );
      this.combos.set(key, name);
    }
    return name;
  }

  // Place an element by its id through a stylesheet rule rather than a style attribute.
  place(id, properties) {
    let rule = this.positions.get(id);
    if (rule === undefined) {
      rule = this.add(`#${id} {}`);
      this.positions.set(id, rule);
    }
    for (const [name, value] of Object.entries(properties)) rule.style.setProperty(name, value);
  }
}
