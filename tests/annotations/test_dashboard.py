import csv
import datetime
import io
import random
import xml.etree.ElementTree as ET
from collections import Counter

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotations.dashboard import Dashboard, csv_safe
from annotations.models import Assignment, Curation, Span
from tests.factories import (
    AssignmentFactory,
    DocumentFactory,
    MembershipFactory,
    SpanFactory,
    StanceValueFactory,
    ThemeFactory,
)

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"
TEXT = "Alpha beta gamma delta epsilon zeta eta theta."


def day(n):
    return datetime.datetime(2025, 5, n, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def board(project, annotator, teammate, curator, manager):
    """A small project whose every figure is known: alice and bob annotate, carol curates."""
    trade = ThemeFactory(project=project, key="TRADE", name="Trade", position=1)
    volume = ThemeFactory(project=project, key="volume", parent=trade, name="Volume", position=2)
    finance = ThemeFactory(project=project, key="FINANCE", name="Finance", position=3)
    favor = StanceValueFactory(project=project, key="FAVOR", name="Favor", position=1)
    against = StanceValueFactory(project=project, key="AGAINST", name="Against", position=2)
    d1 = DocumentFactory(project=project, external_id="d1", text=TEXT, outlet="Xinhua")
    d2 = DocumentFactory(project=project, external_id="d2", text=TEXT + " Two.", outlet="TASS")
    d3 = DocumentFactory(project=project, external_id="d3", text=TEXT + " Three.")

    def span(document, who, start, end, themes, created, **labels):
        made = SpanFactory(document=document, annotator=who, start=start, end=end, themes=themes, **labels)
        Span.objects.filter(pk=made.pk).update(created_at=created)
        return made

    span(d1, annotator, 0, 5, [volume], day(1), stance=favor, source_reliability="B", info_credibility=2,
         status="submitted")
    span(d1, annotator, 11, 16, [trade, finance], day(1), stance=against, source_reliability="C",
         info_credibility=3, status="submitted")
    span(d1, teammate, 0, 5, [trade], day(2), stance=favor, source_reliability="B", info_credibility=2)
    span(d2, teammate, 6, 10, [finance], day(3))
    span(d1, curator, 0, 5, [trade], day(4), stance=favor, source_reliability="B", info_credibility=2,
         status="gold")
    span(d2, teammate, 0, 5, [finance], day(4), stance=against, source_reliability="A", info_credibility=1,
         status="rejected")

    AssignmentFactory(document=d1, annotator=annotator, assigned=True, status="done", done_at=day(1))
    AssignmentFactory(document=d1, annotator=teammate, assigned=True, status="in_progress")
    AssignmentFactory(document=d2, annotator=annotator, assigned=True)
    AssignmentFactory(document=d2, annotator=teammate, assigned=True, status="done", done_at=day(3))
    Curation.objects.create(document=d1, curator=curator, status=Curation.Status.CURATED)
    return project


def login(client, user):
    client.force_login(user)
    return client


def dashboard_url(project):
    return reverse("annotations:dashboard", args=[project.slug])


def chart_csv(client, project, chart):
    response = client.get(reverse("annotations:dashboard-csv", args=[project.slug, chart]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"))))


def chart_svg(client, project, chart):
    response = client.get(reverse("annotations:dashboard-svg", args=[project.slug, chart]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    return ET.fromstring(response.content)


def texts(svg):
    return [" ".join("".join(el.itertext()).split()) for el in svg.iter(f"{SVG}text")]


def titles(svg):
    return ["".join(el.itertext()) for el in svg.iter(f"{SVG}title")]


# Figures


def test_summary_counts_gold_and_rejected_apart(board):
    assert Dashboard(board).summary == {
        "documents": 3,
        "documents_done": 2,
        "documents_curated": 1,
        "assignments": 4,
        "assignments_done": 2,
        "assignments_in_progress": 1,
        "annotators": 2,
        "spans": 4,
        "gold_spans": 1,
        "rejected_spans": 1,
    }


def test_each_annotator_has_assigned_done_in_progress_spans_and_last_activity(board):
    rows = {row["username"]: row for row in Dashboard(board).annotators}

    assert set(rows) == {"alice", "bob"}
    assert {k: rows["alice"][k] for k in ("assigned", "done", "in_progress", "spans")} == {
        "assigned": 2, "done": 1, "in_progress": 0, "spans": 2,
    }
    assert {k: rows["bob"][k] for k in ("assigned", "done", "in_progress", "spans")} == {
        "assigned": 2, "done": 1, "in_progress": 1, "spans": 2,
    }
    assert rows["bob"]["last_activity"] is not None


def test_each_document_shows_who_is_done_agreement_curation_and_gold(board):
    _, rows = Dashboard(board).documents(1)
    by_id = {row["external_id"]: row for row in rows}

    assert by_id["d1"]["assigned_to"] == ["alice", "bob"]
    assert by_id["d1"]["done_by"] == ["alice"]
    assert by_id["d1"]["in_progress"] == ["bob"]
    assert by_id["d1"]["agreement"] == pytest.approx(2 / 3)
    assert by_id["d1"]["curated"] is True
    assert by_id["d1"]["gold_spans"] == 1
    # bob's rejected span does not count, so only one annotator has spans on d2.
    assert by_id["d2"]["agreement"] is None
    assert by_id["d2"]["done_by"] == ["bob"]
    assert (by_id["d3"]["curated"], by_id["d3"]["gold_spans"], by_id["d3"]["assigned_to"]) == (False, 0, [])


def test_dashboard_page_shows_the_figures_to_a_manager(client, board, manager):
    response = login(client, manager).get(dashboard_url(board))

    assert response.status_code == 200
    page = response.content.decode()
    assert "not enough data" in page
    assert "0.67" in page
    assert page.count("<svg") == 5
    assert 'role="img"' in page


def test_documents_are_listed_fifty_to_a_page(client, project, manager):
    DocumentFactory.create_batch(51, project=project)

    response = login(client, manager).get(dashboard_url(project), {"page": 2})

    assert response.status_code == 200
    assert len(response.context["documents"]) == 1
    assert "Page 2 of 2" in response.content.decode()


# Charts


def test_spans_per_theme_chart_and_csv(client, board, manager):
    login(client, manager)

    assert chart_csv(client, board, "themes") == [
        ["theme_code", "theme_name", "spans"], ["TRADE", "Trade", "3"], ["FINANCE", "Finance", "2"],
    ]
    svg = chart_svg(client, board, "themes")
    assert svg.get("role") == "img" and "Spans per theme" in svg.get("aria-label")
    labels = texts(svg)
    assert "Trade (TRADE)" in labels and "Finance (FINANCE)" in labels
    assert "3" in labels and "2" in labels
    assert "Trade (TRADE): 3 spans" in titles(svg)


def test_stance_per_theme_chart_and_csv(client, board, manager):
    login(client, manager)

    assert chart_csv(client, board, "stance-by-theme") == [
        ["theme_code", "theme_name", "FAVOR", "AGAINST", "(no stance)", "total"],
        ["TRADE", "Trade", "2", "1", "0", "3"],
        ["FINANCE", "Finance", "0", "1", "1", "2"],
    ]
    svg = chart_svg(client, board, "stance-by-theme")
    patterns = [p.get("id") for p in svg.iter(f"{SVG}pattern")]
    assert len(patterns) == len(set(patterns)) == 3
    assert {"FAVOR – Favor", "AGAINST – Against", "(no stance)"} <= set(texts(svg))
    assert "Trade (TRADE) – FAVOR: 2 (67%)" in titles(svg)


def test_admiralty_grid_writes_the_count_in_every_cell(client, board, manager):
    login(client, manager)

    rows = chart_csv(client, board, "admiralty")
    assert rows[0] == ["source_reliability", "1", "2", "3", "4", "5", "6"]
    assert rows[2] == ["B", "0", "2", "0", "0", "0", "0"]
    assert rows[3] == ["C", "0", "0", "1", "0", "0", "0"]
    assert len(rows) == 7
    svg = chart_svg(client, board, "admiralty")
    cells = [g for g in svg.iter(f"{SVG}g") if g.find(f"{SVG}rect") is not None]
    assert len(cells) == 36
    assert "B2: 2 spans" in titles(svg)
    assert "Not fully graded: 1 span." in texts(svg)


def test_stance_by_outlet_chart_and_csv(client, board, manager):
    login(client, manager)

    assert chart_csv(client, board, "stance-by-outlet") == [
        ["outlet", "FAVOR", "AGAINST", "(no stance)", "total"],
        ["Xinhua", "2", "1", "0", "3"],
        ["TASS", "0", "0", "1", "1"],
    ]
    assert {"Xinhua", "TASS"} <= set(texts(chart_svg(client, board, "stance-by-outlet")))


def test_progress_chart_counts_documents_done_and_spans_per_day(client, board, manager):
    login(client, manager)

    assert chart_csv(client, board, "progress") == [
        ["date", "documents_done", "documents_done_cumulative", "spans_created"],
        ["2025-05-01", "1", "1", "2"],
        ["2025-05-02", "0", "1", "1"],
        ["2025-05-03", "1", "2", "1"],
    ]
    svg = chart_svg(client, board, "progress")
    assert "2025-05-03: 1 done that day, 2 in all" in titles(svg)
    assert "2025-05-01: 2 spans created" in titles(svg)


def test_charts_of_an_empty_project_say_so(client, project, manager):
    login(client, manager)

    for chart in ("themes", "stance-by-theme", "stance-by-outlet", "progress"):
        svg = chart_svg(client, project, chart)
        assert any(t in ("No spans yet.", "Nothing done yet.") for t in texts(svg)), chart
    assert chart_csv(client, project, "progress") == [
        ["date", "documents_done", "documents_done_cumulative", "spans_created"]
    ]


def test_an_unknown_chart_is_not_found(client, board, manager):
    response = login(client, manager).get(reverse("annotations:dashboard-csv", args=[board.slug, "pie"]))

    assert response.status_code == 404


# Escaping


def test_names_are_escaped_in_svg_and_page(client, project, annotator, manager):
    evil = ThemeFactory(project=project, key="EVIL", name="<script>alert(1)</script>")
    doc = DocumentFactory(project=project, text=TEXT, outlet='"><script>alert(2)</script>')
    SpanFactory(document=doc, annotator=annotator, start=0, end=5, themes=[evil])
    login(client, manager)

    page = client.get(dashboard_url(project)).content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    svg = chart_svg(client, project, "themes")
    assert "<script>alert(1)</script> (EVIL): 1 span" in titles(svg)
    assert not list(svg.iter(f"{SVG}script"))
    outlet_svg = chart_svg(client, project, "stance-by-outlet")
    assert not list(outlet_svg.iter(f"{SVG}script"))


def test_csv_cells_cannot_start_a_formula(client, project, annotator, manager):
    formula = ThemeFactory(project=project, key="F", name='=HYPERLINK("http://evil.example","x")')
    doc = DocumentFactory(project=project, text=TEXT, outlet="@SUM(A1:A2)")
    SpanFactory(document=doc, annotator=annotator, start=0, end=5, themes=[formula])
    ThemeFactory(project=project, key="S", name="<script>alert(1)</script>")
    login(client, manager)

    themes = chart_csv(client, project, "themes")
    assert ["F", "'=HYPERLINK(\"http://evil.example\",\"x\")", "1"] in themes
    assert ["S", "<script>alert(1)</script>", "0"] in themes
    outlets = chart_csv(client, project, "stance-by-outlet")
    assert outlets[1][0] == "'@SUM(A1:A2)"


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@x", "\tx", "\rx"])
def test_formula_prefixes_are_neutralised(value):
    assert csv_safe(value) == "'" + value


def test_plain_cells_and_numbers_pass_through():
    assert (csv_safe("Trade"), csv_safe(-3), csv_safe("")) == ("Trade", -3, "")


# Access


@pytest.mark.parametrize("name", ["dashboard", "dashboard-csv", "dashboard-svg"])
def test_annotators_cannot_see_the_dashboard(client, board, annotator, name):
    args = [board.slug] + (["themes"] if name != "dashboard" else [])

    response = login(client, annotator).get(reverse(f"annotations:{name}", args=args))

    assert response.status_code == 403


def test_curators_see_the_dashboard_without_the_assignment_link(client, board, curator):
    response = login(client, curator).get(dashboard_url(board))

    assert response.status_code == 200
    assert reverse("annotations:assignments", args=[board.slug]) not in response.content.decode()


def test_outsiders_get_not_found(client, board, outsider):
    response = login(client, outsider).get(dashboard_url(board))

    assert response.status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, board):
    response = client.get(dashboard_url(board))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_superusers_see_any_dashboard(client, board, superuser):
    assert login(client, superuser).get(dashboard_url(board)).status_code == 200


# API


def api_url(project):
    return reverse("api:project-dashboard", args=[project.slug])


def test_api_returns_the_dashboard_figures(board, curator):
    api = APIClient()
    api.force_authenticate(curator)

    response = api.get(api_url(board))

    assert response.status_code == 200
    body = response.json()
    assert body["summary"]["gold_spans"] == 1
    assert {row["username"]: row["spans"] for row in body["annotators"]} == {"alice": 2, "bob": 2}
    documents = {row["external_id"]: row for row in body["documents"]["results"]}
    assert documents["d1"]["agreement"] == pytest.approx(2 / 3)
    assert documents["d2"]["agreement"] is None
    assert body["charts"]["themes"] == [
        {"theme_code": "TRADE", "theme_name": "Trade", "spans": 3},
        {"theme_code": "FINANCE", "theme_name": "Finance", "spans": 2},
    ]
    assert body["charts"]["admiralty"][1] == {
        "source_reliability": "B", "1": 0, "2": 2, "3": 0, "4": 0, "5": 0, "6": 0,
    }


def test_api_refuses_anonymous_with_401(board):
    assert APIClient().get(api_url(board)).status_code == 401


def test_api_hides_other_projects_with_404(board, outsider):
    api = APIClient()
    api.force_authenticate(outsider)

    assert api.get(api_url(board)).status_code == 404


def test_api_refuses_annotators_with_403(board, annotator):
    api = APIClient()
    api.force_authenticate(annotator)

    response = api.get(api_url(board))

    assert response.status_code == 403
    assert response.json()["error"]["status"] == 403


def test_done_assignments_without_a_date_are_left_out_of_progress(client, project, annotator, manager):
    AssignmentFactory(document=DocumentFactory(project=project), annotator=annotator, status=Assignment.Status.DONE)

    assert chart_csv(login(client, manager), project, "progress")[1:] == []


def test_the_navigation_links_reviewers_to_the_dashboard(client, board, manager, annotator):
    project_page = reverse("corpus:project-detail", args=[board.slug])

    as_manager = login(client, manager).get(project_page).content.decode()
    as_annotator = login(client, annotator).get(project_page).content.decode()

    assert dashboard_url(board) in as_manager
    assert reverse("annotations:assignments", args=[board.slug]) in as_manager
    assert dashboard_url(board) not in as_annotator


@pytest.mark.parametrize("who", ["manager", "curator"])
def test_the_dashboard_links_to_agreement_and_curation(client, board, who, request):
    response = login(client, request.getfixturevalue(who)).get(dashboard_url(board))

    page = response.content.decode()
    assert f'href="{reverse("curation:agreement", args=[board.slug])}"' in page
    assert f'href="{reverse("curation:documents", args=[board.slug])}"' in page


def test_figures_follow_new_and_deleted_spans_at_once(board, annotator):
    assert Dashboard(board).summary["spans"] == 4
    document = board.documents.get(external_id="d3")
    added = SpanFactory(document=document, annotator=annotator, start=0, end=5, themes=[board.themes.get(code="FINANCE")])

    assert Dashboard(board).summary["spans"] == 5
    assert dict((r[0], r[2]) for r in Dashboard(board).chart("themes").rows)["FINANCE"] == 3
    added.delete()
    assert Dashboard(board).summary["spans"] == 4


def test_figures_follow_a_status_change(board):
    span = Span.objects.get(annotator__username="alice", start=11)
    span.status = Span.Status.REJECTED
    span.save()

    assert Dashboard(board).summary["rejected_spans"] == 2


# The grouped passes against a plain count of the same spans


@pytest.fixture
def busy_project(project, manager):
    """Spans of every kind: layers, grades, stances, shared top-level themes, UTC midnights, outlets.

    Written with bulk_create, as imports are, and next to another project's spans that must not count.
    """
    rng = random.Random(7)
    members = [MembershipFactory(project=project, user__username=f"ann{i}").user for i in range(3)]
    curator = MembershipFactory(project=project, role="curator", user__username="cur").user
    tops = [ThemeFactory(project=project, key=key, position=i) for i, key in enumerate(["TRADE", "ENERGY", "ARCTIC"])]
    subs = [ThemeFactory(project=project, key=f"sub{i}", parent=tops[i % 2], position=10 + i) for i in range(4)]
    stances = [StanceValueFactory(project=project, key=key, name=key.title(), position=i)
               for i, key in enumerate(["FAVOR", "AGAINST", "NEUTRAL"])]
    outlets = ["Xinhua", "TASS", "", "Reuters"]
    moments = [datetime.datetime(2025, 5, 1, 23, 59, 59, tzinfo=datetime.UTC),
               datetime.datetime(2025, 5, 2, 0, 0, 1, tzinfo=datetime.UTC),
               datetime.datetime(2025, 5, 9, 12, 0, tzinfo=datetime.UTC)]
    spans, links = [], []
    for n in range(12):
        doc = DocumentFactory(project=project, text=f"{TEXT} {n}.", outlet=outlets[n % len(outlets)])
        for _ in range(rng.randint(0, 9)):
            who = rng.choice(members + [curator])
            status = "gold" if who == curator else rng.choice(["draft", "submitted", "submitted", "rejected"])
            span = Span(document=doc, annotator=who, start=0, end=5, text=TEXT[:5], status=status,
                        stance=rng.choice(stances + [None]), source_reliability=rng.choice("ABCDEF "),
                        info_credibility=rng.choice([1, 2, 3, 4, 5, 6, None]))
            span.source_reliability = span.source_reliability.strip()
            spans.append((span, rng.choice(moments)))
            # Some spans carry a top-level theme with its sub-theme, or two sub-themes of one theme.
            for theme in rng.sample(tops + subs, rng.choice([0, 1, 1, 2, 3])):
                links.append(Span.themes.through(span=span, theme=theme))
    Span.objects.bulk_create([span for span, _ in spans])
    Span.themes.through.objects.bulk_create(links)
    for span, moment in spans:
        Span.objects.filter(pk=span.pk).update(created_at=moment, updated_at=moment + datetime.timedelta(hours=1))
    elsewhere = SpanFactory(document=DocumentFactory(text=TEXT, outlet="Xinhua"))
    elsewhere.themes.set([ThemeFactory(project=elsewhere.document.project)])
    return project


def plain_figures(project):
    """The dashboard's span figures counted one span at a time in Python."""
    spans = list(
        Span.objects.filter(document__project=project).select_related("document", "annotator", "stance")
        .prefetch_related("themes")
    )
    layer = [s for s in spans if s.status not in ("gold", "rejected")]
    stance_key = {None: "(no stance)"} | {s.pk: s.key for s in project.stances.all()}
    themes = Counter()
    for span in layer:
        for top in {t.parent_id or t.pk for t in span.themes.all()}:
            themes[(top, stance_key[span.stance_id])] += 1
    return {
        "spans": len(layer),
        "gold": sum(s.status == "gold" for s in spans),
        "rejected": sum(s.status == "rejected" for s in spans),
        "by_annotator": Counter(s.annotator.username for s in layer),
        "last": {
            name: max(s.updated_at for s in spans if s.annotator.username == name and s.status != "gold")
            for name in {s.annotator.username for s in spans if s.status != "gold"}
        },
        "graded": Counter((s.source_reliability, s.info_credibility) for s in layer
                          if s.source_reliability and s.info_credibility),
        "ungraded": sum(not (s.source_reliability and s.info_credibility) for s in layer),
        "themes": themes,
        "outlets": Counter((s.document.outlet or "(no outlet)", stance_key[s.stance_id]) for s in layer),
        "days": Counter(s.created_at.astimezone(datetime.UTC).date().isoformat() for s in layer),
    }


def test_span_figures_match_a_plain_count_of_the_spans(busy_project):
    board = Dashboard(busy_project)
    plain = plain_figures(busy_project)

    summary = board.summary
    assert (summary["spans"], summary["gold_spans"], summary["rejected_spans"]) == (
        plain["spans"], plain["gold"], plain["rejected"]
    )
    rows = {row["username"]: row for row in board.annotators}
    assert {name: row["spans"] for name, row in rows.items() if row["spans"]} == dict(plain["by_annotator"])
    assert {name: row["last_activity"] for name, row in rows.items() if row["last_activity"]} == plain["last"]


def test_charts_match_a_plain_count_of_the_spans(busy_project):
    board = Dashboard(busy_project)
    plain = plain_figures(busy_project)

    tops = {t.code: t.pk for t in busy_project.themes.filter(parent=None)}
    assert {code: n for code, _, n in board.chart("themes").rows} == {
        code: sum(n for (top, _), n in plain["themes"].items() if top == pk) for code, pk in tops.items()
    }
    stance_chart = board.chart("stance-by-theme")
    keys = stance_chart.header[2:-1]
    assert {(row[0], key): n for row in stance_chart.rows for key, n in zip(keys, row[2:-1]) if n} == {
        (code, key): n for code, pk in tops.items() for (top, key), n in plain["themes"].items() if top == pk
    }
    admiralty = board.chart("admiralty")
    assert {(row[0], digit): n for row in admiralty.rows for digit, n in zip(range(1, 7), row[1:]) if n} == dict(
        plain["graded"]
    )
    assert admiralty.context["ungraded"] == plain["ungraded"]
    outlets = board.chart("stance-by-outlet")
    keys = outlets.header[1:-1]
    assert {(row[0], key): n for row in outlets.rows for key, n in zip(keys, row[1:-1]) if n} == dict(
        plain["outlets"]
    )
    assert {day: n for day, _, _, n in board.chart("progress").rows if n} == dict(plain["days"])


def test_figures_follow_writes_that_skip_save(busy_project):
    """Bulk updates, link tables written directly and deletes reach the next page at once."""
    board = Dashboard(busy_project)
    board.summary, board.charts()
    layer = Span.objects.filter(document__project=busy_project, status="submitted")
    against = busy_project.stances.get(key="AGAINST")
    layer.filter(pk__in=list(layer.values_list("pk", flat=True)[:3])).update(stance=against, status="draft")
    Span.themes.through.objects.filter(span__document__project=busy_project).order_by("pk")[:1].get().delete()
    first = Span.objects.filter(document__project=busy_project).exclude(status="gold").order_by("pk").first()
    Span.themes.through.objects.bulk_create(
        [Span.themes.through(span=first, theme=t) for t in busy_project.themes.exclude(spans=first)[:2]]
    )
    Span.objects.filter(document__project=busy_project, status="rejected").order_by("pk")[:1].get().delete()

    test_span_figures_match_a_plain_count_of_the_spans(busy_project)
    test_charts_match_a_plain_count_of_the_spans(busy_project)


def test_api_csv_and_svg_give_the_same_figures(client, busy_project, manager):
    api = APIClient()
    api.force_authenticate(manager)
    body = api.get(api_url(busy_project)).json()
    login(client, manager)

    for slug in ("themes", "stance-by-theme", "admiralty", "stance-by-outlet", "progress"):
        header, *rows = chart_csv(client, busy_project, slug)
        assert [{k: str(v) for k, v in record.items()} for record in body["charts"][slug]] == [
            dict(zip(header, row)) for row in rows
        ], slug
    themes = {f"{row[1]} ({row[0]}): {row[2]} span{'s' if row[2] != '1' else ''}"
              for row in chart_csv(client, busy_project, "themes")[1:]}
    assert themes <= set(titles(chart_svg(client, busy_project, "themes")))
