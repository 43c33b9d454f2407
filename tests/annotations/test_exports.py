import csv
import io
import json
import re
from datetime import UTC, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from annotations.exports import (
    CSV_FIELDS,
    JSONL_FIELDS,
    SpanReader,
    escape_line_breakers,
    export_spans,
    export_stream,
    record,
)
from annotations.models import Span, StanceValue
from annotations.schema import schema_install_default
from annotations.services import span_create
from corpus.models import Membership

from ..factories import DocumentFactory, MembershipFactory, UserFactory

# Code points and UTF-16 units part ways after U+1F91D and U+20000.
WORLD = "中俄🤝合作 BRICS 𠀀 trade in yuan rose; =SUM(A1) said critics. Ende."
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def api(user=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def export(user, project, **params):
    params.setdefault("format", "jsonl")
    return api(user).get(f"/api/projects/{project.slug}/export/", params)


def content(response):
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode("utf-8")


def jsonl(response):
    return [json.loads(line) for line in content(response).splitlines()]


def add(document, annotator, quote, *, occurrence=0, themes=("TRADE.volume",), **labels):
    """A span over the given quote of the document, through the same service the API uses."""
    start = -1
    for _ in range(occurrence + 1):
        start = document.text.index(quote, start + 1)
    if labels.get("stance"):
        labels["stance"] = StanceValue.objects.get(project=document.project, key=labels["stance"])
    return span_create(document=document, annotator=annotator, start=start, end=start + len(quote), text=quote,
                       themes=list(themes), **labels)


@pytest.fixture
def schema(project):
    schema_install_default(project)


@pytest.fixture
def world(project):
    return DocumentFactory(project=project, external_id="world-01", text=WORLD)


@pytest.fixture
def spans(schema, document, world, annotator, teammate, curator):
    return [
        add(document, annotator, "trade in yuan rose", themes=["FINANCE.currency", "TRADE"], stance="NEUTRAL",
            source_reliability="F", info_credibility=2, source_type="ANONYMOUS", source_name="analysts",
            claim_type="FACTUAL", note="=HYPERLINK(\"http://evil.example\",\"x\")", status="submitted"),
        add(document, teammate, "Critics disagree", themes=["WEST"], stance="AGAINST", source_type="MEDIA",
            source_name="@SUM(1)", source_via="-wire"),
        add(world, annotator, "🤝合作", themes=["PARTNERSHIP.framework"], stance="FAVOR"),
        add(world, annotator, "trade in yuan rose", themes=["TRADE.volume"], info_credibility=3),
        add(world, teammate, "𠀀 trade", themes=["TRADE"]),
    ]


@pytest.fixture
def gold(schema, document, curator):
    span = add(document, curator, "trade in yuan rose", themes=["FINANCE.currency"], stance="NEUTRAL",
               source_reliability="C", info_credibility=2, source_type="OFFICIAL", status="gold")
    Span.objects.filter(pk=span.pk).update(provenance={"method": "pick", "source_ids": [], "votes": 2})
    return span


def test_jsonl_export_is_the_canonical_record(spans, curator, document):
    response = export(curator, document.project)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert re.fullmatch(
        rf'attachment; filename="lectern-{document.project.slug}-spans-\d{{8}}T\d{{6}}\.jsonl"',
        response["Content-Disposition"],
    )
    records = jsonl(response)
    assert len(records) == 5
    first = records[0]
    assert list(first) == list(JSONL_FIELDS)
    span = spans[0]
    assert first == {
        "schema_version": "1.0", "id": str(span.pk), "document_id": document.pk,
        "document_external_id": document.external_id, "text_sha256": document.text_sha256, "start": 13,
        "end": 31, "text": "trade in yuan rose", "prefix": "Analysts say ", "suffix": ". Critics disagree.",
        "themes": ["TRADE", "FINANCE.currency"], "stance": "NEUTRAL",
        "stance_target": document.project.stance_target, "source_reliability": "F", "info_credibility": 2,
        "attributed_source": {"type": "ANONYMOUS", "name": "analysts", "affiliation": None, "via": None},
        "claim_type": "FACTUAL", "note": "=HYPERLINK(\"http://evil.example\",\"x\")", "annotator": "alice",
        "status": "submitted", "created_at": first["created_at"], "updated_at": first["updated_at"],
    }
    assert STAMP.match(first["created_at"]) and STAMP.match(first["updated_at"])
    assert first["updated_at"] == span.updated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    nulls = records[2]
    assert nulls["stance"] == "FAVOR" and nulls["info_credibility"] is None and nulls["source_reliability"] == ""
    assert nulls["attributed_source"] == {"type": None, "name": None, "affiliation": None, "via": None}


def test_spans_come_in_document_and_offset_order(spans, curator, document, world):
    records = jsonl(export(curator, document.project))

    keys = [(r["document_id"], r["start"], r["end"], r["id"]) for r in records]
    assert keys == sorted(keys)
    assert [r["document_id"] for r in records] == [document.pk] * 2 + [world.pk] * 3


def test_offsets_are_code_points_in_every_format(spans, curator, world):
    project = world.project

    for item in jsonl(export(curator, project, document=world.pk)):
        assert WORLD[item["start"]:item["end"]] == item["text"]
        assert item["prefix"] == WORLD[max(0, item["start"] - 32):item["start"]]
    hug = next(r for r in jsonl(export(curator, project)) if r["text"] == "🤝合作")
    assert (hug["start"], hug["end"]) == (2, 5)  # UTF-16 would say (2, 6)

    rows = list(csv.DictReader(io.StringIO(content(export(curator, project, format="csv", document=world.pk)))))
    assert rows and all(WORLD[int(r["start"]):int(r["end"])] == r["text"].removeprefix("'") for r in rows)

    collection = json.loads(content(export(curator, project, format="webannotation", document=world.pk)))
    for item in collection["first"]["items"]:
        position, quote = item["target"]["selector"]
        assert WORLD[position["start"]:position["end"]] == quote["exact"]

    for line in content(export(curator, project, format="doccano", document=world.pk)).splitlines():
        entry = json.loads(line)
        assert entry["text"] == WORLD
        assert all(WORLD[start:end] for start, end, _ in entry["label"])
    labels = [json.loads(line) for line in content(export(curator, project, format="doccano")).splitlines()]
    hug_labels = [label for entry in labels for label in entry["label"] if label[2] == "THEME:PARTNERSHIP.framework"]
    assert hug_labels == [[2, 5, "THEME:PARTNERSHIP.framework"]]


def test_csv_export_parses_back_and_neutralises_formulas(spans, curator, document):
    response = export(curator, document.project, format="csv")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].endswith('.csv"')
    text = content(response)
    assert text.endswith("\r\n") and "\r\n" in text
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == CSV_FIELDS
    by_text = {row[7]: dict(zip(CSV_FIELDS, row)) for row in rows[1:] if row[2] == str(document.pk)}
    first = by_text["trade in yuan rose"]
    assert first["themes"] == "TRADE|FINANCE.currency"
    assert first["note"] == "'=HYPERLINK(\"http://evil.example\",\"x\")"
    assert (first["source_type"], first["source_name"], first["admiralty"]) == ("ANONYMOUS", "analysts", "F2")
    assert (first["start"], first["end"], first["info_credibility"]) == ("13", "31", "2")
    assert first["document_id"] == str(document.pk)
    critics = by_text["Critics disagree"]
    assert critics["source_name"] == "'@SUM(1)"
    assert critics["source_via"] == "'-wire"
    assert critics["source_affiliation"] == "" and critics["admiralty"] == "" and critics["info_credibility"] == ""
    for row in rows[1:]:
        for name, value in zip(CSV_FIELDS, row):
            if name not in {"start", "end", "document_id", "info_credibility"}:
                assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (name, value)


def test_web_annotation_export_is_a_collection_of_annotations(spans, curator, document):
    response = export(curator, document.project, format="webannotation")

    assert response["Content-Type"] == 'application/ld+json;profile="http://www.w3.org/ns/anno.jsonld"'
    assert response["Content-Disposition"].endswith('.jsonld"')
    collection = json.loads(content(response))
    assert collection["@context"] == "http://www.w3.org/ns/anno.jsonld"
    assert collection["type"] == "AnnotationCollection"
    assert collection["id"].startswith(f"http://testserver/api/projects/{document.project.slug}/export/")
    assert collection["total"] == 5
    page = collection["first"]
    assert page["type"] == "AnnotationPage" and len(page["items"]) == 5
    for item in page["items"]:
        assert item["id"].startswith("urn:uuid:") and item["type"] == "Annotation"
        assert item["motivation"] == "classifying"
        assert item["body"] and all(body["type"] == "TextualBody" for body in item["body"])
        assert [s["type"] for s in item["target"]["selector"]] == ["TextPositionSelector", "TextQuoteSelector"]
    first = page["items"][0]
    assert first["id"] == f"urn:uuid:{spans[0].pk}"
    assert first["creator"] == {"type": "Person", "nickname": "alice"}
    assert STAMP.match(first["created"]) and STAMP.match(first["modified"])
    assert [(b["purpose"], b["value"]) for b in first["body"]] == [
        ("classifying", "theme:TRADE"), ("classifying", "theme:FINANCE.currency"), ("assessing", "stance:NEUTRAL"),
        ("assessing", "admiralty:F2"), ("describing", "source:ANONYMOUS analysts"),
    ]
    assert first["target"]["source"] == f"http://testserver/documents/{document.pk}/"
    assert first["target"]["selector"][1] == {
        "type": "TextQuoteSelector", "exact": "trade in yuan rose", "prefix": "Analysts say ",
        "suffix": ". Critics disagree.",
    }


def test_empty_web_annotation_export_is_valid_json(schema, curator, project):
    collection = json.loads(content(export(curator, project, format="webannotation")))

    assert collection["total"] == 0 and collection["first"]["items"] == []


def test_doccano_export_has_a_line_per_document_and_annotator(spans, curator, document, world):
    response = export(curator, document.project, format="doccano")

    assert response["Content-Type"] == "application/x-ndjson"
    assert response["Content-Disposition"].endswith('.doccano.jsonl"')
    lines = [json.loads(line) for line in content(response).splitlines()]
    assert [(line["document_external_id"], line["annotator"]) for line in lines] == [
        (document.external_id, "alice"), (document.external_id, "bob"), ("world-01", "alice"), ("world-01", "bob"),
    ]
    first = lines[0]
    assert first["id"] == document.pk and first["text"] == document.text
    assert first["label"] == [[13, 31, "THEME:TRADE"], [13, 31, "THEME:FINANCE.currency"], [13, 31, "STANCE:NEUTRAL"]]


def test_fast_jsonl_matches_json_dumps_of_the_record(schema, project, document, annotator, curator):
    awkward = DocumentFactory(project=project, text='Quote "marks" \\ back\tslash\u2028 line\nnew 🤝 \x01 end 50%s %%')
    add(awkward, annotator, '"marks" \\ back\tslash\u2028', themes=["TRADE", "TRADE.volume", "WEST.eu"],
        source_type="OFFICIAL", source_name="Wang \"Yi\" 100%", source_affiliation="MFA", source_via="Xinhua\n",
        note="multi\nline 🤝 \x01 %s", stance_target="ünïcode target", claim_type="EVALUATIVE")
    add(awkward, annotator, "end 50%s %%", themes=["WEST.eu", "TRADE"])
    add(awkward, annotator, "new 🤝 \x01", themes=["ARCTIC"], source_name="nameless")
    gold = add(document, curator, "Analysts", themes=["TRADE"], status="gold")
    Span.objects.filter(pk=gold.pk).update(provenance={"method": "edit", "source_ids": ["a"], "note": "ü"})
    spans = Span.objects.all()
    reader = SpanReader(project, spans)

    expected = []
    for chunk in reader.chunks():
        expected.extend(
            escape_line_breakers(json.dumps(record(reader, chunk, row), ensure_ascii=False, separators=(",", ":")))
            for row in chunk.rows
        )
    written = b"".join(export_stream(project, "jsonl", spans=spans)).decode("utf-8").split("\n")

    assert written[-1] == "" and written[:-1] == expected
    assert len(expected) == 4
    golden = [json.loads(line) for line in expected if '"status":"gold"' in line]
    assert golden[0]["provenance"] == {"method": "edit", "source_ids": ["a"], "note": "ü"}


def test_jsonl_keeps_non_ascii_text_as_utf8(spans, curator, world):
    body = b"".join(export(curator, world.project, document=world.pk).streaming_content)

    assert "🤝合作".encode("utf-8") in body and b"\\u" not in body


@pytest.mark.parametrize("fmt", ["jsonl", "doccano"])
def test_line_formats_keep_each_record_on_one_line_for_any_line_reader(schema, project, curator, fmt):
    text = "One\x85two\u2028three\u2029four."
    document = DocumentFactory(project=project, text=text)
    add(document, curator, text[:-1], note="a\u2028b")

    body = content(export(curator, project, format=fmt))

    assert len(body.splitlines()) == 1
    parsed = json.loads(body)
    assert (parsed["text"], parsed.get("note", "a\u2028b")) == (text if fmt == "doccano" else text[:-1], "a\u2028b")


def test_gold_spans_are_exported_only_on_request(spans, gold, curator, document):
    layers = jsonl(export(curator, document.project))
    golden = jsonl(export(curator, document.project, gold="true"))

    assert gold.pk not in {r["id"] for r in layers} and len(layers) == 5
    assert [r["id"] for r in golden] == [str(gold.pk)]
    assert golden[0]["annotator"] == "curator:carol" and golden[0]["status"] == "gold"
    assert golden[0]["provenance"] == {"method": "pick", "source_ids": [], "votes": 2}
    assert len(jsonl(export(curator, document.project, gold="false"))) == 5
    response = export(curator, document.project, gold="true", format="csv")
    assert 'filename="lectern-' in response["Content-Disposition"] and "-gold-" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(content(response))))
    assert [r["annotator"] for r in rows] == ["curator:carol"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"annotator": "bob"}, {"Critics disagree", "𠀀 trade"}),
        ({"theme": "TRADE"}, {"trade in yuan rose", "𠀀 trade"}),  # the top-level code matches TRADE.volume too
        ({"theme": "FINANCE.currency"}, {"trade in yuan rose"}),
        ({"theme": "PARTNERSHIP"}, {"🤝合作"}),
        ({"stance": "AGAINST"}, {"Critics disagree"}),
        ({"source_reliability": "F"}, {"trade in yuan rose"}),
        ({"info_credibility": "3"}, {"trade in yuan rose"}),
        ({"status": "submitted"}, {"trade in yuan rose"}),
        ({"status": "rejected"}, set()),
        ({"annotator": "bob", "theme": "WEST"}, {"Critics disagree"}),
    ],
)
def test_export_filters_like_the_span_list(spans, curator, document, params, expected):
    records = jsonl(export(curator, document.project, **params))

    assert {r["text"] for r in records} == expected
    if params == {"theme": "TRADE"}:
        assert len(records) == 3


def test_document_filter_exports_one_document(spans, curator, document, world):
    records = jsonl(export(curator, document.project, document=world.pk))

    assert {r["document_id"] for r in records} == {world.pk} and len(records) == 3


def test_updated_since_returns_exactly_the_changed_spans(spans, curator, document):
    cutoff = timezone.now()
    later = cutoff + timedelta(seconds=5)
    changed = [spans[1].pk, spans[3].pk]
    Span.objects.filter(pk__in=changed).update(updated_at=later)
    Span.objects.exclude(pk__in=changed).update(updated_at=cutoff - timedelta(hours=1))

    records = jsonl(export(curator, document.project, updated_since=cutoff.isoformat()))

    assert {r["id"] for r in records} == {str(pk) for pk in changed}
    assert {r["updated_at"] for r in records} == {later.strftime("%Y-%m-%dT%H:%M:%SZ")}
    z_form = cutoff.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert len(jsonl(export(curator, document.project, updated_since=z_form))) == 2
    assert jsonl(export(curator, document.project, updated_since=later.isoformat())) == []
    unencoded = cutoff.astimezone(UTC).isoformat()  # "...+00:00", whose "+" a query string reads as a space
    response = api(curator).get(f"/api/projects/{document.project.slug}/export/?updated_since={unencoded}")
    assert len(jsonl(response)) == 2


def test_annotators_export_only_their_own_spans(spans, annotator, teammate, manager, document):
    mine = jsonl(export(annotator, document.project))
    theirs = jsonl(export(teammate, document.project, annotator="alice"))

    assert {r["annotator"] for r in mine} == {"alice"} and len(mine) == 3
    assert theirs == []
    assert len(jsonl(export(manager, document.project))) == 5


def test_outsider_gets_not_found_and_anonymous_unauthorised(spans, outsider, document):
    assert export(outsider, document.project).status_code == 404
    response = export(None, document.project)
    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401


def test_export_refuses_unknown_format_and_malformed_filters(spans, curator, document):
    response = export(curator, document.project, format="xml")
    assert response.status_code == 400
    assert "format" in response.json()["error"]["fields"]

    response = export(curator, document.project, updated_since="yesterday", info_credibility="9", gold="maybe")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"updated_since", "info_credibility", "gold"}


def make_spans(document, annotator, themes, count):
    """count spans by direct inserts: the query-count test needs hundreds, and only reads them."""
    text = document.text
    objs = [
        Span(document=document, annotator=annotator, start=i % 20, end=i % 20 + 5, text=text[i % 20:i % 20 + 5],
             stance_target="t", status="submitted" if i % 2 else "draft")
        for i in range(count)
    ]
    Span.objects.bulk_create(objs)
    through = Span.themes.through
    through.objects.bulk_create(
        [through(span_id=span.pk, theme_id=theme.pk) for span in objs for theme in themes[: 1 + span.start % 3]]
    )


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "webannotation", "doccano"])
def test_query_count_does_not_grow_with_the_number_of_spans(schema, project, curator, annotator, teammate, fmt,
                                                            django_assert_max_num_queries):
    from annotations.models import Theme

    themes = list(Theme.objects.filter(project=project)[:3])
    documents = [DocumentFactory(project=project) for _ in range(2)]

    def queries(count):
        Span.objects.all().delete()
        for i, document in enumerate(documents):
            make_spans(document, annotator if i else teammate, themes, count // 2)
        with CaptureQueriesContext(connection) as captured:
            body = content(export(curator, project, format=fmt))
        assert body
        return len(captured.captured_queries)

    small, large = queries(50), queries(500)

    assert small == large
    with django_assert_max_num_queries(small):
        content(export(curator, project, format=fmt))


def test_queries_per_chunk_are_bounded(schema, project, annotator):
    from annotations.models import Theme

    themes = list(Theme.objects.filter(project=project)[:3])
    documents = [DocumentFactory(project=project) for _ in range(3)]
    for document in documents:
        make_spans(document, annotator, themes, 170)

    with CaptureQueriesContext(connection) as captured:
        lines = b"".join(export_stream(project, "jsonl", spans=export_spans(project), chunk_size=50)).splitlines()

    assert len(lines) == 510
    ids = [json.loads(line)["id"] for line in lines]
    assert len(set(ids)) == 510  # keyset paging neither skips nor repeats
    chunks = -(-510 // 50)
    assert len(captured.captured_queries) <= 4 * chunks + 6


@pytest.mark.parametrize("annotator_only", [False, True])
def test_windows_over_uneven_documents_read_every_span_once_in_order(
    schema, project, annotator, teammate, monkeypatch, annotator_only
):
    from annotations import exports
    from annotations.models import Theme

    monkeypatch.setattr(exports, "DOCUMENT_PAGE", 4)
    monkeypatch.setattr(exports, "FIRST_WINDOW", 2)
    monkeypatch.setattr(exports, "MAX_WINDOW", 5)
    themes = list(Theme.objects.filter(project=project)[:2])
    for i, count in enumerate([3, 0, 0, 30, 1, 0, 7, 7, 0, 0, 0, 2, 12, 0, 1]):
        document = DocumentFactory(project=project)
        if count:
            make_spans(document, annotator if i % 3 else teammate, themes, count)
    spans = export_spans(project, filters={"annotator": "bob"} if annotator_only else {})
    expected = [str(pk) for pk in spans.order_by("document_id", "start", "end", "id").values_list("pk", flat=True)]

    lines = b"".join(export_stream(project, "jsonl", spans=spans, chunk_size=7)).splitlines()

    assert [json.loads(line)["id"] for line in lines] == expected
    assert len(expected) == (52 if annotator_only else 63)


def test_export_streams_rather_than_building_the_body(spans, curator, document):
    response = export(curator, document.project)

    assert isinstance(response, StreamingHttpResponse)
    assert response.streaming


def test_export_command_writes_the_same_records(spans, gold, document, tmp_path):
    target = tmp_path / "spans.jsonl"

    call_command("export_spans", document.project.slug, "--output", str(target), "--theme", "TRADE")
    out = io.StringIO()
    call_command("export_spans", document.project.slug, "--format", "csv", "--gold", stdout=out)

    records = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert {r["text"] for r in records} == {"trade in yuan rose", "𠀀 trade"} and len(records) == 3
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["id"] for r in rows] == [str(gold.pk)]


def test_export_command_refuses_bad_filters(spans, document):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="info-credibility"):
        call_command("export_spans", document.project.slug, "--info-credibility", "seven", stdout=io.StringIO())


def test_curator_of_another_project_cannot_export_this_one(spans, document):
    stranger = UserFactory(username="dave")
    MembershipFactory(user=stranger, role=Membership.Role.CURATOR)

    assert export(stranger, document.project).status_code == 404
