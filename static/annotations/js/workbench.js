// The annotation workbench: paints the reviewer's spans over the document, opens the label
// panel on a selection, and saves through the REST API: the request leaves on the key press,
// the span is drawn "saved" when the API answers (or "saving" if that takes over 100 ms), and
// it stays on the page marked "not saved", with the reason and a Retry button, when it fails.

import { createApi } from "./api.js";
import { Caret } from "./caret.js";
import {
  nextGrapheme, nextWordEnd, OffsetIndex, passageFromRange, passageFromUtf16, previousGrapheme,
  previousWordStart, widenToWords,
} from "./offsets.js";
import { Painter } from "./painter.js";
import { Panel } from "./panel.js";
import { SpanList } from "./spanlist.js";
import { DynamicStyles } from "./styles.js";

const UNDO_MS = 6000;

const root = document.getElementById("workbench");
const readJson = (id) => JSON.parse(document.getElementById(id).textContent);
const text = readJson("document-text");
const schema = readJson("schema-data");
const config = {
  documentId: Number(root.dataset.documentId),
  readOnly: root.dataset.readOnly === "true",
  username: root.dataset.username,
  viewingAll: root.dataset.viewing === "all",
};
const api = createApi(root.dataset.apiRoot, root.querySelector("[name=csrfmiddlewaretoken]").value);
const index = new OffsetIndex(text);
const styles = new DynamicStyles(schema);
const themeOrder = new Map(schema.themes.map((theme, i) => [theme.code, i]));
const container = document.getElementById("doc-text");
const column = container.parentElement;
const painter = new Painter(container, text, styles);
const banner = document.getElementById("wb-banner");
const toasts = document.getElementById("toasts");
const chooser = document.getElementById("chooser");
const help = document.getElementById("help-dialog");
const records = new Map();
const filters = { theme: "", stance: "" };
let localKeys = 0;
let draft = null;
// After a save, the record whose drawing also closes the panel (see saveDraft).
let panelGoesWith = null;
let leaving = false;

// ---- records ------------------------------------------------------------------------------

function sortThemes(codes) {
  return codes.slice().sort((a, b) => (themeOrder.get(a) ?? 1e9) - (themeOrder.get(b) ?? 1e9));
}

function badgeFor(record) {
  const [first, ...rest] = record.themes;
  return (first ?? "?") + (rest.length ? ` +${rest.length}` : "");
}

const LABEL_NAMES = [
  "stance", "stance_target", "source_reliability", "info_credibility", "claim_type", "note", "status",
];

function applyLabels(record, labels) {
  record.themes = sortThemes(labels.themes ?? []);
  for (const name of LABEL_NAMES) if (name in labels) record[name] = labels[name];
  record.attributed_source = { type: "", name: "", affiliation: "", via: "", ...(labels.attributed_source ?? {}) };
  record.badge = badgeFor(record);
}

function applyServer(record, data) {
  record.id = data.id;
  record.version = data.version;
  record.annotator = data.annotator;
  setExtent(record, index.toUtf16(data.start), index.toUtf16(data.end));
  applyLabels(record, data);
}

function setExtent(record, u16Start, u16End) {
  record.u16Start = u16Start;
  record.u16End = u16End;
  record.start = index.toCodePoint(u16Start);
  record.end = index.toCodePoint(u16End);
  record.text = text.slice(u16Start, u16End);
}

function describe(record) {
  const parts = [];
  if (record.stance) parts.push(record.stance);
  const grade = `${record.source_reliability || "–"}${record.info_credibility ?? "–"}`;
  if (grade !== "––") parts.push(grade);
  const source = record.attributed_source;
  if (source.type || source.name) parts.push([source.type, source.name].filter(Boolean).join(" "));
  if (record.claim_type) parts.push(record.claim_type);
  if (record.note) parts.push("note");
  return parts.join(" · ") || "no labels yet";
}

function matchesFilters(record) {
  if (filters.theme && !record.themes.some((code) => code === filters.theme || code.startsWith(`${filters.theme}.`))) {
    return false;
  }
  if (filters.stance === "-") return !record.stance;
  return !filters.stance || record.stance === filters.stance;
}

function visibleRecords() {
  const visible = [];
  for (const record of records.values()) {
    record.shown = !record.pendingDelete && matchesFilters(record);
    if (record.shown) visible.push(record);
  }
  return visible;
}

const list = new SpanList(document.getElementById("span-list"), document.getElementById("span-count"), {
  styles, describe, showAnnotator: config.viewingAll,
});

// While the mouse is selecting, the text nodes under the selection must not be replaced:
// repaints wait for the button to come up.
let selecting = false;
let deferred = null;

// Show a record's change: its list entry, and the text between its old and new extent, rebuilt
// when boundaries moved or only restyled when just its state changed. A change held back by
// refreshLater() is shown with it.
function refresh(record, previous = record) {
  let from = Math.min(previous.u16Start, record.u16Start);
  let to = Math.max(previous.u16End, record.u16End);
  let moved = previous.u16Start !== record.u16Start || previous.u16End !== record.u16End;
  const held = record.held;
  if (panelGoesWith === record) {
    panelGoesWith = null;
    if (!draft) {
      // The text takes the keyboard back as the panel leaves, after the frame that shows this
      // record: focusing it now would cost a style pass (about 1.5 ms on a slow machine) before
      // the span shows saved. A key pressed before then moves it at once (keyAfterSave).
      panel.closeSoon(() => {
        if (panel.hasFocus) container.focus({ preventScroll: true });
      });
      caret.collapse(record.u16End);
    }
  }
  if (held) {
    clearTimeout(held.timer);
    record.held = null;
    from = Math.min(from, held.from);
    to = Math.max(to, held.to);
    moved ||= held.moved;
  }
  painter.setSpans(visibleRecords());
  if (selecting) {
    deferred = deferred ? { from: Math.min(deferred.from, from), to: Math.max(deferred.to, to) } : { from, to };
  } else if (moved || record.painted !== record.shown) {
    painter.repaint(from, to);
  } else {
    painter.restyle(from, to);
  }
  record.painted = record.shown && !selecting;
  if (records.has(record.key) && !record.pendingDelete) list.upsert(record);
  else list.remove(record.key);
  redrawDraft();
  if (document.activeElement === container) caret.drawCaret();
}

// A save is drawn once, when the API answers, if it answers within SHOW_SAVING_AFTER_MS:
// drawing "saving" and then "saved" a few milliseconds apart costs the page two rounds of
// layout and paint, and on a busy machine the answer waits behind the first. Until then the
// passage keeps the panel's highlight (see redrawDraft); a slower answer shows "saving" at that
// time, and any other change of the record shows everything at once.
const SHOW_SAVING_AFTER_MS = 100;

function refreshLater(record, previous) {
  const held = record.held ?? { from: Infinity, to: -Infinity, moved: false };
  held.from = Math.min(held.from, previous.u16Start, record.u16Start);
  held.to = Math.max(held.to, previous.u16End, record.u16End);
  held.moved ||= previous.u16Start !== record.u16Start || previous.u16End !== record.u16End;
  clearTimeout(held.timer);
  held.timer = setTimeout(() => refresh(record), SHOW_SAVING_AFTER_MS);
  record.held = held;
  redrawDraft();
}

function flushDeferred() {
  selecting = false;
  if (!deferred) return;
  painter.setSpans(visibleRecords());
  painter.repaint(deferred.from, deferred.to);
  for (const record of records.values()) record.painted = record.shown;
  deferred = null;
  redrawDraft();
}

function repaintAll() {
  painter.setSpans(visibleRecords());
  painter.paintAll();
  for (const record of records.values()) record.painted = record.shown;
  list.refilter();
  redrawDraft();
}

// ---- messages -----------------------------------------------------------------------------

function showBanner(message, { reload = false } = {}) {
  banner.replaceChildren(message);
  if (reload) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.action = "reload";
    button.textContent = "Reload the page";
    banner.append(" ", button);
  }
  const close = document.createElement("button");
  close.type = "button";
  close.dataset.action = "dismiss";
  close.className = "link-like";
  close.textContent = "Dismiss";
  banner.append(" ", close);
  banner.hidden = false;
}

function toast(message, actions = [], { timeout = UNDO_MS } = {}) {
  const item = document.createElement("div");
  item.className = "toast";
  item.setAttribute("role", "status");
  const words = document.createElement("span");
  words.textContent = message;
  item.append(words);
  for (const [label, handler] of actions) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.addEventListener("click", () => {
      item.remove();
      handler();
    });
    item.append(" ", button);
  }
  toasts.append(item);
  if (timeout) setTimeout(() => item.remove(), timeout);
  return item;
}

function reloadPage() {
  leaving = true;
  window.location.reload();
}

// ---- saving -------------------------------------------------------------------------------

function payload(record) {
  return {
    start: record.start, end: record.end, text: record.text, themes: record.themes,
    stance: record.stance ?? null, source_reliability: record.source_reliability ?? "",
    info_credibility: record.info_credibility ?? null, attributed_source: record.attributed_source,
    claim_type: record.claim_type ?? "", note: record.note ?? "",
  };
}

// Timing for the benchmark: key press to saved, and how much of it the request took.
function announceSaved(record, startedAt, requestMs) {
  if (startedAt === undefined) return;
  const ms = performance.now() - startedAt;
  root.dispatchEvent(new CustomEvent("lectern:saved", { detail: { key: record.key, id: record.id, ms, requestMs } }));
}

// Saves of one span go out one at a time, each with the labels as they were when it was
// made, so a quick second edit waits for the first (and its id or version) instead of racing it.
function send(record, startedAt, previous = record) {
  const before = { u16Start: previous.u16Start, u16End: previous.u16End };
  record.state = "saving";
  record.error = "";
  refreshLater(record, before);
  const body = payload(record);
  record.pending = (record.pending ?? 0) + 1;
  const run = () => attempt(record, body, startedAt);
  // With nothing ahead of it the request leaves now, before the page does anything else.
  record.queue = record.pending > 1 ? record.queue.then(run) : run();
  return record.queue;
}

async function attempt(record, body, startedAt) {
  const sent = { u16Start: record.u16Start, u16End: record.u16End };
  const requested = performance.now();
  let answer;
  try {
    answer = record.id
      ? await api.patchEarly(`spans/${record.id}/`, { ...body, version: record.version })
      : await api.postEarly("spans/", { document: config.documentId, ...body });
  } catch (error) {
    record.pending -= 1;
    if (error.status === undefined) {
      // A fault in this page, not an answer from the server: show it, report it, go on.
      record.state = "unsaved";
      record.error = `Unexpected error in the page: ${error.message}`;
      refresh(record, sent);
      setTimeout(() => { throw error; });
      return;
    }
    if (error.code === "stale" || error.status === 409) {
      record.state = "conflict";
      const now = error.currentVersion ? ` (now version ${error.currentVersion}, yours was ${record.version})` : "";
      record.error = `This span was changed in another tab or by another session${now}; your change was not saved.`;
      showBanner(`${record.error} Reload to see the current version.`, { reload: true });
    } else {
      record.state = "unsaved";
      record.error = error.describe();
    }
    refresh(record, sent);
    return;
  }
  // The answer's headers name the span and its version: enough to show it saved, with the
  // labels it was sent with, some milliseconds before the body has arrived and been parsed.
  const known = savedFromHeaders(answer.headers, record);
  const data = known ? null : await answer.body;
  const requestMs = performance.now() - requested;
  record.pending -= 1;
  if (record.pending > 0) {
    // A newer save of this span is queued: keep its labels, take the id and version it needs.
    record.id = known ? known.id : data.id;
    record.version = known ? known.version : data.version;
    return;
  }
  if (known) {
    record.id = known.id;
    record.version = known.version;
  } else {
    applyServer(record, data);
  }
  record.state = "saved";
  refresh(record, sent);
  announceSaved(record, startedAt, requestMs);
  if (known) answer.body.then((full) => adoptBody(record, full));
}

function savedFromHeaders(headers, record) {
  const version = Number((headers.get("ETag") ?? "").replace(/^W\//, "").replaceAll('"', ""));
  const id = record.id ?? (headers.get("Location") ?? "").match(/\/spans\/([^/?#]+)\/$/)?.[1];
  return id && Number.isInteger(version) && version > 0 ? { id: decodeURIComponent(id), version } : null;
}

// What the page shows of a span, to tell whether taking in the server's copy changes it.
function appearance(record) {
  return JSON.stringify([record.u16Start, record.u16End, record.themes, record.stance, record.status, describe(record)]);
}

// The body of an answer already shown from its headers: the span as stored, which is what the
// page sent plus what the server fills in (the project's stance target, for one). Taken in
// unless the span has moved on meanwhile (another save out, a newer version, deleted), and
// drawn again only if that shows differently.
function adoptBody(record, data) {
  if (!data || !records.has(record.key) || record.pending > 0) return;
  if (data.id !== record.id || data.version !== record.version) return;
  const shown = appearance(record);
  applyServer(record, data);
  if (appearance(record) !== shown) refresh(record);
}

function retry(record) {
  if (record.deleteFailed) {
    record.deleteFailed = false;
    deleteNow(record);
  } else {
    send(record, performance.now());
  }
}

// Deleting waits out the undo window before it reaches the server, so Undo loses nothing.
function scheduleDelete(record) {
  record.pendingDelete = true;
  refresh(record);
  const timer = setTimeout(() => {
    item.remove();
    deleteNow(record);
  }, UNDO_MS);
  record.deleteTimer = timer;
  const item = toast(`Span “${record.text.slice(0, 40)}” deleted.`, [
    ["Undo", () => undoDelete(record)],
    ["Delete now", () => {
      clearTimeout(timer);
      deleteNow(record);
    }],
  ], { timeout: 0 });
}

function undoDelete(record) {
  clearTimeout(record.deleteTimer);
  record.pendingDelete = false;
  refresh(record);
  toast("Span restored.", [], { timeout: 2500 });
}

async function deleteNow(record, { keepalive = false } = {}) {
  clearTimeout(record.deleteTimer);
  record.deleteTimer = null;
  // A save still on its way would otherwise create the span after it was deleted here.
  if (record.queue && !keepalive) await record.queue.catch(() => {});
  if (!record.id) {
    records.delete(record.key);
    refresh(record);
    return;
  }
  try {
    await api.delete(`spans/${record.id}/?version=${record.version}`, undefined, { keepalive });
    records.delete(record.key);
    refresh(record);
  } catch (error) {
    record.pendingDelete = false;
    if (error.status === 404) {
      records.delete(record.key);
      refresh(record);
      return;
    }
    record.deleteFailed = true;
    record.state = error.status === 409 ? "conflict" : "unsaved";
    record.error = `Could not delete: ${error.describe()}`;
    if (error.status === 409) showBanner(`${record.error} Reload to see the current version.`, { reload: true });
    refresh(record);
  }
}

// ---- the panel ----------------------------------------------------------------------------

// The panel's passage, and the passages of saves not drawn yet (see refreshLater), as one
// highlight over the text. Changing a highlight makes the browser repaint all of the text in
// view, so it is set again only when its passages changed: a save keeps the passage the panel
// showed until its record is drawn.
let marked = "";
function redrawDraft() {
  if (!window.CSS || !CSS.highlights) return;
  const extents = [];
  if (draft) extents.push([draft.u16Start, draft.u16End]);
  for (const record of records.values()) {
    if (record.held && record.shown !== false) extents.push([record.u16Start, record.u16End]);
  }
  const key = `${painter.generation}:${extents.join(" ")}`;
  if (key === marked && CSS.highlights.has("lectern-draft")) return;
  marked = key;
  if (extents.length) {
    CSS.highlights.set("lectern-draft", new Highlight(...extents.map(([start, end]) => painter.rangeFor(start, end))));
  } else {
    CSS.highlights.delete("lectern-draft");
  }
}

// Beside the selection when the window has room to its right, else below it; always within
// the window, so that a long selection does not push the panel out of sight.
function placePanel() {
  const rect = painter.rangeFor(draft.u16Start, draft.u16End).getBoundingClientRect();
  const main = column.parentElement.getBoundingClientRect();
  const textBox = container.getBoundingClientRect();
  const beside = window.innerWidth - textBox.right > 300;
  const wanted = beside ? rect.top : rect.bottom + 8;
  const fits = window.innerHeight - panelForm.offsetHeight - 8;
  const top = Math.max(8, Math.min(wanted, fits)) - main.top;
  styles.place(panelForm, {
    top: `${Math.max(0, top)}px`,
    left: beside ? `${textBox.right - main.left + 12}px` : `${Math.max(0, rect.left - main.left)}px`,
  });
}

function openPanel(mode, passage, { record = null, presetTheme = null } = {}) {
  if (config.readOnly) return;
  closeChooser();
  if (draft) closePanel({ refocus: false });
  panelGoesWith = null;
  draft = { u16Start: passage.u16Start, u16End: passage.u16End, record };
  painter.select(record ? record.key : null);
  if (record) {
    refresh(record);
    list.mark(record.key);
  }
  document.getSelection().removeAllRanges();
  caret.hide();
  panel.open({ mode, record, passage, presetTheme });
  redrawDraft();
  placePanel();
}

function draftPassage() {
  return passageFromUtf16(text, draft.u16Start, draft.u16End, { trim: false, index });
}

function closePanel({ refocus = true } = {}) {
  const record = draft?.record;
  draft = null;
  panel.close();
  painter.select(null);
  if (record && records.has(record.key)) refresh(record);
  redrawDraft();
  if (refocus) container.focus({ preventScroll: true });
}

// Names typed in this session join the suggestions the server listed.
const sourceNames = document.getElementById("source-names");
function rememberSourceName(name) {
  if (!name || Array.from(sourceNames.options).some((option) => option.value === name)) return;
  const option = document.createElement("option");
  option.value = name;
  sourceNames.append(option);
}

function saveDraft(startedAt) {
  if (!draft) return;  // a second click on Save while the first save closes the panel
  const values = panel.values();
  if (!values.themes.length) {
    panel.showError("Choose at least one theme (its letter, a click, or / to search).");
    return;
  }
  const passage = draftPassage();
  if (!passage) return;
  let record = draft.record;
  const previous = record ? { u16Start: record.u16Start, u16End: record.u16End } : null;
  if (!record) {
    localKeys += 1;
    record = { key: `new-${localKeys}`, id: null, version: null, annotator: config.username, status: "draft" };
    records.set(record.key, record);
  }
  setExtent(record, passage.u16Start, passage.u16End);
  applyLabels(record, { ...values, stance_target: record.stance_target, status: record.status });
  rememberSourceName(values.attributed_source.name);
  painter.select(null);
  // The panel goes, and the text takes the focus back with the caret at the passage's end,
  // when the record is drawn (see refreshLater): done now, they would cost a frame of style
  // and paint while the request is out, which on a busy machine delays the answer. A key
  // pressed before then draws it at once. The draft is given up before the record is sent,
  // so that the passage's highlight passes from the one to the other unchanged: replaced,
  // even by the same extent, it is painted again, a frame drawn while the request is out.
  draft = null;
  panelGoesWith = record;
  send(record, startedAt, previous ?? record);
}

// A key pressed in the panel while a saved record waits to be drawn, or while the panel is on
// its way out after it, draws the record and closes the panel at once, giving the text the
// focus, then does what it does in the text.
function keyAfterSave(event) {
  if (!panelGoesWith && !panel.leaving) return false;
  if (panelGoesWith) refresh(panelGoesWith);
  panel.leave();
  onTextKey(event);
  return true;
}

function moveExtent(edge, step, unit) {
  if (!draft) return;
  let { u16Start, u16End } = draft;
  const forward = (at) => (unit === "word" ? nextWordEnd(text, at) : nextGrapheme(text, at));
  const backward = (at) => (unit === "word" ? previousWordStart(text, at) : previousGrapheme(text, at));
  if (edge === "start") u16Start = step > 0 ? forward(u16Start) : backward(u16Start);
  else u16End = step > 0 ? forward(u16End) : backward(u16End);
  if (u16End <= u16Start) return;
  draft.u16Start = u16Start;
  draft.u16End = u16End;
  panel.setPassage(draftPassage());
  redrawDraft();
}

function widenDraft() {
  if (!draft) return;
  const widened = widenToWords(text, draft.u16Start, draft.u16End);
  draft.u16Start = widened.start;
  draft.u16End = widened.end;
  panel.setPassage(draftPassage());
  redrawDraft();
}

const panelForm = document.getElementById("span-panel");
const panel = panelForm ? new Panel(panelForm, {
  schema,
  onSave: saveDraft,
  onCancel: () => closePanel(),
  onDelete: () => {
    const record = draft?.record;
    if (!record) return;
    closePanel();
    scheduleDelete(record);
  },
  onExtent: moveExtent,
  onWiden: widenDraft,
  onHelp: () => help.showModal(),
  onKeyAfterSave: keyAfterSave,
}) : null;

const caret = new Caret({
  container, column, element: document.getElementById("wb-caret"), text, painter, styles,
});

// ---- choosing spans -----------------------------------------------------------------------

function openRecord(record) {
  list.mark(record.key);
  if (config.readOnly) {
    painter.select(record.key);
    repaintAll();
    return;
  }
  openPanel("edit", passageFromUtf16(text, record.u16Start, record.u16End, { trim: false, index }), { record });
}

function closeChooser() {
  chooser.hidden = true;
  chooser.replaceChildren();
}

function offerChoice(spans, x, y) {
  chooser.replaceChildren();
  const heading = document.createElement("p");
  heading.className = "chooser-title";
  heading.textContent = `${spans.length} spans here — choose one:`;
  chooser.append(heading);
  for (const span of spans) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.key = span.key;
    button.className = `chooser-item ${styles.themeClass(span.themes[0])}`;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    const label = document.createElement("span");
    label.textContent = `${span.themes.join(", ")} — “${span.text.slice(0, 60)}${span.text.length > 60 ? "…" : ""}”`;
    button.append(swatch, label);
    chooser.append(button);
  }
  const main = column.parentElement.getBoundingClientRect();
  styles.place(chooser, { left: `${x - main.left}px`, top: `${y - main.top + 12}px` });
  chooser.hidden = false;
  chooser.querySelector("button").focus();
}

chooser.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-key]");
  if (!button) return;
  const record = records.get(button.dataset.key);
  closeChooser();
  if (record) openRecord(record);
});
chooser.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    closeChooser();
    container.focus();
  } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    const buttons = Array.from(chooser.querySelectorAll("button"));
    const at = buttons.indexOf(document.activeElement);
    buttons[(at + (event.key === "ArrowDown" ? 1 : buttons.length - 1)) % buttons.length].focus();
  }
});

function pick(spans, x, y) {
  if (spans.length === 1) openRecord(records.get(spans[0].key));
  else if (spans.length > 1) offerChoice(spans, x, y);
}

// ---- text events --------------------------------------------------------------------------

container.addEventListener("mousedown", (event) => {
  if (event.button === 0) selecting = true;
});

// The button may come up outside the text; the selection settles after mouseup, so it is
// read on the next task (or at once if a key comes first, as input outruns timers), before any
// deferred repaint replaces the nodes it points into.
let pendingMouseUp = null;

document.addEventListener("mouseup", (event) => {
  if (!selecting) return;
  clearTimeout(pendingMouseUp?.timer);
  pendingMouseUp = { event, timer: setTimeout(settleMouseUp) };
});

function settleMouseUp() {
  if (!pendingMouseUp) return false;
  const { event, timer } = pendingMouseUp;
  pendingMouseUp = null;
  clearTimeout(timer);
  const selection = document.getSelection();
  const range = selection.rangeCount && !selection.isCollapsed ? selection.getRangeAt(0) : null;
  const passage = range ? passageFromRange(text, container, range, { index }) : null;
  const segment = container.contains(event.target) ? painter.segmentFor(event.target) : null;
  caret.adoptSelection();
  flushDeferred();
  if (passage) {
    if (!config.readOnly) openPanel("new", passage);
    return true;
  }
  caret.drawCaret();
  if (segment) pick(segment.spans, event.clientX, event.clientY);
  else closeChooser();
  return true;
}

container.addEventListener("focus", () => caret.drawCaret());
container.addEventListener("blur", () => caret.hide());

container.addEventListener("keydown", onTextKey);

function onTextKey(event) {
  if (settleMouseUp() && panel?.isOpen) {
    panel.onKey(event);
    return;
  }
  if (caret.handles(event)) {
    caret.onKey(event);
    return;
  }
  if (event.altKey || event.metaKey || event.ctrlKey) return;
  if (event.key === "?") {
    event.preventDefault();
    help.showModal();
    return;
  }
  if (event.key === "Escape") {
    closeChooser();
    caret.collapse(caret.focus);
    return;
  }
  if (event.shiftKey && event.code === "KeyW" && !caret.collapsed) {
    event.preventDefault();
    const widened = widenToWords(text, caret.start, caret.end);
    caret.set(widened.start, widened.end);
    return;
  }
  if (event.key === "Enter") {
    event.preventDefault();
    if (!caret.collapsed) {
      const passage = passageFromUtf16(text, caret.start, caret.end, { index });
      if (passage) openPanel("new", passage);
    } else {
      const rect = caret.rectAt(caret.focus);
      pick(painter.spansAt(caret.focus), rect.left, rect.bottom);
    }
    return;
  }
  if (!caret.collapsed && panel && !event.shiftKey && panel.themeKeys.has(event.key.toLowerCase())) {
    event.preventDefault();
    const passage = passageFromUtf16(text, caret.start, caret.end, { index });
    if (passage) openPanel("new", passage, { presetTheme: panel.themeKeys.get(event.key.toLowerCase()) });
  }
}


document.addEventListener("keydown", (event) => {
  if (event.key !== "?" || event.target.closest("input, textarea, select, #span-panel, #doc-text")) return;
  event.preventDefault();
  help.showModal();
});

// ---- page controls ------------------------------------------------------------------------

document.getElementById("span-list").addEventListener("click", (event) => {
  const action = event.target.closest("[data-action]")?.dataset.action;
  const key = event.target.closest("li")?.dataset.key;
  const record = key && records.get(key);
  if (!record) return;
  if (action === "retry") retry(record);
  else if (action === "reload") reloadPage();
  else if (action === "jump") {
    const element = painter.elementAt(record.u16Start);
    if (element) element.scrollIntoView({ block: "center" });
    openRecord(record);
  }
});

banner.addEventListener("click", (event) => {
  const action = event.target.closest("[data-action]")?.dataset.action;
  if (action === "reload") reloadPage();
  else if (action === "dismiss") banner.hidden = true;
});

for (const [id, name] of [["filter-theme", "theme"], ["filter-stance", "stance"]]) {
  document.getElementById(id).addEventListener("change", (event) => {
    filters[name] = event.target.value;
    repaintAll();
  });
}

document.getElementById("help-button").addEventListener("click", () => help.showModal());

const viewSwitch = document.getElementById("view-switch");
if (viewSwitch) viewSwitch.elements.namedItem("view").addEventListener("change", () => viewSwitch.requestSubmit());

const statusBadge = document.getElementById("doc-status");
const STATUS_LABELS = { done: "Done", in_progress: "In progress", not_started: "Not started" };

function showStatus(status) {
  root.dataset.status = status;
  statusBadge.textContent = STATUS_LABELS[status] ?? status;
  statusBadge.className = `status-badge status-${status}`;
}

// Marking done submits the drafts, which bumps their versions: read them again so that a
// later edit is not refused as stale.
async function reloadOwnSpans() {
  let path = `spans/?document=${config.documentId}&annotator=${encodeURIComponent(config.username)}&page_size=1000`;
  const byId = new Map(Array.from(records.values(), (record) => [record.id, record]));
  while (path) {
    const page = await api.get(path);
    for (const data of page.results) {
      const record = byId.get(data.id);
      if (record && record.state === "saved") {
        const previous = { u16Start: record.u16Start, u16End: record.u16End };
        applyServer(record, data);
        refresh(record, previous);
      }
    }
    path = page.next ? page.next.slice(page.next.indexOf(root.dataset.apiRoot) + root.dataset.apiRoot.length) : null;
  }
}

function warnIncomplete(error) {
  const missing = new Map((error.body?.error?.spans ?? []).map((item) => [item.id, item.missing]));
  for (const record of records.values()) {
    const lacks = missing.get(record.id);
    const warning = lacks ? `Needs ${lacks.join(", ")} before the document can be marked done.` : "";
    if (warning !== (record.warning ?? "")) {
      record.warning = warning;
      refresh(record);
    }
  }
}

async function setStatus(status) {
  const waiting = Array.from(records.values()).filter((r) => r.state !== "saved" || r.pendingDelete);
  if (status === "done" && waiting.length) {
    showBanner(`${waiting.length} span(s) are not saved yet: save, retry or delete them before marking the document done.`);
    return;
  }
  let data;
  try {
    data = await api.post(`documents/${config.documentId}/status/`, { status });
  } catch (error) {
    if (error.code === "incomplete") warnIncomplete(error);
    showBanner(`Could not change the document's status: ${error.message}`);
    return;
  }
  banner.hidden = true;
  warnIncomplete({});
  if (status === "done") {
    try {
      await reloadOwnSpans();
    } catch (error) {
      showBanner(`Marked done, but the spans could not be read again (${error.message}); reload before editing.`, { reload: true });
    }
  }
  showStatus(data?.status ?? status);
  if (status === "done") {
    toast("Document marked done.", [["Next document →", () => { window.location.href = root.dataset.nextUrl; }]]);
  }
}

root.addEventListener("click", (event) => {
  const action = event.target.closest("button[data-status-action]")?.dataset.statusAction;
  if (action) setStatus(action);
});

// Nothing unsaved leaves silently: pending deletes go out as the page goes, and a page with
// unsaved spans asks before it is left.
window.addEventListener("pagehide", () => {
  for (const record of records.values()) if (record.pendingDelete && record.deleteTimer) deleteNow(record, { keepalive: true });
});
window.addEventListener("beforeunload", (event) => {
  if (leaving) return;
  if (Array.from(records.values()).some((r) => r.state !== "saved" && !r.pendingDelete)) event.preventDefault();
});

// ---- start --------------------------------------------------------------------------------

for (const data of readJson("spans-data")) {
  const record = { key: data.id, state: "saved", error: "" };
  applyServer(record, data);
  records.set(record.key, record);
}
repaintAll();
performance.mark("lectern:painted");
root.dispatchEvent(new CustomEvent("lectern:painted", { detail: { spans: records.size } }));
// The side list waits until the highlights have reached the screen; then the rest of the text,
// and after it the side list, are laid out in idle time, so that scrolling and saving later
// never wait for them.
const LAYOUT_CHARS_PER_SLICE = 4000;
const LAYOUT_ENTRIES_PER_SLICE = 100;
const whenIdle = window.requestIdleCallback?.bind(window) ?? ((callback) => setTimeout(callback, 16));
function layOutRest() {
  if (painter.layOutMore(LAYOUT_CHARS_PER_SLICE)) whenIdle(layOutRest);
  else whenIdle(layOutList);
}
function layOutList() {
  if (list.layOutMore(LAYOUT_ENTRIES_PER_SLICE)) whenIdle(layOutList);
  else root.classList.add("is-laid-out");
}
requestAnimationFrame(() => setTimeout(() => {
  list.renderAll(Array.from(records.values()));
  root.classList.add("is-ready");
  whenIdle(layOutRest);
}));
