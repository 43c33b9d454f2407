"""static/annotations/js/offsets.js, imported into Chromium and checked against Python's str indexes."""
import pytest

from annotations.offsets import codepoint_to_utf16, utf16_length, utf16_to_codepoint

pytestmark = pytest.mark.browser

MIXED = "Note 😀 中俄 ﬁ cafe\u0301 𠀀 🤝\tTabs\u00a0and\u00a0NBSP; 👩\u200d👩\u200d👧 family. End"


@pytest.fixture
def offsets(page):
    """A page with the offsets module loaded as window.offsets."""
    page.goto("/accounts/login/")
    page.evaluate("async () => { window.offsets = await import('/static/annotations/js/offsets.js'); }")
    return page


def splits_pair(text, u16):
    try:
        utf16_to_codepoint(text, u16)
    except ValueError:
        return True
    return False


def test_every_offset_converts_as_python_counts(offsets):
    result = offsets.evaluate(
        """(text) => {
          const m = window.offsets;
          const index = new m.OffsetIndex(text);
          const toCp = [], fast = [], toU16 = [], fastBack = [];
          for (let u = 0; u <= text.length; u += 1) { toCp.push(m.codePointOffset(text, u)); fast.push(index.toCodePoint(u)); }
          for (let cp = 0; cp <= index.length; cp += 1) { toU16.push(m.utf16Offset(text, cp)); fastBack.push(index.toUtf16(cp)); }
          return { length: text.length, cps: index.length, toCp, fast, toU16, fastBack };
        }""",
        MIXED,
    )
    assert result["length"] == utf16_length(MIXED)
    assert result["cps"] == len(MIXED)
    for u16 in range(result["length"] + 1):
        assert result["fast"][u16] == result["toCp"][u16], u16
        if not splits_pair(MIXED, u16):
            assert result["toCp"][u16] == utf16_to_codepoint(MIXED, u16), u16
    for cp in range(len(MIXED) + 1):
        assert result["toU16"][cp] == result["fastBack"][cp] == codepoint_to_utf16(MIXED, cp), cp


def test_the_schemes_example_counts_brics_at_six(offsets):
    text = "中俄🤝合作 BRICS"
    found = offsets.evaluate(
        "(text) => { const u = text.indexOf('BRICS'); return [u, window.offsets.codePointOffset(text, u)]; }", text
    )
    assert found == [7, text.index("BRICS")]


def u16_of(text, part, plus=0):
    return codepoint_to_utf16(text, text.index(part)) + plus


def test_passages_snap_to_whole_characters(offsets):
    family = "👩\u200d👩\u200d👧 family"
    cases = [
        # The end between "e" and its combining accent takes the accent along.
        (u16_of(MIXED, "cafe"), u16_of(MIXED, "cafe", 4), "cafe\u0301"),
        # An end between the two halves of a surrogate pair takes the whole emoji.
        (u16_of(MIXED, "😀"), u16_of(MIXED, "😀", 1), "😀"),
        # A start inside a ZWJ sequence moves back to its beginning.
        (u16_of(MIXED, family, 3), u16_of(MIXED, " family") + len(" family"), family),
    ]
    for start_u16, end_u16, quote in cases:
        passage = offsets.evaluate(
            "([text, s, e]) => window.offsets.passageFromUtf16(text, s, e)", [MIXED, start_u16, end_u16]
        )
        start = MIXED.index(quote)
        assert (passage["start"], passage["end"], passage["text"]) == (start, start + len(quote), quote)


def test_a_dom_range_over_segments_converts_to_code_points(offsets):
    passage = offsets.evaluate(
        """(text) => {
          const box = document.createElement("div");
          // Cut the text the way the painter does, including a cut inside the emoji's pair.
          const cuts = [0, 3, text.indexOf("😀") + 1, text.indexOf("中"), text.indexOf("ﬁ") + 1, text.length];
          for (let i = 0; i < cuts.length - 1; i += 1) {
            const part = document.createElement("span");
            part.textContent = text.slice(cuts[i], cuts[i + 1]);
            box.append(part);
          }
          document.body.append(box);
          const range = document.createRange();
          range.setStart(box.children[1].firstChild, 1);            // just inside the emoji's pair
          range.setEnd(box.children[4].firstChild, 5);              // between "e" and its accent
          const inside = window.offsets.passageFromRange(text, box, range);
          const outer = document.createRange();
          outer.setStartBefore(document.body.firstChild);
          outer.setEnd(box.children[3].firstChild, 1);
          const clamped = window.offsets.passageFromRange(text, box, outer, { trim: false });
          box.remove();
          return { inside, clamped };
        }""",
        MIXED,
    )
    start = MIXED.index("😀")
    end = MIXED.index("cafe\u0301") + len("cafe\u0301")
    assert passage["inside"]["start"] == start
    assert passage["inside"]["end"] == end
    assert passage["inside"]["text"] == MIXED[start:end]
    assert passage["clamped"]["start"] == 0
    assert passage["clamped"]["text"] == MIXED[: MIXED.index("中") + 1]


def test_edges_lose_spaces_and_line_breaks_but_keep_no_break_spaces(offsets):
    text = "  \tspaced out\n\u00a0kept\u00a0 "
    passage = offsets.evaluate("(t) => window.offsets.passageFromUtf16(t, 0, t.length)", text)
    assert passage["text"] == "spaced out\n\u00a0kept\u00a0"
    assert passage["start"] == text.index("spaced")
    assert offsets.evaluate("(t) => window.offsets.passageFromUtf16(t, 0, 3)", text) is None


def test_widening_reaches_whole_words(offsets):
    text = "Trade in yuan rose sharply."
    widened = offsets.evaluate(
        "(t) => window.offsets.widenToWords(t, t.indexOf('rade'), t.indexOf('yuan') + 2)", text
    )
    assert text[widened["start"]:widened["end"]] == "Trade in yuan"
