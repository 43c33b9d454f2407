"""Curating annotator spans into gold: the services, the pages and who may use them."""
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from annotations.agreement_report import agreement_report
from annotations.curation import (
    CurationRefused, curation_complete, curation_reopen, curation_state, gold_accept, gold_accept_agreed, gold_edit,
    gold_reject, gold_update, gold_withdraw, merged_extent,
)
from annotations.models import Curation, Span
from annotations.services import span_create
from corpus.models import Membership
from tests.factories import DocumentFactory, MembershipFactory, StanceValueFactory, ThemeFactory

TEXT = "Trade in yuan rose. Officials hailed the deal. Critics disagree. Nothing else."


def mark(document, user, start, end, themes, **labels):
    return span_create(
        document=document, annotator=user, start=start, end=end, text=document.text[start:end],
        themes=themes, **labels,
    )


def extent(text, quote):
    start = text.index(quote)
    return start, start + len(quote)


@pytest.fixture
def schema(project):
    return {
        "TRADE": ThemeFactory(project=project, key="TRADE"),
        "ORDER": ThemeFactory(project=project, key="ORDER"),
        "FAVOR": StanceValueFactory(project=project, key="FAVOR", name="Favor"),
        "NEUTRAL": StanceValueFactory(project=project, key="NEUTRAL", name="Neutral"),
    }


@pytest.fixture
def doc(project):
    return DocumentFactory(project=project, text=TEXT)


def labelled(schema, stance="NEUTRAL", themes=("TRADE",), **more):
    return {"themes": [schema[t] for t in themes], "stance": schema[stance], "source_reliability": "B",
            "info_credibility": 2, "source_type": "OFFICIAL", **more}


# --------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------


def test_candidates_are_agreed_disagreed_or_incomplete(doc, schema, annotator, teammate):
    trade = extent(TEXT, "Trade in yuan rose.")
    hailed = extent(TEXT, "Officials hailed the deal.")
    critics = extent(TEXT, "Critics disagree.")
    for user in (annotator, teammate):
        mark(doc, user, *trade, **labelled(schema))
    mark(doc, annotator, *hailed, **labelled(schema, stance="FAVOR"))
    mark(doc, teammate, *hailed, **labelled(schema, stance="NEUTRAL"))
    mark(doc, annotator, *critics, **labelled(schema))

    state = curation_state(doc)

    assert state["annotators"] == ["alice", "bob"]
    assert [(c.start, c.end, c.state) for c in state["candidates"]] == [
        (*trade, "agreed"), (*hailed, "disagreed"), (*critics, "incomplete"),
    ]
    assert state["candidates"][2].missing == ["bob"]


def test_overlapping_spans_with_different_extents_form_one_disagreed_candidate(doc, schema, annotator, teammate):
    mark(doc, annotator, 0, 19, **labelled(schema))
    mark(doc, teammate, 9, 19, **labelled(schema))

    [candidate] = curation_state(doc)["candidates"]

    assert (candidate.start, candidate.end, candidate.state) == (0, 19, "disagreed")
    assert [s.annotator.username for s in candidate.spans] == ["alice", "bob"]


# --------------------------------------------------------------------------
# Accept, change, merge, reject
# --------------------------------------------------------------------------


def test_accept_copies_the_span_into_gold_with_its_source_and_provenance(doc, schema, annotator, teammate, curator):
    span = mark(doc, annotator, 0, 19, **labelled(schema, source_name="Wang Yi"))
    mark(doc, teammate, 0, 19, **labelled(schema, source_name="wang  yi"))

    gold, created = gold_accept(span=span, curator=curator)

    assert created
    gold.refresh_from_db()
    assert gold.status == Span.Status.GOLD and gold.annotator == curator
    assert (gold.start, gold.end, gold.text) == (0, 19, "Trade in yuan rose.")
    assert [t.code for t in gold.themes.all()] == ["TRADE"]
    assert gold.stance == schema["NEUTRAL"] and gold.admiralty == "B2" and gold.source_name == "Wang Yi"
    assert list(gold.sources.all()) == [span]
    # bob's span differs only in the case and spacing of the source name: both votes count.
    assert gold.provenance == {"method": "pick", "source_ids": [str(span.pk)], "votes": 2}
    span.refresh_from_db()
    assert span.status == Span.Status.DRAFT and span.annotator == annotator
    assert Curation.objects.get(document=doc).status == Curation.Status.IN_PROGRESS


def test_accepting_the_same_span_twice_answers_already_accepted(doc, schema, annotator, curator):
    span = mark(doc, annotator, 0, 19, **labelled(schema))

    first, created = gold_accept(span=span, curator=curator)
    again, created_again = gold_accept(span=span, curator=curator)

    assert created and not created_again
    assert again.pk == first.pk
    assert Span.objects.filter(document=doc, status=Span.Status.GOLD).count() == 1


def test_accepting_an_identical_span_of_another_annotator_joins_the_same_gold(
    doc, schema, annotator, teammate, curator,
):
    mine = mark(doc, annotator, 0, 19, **labelled(schema))
    theirs = mark(doc, teammate, 0, 19, **labelled(schema))

    gold, _ = gold_accept(span=mine, curator=curator)
    same, created = gold_accept(span=theirs, curator=curator)

    assert not created and same.pk == gold.pk
    same.refresh_from_db()
    assert set(same.sources.all()) == {mine, theirs}
    assert sorted(same.provenance["source_ids"]) == sorted([str(mine.pk), str(theirs.pk)])


def test_accept_with_changes_keeps_the_annotator_span_and_records_an_edit(doc, schema, annotator, curator):
    span = mark(doc, annotator, 0, 19, **labelled(schema))

    gold, created = gold_edit(
        document=doc, curator=curator, sources=[span], start=0, end=13, themes=[schema["TRADE"], schema["ORDER"]],
        stance=schema["FAVOR"], source_reliability="C", info_credibility=3, source_type="MEDIA",
    )

    assert created
    gold.refresh_from_db()
    assert (gold.start, gold.end, gold.text) == (0, 13, "Trade in yuan")
    assert {t.code for t in gold.themes.all()} == {"TRADE", "ORDER"}
    assert gold.stance == schema["FAVOR"] and gold.admiralty == "C3"
    assert gold.provenance == {"method": "edit", "source_ids": [str(span.pk)], "votes": 0}
    span.refresh_from_db()
    assert (span.start, span.end, span.stance, span.version) == (0, 19, schema["NEUTRAL"], 1)


def test_merge_takes_the_union_of_overlapping_spans_and_all_of_them_as_sources(
    doc, schema, annotator, teammate, curator,
):
    first = mark(doc, annotator, 0, 13, **labelled(schema))
    second = mark(doc, teammate, 6, 19, **labelled(schema, stance="FAVOR"))

    start, end = merged_extent([first, second])
    gold, _ = gold_edit(document=doc, curator=curator, sources=[first, second], start=start, end=end,
                        themes=[schema["TRADE"]], stance=schema["FAVOR"])

    gold.refresh_from_db()
    assert (gold.start, gold.end) == (0, 19)
    assert set(gold.sources.all()) == {first, second}
    assert gold.provenance["method"] == "edit"
    assert sorted(gold.provenance["source_ids"]) == sorted([str(first.pk), str(second.pk)])
    assert merged_extent([first, second], str(second.pk)) == (6, 19)


def test_merge_refuses_spans_that_leave_a_gap(doc, schema, annotator, teammate):
    first = mark(doc, annotator, 0, 5, **labelled(schema))
    second = mark(doc, teammate, 9, 19, **labelled(schema))

    with pytest.raises(CurationRefused, match="gap"):
        merged_extent([first, second])


def test_reject_records_a_rejected_copy_pointing_to_the_span(doc, schema, annotator, teammate, curator):
    span = mark(doc, annotator, 0, 19, **labelled(schema))
    mark(doc, teammate, 0, 19, **labelled(schema))

    rejection, created = gold_reject(span=span, curator=curator)
    again, created_again = gold_reject(span=span, curator=curator)

    assert created and not created_again and again.pk == rejection.pk
    rejection.refresh_from_db()
    assert rejection.status == Span.Status.REJECTED and rejection.annotator == curator
    assert list(rejection.sources.all()) == [span]
    assert rejection.provenance["method"] == "pick" and rejection.provenance["source_ids"] == [str(span.pk)]
    span.refresh_from_db()
    assert span.status == Span.Status.DRAFT
    # The decision is not an annotator layer: agreement still sees exactly alice and bob agreeing.
    report = agreement_report(doc.project, document=doc)
    assert report["annotators"] == ["alice", "bob"] and report["spans"]["exact"]["f1"] == 1.0


def test_accepting_a_rejected_span_withdraws_the_rejection(doc, schema, annotator, curator):
    span = mark(doc, annotator, 0, 19, **labelled(schema))
    gold_reject(span=span, curator=curator)

    gold_accept(span=span, curator=curator)

    decisions = Span.objects.filter(document=doc, status__in=["gold", "rejected"])
    assert list(decisions.values_list("status", flat=True)) == ["gold"]


def test_an_accepted_span_cannot_be_rejected_or_accepted_with_other_labels(doc, schema, annotator, curator):
    span = mark(doc, annotator, 0, 19, **labelled(schema))
    gold_accept(span=span, curator=curator)

    with pytest.raises(CurationRefused, match="already in gold"):
        gold_reject(span=span, curator=curator)
    with pytest.raises(CurationRefused, match="already in gold"):
        gold_edit(document=doc, curator=curator, sources=[span], start=0, end=5, themes=[schema["TRADE"]])


def test_gold_spans_validate_like_any_span(doc, schema, annotator, curator):
    span = mark(doc, annotator, 0, 19, **labelled(schema))

    with pytest.raises(ValidationError):
        gold_edit(document=doc, curator=curator, sources=[span], start=70, end=500, themes=[schema["TRADE"]])
    with pytest.raises(ValidationError):
        gold_edit(document=doc, curator=curator, sources=[span], start=0, end=5, themes=[])

    assert not Span.objects.filter(document=doc, status=Span.Status.GOLD).exists()


def test_a_curators_decision_cannot_itself_be_a_source(doc, schema, annotator, curator):
    span = mark(doc, annotator, 0, 19, **labelled(schema))
    gold, _ = gold_accept(span=span, curator=curator)

    with pytest.raises(CurationRefused):
        gold_accept(span=gold, curator=curator)


def test_a_new_gold_span_without_sources_is_method_new(doc, schema, curator):
    gold, created = gold_edit(document=doc, curator=curator, sources=[], start=20, end=46, themes=[schema["ORDER"]])

    assert created and gold.provenance == {"method": "new", "source_ids": [], "votes": 0}
    assert gold.text == "Officials hailed the deal."


def test_editing_a_gold_span_marks_it_edited_and_keeps_its_sources(doc, schema, annotator, curator):
    span = mark(doc, annotator, 0, 19, **labelled(schema))
    gold, _ = gold_accept(span=span, curator=curator)

    gold_update(span=gold, curator=curator, start=0, end=13, themes=[schema["ORDER"]], stance=schema["FAVOR"])

    gold.refresh_from_db()
    assert (gold.start, gold.end, gold.text, gold.stance) == (0, 13, "Trade in yuan", schema["FAVOR"])
    assert [t.code for t in gold.themes.all()] == ["ORDER"]
    assert gold.provenance["method"] == "edit" and list(gold.sources.all()) == [span]


def test_withdrawing_a_decision_deletes_it_and_history_keeps_it(doc, schema, annotator, curator):
    span = mark(doc, annotator, 0, 19, **labelled(schema))
    gold, _ = gold_accept(span=span, curator=curator)

    gold_withdraw(span=gold, curator=curator)

    assert not Span.objects.filter(pk=gold.pk).exists()
    assert Span.history.filter(id=gold.pk, history_type="-").exists()
    with pytest.raises(CurationRefused):
        gold_withdraw(span=span, curator=curator)


# --------------------------------------------------------------------------
# Accept all agreed
# --------------------------------------------------------------------------


def test_accept_all_agreed_takes_only_exact_agreement_among_all_annotators(doc, schema, annotator, teammate, curator):
    trade = extent(TEXT, "Trade in yuan rose.")
    hailed = extent(TEXT, "Officials hailed the deal.")
    critics = extent(TEXT, "Critics disagree.")
    agreed = [mark(doc, user, *trade, **labelled(schema)) for user in (annotator, teammate)]
    mark(doc, annotator, *hailed, **labelled(schema))
    mark(doc, teammate, *hailed, **labelled(schema, themes=("TRADE", "ORDER")))   # other labels
    mark(doc, annotator, critics[0], critics[1] - 1, **labelled(schema))
    mark(doc, teammate, *critics, **labelled(schema))                             # other extent
    mark(doc, annotator, *extent(TEXT, "Nothing else."), **labelled(schema))      # alice only

    created = gold_accept_agreed(document=doc, curator=curator)

    [gold] = created
    gold.refresh_from_db()
    assert (gold.start, gold.end) == trade
    assert set(gold.sources.all()) == set(agreed)
    assert gold.provenance["method"] == "auto_complete" and gold.provenance["votes"] == 2
    assert sorted(gold.provenance["source_ids"]) == sorted(str(s.pk) for s in agreed)
    assert gold_accept_agreed(document=doc, curator=curator) == []
    assert Span.objects.filter(document=doc, status=Span.Status.GOLD).count() == 1


def test_accept_all_agreed_leaves_decided_candidates_as_they_are(doc, schema, annotator, teammate, curator):
    spans = [mark(doc, user, 0, 19, **labelled(schema)) for user in (annotator, teammate)]
    gold_reject(span=spans[0], curator=curator)

    assert gold_accept_agreed(document=doc, curator=curator) == []
    assert not Span.objects.filter(document=doc, status=Span.Status.GOLD).exists()


def test_a_done_annotator_without_spans_makes_every_candidate_incomplete(doc, schema, annotator, teammate, curator):
    from tests.factories import AssignmentFactory

    third = MembershipFactory(project=doc.project, user__username="dave").user
    for user in (annotator, teammate):
        mark(doc, user, 0, 19, **labelled(schema))
    AssignmentFactory(document=doc, annotator=third, status="done")

    [candidate] = curation_state(doc)["candidates"]

    assert candidate.state == "incomplete" and candidate.missing == ["dave"]
    assert gold_accept_agreed(document=doc, curator=curator) == []


# --------------------------------------------------------------------------
# Curated and reopened
# --------------------------------------------------------------------------


def test_marking_curated_freezes_decisions_until_reopened(doc, schema, annotator, curator):
    span = mark(doc, annotator, 0, 19, **labelled(schema))

    curation = curation_complete(document=doc, curator=curator)

    assert curation.status == Curation.Status.CURATED and curation.curated_at is not None
    with pytest.raises(CurationRefused, match="reopen"):
        gold_accept(span=span, curator=curator)

    curation = curation_reopen(document=doc, curator=curator)

    assert curation.status == Curation.Status.IN_PROGRESS and curation.curated_at is None
    assert gold_accept(span=span, curator=curator)[1]


# --------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------


def document_url(doc, name="document"):
    return reverse(f"curation:{name}", args=[doc.project.slug, doc.pk])


@pytest.fixture
def two_layers(doc, schema, annotator, teammate):
    return [mark(doc, user, 0, 19, **labelled(schema)) for user in (annotator, teammate)]


def test_curator_sees_every_annotator_on_the_curation_page(client, doc, two_layers, curator):
    client.force_login(curator)

    response = client.get(document_url(doc))

    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-annotator="alice"' in page and 'data-annotator="bob"' in page
    assert 'data-state="agreed"' in page
    assert "Accept all agreed (1)" in page


def test_the_text_is_escaped_and_kept_whole(client, project, schema, annotator, teammate, curator):
    text = "<script>alert(1)</script> & trade rose."
    document = DocumentFactory(project=project, text=text)
    for user in (annotator, teammate):
        mark(document, user, 29, 39, **labelled(schema))
    client.force_login(curator)

    page = client.get(document_url(document)).content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; " in page


def test_the_text_marks_who_covers_each_piece_and_keeps_every_character(doc, schema, annotator, teammate, curator):
    import html
    import re

    from annotations.views_curation import text_parts

    mark(doc, annotator, 0, 13, **labelled(schema))
    span = mark(doc, teammate, 6, 19, **labelled(schema))
    gold_accept(span=span, curator=curator)

    rendered = str(text_parts(doc.text, curation_state(doc)))

    assert html.unescape(re.sub(r"<[^>]+>", "", rendered)) == TEXT
    assert rendered.startswith('<a class="cand cand-disagreed" href="#cand-1"')
    assert '<span class="cov-1" data-annotators="alice" title="alice">Trade </span>' in rendered
    both = '<span class="cov-2 cov-all in-gold" data-annotators="alice bob" title="alice, bob · gold">in yuan</span>'
    assert both in rendered
    assert '<span class="cov-1 in-gold" data-annotators="bob" title="bob · gold"> rose.</span></a>' in rendered


def test_the_document_list_shows_documents_with_two_annotators_and_their_status(
    client, project, doc, two_layers, schema, annotator, curator,
):
    lonely = DocumentFactory(project=project, external_id="lonely")
    mark(lonely, annotator, 0, 8, **labelled(schema))
    gold_accept(span=two_layers[0], curator=curator)
    client.force_login(curator)

    page = client.get(reverse("curation:documents", args=[project.slug])).content.decode()

    assert f'data-document="{doc.external_id}" data-status="in_progress"' in page
    assert "lonely" not in page


def test_accepting_through_the_page_records_history_by_the_curator(client, doc, two_layers, curator):
    client.force_login(curator)

    response = client.post(document_url(doc, "accept"), {"span": str(two_layers[0].pk)})

    assert response.status_code == 302
    gold = Span.objects.get(document=doc, status=Span.Status.GOLD)
    records = list(gold.history.order_by("history_date", "history_id"))
    assert records[0].history_type == "+"
    assert {r.history_user for r in records} == {curator}
    assert records[-1].history_change_reason == "curation: pick"
    assert records[-1].provenance["method"] == "pick" and records[-1].status == Span.Status.GOLD


def test_the_editor_saves_a_changed_gold_span(client, doc, two_layers, schema, curator):
    client.force_login(curator)
    source = two_layers[1]

    form = client.get(document_url(doc) + f"?edit={source.pk}")
    assert form.status_code == 200 and 'id="gold-form"' in form.content.decode()
    response = client.post(document_url(doc, "gold"), {
        "mode": "edit", "sources": str(source.pk), "extent": "custom", "start": 0, "end": 13,
        "themes": ["ORDER"], "stance": "FAVOR", "source_reliability": "A", "info_credibility": "1",
    })

    assert response.status_code == 302
    gold = Span.objects.get(document=doc, status=Span.Status.GOLD)
    assert (gold.text, gold.stance.key, gold.admiralty) == ("Trade in yuan", "FAVOR", "A1")
    assert gold.provenance["method"] == "edit" and list(gold.sources.all()) == [source]


def test_the_editor_shows_errors_and_stores_nothing(client, doc, two_layers, curator):
    client.force_login(curator)

    response = client.post(document_url(doc, "gold"), {
        "mode": "edit", "sources": str(two_layers[0].pk), "extent": "custom", "start": 10, "end": 5,
    })

    assert response.status_code == 400
    page = response.content.decode()
    assert "The end must come after the start." in page and "This field is required." in page
    assert not Span.objects.filter(document=doc, status=Span.Status.GOLD).exists()


def test_merge_through_the_page_takes_the_chosen_extent(client, doc, schema, annotator, teammate, curator):
    first = mark(doc, annotator, 0, 13, **labelled(schema))
    second = mark(doc, teammate, 6, 19, **labelled(schema))
    client.force_login(curator)

    page = client.get(document_url(doc) + f"?merge={first.pk},{second.pk}").content.decode()
    assert 'value="union"' in page
    response = client.post(document_url(doc, "gold"), {
        "mode": "merge", "sources": f"{first.pk},{second.pk}", "extent": "union", "themes": ["TRADE"],
    })

    assert response.status_code == 302
    gold = Span.objects.get(document=doc, status=Span.Status.GOLD)
    assert (gold.start, gold.end) == (0, 19) and set(gold.sources.all()) == {first, second}


def test_status_buttons_mark_curated_and_reopen(client, doc, two_layers, curator):
    client.force_login(curator)

    client.post(document_url(doc, "status"), {"action": "curated"})
    assert Curation.objects.get(document=doc).status == Curation.Status.CURATED
    refused = client.post(document_url(doc, "accept"), {"span": str(two_layers[0].pk)}, follow=True)
    assert "reopen it" in refused.content.decode()
    client.post(document_url(doc, "status"), {"action": "reopen"})

    assert Curation.objects.get(document=doc).status == Curation.Status.IN_PROGRESS
    assert not Span.objects.filter(document=doc, status=Span.Status.GOLD).exists()


@pytest.mark.parametrize("name", ["accept", "reject", "accept-agreed", "withdraw", "status", "gold"])
def test_actions_refuse_get(client, doc, curator, name):
    client.force_login(curator)

    assert client.get(document_url(doc, name)).status_code == 405


def test_annotators_may_not_curate(client, doc, two_layers, annotator):
    client.force_login(annotator)

    assert client.get(reverse("curation:documents", args=[doc.project.slug])).status_code == 403
    assert client.get(document_url(doc)).status_code == 403
    assert client.post(document_url(doc, "accept"), {"span": str(two_layers[0].pk)}).status_code == 403
    assert not Span.objects.filter(status=Span.Status.GOLD).exists()


def test_outsiders_see_no_curation(client, doc, two_layers, outsider):
    client.force_login(outsider)

    assert client.get(reverse("curation:documents", args=[doc.project.slug])).status_code == 404
    assert client.get(document_url(doc)).status_code == 404
    assert client.post(document_url(doc, "accept-agreed")).status_code == 404


def test_anonymous_users_are_sent_to_log_in(client, doc):
    response = client.get(document_url(doc))

    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_managers_curate_too(client, doc, two_layers, manager):
    client.force_login(manager)

    response = client.post(document_url(doc, "accept-agreed"))

    assert response.status_code == 302
    assert Span.objects.get(status=Span.Status.GOLD).annotator == manager


def test_a_span_of_another_document_is_not_found_here(client, project, doc, schema, annotator, curator):
    other = DocumentFactory(project=project)
    span = mark(other, annotator, 0, 8, **labelled(schema))
    client.force_login(curator)

    response = client.post(document_url(doc, "accept"), {"span": str(span.pk)}, follow=True)

    assert "no longer there" in response.content.decode()
    assert not Span.objects.filter(status=Span.Status.GOLD).exists()


def test_membership_roles_other_than_reviewers_are_refused(client, doc, project):
    user = MembershipFactory(project=project, role=Membership.Role.ANNOTATOR, user__username="erin").user
    client.force_login(user)

    assert client.get(reverse("curation:agreement", args=[project.slug])).status_code == 403
