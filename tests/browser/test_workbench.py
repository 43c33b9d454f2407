"""The annotation workbench as a reviewer uses it, in Chromium against the live server."""
import pytest
from playwright.sync_api import expect

from annotations.models import Assignment, Span
from annotations.services import span_create, span_update
from tests.factories import PASSWORD, DocumentFactory

from .support import click_text, drag_select, log_in, open_workbench

pytestmark = pytest.mark.browser

TEXT = "Analysts say trade in yuan rose. Critics disagree sharply.\n\nOfficials in Moscow added nothing."


def make_span(document, annotator, quote, themes, occurrence=0, **labels):
    start = -1
    for _ in range(occurrence + 1):
        start = document.text.index(quote, start + 1)
    return span_create(document=document, annotator=annotator, start=start, end=start + len(quote), text=quote,
                       themes=themes, **labels)


def saved_items(page):
    return page.locator("#span-list .span-item.state-saved")


def hold_span_requests(page):
    """Leave the page's saves to the spans endpoint unanswered; returns the held requests."""
    held = []
    page.route("**/api/spans/", lambda route: held.append(route))
    return held


def wait_for_held(page, held):
    for _ in range(40):  # a held request reaches the handler between Playwright calls
        if held:
            return
        page.wait_for_timeout(50)


def save_and_wait(page):
    """Press Enter in the panel and wait for the answer: an edited span shows its old labels,
    still saved, until the panel closes with the new ones (or with "Saving…" if slow)."""
    page.keyboard.press("Enter")
    expect(page.locator("#span-panel")).to_be_hidden()
    expect(page.locator("#span-list .span-item.state-saving")).to_have_count(0)


def test_reviewer_logs_in_through_the_form_and_opens_their_next_document(page, themed, annotator):
    later = DocumentFactory(project=themed, external_id="b", title="Later")
    first = DocumentFactory(project=themed, external_id="a", title="First one")
    Assignment.objects.create(document=later, annotator=annotator, assigned=True)

    page.goto("/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")

    card = page.locator(".project-card")
    expect(card).to_contain_text(themed.name)
    expect(card.locator("[data-count=not_started]")).to_have_text("2 not started")
    expect(card.locator("[data-count=done]")).to_have_text("0 done")
    page.click("text=Next document to do")
    page.wait_for_selector("#workbench.is-ready")
    assert page.url.endswith(f"/documents/{later.pk}/")
    expect(page.locator("h1")).to_have_text("Later")
    assert first.pk != later.pk


def test_mouse_selection_tagged_from_the_keyboard_is_saved_with_exact_offsets(page, live_server, themed, annotator):
    document = DocumentFactory(project=themed, text=TEXT)
    log_in(page, live_server, annotator)
    open_workbench(page, document)

    drag_select(page, "trade in yuan rose")
    panel = page.locator("#span-panel")
    expect(panel).to_be_visible()
    expect(page.locator("#panel-quote")).to_have_text("trade in yuan rose")
    page.keyboard.press("f")
    page.keyboard.press("/")
    page.keyboard.type("currency")
    page.keyboard.press("Enter")
    page.keyboard.press("3")
    page.keyboard.press("Shift+KeyF")
    page.keyboard.press("Shift+Digit2")
    page.keyboard.press("Enter")

    expect(panel).to_be_hidden()
    expect(saved_items(page)).to_have_count(1)
    span = Span.objects.get()
    assert (span.start, span.end, span.text) == (TEXT.index("trade in yuan rose"), 31, "trade in yuan rose")
    assert sorted(span.themes.values_list("code", flat=True)) == ["FINANCE", "FINANCE.currency"]
    assert (span.stance.key, span.admiralty, span.annotator) == ("NEUTRAL", "F2", annotator)

    page.reload()
    page.wait_for_selector("#workbench.is-ready")
    highlight = page.locator("#doc-text .hl")
    expect(highlight).to_have_count(1)
    expect(highlight).to_have_text("trade in yuan rose")
    expect(highlight).to_have_attribute("data-badge", "FINANCE +1")
    expect(page.locator("#span-list")).to_contain_text("NEUTRAL · F2")
    # The first theme's colour and, not by colour alone, the stance's underline style.
    look = highlight.evaluate(
        "el => { const s = getComputedStyle(el); return [s.getPropertyValue('--theme').trim(), s.textDecorationStyle]; }"
    )
    assert look == [themed.themes.get(code="FINANCE").colour, "dashed"]


def test_span_extent_and_labels_are_edited_in_place(page, live_server, themed, annotator):
    document = DocumentFactory(project=themed, text=TEXT)
    span = make_span(document, annotator, "trade in yuan", ["FINANCE"])
    log_in(page, live_server, annotator)
    open_workbench(page, document)

    click_text(page, "trade in yuan")
    expect(page.locator("#panel-title")).to_have_text("Edit span")
    page.keyboard.press("Control+ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    expect(page.locator("#panel-quote")).to_have_text("rade in yuan rose")
    page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("t")
    page.keyboard.press("2")
    page.fill("input[name=source_name]", "Analysts")
    page.locator("#span-panel").focus()
    save_and_wait(page)

    expect(saved_items(page)).to_have_count(1)
    expect(page.locator("#doc-text .hl")).to_have_text("trade in yuan rose")
    expect(page.locator("#source-names option[value=Analysts]")).to_have_count(1)
    span.refresh_from_db()
    assert (span.start, span.end, span.text, span.version) == (13, 31, "trade in yuan rose", 2)
    assert sorted(span.themes.values_list("code", flat=True)) == ["FINANCE", "TRADE"]
    assert (span.stance.key, span.source_name) == ("AGAINST", "Analysts")


def test_deleting_a_span_can_be_undone_and_then_completed(page, live_server, themed, annotator):
    document = DocumentFactory(project=themed, text=TEXT)
    make_span(document, annotator, "Critics disagree", ["WEST"])
    log_in(page, live_server, annotator)
    open_workbench(page, document)

    click_text(page, "Critics disagree")
    expect(page.locator("#panel-title")).to_have_text("Edit span")
    page.keyboard.press("Delete")
    expect(page.locator("#doc-text .hl")).to_have_count(0)
    toast = page.locator(".toast", has_text="deleted")
    expect(toast).to_be_visible()
    toast.get_by_role("button", name="Undo").click()
    expect(page.locator("#doc-text .hl")).to_have_text("Critics disagree")
    assert Span.objects.count() == 1

    click_text(page, "Critics disagree")
    page.click("#span-panel [data-action=delete]")
    with page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
        page.locator(".toast", has_text="deleted").get_by_role("button", name="Delete now").click()
    assert deleted.value.status == 204
    assert Span.objects.count() == 0
    expect(page.locator("#span-list .span-item")).to_have_count(0)


def test_offsets_after_emoji_cjk_ligature_and_combining_accent_match_python(page, live_server, themed, annotator):
    text = "Note 😀 中俄 ﬁ cafe\u0301: Moscow and Beijing agree.\tTabs\u00a0and no-break spaces 𠀀 stay."
    document = DocumentFactory(project=themed, text=text)
    log_in(page, live_server, annotator)
    open_workbench(page, document)

    for quote in ("Moscow and Beijing agree", "ﬁ cafe\u0301", "agree.\tTabs\u00a0and", "𠀀 stay"):
        drag_select(page, quote)
        expect(page.locator("#panel-quote")).to_have_text(quote)
        page.keyboard.press("o")
        page.keyboard.press("Enter")
        expect(page.locator("#span-panel")).to_be_hidden()
    expect(saved_items(page)).to_have_count(4)

    stored = {span.text: (span.start, span.end) for span in Span.objects.all()}
    for quote in ("Moscow and Beijing agree", "ﬁ cafe\u0301", "agree.\tTabs\u00a0and", "𠀀 stay"):
        start = text.index(quote)
        assert stored[quote] == (start, start + len(quote))


def test_overlapping_and_nested_spans_are_all_visible_and_clickable(page, live_server, themed, annotator, artifacts):
    document = DocumentFactory(project=themed, text=TEXT)
    outer = make_span(document, annotator, "Analysts say trade in yuan rose.", ["TRADE.volume"], stance=None)
    make_span(document, annotator, "trade in yuan rose. Critics", ["FINANCE.currency"])
    make_span(document, annotator, "yuan", ["FINANCE"])
    log_in(page, live_server, annotator)
    open_workbench(page, document)

    expect(page.locator("#span-list .span-item")).to_have_count(3)
    deepest = page.locator("#doc-text .hl.depth-3")
    expect(deepest).to_have_text("yuan")
    expect(page.locator("#doc-text .hl[data-badge]")).to_have_count(3)

    click_text(page, "yuan")
    chooser = page.locator("#chooser")
    expect(chooser.locator("button")).to_have_count(3)
    chooser.locator("button", has_text="TRADE.volume").click()
    expect(page.locator("#panel-title")).to_have_text("Edit span")
    expect(page.locator("#panel-quote")).to_have_text(outer.text)
    page.keyboard.press("Escape")

    drag_select(page, "rose. Critics disagree")
    page.keyboard.press("w")
    page.keyboard.press("Enter")
    expect(saved_items(page)).to_have_count(4)
    assert Span.objects.filter(text="rose. Critics disagree").exists()
    page.screenshot(path=str(artifacts / "workbench.png"))


def test_a_second_annotator_sees_only_their_own_spans(page, live_server, themed, annotator, teammate):
    document = DocumentFactory(project=themed, text=TEXT)
    theirs = make_span(document, annotator, "trade in yuan rose", ["TRADE"])
    log_in(page, live_server, teammate)
    open_workbench(page, document)

    expect(page.locator("#doc-text .hl")).to_have_count(0)
    expect(page.locator("#span-list .span-item")).to_have_count(0)
    drag_select(page, "trade in yuan rose")
    page.keyboard.press("e")
    page.keyboard.press("Enter")
    expect(saved_items(page)).to_have_count(1)

    assert Span.objects.filter(annotator=teammate, text="trade in yuan rose").count() == 1
    theirs.refresh_from_db()
    assert theirs.version == 1
    assert list(theirs.themes.values_list("code", flat=True)) == ["TRADE"]


def test_curator_switches_to_a_read_only_view_of_a_members_spans(page, live_server, themed, annotator, curator):
    document = DocumentFactory(project=themed, text=TEXT)
    make_span(document, annotator, "trade in yuan rose", ["TRADE"])
    log_in(page, live_server, curator)
    open_workbench(page, document)
    expect(page.locator("#doc-text .hl")).to_have_count(0)

    page.select_option("#view-select", "alice")
    page.wait_for_url("**?view=alice")
    page.wait_for_selector("#workbench.is-ready")
    expect(page.locator(".read-only-note")).to_contain_text("alice")
    expect(page.locator("#doc-text .hl")).to_have_text("trade in yuan rose")
    assert page.locator("#span-panel").count() == 0
    expect(page.locator("[data-status-action]")).to_have_count(0)

    click_text(page, "trade in yuan rose")
    expect(page.locator("#span-list .span-item[aria-current]")).to_have_count(1)
    drag_select(page, "Critics disagree")
    page.keyboard.press("Enter")
    assert Span.objects.count() == 1


def test_a_stale_edit_is_refused_and_the_page_says_so(page, live_server, themed, annotator):
    document = DocumentFactory(project=themed, text=TEXT)
    span = make_span(document, annotator, "trade in yuan rose", ["TRADE"])
    log_in(page, live_server, annotator)
    open_workbench(page, document)

    span_update(span=span, expected_version=1, note="changed in another tab")
    click_text(page, "trade in yuan rose")
    expect(page.locator("#span-panel")).to_be_visible()
    page.keyboard.press("2")
    page.keyboard.press("Enter")

    banner = page.locator("#wb-banner")
    expect(banner).to_contain_text("changed in another tab or by another session")
    expect(banner).to_contain_text("now version 2")
    expect(page.locator("#span-list .span-item.state-conflict")).to_have_count(1)
    expect(page.locator("#doc-text .hl.is-unsaved")).to_have_count(1)
    span.refresh_from_db()
    assert (span.version, span.stance, span.note) == (2, None, "changed in another tab")

    banner.get_by_role("button", name="Reload the page").click()
    page.wait_for_selector("#workbench.is-ready")
    expect(page.locator("#span-list .span-item.state-saved")).to_have_count(1)
    expect(page.locator("#span-list")).to_contain_text("note")


def test_a_failed_save_stays_on_the_page_with_its_reason_and_a_retry(page, live_server, themed, annotator):
    document = DocumentFactory(project=themed, text=TEXT)
    log_in(page, live_server, annotator)
    open_workbench(page, document)

    page.route("**/api/spans/", lambda route: route.abort("internetdisconnected"))
    drag_select(page, "Critics disagree")
    page.keyboard.press("w")
    page.keyboard.press("Enter")
    item = page.locator("#span-list .span-item.state-unsaved")
    expect(item).to_contain_text("Network error")
    expect(page.locator("#doc-text .hl.is-unsaved")).to_have_text("Critics disagree")
    assert Span.objects.count() == 0

    page.unroute("**/api/spans/")
    page.route("**/api/spans/", lambda route: route.fulfill(
        status=500, content_type="application/json",
        body='{"error": {"status": 500, "code": "error", "message": "The server failed."}}'))
    item.get_by_role("button", name="Retry").click()
    expect(item).to_contain_text("The server failed.")

    page.unroute("**/api/spans/")
    item.get_by_role("button", name="Retry").click()
    expect(saved_items(page)).to_have_count(1)
    expect(page.locator("#doc-text .hl.is-unsaved")).to_have_count(0)
    assert Span.objects.get().text == "Critics disagree"


def test_caret_browsing_selects_and_tags_a_passage_without_the_mouse(page, live_server, themed, annotator):
    document = DocumentFactory(project=themed, text=TEXT)
    log_in(page, live_server, annotator)
    open_workbench(page, document)

    page.focus("#doc-text")
    expect(page.locator("#wb-caret")).to_be_visible()
    page.keyboard.press("Control+ArrowRight")
    page.keyboard.press("Control+ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    for _ in range(3):
        page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+KeyW")
    page.keyboard.press("Enter")
    expect(page.locator("#panel-quote")).to_have_text("trade")
    page.keyboard.press("Escape")
    expect(page.locator("#span-panel")).to_be_hidden()

    page.keyboard.press("Home")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Shift+End")
    page.keyboard.press("t")
    expect(page.locator("#panel-quote")).to_have_text("Officials in Moscow added nothing.")
    page.keyboard.press("Enter")
    expect(saved_items(page)).to_have_count(1)
    span = Span.objects.get()
    assert (span.start, span.end) == (TEXT.index("Officials"), len(TEXT))


def test_marking_done_submits_and_reopening_follows(page, live_server, themed, annotator):
    document = DocumentFactory(project=themed, text=TEXT)
    span = make_span(document, annotator, "trade in yuan rose", ["TRADE"])
    log_in(page, live_server, annotator)
    open_workbench(page, document)

    page.click("button[data-status-action=done]")
    expect(page.locator("#wb-banner")).to_contain_text("lack labels")
    expect(page.locator("#span-list .span-warning")).to_contain_text("stance")

    click_text(page, "trade in yuan rose")
    expect(page.locator("#span-panel")).to_be_visible()
    for key in ("3", "Shift+KeyF", "Shift+Digit2"):
        page.keyboard.press(key)
    page.select_option("select[name=source_type]", "AUTHOR")
    page.locator("#span-panel").focus()
    save_and_wait(page)
    expect(saved_items(page)).to_have_count(1)
    page.click("button[data-status-action=done]")
    expect(page.locator("#doc-status")).to_have_text("Done")
    expect(page.locator(".toast", has_text="marked done")).to_be_visible()
    span.refresh_from_db()
    assert span.status == "submitted"
    assert Assignment.objects.get(document=document, annotator=annotator).status == "done"

    click_text(page, "trade in yuan rose")
    expect(page.locator("#span-panel")).to_be_visible()
    page.keyboard.press("1")
    save_and_wait(page)
    expect(saved_items(page)).to_have_count(1)
    span.refresh_from_db()
    assert span.stance.key == "FAVOR"

    page.click("button[data-status-action=in_progress]")
    expect(page.locator("#doc-status")).to_have_text("In progress")
    assert Assignment.objects.get(document=document, annotator=annotator).status == "in_progress"


def test_highlights_filter_by_theme_and_stance(page, live_server, themed, annotator):
    document = DocumentFactory(project=themed, text=TEXT)
    make_span(document, annotator, "trade in yuan rose", ["TRADE.volume"], stance=themed.stances.get(key="FAVOR"))
    make_span(document, annotator, "Critics disagree", ["WEST"])
    log_in(page, live_server, annotator)
    open_workbench(page, document)

    page.select_option("#filter-theme", "TRADE")
    expect(page.locator("#doc-text .hl")).to_have_text("trade in yuan rose")
    expect(page.locator("#span-count")).to_have_text("(1 of 2)")
    page.select_option("#filter-theme", "")
    page.select_option("#filter-stance", "-")
    expect(page.locator("#doc-text .hl")).to_have_text("Critics disagree")
    page.select_option("#filter-stance", "")
    expect(page.locator("#doc-text .hl")).to_have_count(2)


def test_markup_in_a_document_is_shown_as_text(page, live_server, themed, annotator):
    text = 'Quote: <img src=x onerror="document.title=1"> and <b>not bold</b>\n  indented line'
    document = DocumentFactory(project=themed, text=text)
    log_in(page, live_server, annotator)
    open_workbench(page, document)

    assert page.locator("#doc-text img, #doc-text b").count() == 0
    assert page.eval_on_selector("#doc-text", "el => el.textContent") == text
    assert page.title() != "1"


def test_an_edit_made_while_the_first_save_is_on_its_way_is_not_lost(page, live_server, themed, annotator):
    document = DocumentFactory(project=themed, text=TEXT)
    log_in(page, live_server, annotator)
    open_workbench(page, document)
    held = hold_span_requests(page)

    drag_select(page, "Critics disagree")
    page.keyboard.press("w")
    page.keyboard.press("Enter")
    expect(page.locator("#doc-text .hl.is-saving")).to_have_text("Critics disagree")
    click_text(page, "Critics disagree")
    expect(page.locator("#panel-title")).to_have_text("Edit span")
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    wait_for_held(page, held)
    page.wait_for_timeout(200)
    assert len(held) == 1, "the edit must wait for the first save, not race it"
    held.pop().continue_()

    expect(saved_items(page)).to_have_count(1)
    expect(page.locator("#span-list")).to_contain_text("AGAINST")
    span = Span.objects.get()
    assert (span.text, span.stance.key, span.version) == ("Critics disagree", "AGAINST", 2)


def test_keys_pressed_while_a_save_is_on_its_way_go_to_the_text(page, live_server, themed, annotator):
    document = DocumentFactory(project=themed, text=TEXT)
    log_in(page, live_server, annotator)
    open_workbench(page, document)
    held = hold_span_requests(page)

    drag_select(page, "Critics")
    page.keyboard.press("w")
    # Straight after Enter, before the answer: the caret, now after "Critics", selects the
    # next word, and Enter opens the panel on it.
    page.keyboard.press("Enter")
    page.keyboard.press("Control+Shift+ArrowRight")
    page.keyboard.press("Enter")
    expect(page.locator("#panel-quote")).to_have_text("disagree")
    expect(page.locator("#panel-title")).to_have_text("New span")
    expect(page.locator("#doc-text .hl.is-saving")).to_have_text("Critics")
    expect(page.locator("#span-list .span-item.state-saving")).to_contain_text("Saving")

    wait_for_held(page, held)
    held.pop().continue_()
    expect(saved_items(page)).to_have_count(1)
    expect(page.locator("#span-panel")).to_be_visible()  # the answer leaves the new panel open
    page.keyboard.press("Escape")
    expect(page.locator("#span-panel")).to_be_hidden()
    assert page.evaluate("document.activeElement.id") == "doc-text"
    assert Span.objects.get().text == "Critics"


def test_the_text_shows_when_it_has_the_keyboard(page, live_server, themed, annotator):
    document = DocumentFactory(project=themed, text=TEXT)
    log_in(page, live_server, annotator)
    open_workbench(page, document)
    ring = page.locator(".focus-ring")
    caret = page.locator("#wb-caret")

    expect(ring).to_have_css("opacity", "0")
    page.focus("#doc-text")
    expect(ring).to_have_css("opacity", "1")
    expect(caret).to_be_visible()

    drag_select(page, "Critics disagree")
    expect(page.locator("#span-panel")).to_be_visible()
    expect(ring).to_have_css("opacity", "0")
    expect(caret).to_be_hidden()
    page.keyboard.press("w")
    page.keyboard.press("Enter")
    expect(saved_items(page)).to_have_count(1)
    expect(page.locator("#span-panel")).to_be_hidden()
    expect(ring).to_have_css("opacity", "1")
    expect(caret).to_be_visible()
    # The caret waits at the end of the saved passage: the keyboard goes on from there.
    page.keyboard.press("Control+Shift+ArrowRight")
    assert page.evaluate("document.getSelection().toString()") == " sharply"
    page.keyboard.press("Enter")
    expect(page.locator("#panel-quote")).to_have_text("sharply")


def test_a_key_pressed_as_the_panel_leaves_goes_on_in_the_text(page, live_server, themed, annotator):
    document = DocumentFactory(project=themed, text=TEXT)
    log_in(page, live_server, annotator)
    open_workbench(page, document)
    # A key pressed in the instant the span shows saved, when the panel is transparent and on
    # its way out but still has the keyboard.
    page.evaluate("""() => document.getElementById("workbench").addEventListener("lectern:saved", () => {
      window.panelHadFocus = document.activeElement.id;
      document.activeElement.dispatchEvent(new KeyboardEvent("keydown", {
        key: "ArrowRight", ctrlKey: true, shiftKey: true, bubbles: true, cancelable: true }));
    }, { once: true })""")

    drag_select(page, "Critics disagree")
    page.keyboard.press("w")
    page.keyboard.press("Enter")

    expect(saved_items(page)).to_have_count(1)
    assert page.evaluate("window.panelHadFocus") == "span-panel"
    assert page.evaluate("document.activeElement.id") == "doc-text"
    assert page.evaluate("document.getSelection().toString()") == " sharply"
    expect(page.locator("#span-panel")).to_be_hidden()
    page.keyboard.press("Enter")
    expect(page.locator("#panel-quote")).to_have_text("sharply")
    assert list(Span.objects.values_list("text", flat=True)) == ["Critics disagree"]
