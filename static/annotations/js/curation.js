// The curation page: keyboard moves between candidates, a candidate lights up its passage in
// the text, and the gold editor takes its offsets from a selection in the text.
//
// Every action also works without this script: they are plain forms and links.
import { passageFromRange } from "./offsets.js";

const textBox = document.getElementById("curation-text");
const textData = document.getElementById("document-text");
const text = textData ? JSON.parse(textData.textContent) : "";
const codePoints = Array.from(text);

const candidates = Array.from(document.querySelectorAll(".candidate"));

function passageLink(number) {
  return textBox ? textBox.querySelector(`a.cand[data-candidate="${number}"]`) : null;
}

function markCurrent(number) {
  if (!textBox) return;
  for (const link of textBox.querySelectorAll("a.cand.is-current")) link.classList.remove("is-current");
  const link = number ? passageLink(number) : null;
  if (link) link.classList.add("is-current");
}

function currentIndex() {
  const active = document.activeElement && document.activeElement.closest(".candidate");
  if (active) return candidates.indexOf(active);
  const target = window.location.hash.startsWith("#cand-") ? document.querySelector(window.location.hash) : null;
  return target ? candidates.indexOf(target) : -1;
}

function focusCandidate(index) {
  const candidate = candidates[index];
  if (!candidate) return;
  candidate.focus({ preventScroll: true });
  candidate.scrollIntoView({ block: "nearest" });
  const link = passageLink(candidate.dataset.candidate);
  if (link) link.scrollIntoView({ block: "nearest" });
  markCurrent(candidate.dataset.candidate);
}

document.addEventListener("keydown", (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey || event.defaultPrevented) return;
  if (event.target.closest("input, textarea, select, [contenteditable]")) return;
  if (event.key !== "j" && event.key !== "k") return;
  event.preventDefault();
  const index = currentIndex();
  focusCandidate(event.key === "j" ? Math.min(index + 1, candidates.length - 1) : Math.max(index - 1, 0));
});

const side = document.querySelector(".curation-side");
if (side) {
  const follow = (event) => {
    const candidate = event.target.closest(".candidate");
    if (candidate) markCurrent(candidate.dataset.candidate);
  };
  side.addEventListener("focusin", follow);
  side.addEventListener("mouseover", follow);
}
if (window.location.hash.startsWith("#cand-")) markCurrent(window.location.hash.slice("#cand-".length));

// ---- gold editor ----

const form = document.getElementById("gold-form");
if (form && textBox) {
  const start = form.querySelector("#gold-start");
  const end = form.querySelector("#gold-end");
  const quote = document.getElementById("gold-quote");
  const useSelection = document.getElementById("use-selection");
  const custom = form.querySelector('input[name="extent"][value="custom"]');
  const radios = Array.from(form.querySelectorAll('input[type="radio"][name="extent"]'));
  let lastPassage = null;

  const showQuote = () => {
    const from = Number.parseInt(start.value, 10);
    const to = Number.parseInt(end.value, 10);
    if (!(from >= 0 && to > from && to <= codePoints.length)) {
      quote.textContent = "These offsets do not make a passage of the text.";
      return;
    }
    const excerpt = codePoints.slice(from, to).join("");
    quote.textContent = `“${excerpt.length > 160 ? `${excerpt.slice(0, 160)}…` : excerpt}”`;
  };

  const setOffsets = (from, to) => {
    start.value = from;
    end.value = to;
    showQuote();
  };

  // The union is the smallest start and the largest end of the sources offered as extents.
  const unionOf = () => {
    const bounds = radios.filter((r) => r.dataset.start).map((r) => [Number(r.dataset.start), Number(r.dataset.end)]);
    if (!bounds.length) return null;
    return [Math.min(...bounds.map((b) => b[0])), Math.max(...bounds.map((b) => b[1]))];
  };

  form.addEventListener("change", (event) => {
    const radio = event.target.closest('input[name="extent"]');
    if (!radio) return;
    if (radio.value === "union") {
      const union = unionOf();
      if (union) setOffsets(...union);
    } else if (radio.dataset.start) {
      setOffsets(radio.dataset.start, radio.dataset.end);
    }
  });
  for (const input of [start, end]) {
    input.addEventListener("input", () => {
      if (custom) custom.checked = true;
      showQuote();
    });
  }

  // Pressing the button can move the selection, so the last one made inside the text is kept.
  document.addEventListener("selectionchange", () => {
    const selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return;
    const passage = passageFromRange(text, textBox, selection.getRangeAt(0));
    if (passage) lastPassage = passage;
    useSelection.disabled = !lastPassage;
  });
  useSelection.hidden = false;
  useSelection.disabled = true;
  useSelection.addEventListener("click", () => {
    if (!lastPassage) return;
    if (custom) custom.checked = true;
    setOffsets(lastPassage.start, lastPassage.end);
    start.focus();
  });
  showQuote();
}
