// The side list of spans in text order: labels, save state with its reason, Retry.

const QUOTE_CHARS = 90;

function byPosition(a, b) {
  return a.u16Start - b.u16Start || a.u16End - b.u16End || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

function excerpt(text) {
  return text.length > QUOTE_CHARS ? `${text.slice(0, QUOTE_CHARS - 1)}…` : text;
}

const STATE_WORDS = { saving: "Saving…", unsaved: "Not saved", conflict: "Not saved: changed elsewhere" };

export class SpanList {
  constructor(list, counter, { styles, describe, showAnnotator }) {
    this.list = list;
    this.counter = counter;
    this.styles = styles;
    this.describe = describe;
    this.showAnnotator = showAnnotator;
    this.items = new Map();
    this.sorted = [];
    this.total = 0;
    // Entries are laid out only when scrolled to (content-visibility: auto), so that a long
    // list shows at once; layOutMore() then lays them all out in idle time, because the browser
    // checks every entry still waiting on each frame that changes the page (about 5 ms for 700
    // entries on a slow machine), and a save should not pay for that.
    this.layingOut = false;
    this.laidOut = 0;
  }

  renderAll(records) {
    this.sorted = records.slice().sort(byPosition);
    this.items.clear();
    const fragment = document.createDocumentFragment();
    for (const record of this.sorted) fragment.appendChild(this.item(record));
    this.list.replaceChildren(fragment);
    this.count();
  }

  item(record) {
    let li = this.items.get(record.key);
    if (!li) {
      li = document.createElement("li");
      li.dataset.key = record.key;
      this.items.set(record.key, li);
    }
    const laidOut = this.layingOut || li.classList.contains("laid-out");
    li.className = `span-item${laidOut ? " laid-out" : ""} state-${record.state} ${this.styles.themeClass(record.themes[0])}`;
    li.hidden = !record.shown;
    const jump = document.createElement("button");
    jump.type = "button";
    jump.className = "span-jump";
    jump.dataset.action = "jump";
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.setAttribute("aria-hidden", "true");
    const codes = document.createElement("span");
    codes.className = "span-codes";
    codes.textContent = record.themes.join(", ") || "(no theme)";
    const quote = document.createElement("span");
    quote.className = "span-quote";
    quote.textContent = `“${excerpt(record.text)}”`;
    const labels = document.createElement("span");
    labels.className = "span-labels";
    labels.textContent = this.describe(record);
    jump.append(swatch, codes, quote, labels);
    const parts = [jump];
    if (this.showAnnotator) {
      const who = document.createElement("span");
      who.className = "span-annotator muted";
      who.textContent = record.annotator;
      parts.push(who);
    }
    if (record.state !== "saved") {
      const state = document.createElement("p");
      state.className = "span-state";
      state.setAttribute("role", record.state === "saving" ? "status" : "alert");
      const words = document.createElement("strong");
      words.textContent = STATE_WORDS[record.state] ?? record.state;
      state.append(words);
      if (record.error) state.append(` ${record.error}`);
      if (record.state === "unsaved") state.append(" ", this.button("retry", "Retry"));
      if (record.state === "conflict") state.append(" ", this.button("reload", "Reload the page"));
      parts.push(state);
    }
    if (record.warning) {
      const warning = document.createElement("p");
      warning.className = "span-warning";
      warning.textContent = record.warning;
      parts.push(warning);
    }
    li.replaceChildren(...parts);
    return li;
  }

  button(action, label) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.action = action;
    button.textContent = label;
    return button;
  }

  // Lays out up to `count` more entries; true while some are left.
  layOutMore(count) {
    this.layingOut = true;
    const entries = this.list.children;
    while (this.laidOut < entries.length && count > 0) {
      const entry = entries[this.laidOut];
      if (!entry.classList.contains("laid-out")) {
        entry.classList.add("laid-out");
        count -= 1;
      }
      this.laidOut += 1;
    }
    return this.laidOut < entries.length;
  }

  // Insert or refresh one entry, keeping text order.
  upsert(record) {
    const li = this.item(record);
    const at = this.sorted.findIndex((r) => r.key === record.key);
    if (at !== -1) this.sorted.splice(at, 1);
    let low = 0;
    let high = this.sorted.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (byPosition(this.sorted[middle], record) < 0) low = middle + 1;
      else high = middle;
    }
    this.sorted.splice(low, 0, record);
    const following = this.sorted[low + 1];
    const before = following ? this.items.get(following.key) : null;
    if (li.nextElementSibling !== before || li.parentNode !== this.list) this.list.insertBefore(li, before);
    this.count();
  }

  remove(key) {
    const li = this.items.get(key);
    if (li) li.remove();
    this.items.delete(key);
    this.sorted = this.sorted.filter((r) => r.key !== key);
    this.count();
  }

  refilter() {
    for (const record of this.sorted) {
      const li = this.items.get(record.key);
      if (li) li.hidden = !record.shown;
    }
    this.count();
  }

  count() {
    const shown = this.sorted.filter((r) => r.shown).length;
    this.counter.textContent = shown === this.sorted.length ? `(${shown})` : `(${shown} of ${this.sorted.length})`;
  }

  mark(key) {
    for (const li of this.list.querySelectorAll("[aria-current]")) li.removeAttribute("aria-current");
    const li = this.items.get(key);
    if (li) {
      li.setAttribute("aria-current", "true");
      li.scrollIntoView({ block: "nearest" });
    }
  }
}
