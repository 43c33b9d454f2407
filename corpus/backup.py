"""Back up one project, with its members, schema, documents, spans and history, to one gzip file.

The file is gzip-compressed JSON, header first and tables last::

    {"format": "lectern-backup", "version": 1, "created_at": "...", "project": "<slug>",
     "counts": {"<table>": n, ...},
     "tables": {"auth.user": [{...}, ...], "corpus.project": [...], ...}}

Each table is a list of rows, one JSON object per row (and per line) keyed by the column's
attribute name (`document_id`, not `document`); dates and times are ISO 8601 with microseconds,
UUIDs are strings, JSON fields stay JSON. The history tables are django-simple-history's, the
themes of each historical span included. Users are matched by username on restore; their password
hashes travel so logins keep working. API tokens, sessions, groups and permissions are not in the
file: tokens are secrets and are issued anew.

Rows keep their primary keys (document ids, span UUIDs, history ids; a new user keeps its id when
free), so a project restored into a database that lacks them reads, and exports, exactly as
before. Where those keys are already taken, restore refuses unless asked for new ids: then integer
ids are renumbered (exports then differ in `document_id` only) and span UUIDs are kept unless one
of them is taken too.

Both directions stream: the backup reads each table in chunks, the restore reads the file a row at
a time, twice (once to check it, once to store it in one transaction).
"""
import gzip
import io
import json
import re
import shutil
import tempfile
import uuid
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import DatabaseError, IntegrityError, connection, reset_queries, transaction
from django.db.models import Max, Q
from django.utils import timezone

from annotations.models import Assignment, Curation, Span, StanceValue, Theme

from .models import Document, Membership, Project

FORMAT = "lectern-backup"
VERSION = 1
CHUNK = 2000
BATCH = 500
USER_TABLE = "auth.user"
USER_FIELDS = (
    "id", "username", "password", "email", "first_name", "last_name", "is_active", "is_staff",
    "is_superuser", "last_login", "date_joined",
)


class BackupRefused(Exception):
    """The backup cannot be restored; the message says why, and nothing was stored."""


@dataclass(frozen=True)
class Table:
    """One table of a backup: its name in the file, its model, and for history the model it records."""

    name: str
    model: type
    tracks: type | None = None

    @property
    def fields(self):
        if self.name == USER_TABLE:
            return [self.model._meta.get_field(name) for name in USER_FIELDS]
        # Generated columns are the database's to write: a restore recomputes them.
        return [field for field in self.model._meta.concrete_fields if not field.generated]

    @property
    def pk(self):
        return self.model._meta.pk

    def space_of(self, field):
        """The id space a column's values belong to, shared by every table that refers to those rows."""
        if field.primary_key:
            return self.name
        if field.is_relation:
            return field.related_model._meta.label_lower
        if self.tracks is not None and field.name == "id":
            return self.tracks._meta.label_lower
        return None


def backup_tables():
    """Every table of a backup, in the order restore inserts them."""
    span_themes, span_sources = Span.themes.through, Span.sources.through
    tracked = (Document, Theme, StanceValue, Span, Assignment, Curation)
    return [
        Table(USER_TABLE, get_user_model()),
        Table("corpus.project", Project),
        Table("corpus.membership", Membership),
        Table("annotations.theme", Theme),
        Table("annotations.stancevalue", StanceValue),
        Table("corpus.document", Document),
        Table("annotations.span", Span),
        Table(span_themes._meta.label_lower, span_themes),
        Table(span_sources._meta.label_lower, span_sources),
        Table("annotations.assignment", Assignment),
        Table("annotations.curation", Curation),
        *(Table(m.history.model._meta.label_lower, m.history.model, tracks=m) for m in tracked),
        Table("annotations.historicalspan_themes", span_themes_history(), tracks=span_themes),
    ]


def span_themes_history():
    """django-simple-history's record of each historical span's themes."""
    return apps.get_model("annotations", "HistoricalSpan_themes")


def _project_querysets(project):
    """Each table's rows that belong to the project, including history of rows since deleted."""
    ever_documents = Q(document_id__in=Document.objects.filter(project=project).values("id")) | Q(
        document_id__in=Document.history.model.objects.filter(project_id=project.pk).values("id")
    )
    span_history = Span.history.model.objects.filter(ever_documents)
    querysets = {
        "corpus.project": Project.objects.filter(pk=project.pk),
        "corpus.membership": Membership.objects.filter(project=project),
        "annotations.theme": Theme.objects.filter(project=project),
        "annotations.stancevalue": StanceValue.objects.filter(project=project),
        "corpus.document": Document.objects.filter(project=project),
        "annotations.span": Span.objects.filter(document__project=project),
        "annotations.span_themes": Span.themes.through.objects.filter(span__document__project=project),
        "annotations.span_sources": Span.sources.through.objects.filter(from_span__document__project=project),
        "annotations.assignment": Assignment.objects.filter(document__project=project),
        "annotations.curation": Curation.objects.filter(document__project=project),
        "corpus.historicaldocument": Document.history.model.objects.filter(project_id=project.pk),
        "annotations.historicaltheme": Theme.history.model.objects.filter(project_id=project.pk),
        "annotations.historicalstancevalue": StanceValue.history.model.objects.filter(project_id=project.pk),
        "annotations.historicalspan": span_history,
        "annotations.historicalassignment": Assignment.history.model.objects.filter(ever_documents),
        "annotations.historicalcuration": Curation.history.model.objects.filter(ever_documents),
        "annotations.historicalspan_themes": span_themes_history().objects.filter(
            history_id__in=span_history.values("history_id")
        ),
    }
    user_ids = set()
    for table in backup_tables():
        if table.name == USER_TABLE:
            continue
        for field in table.fields:
            if table.space_of(field) == USER_TABLE:
                user_ids.update(
                    querysets[table.name].exclude(**{field.attname: None}).values_list(field.attname, flat=True)
                )
    querysets[USER_TABLE] = get_user_model().objects.filter(pk__in=user_ids)
    return querysets


def _encoder(field):
    """How a column's values are written as JSON: dates and times ISO 8601, UUIDs as strings."""
    kind = field.target_field.get_internal_type() if field.is_relation else field.get_internal_type()
    if kind in {"DateTimeField", "DateField"}:
        return lambda value: None if value is None else value.isoformat()
    if kind == "UUIDField":
        return lambda value: None if value is None else str(value)
    return None


@contextmanager
def _snapshot():
    """One consistent view of the project while it is read, even with reviewers saving meanwhile."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        # The isolation level can only be set by a transaction's first statement; inside a
        # caller's transaction that transaction already decides what is seen.
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _header(project, querysets):
    return {
        "format": FORMAT,
        "version": VERSION,
        "created_at": timezone.now().isoformat(),
        "project": project.slug,
        "counts": {table.name: querysets[table.name].count() for table in backup_tables()},
    }


def _lines(header, querysets):
    yield json.dumps(header)[:-1] + ', "tables": {'
    for position, table in enumerate(backup_tables()):
        names = [field.attname for field in table.fields]
        encoders = [(i, encode) for i, encode in enumerate(map(_encoder, table.fields)) if encode is not None]
        yield ("" if position == 0 else ",") + "\n" + json.dumps(table.name) + ": ["
        rows = querysets[table.name].order_by(table.pk.attname).values_list(*names)
        separator = "\n"
        for row in rows.iterator(chunk_size=CHUNK):
            values = list(row)
            for i, encode in encoders:
                values[i] = encode(values[i])
            yield separator + json.dumps(dict(zip(names, values)))
            separator = ",\n"
        yield "]"
    yield "\n}}\n"


def project_backup(*, project, stream):
    """Write the project as a gzip-compressed lectern-backup to a binary stream; return its row counts.

    Rows are read in chunks and written as they come, so a large project is never held in memory.
    """
    with _snapshot():
        querysets = _project_querysets(project)
        header = _header(project, querysets)
        # Level 6 (zlib's default) makes files a few per cent larger than 9 in half the time.
        with gzip.GzipFile(fileobj=stream, mode="wb", compresslevel=6) as archive:
            text = io.TextIOWrapper(archive, encoding="utf-8", newline="\n")
            for piece in _lines(header, querysets):
                text.write(piece)
            text.flush()
            text.detach()
    return header["counts"]


class _Text:
    """Values of a lectern-backup read one at a time from its text, so no table is ever held whole."""

    WHITESPACE = re.compile(r"[ \t\n\r]*")
    DECODER = json.JSONDecoder()
    READ_SIZE = 1 << 20
    # A row holds at most one document text; a buffer far beyond that means the file is broken.
    MAX_BUFFER = 256 << 20

    def __init__(self, text):
        self.text, self.buffer, self.pos, self.ended = text, "", 0, False

    def more(self):
        if self.ended:
            return False
        try:
            chunk = self.text.read(self.READ_SIZE)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise BackupRefused(
                f"The file is not a complete gzip file ({exc}): it is truncated or not a backup."
            ) from None
        except UnicodeDecodeError as exc:
            raise BackupRefused(f"The file is not a Lectern backup: it is not UTF-8 text ({exc}).") from None
        if not chunk:
            self.ended = True
            return False
        if len(self.buffer) - self.pos > self.MAX_BUFFER:
            raise BackupRefused("The backup is damaged: a row does not end.")
        self.buffer = self.buffer[self.pos:] + chunk
        self.pos = 0
        return True

    def peek(self):
        while True:
            self.pos = self.WHITESPACE.match(self.buffer, self.pos).end()
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self.more():
                raise BackupRefused("The backup ends too early: it is truncated.")

    def take(self, char, what):
        if self.peek() != char:
            raise BackupRefused(f"The file is not a Lectern backup: {what}.")
        self.pos += 1

    def value(self):
        self.peek()
        while True:
            try:
                value, end = self.DECODER.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                if self.more():
                    continue
                raise BackupRefused(f"The backup is damaged or truncated: {exc}.") from None
            # A number at the end of the buffer may go on in the next chunk.
            if end == len(self.buffer) and self.more():
                continue
            self.pos = end
            return value


def _sections(stream):
    """Yield the header, then (table name, rows) for each table; the rows must be read before the next."""
    text = _Text(io.TextIOWrapper(gzip.GzipFile(fileobj=stream, mode="rb"), encoding="utf-8"))
    text.take("{", "it does not hold a JSON object")
    header = {}
    while True:
        key = text.value()
        if not isinstance(key, str):
            raise BackupRefused("The file is not a Lectern backup: its header is not JSON.")
        text.take(":", "its header is not JSON")
        if key == "tables":
            break
        header[key] = text.value()
        if key == "format" and header[key] != FORMAT:
            break
        text.take(",", 'its header is not followed by "tables"')
    _check_header(header)
    yield header
    text.take("{", '"tables" is not an object')
    if text.peek() == "}":
        return
    while True:
        name = text.value()
        text.take(":", "a table name is not followed by its rows")
        text.take("[", f"table {name} is not a list of rows")
        yield name, _rows(text)
        if text.peek() == "}":
            text.pos += 1
            break
        text.take(",", "tables are not separated by commas")
    text.take("}", "the file does not end after its tables")


def _rows(text):
    if text.peek() == "]":
        text.pos += 1
        return
    while True:
        row = text.value()
        if not isinstance(row, dict):
            raise BackupRefused("The backup is damaged: a row is not a JSON object.")
        yield row
        if text.peek() == "]":
            text.pos += 1
            return
        text.take(",", "rows are not separated by commas")


def _check_header(header):
    if header.get("format") != FORMAT:
        raise BackupRefused(f'The file is not a Lectern backup: it has no "format": "{FORMAT}" header.')
    version = header.get("version")
    if version != VERSION:
        newer = isinstance(version, int) and version > VERSION
        raise BackupRefused(
            f"The backup has format version {version!r}; this Lectern reads version {VERSION}"
            + (" (the file comes from a newer Lectern)." if newer else ".")
        )
    if not isinstance(header.get("counts"), dict):
        raise BackupRefused('The backup is damaged: its header lacks "counts".')


def _tables_of(stream):
    """Yield (Table, rows) for each table of the file, refusing unknown tables and wrong row counts."""
    sections = _sections(stream)
    header = next(sections)
    known = {table.name: table for table in backup_tables()}
    seen = set()
    for name, rows in sections:
        if name not in known or name in seen:
            raise BackupRefused(f"The backup holds a table this Lectern does not know or holds it twice: {name}.")
        seen.add(name)
        table = known[name]
        count = 0
        for row in rows:
            count += 1
            _check_row(table, row)
            yield table, row
        expected = header["counts"].get(name, 0)
        if count != expected:
            raise BackupRefused(f"The backup is damaged: table {name} has {count} rows, its header says {expected}.")
    missing = sorted(name for name, count in header["counts"].items() if count and name not in seen)
    if missing:
        raise BackupRefused(f"The backup is damaged: tables {', '.join(missing)} are missing.")


# Columns whose JSON value is already the Python value when it has this type.
PLAIN_TYPES = {
    "CharField": str, "TextField": str, "SlugField": str, "URLField": str, "EmailField": str,
    "BooleanField": bool, "IntegerField": int, "BigIntegerField": int, "SmallIntegerField": int,
    "PositiveIntegerField": int, "PositiveSmallIntegerField": int, "AutoField": int, "BigAutoField": int,
}


def _decoder(field):
    kind = field.target_field.get_internal_type() if field.is_relation else field.get_internal_type()
    if kind == "JSONField":
        return None, None
    return PLAIN_TYPES.get(kind), field.to_python


_DECODERS = {}


def _decoders(table):
    if table.name not in _DECODERS:
        _DECODERS[table.name] = {field.attname: _decoder(field) for field in table.fields}
    return _DECODERS[table.name]


def _check_row(table, row):
    unknown = row.keys() - _decoders(table).keys()
    if unknown:
        raise BackupRefused(
            f"The backup's table {table.name} has columns this Lectern does not know: {', '.join(sorted(unknown))}."
        )
    if table.pk.attname not in row or (table.name == USER_TABLE and "username" not in row):
        raise BackupRefused(f"The backup is damaged: a row of {table.name} lacks its id.")


def _decode(table, row, names=None):
    """The row's values as Python values (dates, UUIDs), refusing what its column cannot hold."""
    decoders = _decoders(table)
    decoded = {}
    try:
        for name in row if names is None else names:
            value = row.get(name)
            plain, to_python = decoders[name]
            if value is None or to_python is None or type(value) is plain:
                decoded[name] = value
            else:
                decoded[name] = to_python(value)
    except ValidationError as exc:
        raise BackupRefused(f"The backup's table {table.name} has a bad value: {' '.join(exc.messages)}") from None
    return decoded


@dataclass
class _Survey:
    """What a first read of the file learns before anything is stored."""

    users: list = dataclass_field(default_factory=list)
    project: dict | None = None
    ids: dict = dataclass_field(default_factory=dict)  # space -> every id of it the file uses
    present: dict = dataclass_field(default_factory=dict)  # current table -> its primary keys
    references: dict = dataclass_field(default_factory=dict)  # (table, column, space) -> ids it points to


def _survey(stream):
    """Read the whole file once: check it, and gather users, the project and the ids it uses."""
    survey = _Survey()
    columns = {}
    for table, row in _tables_of(stream):
        if table.name not in columns:
            columns[table.name] = [
                (field.attname, table.space_of(field), field.primary_key)
                for field in table.fields if table.space_of(field) is not None
            ]
            if table.tracks is None:
                survey.present.setdefault(table.name, set())
        if table.name == USER_TABLE:
            row = _decode(table, row)
            survey.users.append(row)
            survey.present[USER_TABLE].add(row["id"])
            continue
        if table.name == "corpus.project":
            if survey.project is not None:
                raise BackupRefused("The backup is damaged: it must hold exactly one project.")
            survey.project = _decode(table, row)
        # Only the ids are needed now; every other value is checked as it is stored.
        row = _decode(table, row, [name for name, _, _ in columns[table.name]])
        for name, space, primary in columns[table.name]:
            value = row.get(name)
            if value is None or space is None:
                continue
            if space != USER_TABLE:
                survey.ids.setdefault(space, set()).add(value)
            if table.tracks is None:
                if primary:
                    survey.present[table.name].add(value)
                else:
                    survey.references.setdefault((table.name, name, space), set()).add(value)
    if survey.project is None:
        raise BackupRefused("The backup is damaged: it must hold exactly one project.")
    _check_references(survey)
    return survey


def _check_references(survey):
    """Every link between current rows must stay inside the backup; history may name rows since deleted."""
    for (table, column, space), ids in survey.references.items():
        missing = ids - survey.present.get(space, set())
        if missing:
            raise BackupRefused(
                f"The backup is damaged: {table}.{column} refers to {len(missing)} row(s) of {space} "
                f"it does not hold (e.g. {sorted(missing, key=str)[0]})."
            )


def _space_columns():
    """For each id space, the columns of this database where its ids are taken."""
    columns = {}
    for table in backup_tables():
        for field in table.fields:
            if field.primary_key or (table.tracks is not None and field.name == "id"):
                columns.setdefault(table.space_of(field), []).append((table.model, field.attname))
    return columns


def _taken(space, ids):
    """Which of these ids of a space the database already uses."""
    taken = set()
    ids = sorted(ids, key=str)
    if not ids:
        return taken
    for model, column in _space_columns()[space]:
        rows = model.objects.all()
        if all(isinstance(value, int) for value in (ids[0], ids[-1])):
            # Into an empty or unrelated range one query answers for every id.
            rows = rows.filter(**{f"{column}__gte": min(ids), f"{column}__lte": max(ids)})
            if not rows.exists():
                continue
        for start in range(0, len(ids), BATCH):
            chunk = ids[start:start + BATCH]
            taken.update(rows.filter(**{f"{column}__in": chunk}).values_list(column, flat=True))
    return taken


def _highest(space):
    highest = 0
    for model, column in _space_columns()[space]:
        highest = max(highest, model.objects.aggregate(top=Max(column))["top"] or 0)
    return highest


class _Ids:
    """Old id to new id within one space; ids met only in history (rows since deleted) get one on demand."""

    def __init__(self, space, *, keep, is_uuid):
        self.space, self.keep, self.is_uuid = space, keep, is_uuid
        self.mapping = {}
        self.next = None

    def __call__(self, old):
        if old is None or self.keep:
            return old
        if old not in self.mapping:
            if self.is_uuid:
                self.mapping[old] = uuid.uuid4()
            else:
                if self.next is None:
                    self.next = _highest(self.space) + 1
                self.mapping[old] = self.next
                self.next += 1
        return self.mapping[old]


def _users(rows, *, keep, log):
    """Map the backup's user ids onto this database's users: same username, same user; others created."""
    user_model = get_user_model()
    existing = {
        user.username: user.pk
        for user in user_model.objects.filter(username__in=[row["username"] for row in rows])
    }
    taken = _taken(USER_TABLE, [row["id"] for row in rows if row["username"] not in existing])
    fresh = _Ids(USER_TABLE, keep=False, is_uuid=False)
    mapping, created = {}, []
    for row in rows:
        if row["username"] in existing:
            mapping[row["id"]] = existing[row["username"]]
            log(f"User {row['username']} already exists: kept as it is.")
            continue
        new_id = row["id"] if keep and row["id"] not in taken else fresh(row["id"])
        mapping[row["id"]] = new_id
        log(f"User {row['username']} created.")
        created.append(user_model(**{**row, "id": new_id}))
    user_model.objects.bulk_create(created, batch_size=BATCH)
    return mapping, [user.pk for user in created]


@contextmanager
def _timestamps_as_given():
    """Store created/updated times from the file instead of "now"; bulk_create would overwrite them.

    Restore runs as a command of its own, so no other save in the process loses its timestamps meanwhile.
    """
    touched = []
    for table in backup_tables():
        for field in table.model._meta.concrete_fields:
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                touched.append((field, field.auto_now, field.auto_now_add))
                field.auto_now = field.auto_now_add = False
    try:
        yield
    finally:
        for field, auto_now, auto_now_add in touched:
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


def _lock_tables():
    # Checking that ids are free and taking them must not race with other writers; SQLite's
    # IMMEDIATE transactions already hold the write lock, PostgreSQL needs table locks.
    if connection.vendor != "postgresql":
        return
    names = ", ".join(connection.ops.quote_name(table.model._meta.db_table) for table in backup_tables())
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {names} IN SHARE ROW EXCLUSIVE MODE")


def _advance_sequence(table, highest):
    """Let later inserts start above every id restored, including ids seen only in history.

    Django's sequence_reset_sql would set a sequence to its table's largest id, which can move it
    back below ids of deleted rows; history still names those, so a new row must not reuse them.
    """
    db_table, column = table.model._meta.db_table, table.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [connection.ops.quote_name(db_table), column])
            sequence = cursor.fetchone()[0]
            if sequence:
                cursor.execute(
                    f"SELECT setval(%s, GREATEST(%s, (SELECT last_value FROM {sequence})))", [sequence, highest]
                )
        elif connection.vendor == "sqlite":
            cursor.execute("UPDATE sqlite_sequence SET seq = MAX(seq, %s) WHERE name = %s", [highest, db_table])
            if cursor.rowcount == 0:
                cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [db_table, highest])


def project_restore(*, stream, new_ids=False, slug=None, log=lambda message: None):
    """Restore a lectern-backup from a binary stream in one transaction; return the new project.

    Refuses (BackupRefused, nothing stored) a file that is not a complete backup, a slug already in
    use, or, without new_ids, ids the database already uses. With new_ids, integer ids are
    renumbered; span UUIDs stay unless one is taken. slug renames the restored project.
    The file is read twice, a row at a time: once to check it, once to store it.
    """
    if slug:
        try:
            validate_slug(slug)
        except ValidationError:
            raise BackupRefused(
                f"{slug!r} is not a valid slug: use letters, digits, hyphens and underscores."
            ) from None
    with _seekable(stream) as source:
        start = source.tell()
        survey = _survey(source)
        slug = slug or survey.project["slug"]
        source.seek(start)
        try:
            with transaction.atomic():
                project = _restore(source, survey, slug, new_ids=new_ids, log=log)
        except (IntegrityError, DatabaseError) as exc:
            raise BackupRefused(f"The backup could not be stored: {exc}") from exc
    return project


@contextmanager
def _seekable(stream):
    """The stream itself when it can be read twice, else a temporary copy of it."""
    try:
        seekable = stream.seekable()
    except AttributeError:
        seekable = False
    if seekable:
        yield stream
        return
    with tempfile.TemporaryFile() as spool:
        shutil.copyfileobj(stream, spool)
        spool.seek(0)
        yield spool


def _restore(source, survey, slug, *, new_ids, log):
    _lock_tables()
    if Project.objects.filter(slug=slug).exists():
        raise BackupRefused(
            f"A project with slug {slug!r} already exists; delete it first or restore under another slug."
        )
    clashes = {space: taken for space, ids in survey.ids.items() if (taken := _taken(space, ids))}
    if clashes and not new_ids:
        described = "; ".join(
            f"{len(ids)} {space} id(s), e.g. {sorted(ids, key=str)[0]}" for space, ids in sorted(clashes.items())
        )
        raise BackupRefused(
            f"This database already uses ids the backup needs ({described}). "
            "Restore with --new-ids to give the restored rows new ids."
        )
    users, created_users = _users(survey.users, keep=not new_ids, log=log)
    spaces = {}
    for table in backup_tables():
        if table.name == USER_TABLE:
            continue
        is_uuid = table.pk.get_internal_type() == "UUIDField"
        keep = not new_ids or (is_uuid and table.name not in clashes)
        spaces[table.name] = _Ids(table.name, keep=keep, is_uuid=is_uuid)
    highest = {}
    columns = {table.name: [(f.attname, table.space_of(f)) for f in table.fields] for table in backup_tables()}
    pending, pending_table = [], None

    def flush():
        if pending:
            pending_table.model.objects.bulk_create(pending, batch_size=BATCH)
            pending.clear()
            # With DEBUG on, Django keeps every statement; a restore would keep the whole file twice.
            reset_queries()

    with _timestamps_as_given():
        for table, row in _tables_of(source):
            if table.name == USER_TABLE:
                continue
            row = _decode(table, row)
            if table != pending_table:
                flush()
                pending_table = table
            if table.name == "corpus.project":
                row["slug"] = slug
            values = {}
            for name, space in columns[table.name]:
                if name not in row:
                    continue
                value = row[name]
                if space == USER_TABLE:
                    # A user deleted since is named in history only; no id can stand for them now.
                    value = users.get(value)
                elif space is not None:
                    value = spaces[space](value)
                    if value is not None and not isinstance(value, uuid.UUID) and value > highest.get(space, 0):
                        highest[space] = value
                values[name] = value
            pending.append(table.model(**values))
            if len(pending) >= CHUNK:
                flush()
        flush()
    if created_users:
        highest[USER_TABLE] = max(created_users)
    for table in backup_tables():
        if table.name in highest and table.pk.get_internal_type() in {"AutoField", "BigAutoField"}:
            _advance_sequence(table, highest[table.name])
    connection.check_constraints(table_names=[table.model._meta.db_table for table in backup_tables()])
    project = Project.objects.get(slug=slug)
    log(f"Restored project {project.slug} ({project.name}).")
    return project
