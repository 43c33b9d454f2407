import pytest

from annotations.models import Assignment, Span
from corpus.models import Document, Membership
from corpus.services import ImportRefused, document_create

from ..api_support import client_for, error_of, install_schema
from ..factories import AssignmentFactory, DocumentFactory, ProjectFactory, SpanFactory, StanceValueFactory

TEXT = "Moscow and Beijing signed an energy deal.\nAnalysts expect more trade."


def record(project, **overrides):
    data = {"project": project.slug, "external_id": "new-1", "text": TEXT}
    data.update(overrides)
    return data


# Reading


def test_documents_lists_only_my_projects_without_text(project, document, annotator):
    DocumentFactory(project=ProjectFactory())

    response = client_for(annotator).get("/api/documents/")

    assert response.status_code == 200
    [item] = response.json()["results"]
    assert item["id"] == document.pk and item["project"] == project.slug
    assert "text" not in item
    assert item["my_status"] == "not_started"


def test_a_document_comes_with_its_text(document, annotator):
    response = client_for(annotator).get(f"/api/documents/{document.pk}/")

    assert response.status_code == 200
    assert response.json()["text"] == document.text


def test_a_document_of_another_project_is_404(document, outsider):
    response = client_for(outsider).get(f"/api/documents/{document.pk}/")

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_anonymous_gets_401_for_documents(document):
    assert client_for().get("/api/documents/").status_code == 401
    assert client_for().get(f"/api/documents/{document.pk}/").status_code == 401


@pytest.mark.parametrize(("query", "expected"), [
    ("genre=analysis", {"a"}),
    ("outlet=TASS", {"b"}),
    ("language=ru", {"b"}),
    ("search=pipeline", {"b"}),
    ("search=ANALYSIS+yuan", {"a"}),
    ("status=not_started", {"a", "c"}),
    ("status=in_progress", {"b"}),
    ("status=done", set()),
])
def test_document_filters(project, annotator, teammate, query, expected):
    a = DocumentFactory(project=project, external_id="a", genre="analysis", outlet="Xinhua", title="Yuan analysis")
    b = DocumentFactory(project=project, external_id="b", outlet="TASS", language="ru", text="A pipeline opens.")
    DocumentFactory(project=project, external_id="c")
    AssignmentFactory(document=b, annotator=annotator, status="in_progress")
    AssignmentFactory(document=a, annotator=teammate, status="done")

    response = client_for(annotator).get(f"/api/documents/?{query}")

    assert response.status_code == 200
    assert {item["external_id"] for item in response.json()["results"]} == expected


def test_documents_filter_by_project(project, document, annotator):
    other = ProjectFactory()
    Membership.objects.create(project=other, user=annotator)
    DocumentFactory(project=other)

    response = client_for(annotator).get(f"/api/documents/?project={project.slug}")

    assert [item["id"] for item in response.json()["results"]] == [document.pk]


# Creating


def test_a_manager_creates_one_document(project, manager):
    response = client_for(manager).post("/api/documents/", record(project, outlet="TASS", published_date="2025-05-01",
                                                                    source_feed="rss"), format="json")

    assert response.status_code == 201, response.json()
    document = Document.objects.get(pk=response.json()["id"])
    assert (document.text, document.title, document.outlet) == (TEXT, "Moscow and Beijing signed an energy deal.", "TASS")
    assert str(document.published_date) == "2025-05-01"
    assert document.metadata == {"source_feed": "rss"}
    assert response.json()["text"] == TEXT
    assert document.history.filter(history_type="+").count() == 1


@pytest.mark.parametrize("who", ["annotator", "curator"])
def test_only_managers_create_documents(request, project, who):
    response = client_for(request.getfixturevalue(who)).post("/api/documents/", record(project), format="json")

    assert response.status_code == 403
    assert not Document.objects.filter(external_id="new-1").exists()


def test_creating_in_a_project_not_mine_is_refused(project, outsider):
    response = client_for(outsider).post("/api/documents/", record(project), format="json")

    assert response.status_code == 400
    assert "project" in error_of(response)["fields"]
    assert not Document.objects.exists()


def test_anonymous_cannot_create_documents(project):
    assert client_for().post("/api/documents/", record(project), format="json").status_code == 401


def test_the_same_text_again_answers_with_the_existing_document(project, manager, document):
    response = client_for(manager).post("/api/documents/", record(project, text=document.text), format="json")

    assert response.status_code == 200
    assert response.json()["id"] == document.pk
    assert Document.objects.count() == 1


def test_a_list_creates_every_document_and_reports_duplicates(project, manager, document):
    records = [
        record(project, external_id="x1", text="First text."),
        record(project, external_id="x2", text=document.text),
        {"external_id": "x3", "text": "Third text.\r\nSecond line."},
        record(project, external_id="x4", text="First text."),
    ]

    response = client_for(manager).post(f"/api/documents/?project={project.slug}", records, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["created"], body["duplicates"]) == (2, 2)
    assert [(r["index"], r["status"]) for r in body["results"]] == [
        (0, "created"), (1, "duplicate"), (2, "created"), (3, "duplicate"),
    ]
    assert body["results"][1]["id"] == document.pk
    assert body["results"][3]["id"] == body["results"][0]["id"]
    assert Document.objects.get(external_id="x3").text == "Third text.\nSecond line."
    assert Document.history.filter(external_id="x1", history_type="+").exists()


def test_one_bad_document_refuses_the_whole_list(project, manager):
    records = [record(project, external_id=f"ok-{n}", text=f"Text {n}.") for n in range(3)]
    records.insert(2, record(project, external_id="bad", text="   "))

    response = client_for(manager).post("/api/documents/", records, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert [item["index"] for item in error["items"]] == [2]
    assert "text" in error["items"][0]["fields"]
    assert not Document.objects.exists()


def test_html_records_are_reduced_to_text(project, manager):
    html = ("<html><head><title>Energy deal</title><script>alert(1)</script></head>"
            "<body><p onclick='x()'>Moscow &amp; Beijing <b>signed</b>.</p><p>Trade grew.</p></body></html>")

    response = client_for(manager).post("/api/documents/", record(project, text=html, format="html"), format="json")

    assert response.status_code == 201, response.json()
    document = Document.objects.get()
    assert document.text == "Moscow & Beijing signed.\n\nTrade grew."
    assert document.title == "Energy deal"


def test_an_external_id_used_for_other_text_is_refused(project, manager, document):
    response = client_for(manager).post(
        "/api/documents/", [record(project, external_id=document.external_id, text="Something else.")], format="json"
    )

    assert response.status_code == 400
    assert "external_id" in error_of(response)["items"][0]["fields"]
    assert Document.objects.count() == 1


def test_too_large_documents_are_refused(project, manager, settings):
    settings.LECTERN_MAX_DOCUMENT_BYTES = 100

    response = client_for(manager).post("/api/documents/", record(project, text="é" * 60), format="json")

    assert response.status_code == 400
    assert "too large" in error_of(response)["fields"]["text"][0]
    assert not Document.objects.exists()


def test_a_body_over_the_upload_limit_is_413(project, manager, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = client_for(manager).post("/api/documents/", record(project, text="x" * 2000), format="json")

    assert response.status_code == 413
    assert error_of(response)["code"] == "too_large"


@pytest.mark.parametrize("overrides", [
    {"text": ""},
    {"text": " \n "},
    {"external_id": ""},
    {"published_date": "yesterday"},
    {"metadata": ["not", "an", "object"]},
    {"url": "not a url"},
    {"external_id": "x" * 201},
])
def test_the_api_refuses_what_document_create_refuses(project, manager, overrides):
    data = record(project, **overrides)
    fields = {k: v for k, v in data.items() if k != "project"}
    with pytest.raises(ImportRefused):
        document_create(project=project, **fields)

    response = client_for(manager).post("/api/documents/", [data], format="json")

    assert response.status_code == 400
    assert set(error_of(response)["items"][0]["fields"]) & set(overrides)
    assert not Document.objects.exists()


def test_a_thousand_documents_in_one_request(project, manager):
    records = [record(project, external_id=f"bulk-{n}", text=f"Document {n}. " + "Trade grew. " * 400)
               for n in range(1000)]

    response = client_for(manager).post("/api/documents/", records, format="json")

    assert response.status_code == 201
    assert response.json()["created"] == 1000
    assert Document.objects.filter(project=project).count() == 1000
    assert Document.history.count() == 1000


# My progress


@pytest.fixture
def drafts(document, annotator):
    themes = install_schema(document.project)
    neutral = StanceValueFactory(project=document.project, key="NEUTRAL")
    complete = SpanFactory(document=document, annotator=annotator, themes=[themes["TRADE"]], stance=neutral,
                           stance_target="ties", source_reliability="C", info_credibility=2, source_type="MEDIA")
    lacking = SpanFactory(document=document, annotator=annotator, themes=[themes["TRADE"]], source_reliability="C")
    return complete, lacking


def test_done_submits_my_complete_drafts(document, annotator, drafts):
    complete, lacking = drafts
    lacking.delete()

    response = client_for(annotator).post(f"/api/documents/{document.pk}/status/", {"status": "done"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "done" and response.json()["submitted"] == 1
    complete.refresh_from_db()
    assert (complete.status, complete.version) == ("submitted", 2)
    assignment = Assignment.objects.get(document=document, annotator=annotator)
    assert assignment.status == "done" and assignment.done_at is not None
    listed = client_for(annotator).get("/api/documents/?status=done").json()["results"]
    assert [item["id"] for item in listed] == [document.pk]


def test_done_refuses_naming_drafts_that_lack_labels_and_changes_nothing(document, annotator, drafts):
    complete, lacking = drafts

    response = client_for(annotator).post(f"/api/documents/{document.pk}/status/", {"status": "done"}, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "incomplete"
    assert error["spans"] == [{"id": str(lacking.pk),
                               "missing": ["stance", "stance_target", "info_credibility", "source_type"]}]
    for span in drafts:
        span.refresh_from_db()
        assert (span.status, span.version) == ("draft", 1)
    assert not Assignment.objects.filter(document=document, annotator=annotator).exists()


def test_in_progress_reopens_but_keeps_spans_submitted(document, annotator, drafts):
    drafts[1].delete()
    client = client_for(annotator)
    client.post(f"/api/documents/{document.pk}/status/", {"status": "done"}, format="json")

    response = client.post(f"/api/documents/{document.pk}/status/", {"status": "in_progress"}, format="json")

    assert response.status_code == 200
    assignment = Assignment.objects.get(document=document, annotator=annotator)
    assert (assignment.status, assignment.done_at) == ("in_progress", None)
    drafts[0].refresh_from_db()
    assert drafts[0].status == "submitted"


def test_status_leaves_other_annotators_spans_alone(document, annotator, teammate, drafts):
    response = client_for(teammate).post(f"/api/documents/{document.pk}/status/", {"status": "done"}, format="json")

    assert response.status_code == 200
    assert Span.objects.filter(status="draft").count() == 2
    assert not Assignment.objects.filter(annotator=annotator).exists()


def test_status_refusals(document, annotator, outsider):
    url = f"/api/documents/{document.pk}/status/"

    assert client_for(annotator).post(url, {"status": "finished"}, format="json").status_code == 400
    assert client_for(outsider).post(url, {"status": "done"}, format="json").status_code == 404
    assert client_for().post(url, {"status": "done"}, format="json").status_code == 401
    assert not Assignment.objects.exists()
