"""Project pages and the workbench page: progress, finding work, access, what the page embeds."""
import json
import re

import pytest
from django.urls import reverse

from annotations.models import Assignment
from annotations.schema import schema_install_default
from annotations.serializers import SpanSerializer
from corpus.models import Membership
from corpus.templatetags.lectern import guidelines_html
from tests.factories import (
    AssignmentFactory, DocumentFactory, MembershipFactory, ProjectFactory, SpanFactory, ThemeFactory,
)


def embedded(response, element_id):
    match = re.search(
        rf'<script id="{element_id}" type="application/json">(.*?)</script>', response.content.decode(), re.S
    )
    assert match, f"{element_id} is not in the page"
    return json.loads(match.group(1))


@pytest.fixture
def themed(project):
    schema_install_default(project)
    return project


@pytest.fixture
def alice_client(client, annotator):
    client.force_login(annotator)
    return client


def test_anonymous_visitor_is_sent_to_the_login_form(client, document):
    response = client.get(reverse("corpus:document-detail", args=[document.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_project_list_shows_own_progress_per_project(alice_client, project, annotator, teammate):
    done, begun, assigned, _untouched = (DocumentFactory(project=project) for _ in range(4))
    AssignmentFactory(document=done, annotator=annotator, status=Assignment.Status.DONE)
    SpanFactory(document=begun, annotator=annotator)
    SpanFactory(document=begun, annotator=annotator)
    AssignmentFactory(document=assigned, annotator=annotator, assigned=True)
    SpanFactory(document=assigned, annotator=teammate)  # someone else's work changes nothing for alice

    response = alice_client.get(reverse("corpus:project-list"))

    assert response.status_code == 200
    (listed,) = response.context["projects"]
    assert listed.progress == {"done": 1, "in_progress": 1, "not_started": 2, "total": 4, "spans": 2}
    html = response.content.decode()
    assert "<strong>1</strong> done" in html
    assert "<strong>2</strong> not started" in html
    assert "<strong>2</strong> spans made" in html
    assert reverse("corpus:project-next", args=[project.slug]) in html


def test_project_list_costs_the_same_queries_for_many_projects(alice_client, annotator, django_assert_max_num_queries):
    for _ in range(6):
        other = ProjectFactory()
        MembershipFactory(project=other, user=annotator)
        for _ in range(3):
            SpanFactory(document=DocumentFactory(project=other), annotator=annotator)
    with django_assert_max_num_queries(8):
        response = alice_client.get(reverse("corpus:project-list"))
    assert len(response.context["projects"]) == 7


def test_outsider_does_not_see_the_project(client, project, outsider):
    DocumentFactory(project=project)
    client.force_login(outsider)
    assert project.name not in client.get(reverse("corpus:project-list")).content.decode()
    assert client.get(reverse("corpus:project-detail", args=[project.slug])).status_code == 404
    assert client.get(reverse("corpus:project-next", args=[project.slug])).status_code == 404


def test_document_list_gives_each_document_its_status_and_span_count(alice_client, project, annotator):
    done = DocumentFactory(project=project, external_id="a-done")
    begun = DocumentFactory(project=project, external_id="b-begun")
    DocumentFactory(project=project, external_id="c-new")
    AssignmentFactory(document=done, annotator=annotator, status=Assignment.Status.DONE)
    SpanFactory(document=begun, annotator=annotator)

    response = alice_client.get(reverse("corpus:project-detail", args=[project.slug]))

    rows = {d.external_id: (d.my_status, d.span_count) for d in response.context["page"]}
    assert rows == {"a-done": ("done", 0), "b-begun": ("in_progress", 1), "c-new": ("not_started", 0)}
    assert 'data-document="b-begun" data-status="in_progress"' in response.content.decode()


def test_document_list_searches_title_and_text_and_filters(alice_client, project, annotator):
    DocumentFactory(project=project, external_id="d1", title="Arctic shipping", genre="news", outlet="TASS",
                    text="Ice routes open.")
    DocumentFactory(project=project, external_id="d2", title="Trade", genre="opinion", outlet="Xinhua",
                    text="Yuan settlement grows along Arctic lines.")
    d3 = DocumentFactory(project=project, external_id="d3", title="Energy", genre="news", outlet="Xinhua",
                         text="Pipelines.")
    AssignmentFactory(document=d3, annotator=annotator, status=Assignment.Status.DONE)
    url = reverse("corpus:project-detail", args=[project.slug])

    def listed(**params):
        return [d.external_id for d in alice_client.get(url, params).context["page"]]

    assert listed(q="arctic") == ["d1", "d2"]
    assert listed(q="yuan settlement") == ["d2"]
    assert listed(genre="news") == ["d1", "d3"]
    assert listed(outlet="Xinhua", genre="news") == ["d3"]
    assert listed(status="done") == ["d3"]
    assert listed(status="not_started") == ["d1", "d2"]
    assert listed(q="nothing like this") == []


def test_closed_project_lists_only_assigned_documents_for_annotators(client, project, annotator, curator):
    project.unassigned_open = False
    project.save()
    mine = DocumentFactory(project=project, external_id="mine")
    hidden = DocumentFactory(project=project, external_id="hidden")
    AssignmentFactory(document=mine, annotator=annotator, assigned=True)
    url = reverse("corpus:project-detail", args=[project.slug])

    client.force_login(annotator)
    assert [d.external_id for d in client.get(url).context["page"]] == ["mine"]
    assert client.get(reverse("corpus:document-detail", args=[hidden.pk])).status_code == 404
    assert client.get(reverse("corpus:document-detail", args=[mine.pk])).status_code == 200

    client.force_login(curator)
    assert [d.external_id for d in client.get(url).context["page"]] == ["hidden", "mine"]


def test_next_document_prefers_assigned_and_skips_done(alice_client, project, annotator):
    first = DocumentFactory(project=project, external_id="a")
    assigned = DocumentFactory(project=project, external_id="b")
    done = DocumentFactory(project=project, external_id="0-done")
    AssignmentFactory(document=assigned, annotator=annotator, assigned=True)
    AssignmentFactory(document=done, annotator=annotator, status=Assignment.Status.DONE, assigned=True)
    url = reverse("corpus:project-next", args=[project.slug])

    assert alice_client.get(url)["Location"] == reverse("corpus:document-detail", args=[assigned.pk])
    assert alice_client.get(url, {"skip": assigned.pk})["Location"] == reverse("corpus:document-detail", args=[first.pk])


def test_next_document_says_so_when_everything_is_done(alice_client, project, annotator):
    AssignmentFactory(document=DocumentFactory(project=project), annotator=annotator, status=Assignment.Status.DONE)
    response = alice_client.get(reverse("corpus:project-next", args=[project.slug]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("corpus:project-detail", args=[project.slug])
    assert "Every document open to you in this project is done." in response.content.decode()


def test_workbench_renders_the_text_escaped_and_embeds_it_exactly(alice_client, project):
    text = 'Line one <script>alert("x")</script> & <b>bold</b>\n\nSecond\tparagraph\u00a0😀 "quoted"'
    document = DocumentFactory(project=project, text=text)

    response = alice_client.get(reverse("corpus:document-detail", args=[document.pk]))

    html = response.content.decode()
    assert "<script>alert" not in html
    assert "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert embedded(response, "document-text") == text


def test_workbench_embeds_only_my_spans_in_the_api_shape(alice_client, themed, annotator, teammate):
    document = DocumentFactory(project=themed, text="Analysts say trade in yuan rose. Critics disagree.")
    theme = themed.themes.get(code="FINANCE.currency")
    mine = SpanFactory(document=document, annotator=annotator, start=13, end=31, text="trade in yuan rose",
                       themes=[theme], source_reliability="F", info_credibility=2, source_type="AUTHOR")
    SpanFactory(document=document, annotator=teammate, themes=[theme])

    response = alice_client.get(reverse("corpus:document-detail", args=[document.pk]))

    (span,) = embedded(response, "spans-data")
    api = SpanSerializer(mine).data
    assert span == {name: api[name] for name in span}
    assert {"id", "start", "end", "themes", "attributed_source", "source_reliability", "version", "annotator"} <= set(span)
    assert "stance" not in span and "note" not in span  # not set yet, so left out
    assert response.context["read_only"] is False


def test_workbench_schema_follows_the_api_contract(alice_client, themed, document):
    schema = embedded(alice_client.get(reverse("corpus:document-detail", args=[document.pk])), "schema-data")
    assert {"themes", "stances", "stance_target", "source_reliability", "info_credibility", "source_types",
            "claim_types"} <= set(schema)
    trade = next(t for t in schema["themes"] if t["code"] == "TRADE.volume")
    assert trade["parent"] == "TRADE"
    assert [s["key"] for s in schema["stances"]] == ["FAVOR", "AGAINST", "NEUTRAL", "NONE"]
    assert schema["source_reliability"][0]["value"] == "A"


def test_workbench_suggests_source_names_used_in_the_project(alice_client, themed, annotator, teammate):
    document = DocumentFactory(project=themed)
    SpanFactory(document=document, annotator=teammate, source_name="Wang Yi")
    SpanFactory(document=DocumentFactory(project=themed), annotator=annotator, source_name="<Putin>")
    html = alice_client.get(reverse("corpus:document-detail", args=[document.pk])).content.decode()
    assert '<option value="Wang Yi">' in html
    assert '<option value="&lt;Putin&gt;">' in html


def test_workbench_needs_few_queries_however_many_spans(alice_client, themed, annotator, django_assert_max_num_queries):
    document = DocumentFactory(project=themed, text="word " * 400)
    themes = list(themed.themes.all()[:3])
    for i in range(120):
        SpanFactory(document=document, annotator=annotator, start=i * 5, end=i * 5 + 4, text="word", themes=themes)
    with django_assert_max_num_queries(14):
        response = alice_client.get(reverse("corpus:document-detail", args=[document.pk]))
    assert len(embedded(response, "spans-data")) == 120


def test_curator_reads_a_members_spans_read_only(client, themed, annotator, curator):
    document = DocumentFactory(project=themed)
    SpanFactory(document=document, annotator=annotator)
    client.force_login(curator)
    url = reverse("corpus:document-detail", args=[document.pk])

    own = client.get(url)
    assert embedded(own, "spans-data") == []
    assert 'id="span-panel"' in own.content.decode()

    theirs = client.get(url, {"view": "alice"})
    assert [s["annotator"] for s in embedded(theirs, "spans-data")] == ["alice"]
    assert theirs.context["read_only"] is True
    assert 'id="span-panel"' not in theirs.content.decode()
    assert 'data-read-only="true"' in theirs.content.decode()

    assert [s["annotator"] for s in embedded(client.get(url, {"view": "all"}), "spans-data")] == ["alice"]
    assert client.get(url, {"view": "nobody"}).status_code == 404


def test_annotator_cannot_read_a_teammates_spans(alice_client, document, teammate):
    SpanFactory(document=document, annotator=teammate)
    response = alice_client.get(reverse("corpus:document-detail", args=[document.pk]), {"view": "bob"})
    assert response.status_code == 403


def test_outsider_cannot_open_the_workbench(client, document, outsider):
    client.force_login(outsider)
    assert client.get(reverse("corpus:document-detail", args=[document.pk])).status_code == 404


def test_workbench_shows_my_status_for_the_document(alice_client, document, annotator):
    url = reverse("corpus:document-detail", args=[document.pk])
    assert alice_client.get(url).context["own_status"] == "not_started"
    SpanFactory(document=document, annotator=annotator)
    assert alice_client.get(url).context["own_status"] == "in_progress"
    AssignmentFactory(document=document, annotator=annotator, status=Assignment.Status.DONE)
    response = alice_client.get(url)
    assert response.context["own_status"] == "done"
    assert 'data-status="done"' in response.content.decode()


def test_guidelines_keep_simple_formatting_and_drop_the_rest():
    html = guidelines_html(
        '<h3>Tag</h3><p>One <strong>claim</strong> <em>each</em>.</p><ul><li>x</li></ul>'
        '<a href="https://example.org/guide" title="Guide" onclick="evil()">guide</a>'
        '<a href="javascript:alert(1)">bad</a><script>alert(1)</script><img src=x onerror=alert(1)>'
        '<p style="color:red">styled</p>'
    )
    assert "<h3>Tag</h3>" in html and "<strong>claim</strong>" in html and "<li>x</li>" in html
    assert '<a href="https://example.org/guide" title="Guide">guide</a>' in html
    assert "<script>" not in html
    assert "javascript:" not in html
    assert "onclick" not in html
    assert "style=" not in html
    assert "<img" not in html


def test_guidelines_are_one_click_away_in_the_workbench(alice_client, project, document):
    project.guidelines = "<p>Read <em>carefully</em>.</p><script>alert(1)</script>"
    project.save()
    html = alice_client.get(reverse("corpus:document-detail", args=[document.pk])).content.decode()
    assert '<details class="drawer" id="guidelines">' in html
    assert "<p>Read <em>carefully</em>.</p>" in html
    assert "<script>alert(1)</script>" not in html


def test_theme_shortcuts_appear_in_the_panel_and_the_help(alice_client, project, document):
    ThemeFactory(project=project, key="TRADE", name="Trade", shortcut="t")
    html = alice_client.get(reverse("corpus:document-detail", args=[document.pk])).content.decode()
    assert 'data-code="TRADE"' in html
    assert "<dt><kbd>t</kbd></dt><dd>Trade</dd>" in html


def test_member_roles_are_named_on_the_project_list(client, project, curator):
    client.force_login(curator)
    assert "You are curator here" in client.get(reverse("corpus:project-list")).content.decode()
    assert Membership.objects.get(user=curator).role == "curator"
