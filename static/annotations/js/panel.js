// The label panel beside a selection: themes, stance, Admiralty grades, attributed source,
// claim type and note, with keyboard shortcuts that never clash:
//   letters         toggle a top-level theme (the project's shortcut keys)
//   digits          stance (the project's shortcuts, 1–4 by default)
//   Shift+A…F       source reliability        Shift+1…6   information credibility
//   ← →             move the end              Shift+← →   move the start (Ctrl: by word)
//   Shift+W         widen to whole words      /           filter themes by typing
//   Enter           save                      Escape      cancel          Delete   delete

const FIELD_SELECTOR = "input:not([type=checkbox]):not([type=radio]), textarea, select";

function words(value) {
  return value.toLowerCase().split(/\s+/).filter(Boolean);
}

export class Panel {
  constructor(form, { schema, onSave, onCancel, onDelete, onExtent, onWiden, onHelp, onKeyAfterSave }) {
    this.form = form;
    this.handlers = { onSave, onCancel, onDelete, onExtent, onWiden, onHelp, onKeyAfterSave };
    this.title = form.querySelector("#panel-title");
    this.quote = form.querySelector("#panel-quote");
    this.where = form.querySelector("#panel-offsets");
    this.error = form.querySelector("#panel-error");
    this.filter = form.querySelector("#theme-filter");
    this.deleteButton = form.querySelector("[data-action=delete]");
    this.themeKeys = new Map();
    for (const theme of schema.themes) {
      if (theme.shortcut) this.themeKeys.set(theme.shortcut.toLowerCase(), theme.code);
    }
    this.stanceKeys = new Map();
    for (const stance of schema.stances) {
      if (stance.shortcut) this.stanceKeys.set(stance.shortcut.toLowerCase(), stance.key);
    }
    this.chips = Array.from(form.querySelectorAll(".theme-chip"));
    this.mode = null;
    this.leaving = null;
    this.wasChecked = null;

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.handlers.onSave(event.timeStamp);
    });
    // A transparent panel on its way out must not take a click meant for the text under it.
    for (const type of ["pointerdown", "mousedown", "click"]) {
      form.addEventListener(type, (event) => {
        if (!this.leaving) return;
        event.preventDefault();
        event.stopImmediatePropagation();
      }, true);
    }
    form.addEventListener("keydown", (event) => this.onKey(event));
    form.addEventListener("click", (event) => this.onClick(event));
    form.addEventListener("pointerdown", (event) => {
      const radio = event.target.closest("label")?.querySelector("input[type=radio]");
      this.wasChecked = radio && radio.checked ? radio : null;
    });
    this.filter.addEventListener("input", () => this.applyFilter());
  }

  get isOpen() {
    return !this.form.hidden && !this.leaving;
  }

  open({ mode, record, passage, presetTheme }) {
    this.stopLeaving();
    this.mode = mode;
    this.form.reset();
    this.filter.value = "";
    this.applyFilter();
    this.title.textContent = mode === "edit" ? "Edit span" : "New span";
    this.deleteButton.hidden = mode !== "edit";
    if (record) this.setValues(record);
    if (presetTheme) this.toggleTheme(presetTheme);
    this.setPassage(passage);
    this.showError("");
    this.form.hidden = false;
    this.form.focus({ preventScroll: true });
  }

  close() {
    this.stopLeaving();
    this.form.hidden = true;
    this.mode = null;
  }

  get hasFocus() {
    return this.form.contains(document.activeElement);
  }

  // Closing at once makes the browser restyle every control of the panel (about 4 ms on a slow
  // machine) before it can draw anything else. After a save, the panel instead turns
  // transparent, which restyles nothing else and needs no layout (moving it away by a transform
  // changed the page's overflow: a forced layout of about 2 ms), and leaves for good after the
  // next frame: handOff (the caller's, to move the focus out of it) runs, then it is hidden.
  // Until then it takes no clicks, and a key pressed in it should call leave() at once.
  closeSoon(handOff = () => {}) {
    if (this.form.hidden || this.leaving) return;
    this.mode = null;
    // Frame and timer ids are counted apart, so each is kept and cancelled as what it is.
    const leaving = { frame: 0, timer: 0, handOff };
    leaving.frame = requestAnimationFrame(() => {
      leaving.frame = 0;
      leaving.timer = setTimeout(() => this.leave());
    });
    this.leaving = leaving;
    this.form.classList.add("is-leaving");
  }

  // Ends a closeSoon() now. The focus goes first: hidden while it still had it, the panel
  // would drop it on the page's body.
  leave() {
    if (!this.leaving) return;
    this.leaving.handOff();
    this.close();
  }

  stopLeaving() {
    if (!this.leaving) return;
    if (this.leaving.frame) cancelAnimationFrame(this.leaving.frame);
    if (this.leaving.timer) clearTimeout(this.leaving.timer);
    this.leaving = null;
    this.form.classList.remove("is-leaving");
  }

  setPassage(passage) {
    const quote = passage.text;
    this.quote.textContent = quote.length > 160 ? `${quote.slice(0, 100)} … ${quote.slice(-50)}` : quote;
    this.where.textContent = `[${passage.start}, ${passage.end})`;
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
  }

  checked(name) {
    return this.form.querySelector(`input[name=${name}]:checked`)?.value ?? "";
  }

  values() {
    const field = (name) => this.form.elements.namedItem(name).value.trim();
    const credibility = this.checked("info_credibility");
    return {
      themes: Array.from(this.form.querySelectorAll("input[name=themes]:checked"), (input) => input.value),
      stance: this.checked("stance") || null,
      source_reliability: this.checked("source_reliability"),
      info_credibility: credibility ? Number(credibility) : null,
      attributed_source: {
        type: field("source_type"), name: field("source_name"),
        affiliation: field("source_affiliation"), via: field("source_via"),
      },
      claim_type: field("claim_type"),
      note: this.form.elements.namedItem("note").value,
    };
  }

  setValues(record) {
    for (const input of this.form.querySelectorAll("input[name=themes]")) {
      input.checked = record.themes.includes(input.value);
    }
    this.setRadio("stance", record.stance ?? "");
    this.setRadio("source_reliability", record.source_reliability ?? "");
    this.setRadio("info_credibility", record.info_credibility == null ? "" : String(record.info_credibility));
    const source = record.attributed_source ?? {};
    this.form.elements.namedItem("source_type").value = source.type ?? "";
    this.form.elements.namedItem("source_name").value = source.name ?? "";
    this.form.elements.namedItem("source_affiliation").value = source.affiliation ?? "";
    this.form.elements.namedItem("source_via").value = source.via ?? "";
    this.form.elements.namedItem("claim_type").value = record.claim_type ?? "";
    this.form.elements.namedItem("note").value = record.note ?? "";
  }

  setRadio(name, value) {
    for (const input of this.form.querySelectorAll(`input[name=${name}]`)) input.checked = input.value === value;
  }

  // A second press of the same key clears the choice, as a second click does.
  toggleRadio(name, value) {
    const input = this.form.querySelector(`input[name=${name}][value="${value}"]`);
    if (input) input.checked = !input.checked;
  }

  toggleTheme(code) {
    const input = this.form.querySelector(`input[name=themes][value="${CSS.escape(code)}"]`);
    if (input) input.checked = !input.checked;
  }

  applyFilter() {
    const query = words(this.filter.value);
    for (const chip of this.chips) {
      chip.hidden = query.length > 0 && !query.every((word) => chip.dataset.search.includes(word));
    }
    for (const group of this.form.querySelectorAll(".theme-group")) {
      group.hidden = Array.from(group.querySelectorAll(".theme-chip")).every((chip) => chip.hidden);
    }
  }

  onClick(event) {
    const radio = event.target.closest("input[type=radio]");
    if (radio && radio === this.wasChecked) {
      radio.checked = false;
      this.wasChecked = null;
    }
    const action = event.target.closest("[data-action]")?.dataset.action;
    if (action === "cancel") this.handlers.onCancel();
    else if (action === "delete") this.handlers.onDelete();
    else if (action === "widen") this.handlers.onWiden();
    else if (action === "extent") {
      const { edge, step } = event.target.closest("[data-action]").dataset;
      this.handlers.onExtent(edge, Number(step), "char");
    }
  }

  onKey(event) {
    if (this.handlers.onKeyAfterSave?.(event)) return;
    const target = event.target;
    if (event.key === "Escape") {
      event.preventDefault();
      if (target === this.filter && this.filter.value) {
        this.filter.value = "";
        this.applyFilter();
        this.form.focus();
      } else {
        this.handlers.onCancel();
      }
      return;
    }
    if (event.key === "Enter") {
      if (target === this.filter) {
        event.preventDefault();
        const first = this.chips.find((chip) => !chip.hidden);
        if (first && this.filter.value) this.toggleTheme(first.dataset.code);
        this.filter.value = "";
        this.applyFilter();
        this.form.focus();
        return;
      }
      if (target.tagName === "BUTTON" || (target.tagName === "TEXTAREA" && !event.ctrlKey && !event.metaKey)) return;
      event.preventDefault();
      this.handlers.onSave(event.timeStamp);
      return;
    }
    if (target.matches(FIELD_SELECTOR) || event.altKey || event.metaKey) return;
    if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      event.preventDefault();
      this.handlers.onExtent(event.shiftKey ? "start" : "end", event.key === "ArrowLeft" ? -1 : 1,
        event.ctrlKey ? "word" : "char");
      return;
    }
    if (event.ctrlKey) return;
    if (event.key === "?") {
      event.preventDefault();
      this.handlers.onHelp();
      return;
    }
    if (event.key === "/") {
      event.preventDefault();
      this.filter.focus();
      return;
    }
    if ((event.key === "Delete" || event.key === "Backspace") && this.mode === "edit") {
      event.preventDefault();
      this.handlers.onDelete();
      return;
    }
    if (event.shiftKey) {
      const letter = /^Key([A-F])$/.exec(event.code);
      const digit = /^Digit([1-6])$/.exec(event.code);
      if (event.code === "KeyW") this.handlers.onWiden();
      else if (letter) this.toggleRadio("source_reliability", letter[1]);
      else if (digit) this.toggleRadio("info_credibility", digit[1]);
      else return;
      event.preventDefault();
      return;
    }
    const key = event.key.toLowerCase();
    if (this.themeKeys.has(key)) {
      event.preventDefault();
      this.toggleTheme(this.themeKeys.get(key));
    } else if (this.stanceKeys.has(key)) {
      event.preventDefault();
      this.toggleRadio("stance", this.stanceKeys.get(key));
    }
  }
}
