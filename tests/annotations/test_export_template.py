"""The database's share of the JSONL export: each span's template and theme ids follow every write."""
import json

import pytest
from django.db import connection
from rest_framework.test import APIClient

from annotations.exports import SpanReader, escape_line_breakers, export_spans, export_stream, record
from annotations.models import Span, Theme
from annotations.services import span_update

from ..factories import DocumentFactory
from .test_exports import add, schema  # noqa: F401  (fixture)

TEXT = "Trade in yuan rose 50% as the summit met; critics disagree. Arctic route opens."


def stored_theme_codes():
    """span id -> the theme codes the database keeps beside the span, as the export writes them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, theme_codes FROM annotations_span")
        return {str(Span._meta.pk.to_python(pk)): json.loads(codes) for pk, codes in cursor.fetchall()}


def linked_theme_codes():
    """span id -> the codes of the span's themes in the span-theme table, in schema order."""
    linked = {str(pk): [] for pk in Span.objects.values_list("pk", flat=True)}
    links = Span.themes.through.objects.order_by("theme__position", "theme__code")
    for span_id, code in links.values_list("span_id", "theme__code"):
        linked[str(span_id)].append(code)
    return linked


def reference_lines(project):
    """The export as json.dumps writes each span's record, with the themes read from the link table."""
    reader = SpanReader(project, export_spans(project))
    return [
        escape_line_breakers(json.dumps(record(reader, chunk, row), ensure_ascii=False, separators=(",", ":")))
        for chunk in reader.chunks() for row in chunk.rows
    ]


def exported_lines(project):
    return b"".join(export_stream(project, "jsonl", spans=export_spans(project))).decode("utf-8").splitlines()


@pytest.fixture
def text_document(project):
    return DocumentFactory(project=project, external_id="summit-50%", text=TEXT)


def theme(project, code):
    return Theme.objects.get(project=project, code=code)


def test_theme_codes_follow_every_way_of_changing_a_spans_themes(schema, project, text_document, annotator, curator):
    first = add(text_document, annotator, "Trade in yuan", themes=["TRADE", "FINANCE.currency"])
    second = add(text_document, annotator, "critics disagree", themes=["WEST"])
    third = add(text_document, annotator, "Arctic route", themes=["ARCTIC"])
    assert stored_theme_codes() == linked_theme_codes()

    first.themes.add(theme(project, "ENERGY"))
    second.themes.remove(theme(project, "WEST"))
    third.themes.set([theme(project, "TRADE.volume"), theme(project, "ORDER")])
    assert stored_theme_codes() == linked_theme_codes()
    assert stored_theme_codes()[str(second.pk)] == []

    span_update(span=Span.objects.get(pk=first.pk), expected_version=1, themes=["WEST"])
    link = Span.themes.through
    link.objects.bulk_create([link(span_id=second.pk, theme_id=theme(project, "TRADE").pk)])
    link.objects.filter(span_id=third.pk, theme__code="ORDER").update(theme=theme(project, "ARCTIC"))
    assert stored_theme_codes() == linked_theme_codes()

    theme(project, "ARCTIC").delete()  # its links go with it
    assert stored_theme_codes() == linked_theme_codes()
    assert stored_theme_codes()[str(third.pk)] == ["TRADE.volume"]

    client = APIClient()
    client.force_authenticate(annotator)
    response = client.post("/api/spans/bulk/", {"spans": [
        {"document": text_document.pk, "start": 0, "end": 5, "text": "Trade", "themes": ["TRADE", "WEST"]},
        {"document": text_document.pk, "start": 9, "end": 13, "text": "yuan", "themes": ["FINANCE"]},
    ]}, format="json")
    assert response.status_code == 201, response.content
    assert stored_theme_codes() == linked_theme_codes()
    assert len(stored_theme_codes()) == 5
    assert stored_theme_codes()[str(first.pk)] == ["WEST"]

    west = theme(project, "WEST")  # renamed and moved first: every span with it follows
    west.key, west.position = "OCCIDENT", 0
    west.save()
    assert stored_theme_codes() == linked_theme_codes()
    assert ["OCCIDENT", "TRADE"] in stored_theme_codes().values()


def test_export_follows_edits_renames_and_deletes(schema, project, text_document, annotator, curator):
    span = add(text_document, annotator, "rose 50%", themes=["TRADE.volume", "FINANCE"], note="100% sure")
    add(text_document, annotator, "the summit", themes=["ORDER"], source_name="Wang Yi", info_credibility=2)
    assert exported_lines(project) == reference_lines(project)

    client = APIClient()
    client.force_authenticate(annotator)
    response = client.patch(f"/api/spans/{span.pk}/", {
        "version": 1, "start": TEXT.index("yuan"), "end": TEXT.index("yuan") + 4, "text": "yuan",
        "note": "edited %s", "attributed_source": {"type": "OFFICIAL"}, "themes": ["ENERGY", "TRADE"],
    }, format="json")
    assert response.status_code == 200, response.content
    Span.objects.filter(pk=span.pk).update(status="submitted")  # a write the ORM makes in SQL alone
    trade = theme(project, "TRADE")
    trade.key, trade.position = "COMMERCE", 99  # the code and the order change for every span that has it
    trade.save()
    lines = exported_lines(project)

    assert lines == reference_lines(project)
    edited = next(json.loads(line) for line in lines if json.loads(line)["id"] == str(span.pk))
    assert edited["text"] == "yuan" and edited["note"] == "edited %s" and edited["status"] == "submitted"
    assert edited["themes"] == ["ENERGY", "COMMERCE"]
    assert edited["attributed_source"]["type"] == "OFFICIAL"
    assert edited["document_external_id"] == "summit-50%"

    Span.objects.filter(pk=span.pk).delete()
    assert [json.loads(line)["id"] for line in exported_lines(project)] == [
        json.loads(line)["id"] for line in reference_lines(project)
    ]
    assert len(exported_lines(project)) == 1


@pytest.mark.parametrize("gap_allowance", [64, 0])
def test_export_names_former_members_and_documents_far_apart(
    schema, project, text_document, annotator, teammate, monkeypatch, gap_allowance
):
    from annotations import exports
    from corpus.models import Membership

    from ..factories import ProjectFactory

    monkeypatch.setattr(exports, "ID_GAP_ALLOWANCE", gap_allowance)
    elsewhere = ProjectFactory()
    for _ in range(10):
        DocumentFactory(project=elsewhere)  # ids between this project's documents, more than 4 a document
    later = DocumentFactory(project=project, external_id="later\u2028one", text="Later text about trade.")
    add(text_document, annotator, "Trade in yuan", themes=["TRADE"])
    add(later, teammate, "trade", themes=["WEST", "TRADE"])
    Membership.objects.filter(project=project, user=teammate).delete()  # the span stays, its author left

    lines = exported_lines(project)

    assert lines == reference_lines(project)
    records = [json.loads(line) for line in lines]
    assert [r["annotator"] for r in records] == ["alice", "bob"]
    assert records[1]["document_external_id"] == "later\u2028one" and "\u2028" not in lines[1]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first_window, chunk_size", [(32, 3), (1, 2), (3, 4)])
def test_an_export_outside_a_transaction_gives_the_same_lines_in_many_small_chunks(
    schema, project, text_document, annotator, curator, monkeypatch, first_window, chunk_size
):
    """Committed data, as a served export reads it: on PostgreSQL blocks of documents are then read in parallel."""
    from annotations import exports

    read_ahead = []
    real_submit = exports._ReadAhead.submit
    monkeypatch.setattr(exports._ReadAhead, "submit", lambda self, *a: read_ahead.append(a) or real_submit(self, *a))
    monkeypatch.setattr(exports, "FIRST_WINDOW", first_window)
    others = [DocumentFactory(project=project, text=f"Trade talk {n}: yuan and rouble, trade.") for n in range(12)]
    for n, document in enumerate([text_document, *others]):
        # Documents with no span, one, and up to five, so that blocks end inside and between documents.
        for k in range(n % 6):
            add(document, annotator if k % 2 else curator, "Trade", themes=["TRADE"], occurrence=0)
        if n % 3 == 0:
            add(document, annotator, "yuan" if n else "yuan rose 50%", themes=["FINANCE.currency"])
    gold = add(text_document, curator, "Arctic route", themes=["ARCTIC"], status="gold")
    Span.objects.filter(pk=gold.pk).update(provenance={"method": "edit", "source_ids": []})

    spans = Span.objects.all()
    written = b"".join(export_stream(project, "jsonl", spans=spans, chunk_size=chunk_size)).decode("utf-8")

    reader = SpanReader(project, spans)
    expected = [
        escape_line_breakers(json.dumps(record(reader, chunk, row), ensure_ascii=False, separators=(",", ":")))
        for chunk in reader.chunks() for row in chunk.rows
    ]
    assert written.splitlines() == expected and len(expected) == Span.objects.count() == 36
    assert bool(read_ahead) == (connection.vendor == "postgresql")
