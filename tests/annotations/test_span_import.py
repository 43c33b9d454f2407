import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from annotations.exports import export_spans, export_stream
from annotations.imports import spans_import
from annotations.models import Span, StanceValue
from annotations.schema import schema_install_default
from annotations.services import span_create, span_restore
from corpus.models import Membership

from ..factories import DocumentFactory, MembershipFactory, ProjectFactory, UserFactory

WORLD = "中俄🤝合作 BRICS 𠀀 trade in yuan rose; critics disagree. Ende."
VOLATILE = ("document_id", "created_at", "updated_at")


def api(user=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def jsonl_of(project):
    """The project's canonical JSONL export, annotator layers then gold."""
    lines = []
    for gold in (False, True):
        blocks = export_stream(project, "jsonl", spans=export_spans(project, filters={"gold": gold}))
        lines.extend(b"".join(blocks).decode("utf-8").splitlines())
    return lines


def comparable(lines, *, drop=VOLATILE):
    """Records without the fields that differ between copies; spans at the same offsets come in id
    order, and copies get new ids, so the records are compared as a sorted list."""
    records = [{k: v for k, v in json.loads(line).items() if k not in drop} for line in lines]
    return sorted(records, key=lambda r: json.dumps(r, sort_keys=True))


def add(document, annotator, quote, *, themes=("TRADE.volume",), stance=None, **labels):
    start = document.text.index(quote)
    if stance:
        labels["stance"] = StanceValue.objects.get(project=document.project, key=stance)
    return span_create(document=document, annotator=annotator, start=start, end=start + len(quote), text=quote,
                       themes=list(themes), **labels)


@pytest.fixture
def source(project, document, annotator, teammate, curator, manager):
    """The fixture project with the default schema, two documents and spans of every kind."""
    schema_install_default(project)
    world = DocumentFactory(project=project, external_id="world-01", text=WORLD)
    add(document, annotator, "trade in yuan rose", themes=["FINANCE.currency", "TRADE"], stance="NEUTRAL",
        source_reliability="F", info_credibility=2, source_type="ANONYMOUS", source_name="analysts",
        claim_type="FACTUAL", note="=1+1", status="submitted")
    add(document, teammate, "Critics disagree", themes=["WEST"], stance="AGAINST", source_via="wire")
    add(world, annotator, "🤝合作", themes=["PARTNERSHIP.framework"], stance="FAVOR", stance_target="other")
    add(world, teammate, "𠀀 trade", themes=["TRADE"], status="rejected")
    gold = add(document, curator, "trade in yuan rose", themes=["FINANCE.currency"], stance="NEUTRAL",
               status="gold")
    Span.objects.filter(pk=gold.pk).update(provenance={"method": "pick", "source_ids": [], "votes": 2})
    return project


@pytest.fixture
def target(source):
    """Another project with the same documents, schema and people."""
    project = ProjectFactory(name="Replica")
    schema_install_default(project)
    for document in source.documents.all():
        DocumentFactory(project=project, external_id=document.external_id, text=document.text)
    for membership in source.memberships.all():
        MembershipFactory(project=project, user=membership.user, role=membership.role)
    return project


def test_export_import_export_gives_the_same_spans_and_labels(source, target):
    exported = jsonl_of(source)

    report = spans_import(project=target, lines=exported)

    assert report.ok, report.errors
    assert (report.imported, report.unchanged) == (5, 0)
    again = jsonl_of(target)
    # Same database: the source still holds the original ids, so the copies get derived ones.
    assert comparable(again, drop=VOLATILE + ("id",)) == comparable(exported, drop=VOLATILE + ("id",))
    assert {json.loads(line)["document_id"] for line in again} <= set(target.documents.values_list("pk", flat=True))


def test_import_keeps_ids_that_are_free(source):
    exported = jsonl_of(source)
    Span.objects.all().delete()

    report = spans_import(project=source, lines=exported)

    assert report.ok and report.imported == 5
    assert comparable(jsonl_of(source), drop=("created_at", "updated_at")) == comparable(
        exported, drop=("created_at", "updated_at")
    )


def test_reimporting_the_same_file_changes_nothing(source, target):
    exported = jsonl_of(source)
    spans_import(project=target, lines=exported)
    history = Span.history.count()

    report = spans_import(project=target, lines=exported)

    assert report.ok and (report.imported, report.unchanged) == (0, 5)
    assert Span.objects.filter(document__project=target).count() == 5
    assert Span.history.count() == history
    assert spans_import(project=source, lines=exported).unchanged == 5


def test_imported_spans_have_history_with_their_themes(source, target, manager):
    spans_import(project=target, lines=jsonl_of(source), user=manager)
    span = Span.objects.get(document__project=target, text="trade in yuan rose", status="submitted")
    record = span.history.get()

    assert record.history_type == "+" and record.history_user == manager
    assert sorted(link.theme.code for link in record.themes.all()) == ["FINANCE.currency", "TRADE"]
    pk = span.pk
    span.delete()
    restored = span_restore(historical_span=Span.history.get(id=pk, history_type="-"))
    assert sorted(t.code for t in restored.themes.all()) == ["FINANCE.currency", "TRADE"]


def test_gold_lines_belong_to_the_curator(source, target, curator):
    spans_import(project=target, lines=jsonl_of(source))
    gold = Span.objects.get(document__project=target, status="gold")

    assert gold.annotator == curator
    assert gold.provenance == {"method": "pick", "source_ids": [], "votes": 2}


def lines_with(source, index, **changes):
    lines = jsonl_of(source)
    record = json.loads(lines[index])
    for key, value in changes.items():
        if value is KeyError:
            record.pop(key)
        else:
            record[key] = value
    lines[index] = json.dumps(record, ensure_ascii=False)
    return lines


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"end": 10_000}, "outside the text"),
        ({"start": -1}, "outside the text"),
        ({"start": 20, "end": 20}, "cannot be empty"),
        ({"text": "trade in yuan ROSE"}, "is not the text at"),
        ({"themes": ["TRADE", "NOPE.x"]}, "unknown theme(s) in"),
        ({"themes": []}, "at least one theme"),
        ({"stance": "MAYBE"}, "unknown stance"),
        ({"document_external_id": "missing-doc"}, "unknown document 'missing-doc'"),
        ({"text_sha256": "0" * 64}, "text_sha256 differs"),
        ({"annotator": "nobody"}, "unknown annotator 'nobody'"),
        ({"annotator": "charlie"}, "not a member"),
        ({"annotator": "curator:carol"}, "gold spans, and only they"),
        ({"source_reliability": "Z"}, "source_reliability 'Z'"),
        ({"info_credibility": 9}, "info_credibility 9"),
        ({"info_credibility": "2"}, "info_credibility must be a whole number"),
        ({"start": "13"}, "start must be a whole number"),
        ({"status": "archived"}, "status 'archived'"),
        ({"id": "not-a-uuid"}, "is not a UUID"),
        ({"schema_version": "2.0"}, "schema_version"),
        ({"attributed_source": "analysts"}, "attributed_source must be an object"),
        ({"stance": None}, "a submitted span needs stance"),
        ({"document_external_id": KeyError}, "document_external_id is missing"),
    ],
)
def test_a_bad_line_is_refused_and_nothing_is_stored(source, target, outsider, changes, reason):
    lines = lines_with(source, 0, **changes)
    before = (Span.objects.count(), Span.history.count())

    report = spans_import(project=target, lines=lines)

    assert not report.ok
    assert [number for number, _ in report.errors] == [1]
    assert reason in report.errors[0][1]
    assert (report.imported, report.unchanged) == (0, 0)
    assert (Span.objects.count(), Span.history.count()) == before


def test_every_bad_line_is_reported(source, target):
    lines = jsonl_of(source)
    lines[1] = lines[1][:-5]
    lines.insert(3, "[1, 2]")
    lines.append(lines[0])
    lines.append(b"\xff\xfe not utf-8")
    lines.append("   ")

    report = spans_import(project=target, lines=lines)

    assert [number for number, _ in report.errors] == [2, 4, 7, 8]
    messages = dict(report.errors)
    assert messages[2].startswith("broken JSON")
    assert messages[4] == "each line must be a JSON object (one span)"
    assert "appears again (first on line 1)" in messages[7]
    assert messages[8].startswith("not UTF-8")
    assert Span.objects.filter(document__project=target).count() == 0


def test_a_stored_span_that_differs_is_not_overwritten(source):
    lines = jsonl_of(source)
    Span.objects.filter(text="Critics disagree").update(note="changed since the export")

    report = spans_import(project=source, lines=lines)

    assert not report.ok
    (number, message), = report.errors
    assert json.loads(lines[number - 1])["text"] == "Critics disagree"
    assert "already exists in this project with different note" in message
    assert Span.objects.get(text="Critics disagree").note == "changed since the export"


def test_errors_in_a_later_chunk_undo_the_earlier_chunks(source, target):
    lines = jsonl_of(source)
    lines[-1] = lines[-1].replace('"start":', '"start":-5,"ignored":')

    report = spans_import(project=target, lines=lines, chunk_lines=2)

    assert [number for number, _ in report.errors] == [len(lines)]
    assert Span.objects.filter(document__project=target).count() == 0


def test_dry_run_reports_without_storing(source, target):
    report = spans_import(project=target, lines=jsonl_of(source), dry_run=True)

    assert report.ok and report.imported == 5 and report.dry_run
    assert Span.objects.filter(document__project=target).count() == 0


def test_import_costs_a_few_queries_per_chunk(source, target, django_assert_max_num_queries):
    lines = jsonl_of(source)
    with django_assert_max_num_queries(20):
        report = spans_import(project=target, lines=lines * 1)
    assert report.imported == 5
    # Twenty times as many lines (as unchanged re-imports) in one chunk: the same queries.
    with django_assert_max_num_queries(12):
        assert spans_import(project=target, lines=lines * 20).ok is False  # repeated ids are refused
    with django_assert_max_num_queries(12):
        assert spans_import(project=target, lines=lines).unchanged == 5


# The endpoint -------------------------------------------------------------------------------


def post_jsonl(user, project, lines, **params):
    body = ("\n".join(lines) + "\n").encode("utf-8")
    query = "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""
    return api(user).generic("POST", f"/api/projects/{project.slug}/import-spans/{query}", body,
                             content_type="application/x-ndjson")


def test_manager_imports_a_raw_jsonl_body(source, target, manager):
    response = post_jsonl(manager, target, jsonl_of(source))

    assert response.status_code == 200, response.json()
    assert response.json() == {"imported": 5, "unchanged": 0, "dry_run": False}
    assert Span.objects.filter(document__project=target).count() == 5


def test_manager_imports_a_multipart_file(source, target, manager):
    upload = SimpleUploadedFile("spans.jsonl", ("\n".join(jsonl_of(source)) + "\n").encode("utf-8"))

    response = api(manager).post(f"/api/projects/{target.slug}/import-spans/", {"file": upload}, format="multipart")

    assert response.status_code == 200, response.json()
    assert response.json()["imported"] == 5


def test_import_endpoint_answers_bad_lines_in_the_shared_error_shape(source, target, manager):
    lines = lines_with(source, 2, themes=["NOPE"])
    lines[3] = "{not json"

    response = post_jsonl(manager, target, lines)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == 400 and error["code"] == "invalid"
    assert error["message"] == "2 line(s) refused; nothing was imported."
    assert [item["line"] for item in error["items"]] == [3, 4]
    assert "unknown theme(s)" in error["items"][0]["message"]
    assert error["items"][1]["message"].startswith("broken JSON")
    assert Span.objects.filter(document__project=target).count() == 0


def test_import_endpoint_dry_run(source, target, manager):
    response = post_jsonl(manager, target, jsonl_of(source), dry_run="true")

    assert response.json() == {"imported": 5, "unchanged": 0, "dry_run": True}
    assert Span.objects.filter(document__project=target).count() == 0


def test_only_managers_may_import(source, target, annotator, curator, outsider):
    lines = jsonl_of(source)

    assert post_jsonl(annotator, target, lines).status_code == 403
    assert post_jsonl(curator, target, lines).status_code == 403
    assert post_jsonl(outsider, target, lines).status_code == 404
    assert post_jsonl(None, target, lines).status_code == 401
    assert Span.objects.filter(document__project=target).count() == 0


def test_multipart_without_a_file_is_refused(target, manager):
    response = api(manager).post(f"/api/projects/{target.slug}/import-spans/", {"other": "x"}, format="multipart")

    assert response.status_code == 400
    assert "file" in response.json()["error"]["fields"]


# The command --------------------------------------------------------------------------------


def test_import_command_imports_and_dry_runs(source, target, tmp_path):
    path = tmp_path / "spans.jsonl"
    path.write_text("\n".join(jsonl_of(source)) + "\n", encoding="utf-8")
    out = io.StringIO()

    call_command("import_spans", target.slug, str(path), "--dry-run", stdout=out)
    assert "5 span(s) would be imported" in out.getvalue()
    assert Span.objects.filter(document__project=target).count() == 0

    call_command("import_spans", target.slug, str(path), stdout=out)
    assert Span.objects.filter(document__project=target).count() == 5


def test_import_command_lists_bad_lines_and_fails(source, target, tmp_path):
    path = tmp_path / "spans.jsonl"
    path.write_text("\n".join(lines_with(source, 1, annotator="nobody")) + "\n", encoding="utf-8")
    err = io.StringIO()

    with pytest.raises(CommandError, match="1 line"):
        call_command("import_spans", target.slug, str(path), stdout=io.StringIO(), stderr=err)
    assert "line 2: unknown annotator 'nobody'" in err.getvalue()


# Properties ---------------------------------------------------------------------------------

TEXTS = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)
SPAN = st.fixed_dictionaries({
    "document": st.sampled_from([0, 1]),
    "bounds": st.tuples(st.integers(0, 200), st.integers(1, 40)),
    "themes": st.lists(st.sampled_from(["TRADE", "TRADE.volume", "FINANCE.currency", "WEST", "ARCTIC"]),
                       min_size=1, max_size=3, unique=True),
    "stance": st.sampled_from([None, "FAVOR", "AGAINST", "NEUTRAL", "NONE"]),
    "reliability": st.sampled_from(["", "A", "C", "F"]),
    "credibility": st.sampled_from([None, 1, 2, 6]),
    "source_type": st.sampled_from(["", "OFFICIAL", "ANONYMOUS"]),
    "source_name": TEXTS,
    "note": TEXTS,
    "status": st.sampled_from(["draft", "rejected"]),
    "annotator": st.sampled_from(["alice", "bob"]),
})


@pytest.fixture
def pair(db):
    """Two projects with the same documents (one with astral characters), schema and annotators."""
    people = [UserFactory(username=name) for name in ("alice", "bob")]
    texts = ["Analysts say trade in yuan rose. Critics disagree. " * 3, WORLD * 3]
    projects = []
    for name in ("Source", "Copy"):
        project = ProjectFactory(name=name)
        schema_install_default(project)
        for i, text in enumerate(texts):
            DocumentFactory(project=project, external_id=f"doc-{i}", text=text)
        for user in people:
            MembershipFactory(project=project, user=user, role=Membership.Role.ANNOTATOR)
        projects.append(project)
    return projects


def create(project, spec):
    documents = list(project.documents.order_by("external_id"))
    document = documents[spec["document"]]
    start = spec["bounds"][0] % len(document.text)
    end = min(len(document.text), start + spec["bounds"][1])
    stance = StanceValue.objects.get(project=project, key=spec["stance"]) if spec["stance"] else None
    span_create(
        document=document, annotator=project.members.get(username=spec["annotator"]), start=start, end=end,
        text=document.text[start:end], themes=spec["themes"], stance=stance,
        source_reliability=spec["reliability"], info_credibility=spec["credibility"],
        source_type=spec["source_type"], source_name=spec["source_name"], note=spec["note"], status=spec["status"],
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(SPAN, min_size=1, max_size=6))
def test_random_valid_spans_survive_the_round_trip(pair, specs):
    source, copy = pair
    with transaction.atomic():
        for spec in specs:
            create(source, spec)
        exported = jsonl_of(source)

        report = spans_import(project=copy, lines=exported)

        assert report.ok, report.errors
        assert report.imported == len(specs)
        drop = VOLATILE + ("id",)
        assert comparable(jsonl_of(copy), drop=drop) == comparable(exported, drop=drop)
        transaction.set_rollback(True)


BREAKAGES = st.sampled_from([
    ("end", lambda r: r.update(end=r["end"] + 10_000)),
    ("quote", lambda r: r.update(text=r["text"] + "x")),
    ("theme", lambda r: r.update(themes=r["themes"] + ["UNKNOWN.theme"])),
    ("document", lambda r: r.update(document_external_id="no-such-doc")),
    ("annotator", lambda r: r.update(annotator="mallory")),
    ("json", None),
])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(SPAN, min_size=1, max_size=5), breakage=BREAKAGES, data=st.data())
def test_random_invalid_lines_are_refused_with_nothing_stored(pair, specs, breakage, data):
    source, copy = pair
    with transaction.atomic():
        for spec in specs:
            create(source, spec)
        lines = jsonl_of(source)
        index = data.draw(st.integers(0, len(lines) - 1))
        name, change = breakage
        if change is None:
            # Ids and times make a line's length vary between runs, so draw a proportion.
            cut = data.draw(st.floats(0, 1, exclude_max=True))
            lines[index] = lines[index][: 1 + int(cut * (len(lines[index]) - 1))]
        else:
            record = json.loads(lines[index])
            change(record)
            lines[index] = json.dumps(record, ensure_ascii=False)
        before = (Span.objects.count(), Span.history.count())

        report = spans_import(project=copy, lines=lines)

        assert [number for number, _ in report.errors] == [index + 1], (name, report.errors)
        assert (Span.objects.count(), Span.history.count()) == before
        transaction.set_rollback(True)
