"""The curation screen as a curator uses it, in Chromium against the live server."""
import pytest
from playwright.sync_api import expect

from annotations.models import Curation, Span
from annotations.services import span_create
from tests.factories import DocumentFactory

from .support import log_in

pytestmark = pytest.mark.browser

# The handshake emoji is two UTF-16 units but one code point: offsets taken from a browser
# selection after it are wrong unless they are converted.
TEXT = (
    "中俄🤝 Trade in yuan rose sharply. Officials hailed the deal. "
    "Critics disagree. Nothing else happened."
)


def mark(document, user, quote, themes, **labels):
    start = document.text.index(quote)
    return span_create(document=document, annotator=user, start=start, end=start + len(quote), text=quote,
                       themes=themes, **labels)


def at(quote):
    start = TEXT.index(quote)
    return start, start + len(quote)


@pytest.fixture
def layers(themed, annotator, teammate):
    """alice and bob agree on one sentence, differ on two, and only alice marked the last."""
    document = DocumentFactory(project=themed, text=TEXT, title="Trade talk")
    stances = {s.key: s for s in themed.stances.all()}
    common = {"source_reliability": "B", "info_credibility": 2, "source_type": "OFFICIAL"}
    spans = {
        "agreed": [
            mark(document, user, "Officials hailed the deal.", ["TRADE.volume"], stance=stances["FAVOR"], **common)
            for user in (annotator, teammate)
        ],
        "alice_trade": mark(document, annotator, "Trade in yuan rose sharply.", ["FINANCE.currency"],
                            stance=stances["NEUTRAL"], **common),
        "bob_trade": mark(document, teammate, "yuan rose sharply.", ["FINANCE.currency", "TRADE"],
                          stance=stances["FAVOR"], **common),
        "alice_critics": mark(document, annotator, "Critics disagree.", ["WEST"], stance=stances["AGAINST"], **common),
        "bob_critics": mark(document, teammate, "Critics", ["WEST"], stance=stances["AGAINST"], **common),
        "alice_only": mark(document, annotator, "Nothing else happened.", ["ORDER"], stance=stances["NONE"], **common),
    }
    return document, spans


def open_curation(page, live_server, user, document, query=""):
    log_in(page, live_server, user)
    page.goto(f"/projects/{document.project.slug}/curation/documents/{document.pk}/{query}")
    expect(page.locator("#curation-text")).to_be_visible()


def lane(page, span):
    return page.locator(f'tr[data-span="{span.pk}"]')


def gold_spans(document):
    return Span.objects.filter(document=document, status=Span.Status.GOLD)


def test_curator_accepts_a_span_as_gold(page, live_server, layers, curator):
    document, spans = layers
    open_curation(page, live_server, curator, document)

    expect(page.locator("#candidates .candidate")).to_have_count(4)
    expect(page.locator('.candidate[data-state="agreed"]')).to_have_count(1)
    lane(page, spans["alice_trade"]).get_by_role("button", name="Accept").click()

    expect(page.locator(".messages")).to_contain_text("Accepted alice's span")
    expect(lane(page, spans["alice_trade"])).to_have_class("is-accepted")
    gold = gold_spans(document).get()
    assert (gold.start, gold.end) == at("Trade in yuan rose sharply.")
    assert gold.annotator == curator and list(gold.sources.all()) == [spans["alice_trade"]]
    assert gold.provenance["method"] == "pick"
    expect(page.locator("#gold-table tbody tr")).to_have_count(1)


def test_curator_accepts_with_changes_using_a_selection_in_the_text(page, live_server, layers, curator):
    document, spans = layers
    open_curation(page, live_server, curator, document)

    lane(page, spans["bob_trade"]).get_by_role("link", name="Accept bob's span with changes").click()
    form = page.locator("#gold-form")
    expect(form).to_be_visible()
    expect(page.locator("#gold-start")).to_have_value(str(at("yuan rose sharply.")[0]))
    page.evaluate("""(quote) => {
      const box = document.getElementById("curation-text");
      const text = box.textContent;
      const from = text.indexOf(quote);
      const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
      const range = document.createRange();
      let seen = 0;
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (from >= seen && from < seen + node.length) range.setStart(node, from - seen);
        const to = from + quote.length;
        if (to > seen && to <= seen + node.length) range.setEnd(node, to - seen);
        seen += node.length;
      }
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }""", "Trade in yuan rose")
    page.get_by_role("button", name="Use the text selected above").click()
    expect(page.locator("#gold-start")).to_have_value(str(at("Trade in yuan rose")[0]))
    expect(page.locator("#gold-quote")).to_have_text("“Trade in yuan rose”")
    form.get_by_label("Stance", exact=True).select_option("NEUTRAL")
    form.get_by_label("TRADE — Trade", exact=True).uncheck()
    form.get_by_label("Source reliability").select_option("C")
    page.get_by_role("button", name="Save as gold").click()

    expect(page.locator(".messages")).to_contain_text("saved")
    gold = gold_spans(document).get()
    assert (gold.start, gold.end, gold.text) == (*at("Trade in yuan rose"), "Trade in yuan rose")
    assert (gold.stance.key, gold.admiralty) == ("NEUTRAL", "C2")
    assert list(gold.themes.values_list("code", flat=True)) == ["FINANCE.currency"]
    assert gold.provenance["method"] == "edit" and list(gold.sources.all()) == [spans["bob_trade"]]
    spans["bob_trade"].refresh_from_db()
    assert spans["bob_trade"].version == 1 and spans["bob_trade"].text == "yuan rose sharply."


def test_curator_merges_overlapping_spans(page, live_server, layers, curator):
    document, spans = layers
    open_curation(page, live_server, curator, document)

    candidate = page.locator(".candidate", has=lane(page, spans["alice_critics"]))
    candidate.get_by_role("link", name="Merge…").click()
    form = page.locator("#gold-form")
    form.get_by_label("bob's", exact=False).check()
    expect(page.locator("#gold-end")).to_have_value(str(at("Critics")[1]))
    form.get_by_label("Union of the spans").check()
    expect(page.locator("#gold-end")).to_have_value(str(at("Critics disagree.")[1]))
    page.get_by_role("button", name="Save as gold").click()

    expect(page.locator(".messages")).to_contain_text("saved")
    gold = gold_spans(document).get()
    assert (gold.start, gold.end) == at("Critics disagree.")
    assert set(gold.sources.all()) == {spans["alice_critics"], spans["bob_critics"]}
    assert gold.stance.key == "AGAINST" and gold.provenance["method"] == "edit"


def test_curator_rejects_a_span_from_the_keyboard(page, live_server, layers, curator):
    document, spans = layers
    open_curation(page, live_server, curator, document)

    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator(".candidate").nth(3)).to_be_focused()
    reject = lane(page, spans["alice_only"]).get_by_role("button", name="Reject")
    reject.focus()
    page.keyboard.press("Enter")

    expect(page.locator(".messages")).to_contain_text("Rejected alice's span")
    record = Span.objects.get(document=document, status=Span.Status.REJECTED)
    assert list(record.sources.all()) == [spans["alice_only"]] and record.annotator == curator
    assert not gold_spans(document).exists()
    expect(lane(page, spans["alice_only"])).to_have_class("is-rejected")


def test_curator_accepts_all_agreed_spans_and_marks_the_document_curated(page, live_server, layers, curator):
    document, spans = layers
    open_curation(page, live_server, curator, document)

    page.get_by_role("button", name="Accept all agreed (1)").click()

    expect(page.locator(".messages")).to_contain_text("Accepted 1 span(s)")
    gold = gold_spans(document).get()
    assert gold.provenance["method"] == "auto_complete" and gold.provenance["votes"] == 2
    assert set(gold.sources.all()) == set(spans["agreed"])
    expect(page.get_by_role("button", name="Accept all agreed (0)")).to_be_disabled()

    page.get_by_role("button", name="Mark curated").click()

    expect(page.locator("#curation-status")).to_have_text("Curated")
    assert Curation.objects.get(document=document).status == Curation.Status.CURATED
    expect(page.get_by_role("button", name="Accept", exact=True)).to_have_count(0)

    page.get_by_role("button", name="Reopen").click()

    expect(page.locator("#curation-status")).to_have_text("In progress")
    assert Curation.objects.get(document=document).status == Curation.Status.IN_PROGRESS
