import csv
import gzip
import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.core.management.color import no_style
from django.db import connection
from django.forms.models import model_to_dict
from django.utils import timezone

from annotations.exports import export_spans, export_stream
from annotations.models import Assignment, Curation, Span, StanceValue, Theme
from annotations.schema import schema_install_default
from annotations.services import span_create, span_delete, span_update
from corpus.backup import BackupRefused, backup_tables, project_backup, project_restore, span_themes_history
from corpus.models import Document, Membership, Project
from corpus.services import document_create
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory

User = get_user_model()
EMOJI_TEXT = "贸易 rose 📈 sharply in 2024, Moscow 🇷🇺 said. Critics 😠 disagree: «не так»."
USER_FIELDS = (
    "id", "username", "password", "email", "first_name", "last_name", "is_active", "is_staff", "is_superuser",
    "last_login", "date_joined",
)


def build_project():
    """A project with every kind of row a backup must carry, history included."""
    project = ProjectFactory(
        name="Partnership watch", slug="watch", description="Tracks the partnership.",
        guidelines="<p>Mark <em>claims</em>.</p>", stance_target="the alliance", unassigned_open=False,
        annotators_per_document=3,
    )
    schema_install_default(project)
    extra = Theme.objects.create(project=project, key="EXTRA", name="Extra", colour="#123456", position=99)
    extra.name = "Extra, renamed"
    extra.save()
    Theme.objects.create(project=project, key="GONE", name="Short-lived", position=100).delete()

    roles = [("alice", "annotator"), ("bob", "annotator"), ("carol", "curator"), ("maria", "manager")]
    users = {name: MembershipFactory(project=project, role=role, user__username=name).user for name, role in roles}
    alice = users["alice"]
    alice.first_name, alice.last_name, alice.is_active = "Alice", "Ämberg", True
    alice.save()
    users["maria"].is_staff = True
    users["maria"].save()
    root = UserFactory(username="root", is_staff=True, is_superuser=True)

    plain, _ = document_create(
        project=project, external_id="plain-1", text="Analysts say trade in yuan rose. Critics disagree.",
        title="Plain", outlet="Wire", author="A. Writer", url="https://example.org/a",
        published_date="2024-03-01", language="en", genre="news", metadata={"source": "feed", "n": 1.5},
    )
    emoji, _ = document_create(project=project, external_id="emoji-1", text=EMOJI_TEXT, title="Emoji", language="zh")
    gone, _ = document_create(project=project, external_id="gone-1", text="A document deleted later.")
    gone.delete()

    neutral = StanceValue.objects.get(project=project, key="NEUTRAL")
    favor = StanceValue.objects.get(project=project, key="FAVOR")
    kept = span_create(
        document=plain, annotator=alice, start=0, end=8, text="Analysts", themes=["TRADE"],
        stance=neutral, source_reliability="B", info_credibility=2, source_type="ANALYST", source_name="Analysts",
    )
    span_update(span=kept, themes=["TRADE", "FINANCE.currency"], note="edited once")
    crab = EMOJI_TEXT.index("📈")
    emoji_span = span_create(
        document=emoji, annotator=users["bob"], start=0, end=crab + 1, text=EMOJI_TEXT[:crab + 1],
        themes=["TRADE.volume"], stance=favor,
    )
    deleted = span_create(document=plain, annotator=users["bob"], start=9, end=13, text="say ", themes=["ORDER"])
    span_delete(span=deleted)
    gold = span_create(
        document=plain, annotator=users["carol"], start=0, end=8, text="Analysts", themes=["TRADE"],
        stance=neutral, status="gold",
    )
    gold.sources.set([kept, emoji_span])
    gold.provenance = {"method": "accepted", "from": [str(kept.pk)], "note": "ünïcode ✓"}
    gold.save()
    # An edit made in the admin by a superuser who is not a member: history names them.
    Span.history.filter(id=kept.pk).update(history_user=root)

    Assignment.objects.create(document=plain, annotator=alice, assigned=True, status="done", done_at=timezone.now())
    Assignment.objects.create(document=emoji, annotator=users["bob"], status="in_progress")
    Curation.objects.create(
        document=plain, curator=users["carol"], status="curated", curated_at=timezone.now() - timedelta(hours=1)
    )
    return project


def history_of(project, model):
    document_ids = set(Document.history.filter(project_id=project.pk).values_list("id", flat=True))
    if model in (Document, Theme, StanceValue):
        return model.history.filter(project_id=project.pk)
    return model.history.filter(document_id__in=document_ids)


def dump(project):
    """Every row of the project, its history and its users, as plain values keyed by table."""
    def rows(queryset):
        return [
            {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}
            for obj in queryset.order_by("pk")
        ]

    span_history = history_of(project, Span)
    user_ids = set(Membership.objects.filter(project=project).values_list("user_id", flat=True))
    user_ids |= set(span_history.exclude(history_user=None).values_list("history_user_id", flat=True))
    return {
        "users": [model_to_dict(u, fields=USER_FIELDS) for u in User.objects.filter(pk__in=user_ids).order_by("pk")],
        "project": rows(Project.objects.filter(pk=project.pk)),
        "memberships": rows(Membership.objects.filter(project=project)),
        "themes": rows(Theme.objects.filter(project=project)),
        "stances": rows(StanceValue.objects.filter(project=project)),
        "documents": rows(Document.objects.filter(project=project)),
        "spans": rows(Span.objects.filter(document__project=project)),
        "span_themes": rows(Span.themes.through.objects.filter(span__document__project=project)),
        "span_sources": rows(Span.sources.through.objects.filter(from_span__document__project=project)),
        "assignments": rows(Assignment.objects.filter(document__project=project)),
        "curations": rows(Curation.objects.filter(document__project=project)),
        **{f"history {m.__name__}": rows(history_of(project, m))
           for m in (Document, Theme, StanceValue, Span, Assignment, Curation)},
        "history span themes": rows(span_themes_history().objects.filter(history__in=span_history)),
    }


def exports(project):
    """The project's span exports in every format, annotators' layers and gold."""
    out = {}
    for fmt in ("jsonl", "csv", "webannotation", "doccano"):
        for gold in (False, True):
            spans = export_spans(project, filters={"gold": gold})
            out[fmt, gold] = b"".join(export_stream(project, fmt, spans=spans))
    return out


def wipe(project, usernames):
    """Remove the project, its history and its users, leaving the database as a fresh one would be."""
    document_ids = set(Document.history.filter(project_id=project.pk).values_list("id", flat=True))
    project_id = project.pk
    Span.objects.filter(document__project=project).delete()
    project.delete()
    for model in (Document, Theme, StanceValue):
        model.history.filter(project_id=project_id).delete()
    span_themes_history().objects.filter(history__document_id__in=document_ids).delete()
    for model in (Span, Assignment, Curation):
        model.history.filter(document_id__in=document_ids).delete()
    User.objects.filter(username__in=usernames).delete()
    # A fresh database also starts its id counters at 1.
    models = [table.model for table in backup_tables()]
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for model in models:
                cursor.execute("DELETE FROM sqlite_sequence WHERE name = %s", [model._meta.db_table])
    else:
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(sql)


def backup_bytes(project):
    stream = io.BytesIO()
    project_backup(project=project, stream=stream)
    return stream.getvalue()


def gzip_json(value):
    return gzip.compress(json.dumps(value).encode("utf-8"))


@pytest.fixture
def built(db):
    return build_project()


def test_restored_project_equals_the_original_row_for_row(built):
    before, exported = dump(built), exports(built)
    assert len(before["history Span"]) >= 6 and before["history span themes"]
    usernames = [u["username"] for u in before["users"]]
    data = backup_bytes(built)
    wipe(built, usernames)
    assert not Project.objects.filter(slug="watch").exists()
    assert not User.objects.filter(username__in=usernames).exists()
    assert not Span.history.exists() and not Document.history.exists()

    restored = project_restore(stream=io.BytesIO(data))

    after = dump(restored)
    for table in before:
        assert after[table] == before[table], table
    assert exports(restored) == exported
    assert b"\xf0\x9f\x93\x88" in exported["jsonl", False]  # the emoji document's span, byte for byte


class OneWayStream(io.RawIOBase):
    """A pipe: readable once, no seeking."""

    def __init__(self, data):
        self.source = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.source.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


@pytest.mark.parametrize("read_size", [7, 1000])
def test_restore_reads_rows_cut_across_reads_and_from_a_pipe(built, monkeypatch, read_size):
    from corpus.backup import _Text

    monkeypatch.setattr(_Text, "READ_SIZE", read_size)
    before = dump(built)
    data = backup_bytes(built)
    wipe(built, [u["username"] for u in before["users"]])

    restored = project_restore(stream=OneWayStream(data))

    assert dump(restored) == before


def test_logins_work_after_restore_and_flags_are_kept(built):
    usernames = list(User.objects.filter(memberships__project=built).values_list("username", flat=True)) + ["root"]
    data = backup_bytes(built)
    wipe(built, usernames)

    project_restore(stream=io.BytesIO(data))

    alice = authenticate(username="alice", password=PASSWORD)
    assert alice is not None and (alice.first_name, alice.last_name) == ("Alice", "Ämberg")
    assert authenticate(username="alice", password="wrong") is None
    assert User.objects.get(username="root").is_superuser
    assert User.objects.get(username="maria").is_staff and not User.objects.get(username="maria").is_superuser
    assert not User.objects.get(username="bob").is_superuser


def test_new_rows_after_restore_take_ids_never_used_before(built):
    highest_document = Document.history.filter(project_id=built.pk).order_by("-id").first().id
    highest_theme = Theme.history.filter(project_id=built.pk).order_by("-id").first().id
    usernames = list(User.objects.filter(memberships__project=built).values_list("username", flat=True)) + ["root"]
    data = backup_bytes(built)
    wipe(built, usernames)
    restored = project_restore(stream=io.BytesIO(data))

    document, _ = document_create(project=restored, external_id="after", text="Written after the restore.")
    theme = Theme.objects.create(project=restored, key="LATER", name="Later")

    # The deleted document and theme had the highest ids; their history must not become the new rows'.
    assert document.pk > highest_document and theme.pk > highest_theme
    assert Document.history.filter(id=document.pk).count() == 1


def test_existing_users_are_reused_not_changed(built):
    data = backup_bytes(built)
    wipe(built, ["bob", "carol", "maria", "root"])
    alice = User.objects.get(username="alice")
    alice.email = "alice@new.example.org"
    alice.save()

    restored = project_restore(stream=io.BytesIO(data))

    assert User.objects.filter(username="alice").count() == 1
    assert Membership.objects.get(project=restored, user__username="alice").user.email == "alice@new.example.org"


def test_backup_file_has_a_header_and_leaves_tokens_out(built, tmp_path):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=User.objects.get(username="alice"))
    path = tmp_path / "watch.json.gz"

    call_command("backup_project", "watch", str(path), stdout=io.StringIO())

    content = json.loads(gzip.decompress(path.read_bytes()))
    assert (content["format"], content["version"], content["project"]) == ("lectern-backup", 1, "watch")
    assert content["counts"]["corpus.document"] == 2 == len(content["tables"]["corpus.document"])
    assert token.key not in gzip.decompress(path.read_bytes()).decode()


def test_restore_refuses_an_existing_slug(built):
    data = backup_bytes(built)
    projects, users = Project.objects.count(), User.objects.count()

    with pytest.raises(BackupRefused, match="slug 'watch' already exists"):
        project_restore(stream=io.BytesIO(data))

    assert (Project.objects.count(), User.objects.count()) == (projects, users)


def test_restore_refuses_ids_in_use_unless_new_ids_are_asked_for(built):
    data = backup_bytes(built)
    counts = {table.name: table.model.objects.count() for table in backup_tables()}

    with pytest.raises(BackupRefused, match="--new-ids"):
        project_restore(stream=io.BytesIO(data), slug="watch-copy")
    assert {table.name: table.model.objects.count() for table in backup_tables()} == counts

    copy = project_restore(stream=io.BytesIO(data), slug="watch-copy", new_ids=True)

    original, restored = dump(built), dump(copy)
    for table in original:
        assert len(restored[table]) == len(original[table]), table
    assert {d["id"] for d in restored["documents"]}.isdisjoint(d["id"] for d in original["documents"])
    assert {s["id"] for s in restored["spans"]}.isdisjoint(s["id"] for s in original["spans"])
    assert [d["text"] for d in restored["documents"]] == [d["text"] for d in original["documents"]]
    gold = Span.objects.get(document__project=copy, status="gold")
    assert sorted(s.text for s in gold.sources.all()) == sorted(
        s.text for s in Span.objects.get(document__project=built, status="gold").sources.all()
    )
    assert all(s.document.project_id == copy.pk for s in gold.sources.all())
    # The copy's history is its own: editing the original leaves the copy's history as it was.
    copy_history = len(restored["history Span"])
    span_update(span=Span.objects.filter(document__project=built).first(), note="changed in the original")
    assert len(dump(copy)["history Span"]) == copy_history


def without_document_id(fmt, content):
    if fmt == "jsonl":
        records = [json.loads(line) for line in content.decode().splitlines()]
        return [{k: v for k, v in record.items() if k != "document_id"} for record in records]
    rows = list(csv.reader(io.StringIO(content.decode(), newline="")))
    column = rows[0].index("document_id")
    return [row[:column] + row[column + 1:] for row in rows]


def test_new_ids_keep_exports_equal_but_for_document_ids(built):
    data = backup_bytes(built)
    original = exports(built)
    document_ids = list(Document.objects.filter(project=built).values_list("pk", flat=True))
    wipe(built, [])
    # Another project now holds the document ids the backup used.
    squatter = ProjectFactory(slug="squatter")
    for pk in document_ids:
        Document.objects.create(pk=pk, project=squatter, external_id=f"s{pk}", text=f"Squatting text {pk}.")
    with pytest.raises(BackupRefused, match="already uses ids"):
        project_restore(stream=io.BytesIO(data))

    restored = project_restore(stream=io.BytesIO(data), new_ids=True)

    again = exports(restored)
    for fmt in ("jsonl", "csv"):
        for gold in (False, True):
            assert again[fmt, gold] != original[fmt, gold]
            assert without_document_id(fmt, again[fmt, gold]) == without_document_id(fmt, original[fmt, gold])


def test_restore_refuses_a_file_of_another_format(db):
    for content, reason in (
        (gzip_json({"format": "something-else", "version": 1}), "not a Lectern backup"),
        (b"external_id,text\n1,hello\n", "not a complete gzip file"),
        (gzip.compress(b"not json at all"), "does not hold a JSON object"),
        (gzip_json({"format": "lectern-backup", "version": 2, "counts": {}, "tables": {}}), "newer Lectern"),
    ):
        with pytest.raises(BackupRefused, match=reason):
            project_restore(stream=io.BytesIO(content))
    assert not Project.objects.exists() and not User.objects.exists()


def test_restore_refuses_a_truncated_file_and_stores_nothing(built):
    data = backup_bytes(built)
    wipe(built, ["alice", "bob", "carol", "maria", "root"])

    with pytest.raises(BackupRefused, match="truncated"):
        project_restore(stream=io.BytesIO(data[: len(data) * 2 // 3]))

    assert not Project.objects.exists() and not User.objects.exists() and not Document.history.exists()


def test_a_failure_halfway_through_the_restore_leaves_nothing(built):
    content = json.loads(gzip.decompress(backup_bytes(built)))
    wipe(built, ["alice", "bob", "carol", "maria", "root"])
    # Two documents with the same external id pass every check on the file and fail in the database,
    # after users, project and schema have been inserted.
    documents = content["tables"]["corpus.document"]
    documents[1]["external_id"] = documents[0]["external_id"]

    with pytest.raises(BackupRefused, match="could not be stored"):
        project_restore(stream=io.BytesIO(gzip_json(content)))

    assert not Project.objects.exists() and not User.objects.exists() and not Theme.objects.exists()


def test_restore_refuses_a_row_pointing_outside_the_backup(built):
    content = json.loads(gzip.decompress(backup_bytes(built)))
    wipe(built, ["alice", "bob", "carol", "maria", "root"])
    content["tables"]["annotations.span"][0]["document_id"] = 987654

    with pytest.raises(BackupRefused, match="annotations.span.document_id refers to 1 row"):
        project_restore(stream=io.BytesIO(gzip_json(content)))
    assert not Project.objects.exists()


def test_commands_back_up_and_restore(built, tmp_path):
    path = tmp_path / "watch.json.gz"
    call_command("backup_project", "watch", str(path), stdout=io.StringIO())
    wipe(built, ["alice", "bob", "carol", "maria", "root"])
    out = io.StringIO()

    call_command("restore_project", str(path), stdout=out)

    assert "2 document(s), 4 member(s) restored into watch" in out.getvalue()
    with pytest.raises(CommandError, match="already exists.*Nothing was restored"):
        call_command("restore_project", str(path), stdout=io.StringIO())
    call_command("restore_project", str(path), "--new-ids", "--slug", "watch-2", stdout=io.StringIO())
    assert Project.objects.get(slug="watch-2").documents.count() == 2
    with pytest.raises(CommandError, match="No project"):
        call_command("backup_project", "nope", str(tmp_path / "x.json.gz"))
    assert list(tmp_path.iterdir()) == [path]
