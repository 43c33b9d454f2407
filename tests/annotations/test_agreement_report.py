"""Agreement reports built from spans in the database, on small projects whose figures are known."""
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from annotations.agreement import alpha_u_by_category, krippendorff_alpha, masi_distance
from annotations.agreement_report import NOT_ENOUGH_DATA, UnknownPair, agreement_report, label_units, masi_alpha
from annotations.models import Assignment, Span
from annotations.services import span_create
from corpus.models import Membership
from tests.factories import AssignmentFactory, DocumentFactory, MembershipFactory, StanceValueFactory, ThemeFactory

FRACTION = 1e-6

STANCE_A = ["FAVOR", "FAVOR", "AGAINST", "NEUTRAL", "NEUTRAL", "FAVOR"]
STANCE_B = ["FAVOR", "AGAINST", "AGAINST", "NEUTRAL", "FAVOR", "FAVOR"]
STANCE_C = ["FAVOR", "AGAINST", "NEUTRAL", "NEUTRAL", "FAVOR", "FAVOR"]
SIX_PASSAGES = "Alpha one. Bravo two. Charlie 3. Delta four. Echo five. Foxtrot 6."


def passages(text):
    """[start, end) of each sentence of text, full stop included."""
    return [(m.start(), m.end()) for m in re.finditer(r"\S[^.]*\.", text)]


def mark(document, user, start, end, themes, **labels):
    return span_create(
        document=document, annotator=user, start=start, end=end, text=document.text[start:end],
        themes=themes, **labels,
    )


def member(project, username, role=Membership.Role.ANNOTATOR):
    return MembershipFactory(project=project, user__username=username, role=role).user


@pytest.fixture
def theme(project):
    return ThemeFactory(project=project, key="TRADE")


@pytest.fixture
def stances(project):
    keys = ("FAVOR", "AGAINST", "NEUTRAL")
    return {key: StanceValueFactory(project=project, key=key, name=key.title()) for key in keys}


def stance_document(project, theme, stances, raters):
    """Six passages, each marked identically by every rater, who differ only in stance."""
    document = DocumentFactory(project=project, text=SIX_PASSAGES)
    extents = passages(SIX_PASSAGES)
    assert [SIX_PASSAGES[s:e] for s, e in extents][:2] == ["Alpha one.", "Bravo two."]
    for user, labels in raters:
        for (start, end), key in zip(extents, labels):
            mark(document, user, start, end, [theme], stance=stances[key])
    return document


def test_stance_vector_on_six_paired_spans_gives_kappa_eleven_23rds(project, theme, stances, annotator, teammate):
    stance_document(project, theme, stances, [(annotator, STANCE_A), (teammate, STANCE_B)])

    report = agreement_report(project)

    assert report["status"] == "ok"
    [pair] = report["pairs"]
    assert pair["annotators"] == ["alice", "bob"]
    assert pair["kappa"]["stance"] == pytest.approx(11 / 23, abs=FRACTION)
    assert pair["paired_for_labels"] == 6
    stance = next(label for label in report["labels"] if label["label"] == "stance")
    assert stance["alpha"] == pytest.approx(23 / 45, abs=FRACTION)
    assert stance["units"] == 6
    assert stance["fleiss_kappa"] is None and "three or more" in stance["fleiss_reason"]
    assert pair["exact"]["f1"] == 1.0 and pair["overlap"]["f1"] == 1.0


def test_three_annotators_give_the_scheme_fleiss_kappa_and_alpha(project, theme, stances, annotator, teammate):
    third = member(project, "dave")
    stance_document(project, theme, stances, [(annotator, STANCE_A), (teammate, STANCE_B), (third, STANCE_C)])

    report = agreement_report(project)

    stance = next(label for label in report["labels"] if label["label"] == "stance")
    assert stance["fleiss_kappa"] == pytest.approx(47 / 101, abs=FRACTION)
    assert stance["alpha"] == pytest.approx(50 / 101, abs=FRACTION)
    assert [p["annotators"] for p in report["pairs"]] == [["alice", "bob"], ["alice", "dave"], ["bob", "dave"]]


def test_span_vector_gives_exact_f1_0_4_overlap_f1_0_8_and_alpha_u(project, theme, annotator, teammate):
    document = DocumentFactory(project=project, text="abcdefghij" * 4)
    for start, end in [(0, 10), (12, 18)]:
        mark(document, annotator, start, end, [theme])
    for start, end in [(0, 10), (13, 18), (30, 35)]:
        mark(document, teammate, start, end, [theme])

    report = agreement_report(project, document=document)

    assert report["scope"] == "document"
    assert report["spans"]["exact"]["f1"] == pytest.approx(0.4, abs=FRACTION)
    assert report["spans"]["overlap"]["f1"] == pytest.approx(0.8, abs=FRACTION)
    assert report["spans"]["exact"]["matched"] == 1
    assert report["alpha_u"]["alpha"] == pytest.approx(0.8189, abs=1e-4)
    assert report["alpha_u"]["themes"][0]["theme"] == "TRADE"
    assert report["alpha_u"]["themes"][0]["d_o"] == pytest.approx(0.01625, abs=1e-4)


def test_theme_sets_give_the_scheme_masi_alpha(project, annotator, teammate):
    codes = {key: ThemeFactory(project=project, key=key) for key in
             ("TRADE", "FINANCE", "ORDER", "INSTITUTIONS", "MILITARY", "SOVEREIGNTY")}
    document = DocumentFactory(project=project, text="Alpha one. Bravo two. Charlie 3. Delta four.")
    a = [{"TRADE"}, {"FINANCE"}, {"ORDER", "INSTITUTIONS"}, {"MILITARY"}]
    b = [{"TRADE", "FINANCE"}, {"FINANCE"}, {"ORDER"}, {"SOVEREIGNTY"}]
    for (start, end), theirs, ours in zip(passages(document.text), a, b):
        mark(document, annotator, start, end, [codes[k] for k in theirs])
        mark(document, teammate, start, end, [codes[k] for k in ours])

    report = agreement_report(project)

    themes = next(label for label in report["labels"] if label["label"] == "themes")
    assert themes["alpha"] == pytest.approx(4 / 11, abs=FRACTION)
    assert themes["level"] == "MASI distance"


def test_a_document_with_one_annotator_is_not_enough_data(project, theme, annotator):
    document = DocumentFactory(project=project)
    mark(document, annotator, 0, 8, [theme])

    report = agreement_report(project, document=document)

    assert report["status"] == NOT_ENOUGH_DATA
    assert "Only alice" in report["reason"]
    assert report["spans"]["exact"] is None and report["spans"]["overlap"] is None
    assert report["spans"]["reason"]
    assert report["alpha_u"]["alpha"] is None and report["alpha_u"]["reason"]
    assert report["pairs"] == []
    assert all(label["alpha"] is None and label["reason"] for label in report["labels"])


def test_a_document_without_spans_is_not_enough_data(project, annotator, teammate):
    DocumentFactory(project=project, external_id="empty")
    AssignmentFactory(document=project.documents.get(), annotator=annotator, status=Assignment.Status.DONE)
    AssignmentFactory(document=project.documents.get(), annotator=teammate, status=Assignment.Status.DONE)

    report = agreement_report(project)

    [row] = report["per_document"]
    assert row["status"] == NOT_ENOUGH_DATA and row["reason"]
    assert row["exact_f1"] is None and row["overlap_f1"] is None
    assert report["status"] == NOT_ENOUGH_DATA
    assert report["documents"] == {"total": 1, "compared": 0, "not_enough_data": 1}


def test_project_table_marks_only_the_thin_documents_as_not_enough_data(project, theme, annotator, teammate):
    shared = DocumentFactory(project=project, external_id="shared")
    alone = DocumentFactory(project=project, external_id="alone")
    mark(shared, annotator, 0, 8, [theme])
    mark(shared, teammate, 0, 8, [theme])
    mark(alone, annotator, 0, 8, [theme])

    report = agreement_report(project)

    rows = {row["external_id"]: row for row in report["per_document"]}
    assert rows["shared"]["status"] == "ok" and rows["shared"]["exact_f1"] == 1.0
    assert rows["alone"]["status"] == NOT_ENOUGH_DATA
    # The lone annotator's span is not counted as missed by anyone.
    assert report["spans"]["exact"]["f1"] == 1.0


def test_gold_and_rejected_spans_are_left_out(project, theme, annotator, teammate, curator):
    document = DocumentFactory(project=project)
    mark(document, annotator, 0, 8, [theme])
    mark(document, curator, 0, 8, [theme], status=Span.Status.GOLD)
    mark(document, curator, 9, 12, [theme], status=Span.Status.REJECTED)

    report = agreement_report(project, document=document)

    assert report["annotators"] == ["alice"]
    assert report["status"] == NOT_ENOUGH_DATA


def test_marking_done_without_spans_counts_as_disagreeing(project, theme, annotator, teammate):
    document = DocumentFactory(project=project)
    mark(document, annotator, 0, 8, [theme])
    AssignmentFactory(document=document, annotator=teammate, status=Assignment.Status.DONE)

    report = agreement_report(project, document=document)

    assert report["annotators"] == ["alice", "bob"]
    assert report["spans"]["exact"]["f1"] == 0.0
    assert report["spans"]["exact"]["n_a"] == 1 and report["spans"]["exact"]["n_b"] == 0


def test_corpus_f1_sums_counts_over_documents_before_dividing(project, theme, annotator, teammate):
    first = DocumentFactory(project=project, external_id="a", text="abcdefghij" * 4)
    second = DocumentFactory(project=project, external_id="b", text="klmnopqrst" * 4)
    for start, end in [(0, 10), (12, 18)]:
        mark(first, annotator, start, end, [theme])
    for start, end in [(0, 10), (13, 18), (30, 35)]:
        mark(first, teammate, start, end, [theme])
    mark(second, annotator, 0, 5, [theme])
    mark(second, teammate, 0, 5, [theme])

    report = agreement_report(project)

    # 2 exact matches over 3 + 4 spans, not the mean of 0.4 and 1.0.
    assert report["spans"]["exact"]["f1"] == pytest.approx(4 / 7)
    assert report["spans"]["overlap"]["f1"] == pytest.approx(6 / 7)


def test_corpus_alpha_u_joins_documents_end_to_end(project, annotator, teammate):
    trade = ThemeFactory(project=project, key="TRADE")
    order = ThemeFactory(project=project, key="ORDER")
    first = DocumentFactory(project=project, external_id="a", text="abcdefghij" * 4)
    second = DocumentFactory(project=project, external_id="b", text="0123456789" * 3)
    mark(first, annotator, 0, 10, [trade])
    mark(first, teammate, 2, 10, [trade, order])
    mark(second, annotator, 5, 15, [order])
    mark(second, teammate, 5, 12, [order])

    report = agreement_report(project)

    expected = alpha_u_by_category(70, {
        trade.pk: [[(0, 10)], [(2, 10)]],
        order.pk: [[(45, 55)], [(2, 10), (45, 52)]],
    })
    assert report["alpha_u"]["alpha"] == pytest.approx(expected["alpha"])
    assert report["alpha_u"]["documents"] == 2
    by_theme = {t["theme"]: t["alpha"] for t in report["alpha_u"]["themes"]}
    assert by_theme["ORDER"] == pytest.approx(expected["categories"][order.pk]["alpha"])
    assert report["pairs"][0]["alpha_u"] == pytest.approx(expected["alpha"])


def test_a_pairs_alpha_u_joins_only_the_documents_both_annotated(project, theme, annotator, teammate):
    third = member(project, "dave")
    first = DocumentFactory(project=project, external_id="a", text="abcdefghij" * 4)
    second = DocumentFactory(project=project, external_id="b", text="0123456789" * 3)
    mark(first, annotator, 0, 10, [theme])
    mark(first, teammate, 0, 8, [theme])
    for user, (start, end) in [(annotator, (5, 15)), (teammate, (5, 15)), (third, (7, 15))]:
        mark(second, user, start, end, [theme])

    pairs = {tuple(p["annotators"]): p for p in agreement_report(project)["pairs"]}

    assert pairs[("alice", "dave")]["documents"] == 1
    assert pairs[("alice", "dave")]["alpha_u"] == pytest.approx(
        alpha_u_by_category(30, {theme.pk: [[(5, 15)], [(7, 15)]]})["alpha"]
    )
    assert pairs[("alice", "bob")]["alpha_u"] == pytest.approx(
        alpha_u_by_category(70, {theme.pk: [[(0, 10), (45, 55)], [(0, 8), (45, 55)]]})["alpha"]
    )


def test_overlapping_spans_of_one_theme_count_as_their_union(project, theme, annotator, teammate):
    document = DocumentFactory(project=project, text="abcdefghij" * 4)
    mark(document, annotator, 0, 10, [theme])
    mark(document, annotator, 5, 20, [theme])
    mark(document, teammate, 0, 20, [theme])

    report = agreement_report(project, document=document)

    assert report["alpha_u"]["alpha"] == pytest.approx(1.0)
    assert report["spans"]["exact"]["f1"] == 0.0


def test_reliability_f_and_credibility_6_are_missing_only_on_the_ordinal_scales(project, theme, annotator, teammate):
    document = DocumentFactory(project=project, text=SIX_PASSAGES)
    grades = [("A", 1, "A", 1), ("B", 2, "C", 2), ("F", 6, "F", 6), ("D", 4, "D", 5)]
    for (start, end), (ra, ca, rb, cb) in zip(passages(SIX_PASSAGES), grades):
        mark(document, annotator, start, end, [theme], source_reliability=ra, info_credibility=ca)
        mark(document, teammate, start, end, [theme], source_reliability=rb, info_credibility=cb)

    labels = {label["label"]: label for label in agreement_report(project)["labels"]}

    assert labels["source_reliability"]["units"] == 3
    assert labels["info_credibility"]["units"] == 3
    assert labels["admiralty"]["units"] == 4
    assert labels["admiralty"]["alpha"] == pytest.approx(
        krippendorff_alpha([["A1", "B2", "F6", "D4"], ["A1", "C2", "F6", "D5"]])
    )
    assert labels["source_reliability"]["alpha"] == pytest.approx(
        krippendorff_alpha([["A", "B", "D"], ["A", "C", "D"]], level="ordinal")
    )


def test_a_pair_restricts_the_report_to_those_two(project, theme, stances, annotator, teammate):
    third = member(project, "dave")
    stance_document(project, theme, stances, [(annotator, STANCE_A), (teammate, STANCE_B), (third, STANCE_C)])

    report = agreement_report(project, pair="bob,alice")

    assert report["pair"] == ["bob", "alice"]
    assert report["annotators"] == ["alice", "bob"]
    [pair] = report["pairs"]
    assert pair["annotators"] == ["bob", "alice"]
    assert pair["kappa"]["stance"] == pytest.approx(11 / 23, abs=FRACTION)


@pytest.mark.parametrize("pair", ["alice", "alice,alice", "alice,charlie", "alice,bob,carol"])
def test_a_pair_must_name_two_different_members(project, annotator, teammate, outsider, pair):
    with pytest.raises(UnknownPair):
        agreement_report(project, pair=pair)


def test_label_units_follow_the_first_span_of_each_unit(project):
    from annotations.agreement_report import Unit

    def unit(start, end):
        return Unit(start, end, None, None, None, None, None, None)

    groups = label_units([
        ("a", [unit(0, 10), unit(20, 30)]),
        ("b", [unit(1, 10), unit(40, 50)]),
        ("c", [unit(2, 10), unit(41, 50), unit(20, 24)]),
    ])

    extents = sorted([(u.start, u.end) for u in group] for group in groups)
    assert extents == [
        [(0, 10), (1, 10), (2, 10)],
        [(20, 24)],         # IoU 0.4 with the unit opened by (20, 30): its own unit
        [(20, 30)],
        [(40, 50), (41, 50)],
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(
    st.lists(st.frozensets(st.sampled_from("ABCDE"), min_size=1, max_size=3), min_size=2, max_size=4),
    min_size=1, max_size=12,
))
def test_masi_alpha_equals_the_generic_alpha_with_masi_distance(columns):
    width = max(len(c) for c in columns)
    rows = [[None] * len(columns) for _ in range(width)]
    for x, values in enumerate(columns):
        for slot, value in enumerate(values):
            rows[slot][x] = value
    expected = krippendorff_alpha(rows, distance=masi_distance)
    actual = masi_alpha(columns)
    if expected is None:
        assert actual is None
    else:
        assert actual == pytest.approx(expected, abs=1e-9)


def test_the_report_reads_the_same_number_of_queries_for_any_number_of_documents(project, theme, annotator, teammate):
    def add_documents(n):
        for _ in range(n):
            document = DocumentFactory(project=project)
            mark(document, annotator, 0, 8, [theme])
            mark(document, teammate, 0, 8, [theme])

    add_documents(2)
    with CaptureQueriesContext(connection) as few:
        agreement_report(project)
    add_documents(10)
    with CaptureQueriesContext(connection) as many:
        report = agreement_report(project)

    assert report["documents"]["compared"] == 12
    assert len(many) == len(few) <= 8


# --------------------------------------------------------------------------
# Pages and API
# --------------------------------------------------------------------------


def agreement_urls(project, document):
    return [
        reverse("curation:agreement", args=[project.slug]),
        reverse("curation:agreement-document", args=[project.slug, document.pk]),
    ]


@pytest.fixture
def marked(project, theme, stances, annotator, teammate):
    return stance_document(project, theme, stances, [(annotator, STANCE_A), (teammate, STANCE_B)])


@pytest.mark.parametrize("who", ["curator", "manager"])
def test_reviewers_read_the_agreement_pages(client, request, project, marked, who):
    client.force_login(request.getfixturevalue(who))

    for url in agreement_urls(project, marked):
        response = client.get(url)
        assert response.status_code == 200
        page = response.content.decode()
        assert 'data-pair="alice,bob"' in page
        assert "0.478" in page   # Cohen's kappa 11/23 on stance


def test_the_project_page_marks_thin_documents_not_enough_data(client, project, marked, theme, annotator, curator):
    alone = DocumentFactory(project=project, external_id="alone")
    mark(alone, annotator, 0, 8, [theme])
    client.force_login(curator)

    page = client.get(reverse("curation:agreement", args=[project.slug])).content.decode()

    row = page[page.index('data-document="alone"'):]
    row = row[:row.index("</tr>")]
    assert "not enough data" in row and "Only alice" in row


def test_a_document_page_with_one_annotator_says_not_enough_data(client, project, theme, annotator, curator):
    document = DocumentFactory(project=project)
    mark(document, annotator, 0, 8, [theme])
    client.force_login(curator)

    page = client.get(reverse("curation:agreement-document", args=[project.slug, document.pk])).content.decode()

    assert 'id="not-enough-data"' in page
    assert '<dd data-figure="exact-f1"><span class="no-data"' in page


def test_the_pair_view_shows_one_pair(client, project, theme, stances, annotator, teammate, curator):
    third = member(project, "dave")
    stance_document(project, theme, stances, [(annotator, STANCE_A), (teammate, STANCE_B), (third, STANCE_C)])
    client.force_login(curator)

    page = client.get(reverse("curation:agreement", args=[project.slug]) + "?pair=alice,dave").content.decode()

    assert 'data-pair="alice,dave"' in page and 'data-pair="alice,bob"' not in page


def test_annotators_may_not_read_agreement(client, project, marked, annotator):
    client.force_login(annotator)

    for url in agreement_urls(project, marked):
        assert client.get(url).status_code == 403
    assert client.get(reverse("api:project-agreement", args=[project.slug])).status_code == 403


def test_outsiders_see_no_agreement(client, project, marked, outsider):
    client.force_login(outsider)

    for url in agreement_urls(project, marked):
        assert client.get(url).status_code == 404
    response = client.get(reverse("api:project-agreement", args=[project.slug]))
    assert response.status_code == 404 and response.json()["error"]["status"] == 404


def test_anonymous_users_log_in_first_or_get_401(client, project, marked):
    for url in agreement_urls(project, marked):
        response = client.get(url)
        assert response.status_code == 302 and reverse("login") in response["Location"]
    assert client.get(reverse("api:project-agreement", args=[project.slug])).status_code == 401


def test_the_api_answers_for_the_project_a_document_and_a_pair(client, project, marked, curator):
    client.force_login(curator)
    url = reverse("api:project-agreement", args=[project.slug])

    whole = client.get(url).json()
    one = client.get(url, {"document": marked.pk, "pair": "bob,alice"}).json()

    assert whole["scope"] == "project" and whole["per_document"][0]["exact_f1"] == 1.0
    assert whole["pairs"][0]["kappa"]["stance"] == pytest.approx(11 / 23, abs=FRACTION)
    assert one["scope"] == "document" and one["document"]["id"] == marked.pk
    assert one["pair"] == ["bob", "alice"] and one["pairs"][0]["annotators"] == ["bob", "alice"]


def test_the_api_returns_null_with_a_reason_when_there_is_not_enough_data(client, project, theme, annotator, manager):
    document = DocumentFactory(project=project)
    mark(document, annotator, 0, 8, [theme])
    client.force_login(manager)

    data = client.get(reverse("api:project-agreement", args=[project.slug]), {"document": document.pk}).json()

    assert data["status"] == "not enough data" and data["reason"]
    assert data["spans"]["exact"] is None and data["spans"]["reason"]
    assert data["alpha_u"]["alpha"] is None and data["alpha_u"]["reason"]
    stance = next(label for label in data["labels"] if label["label"] == "stance")
    assert stance["alpha"] is None and stance["reason"]


@pytest.mark.parametrize("params, status, field", [
    ({"pair": "alice,nobody"}, 400, "pair"),
    ({"pair": "alice"}, 400, "pair"),
    ({"document": "x"}, 400, "document"),
])
def test_the_api_refuses_bad_parameters(client, project, marked, curator, params, status, field):
    client.force_login(curator)

    response = client.get(reverse("api:project-agreement", args=[project.slug]), params)

    assert response.status_code == status
    assert field in response.json()["error"]["fields"]


def test_the_api_does_not_reach_documents_of_other_projects(client, project, marked, curator, outsider):
    other = DocumentFactory(project=outsider.memberships.get().project)
    client.force_login(curator)

    response = client.get(reverse("api:project-agreement", args=[project.slug]), {"document": other.pk})

    assert response.status_code == 404


def test_the_api_accepts_a_token(client, project, marked, curator):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=curator)
    url = reverse("api:project-agreement", args=[project.slug])

    response = client.get(url, HTTP_AUTHORIZATION=f"Token {token.key}")

    assert response.status_code == 200 and response.json()["annotators"] == ["alice", "bob"]
