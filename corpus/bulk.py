"""Create many documents in one request: every record checked in Python, then stored together or not at all.

The rules are those of `services.document_create` (and so of the admin import): text normalised
and size-limited, HTML reduced to text, the title taken from the first line, unknown keys kept in
metadata, same text reported as a duplicate, an external id reused for other text refused. Calling
`document_create` once per record costs a few queries and a savepoint each (about 2 s for 1,000
records on SQLite); here a request costs a handful of queries whatever its size.
"""
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from .models import Document, text_sha256
from .services import (
    RECORD_FIELDS,
    ImportRefused,
    check_size,
    first_line_title,
    html_to_text,
    normalize_text,
    parse_date,
)

TEXT_FORMATS = ("text", "html")
API_KEYS = {"project", "format"}
# Plain string fields checked with the model field's own validators (max_length, URL, ...).
CHECKED_FIELDS = ("external_id", "outlet", "author", "url", "language", "genre")


class DocumentsRefused(Exception):
    """Some records cannot be stored; errors is a list of {"index": i, "fields": {field: [message]}}."""

    def __init__(self, errors, total):
        self.errors, self.total = errors, total
        super().__init__(f"{len(errors)} of {total} document(s) refused")


@dataclass
class BulkResult:
    """What one record became: a new document, or the existing one holding the same text."""

    index: int
    status: str  # "created" or "duplicate"
    document: Document


# Columns whose Python value is already what either database takes; the others go
# through the field's own conversion (UUIDs, date-times, JSON).
PLAIN_TYPES = {
    "AutoField", "BigAutoField", "BigIntegerField", "BooleanField", "CharField", "IntegerField",
    "PositiveIntegerField", "PositiveSmallIntegerField", "SmallIntegerField", "TextField",
}


def _converter(field, prepared, conn):
    """None when the Python value is what the database takes, else a function giving the database value."""
    target = field.target_field if field.is_relation else field
    kind = target.get_internal_type()
    if kind in PLAIN_TYPES:
        return None
    if kind == "UUIDField":
        # As UUIDField.get_db_prep_value: native where the database has the type, else hex.
        return None if conn.features.has_native_uuid_field else _hex

    def convert(value):
        # Each distinct value once: a batch's timestamps and empty JSON objects repeat.
        try:
            key = (kind, value)
            return prepared[key]
        except TypeError:  # a JSON value: dicts do not hash
            key = (kind, repr(value))
            if key in prepared:
                return prepared[key]
        except KeyError:
            pass
        prepared[key] = result = field.get_db_prep_save(value, conn)
        return result

    return convert


def _hex(value):
    return value.hex


# Fewer rows go in one INSERT on PostgreSQL: COPY cannot join a pipeline (see
# annotations.bulk), and for a row or two it saves nothing.
COPY_FROM_ROWS = 20


def insert_rows(model, columns, rows, prepared=None):
    """INSERT rows of model (tuples in the order of columns, a list of fields), all in few statements.

    Django's bulk_create prepares each value through the ORM, which for 10,000 spans with their
    history costs seconds; here only UUIDs, dates and JSON are converted, each distinct value once
    (prepared, a dict, may be shared by the tables of one batch).
    """
    conn = connections[DEFAULT_DB_ALIAS]  # the connection itself: the proxy costs a lookup per use
    ops = conn.ops
    prepared = {} if prepared is None else prepared
    converting = [(i, c) for i, c in enumerate(_converter(f, prepared, conn) for f in columns) if c is not None]
    if converting:
        converted = []
        for row in rows:
            row = list(row)
            for i, convert in converting:
                if row[i] is not None:
                    row[i] = convert(row[i])
            converted.append(row)
        rows = converted
    table = ops.quote_name(model._meta.db_table)
    names = ", ".join(ops.quote_name(field.column) for field in columns)
    head = f"INSERT INTO {table} ({names}) VALUES "
    one = "({})".format(", ".join(["%s"] * len(columns)))
    with conn.cursor() as cursor:
        if conn.vendor == "sqlite":
            # In process: executemany loops in C, one prepared statement for every row.
            cursor.executemany(head + one, rows)
            return
        if conn.vendor == "postgresql" and len(rows) >= COPY_FROM_ROWS:
            # COPY streams the rows in one command, several times faster than INSERT here.
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        # Elsewhere, and few rows on PostgreSQL: many rows per statement, within the parameters
        # a statement may bind.
        per = max(1, min(1000, 65_535 // len(columns)))
        for at in range(0, len(rows), per):
            batch = rows[at:at + per]
            cursor.execute(head + ", ".join([one] * len(batch)), [value for row in batch for value in row])


def unsaved(model, **values):
    """An unsaved instance from attribute names (document_id, not document); the rest take their defaults.

    Positional construction skips Django's per-field default and descriptor work, which
    adds up to most of the cost of checking thousands of records. Callable defaults
    (uuid4, dict) are not called: give those fields.
    """
    return model(*[values[name] if name in values else default for name, default in _defaults(model)])


@lru_cache(maxsize=None)
def _defaults(model):
    return tuple(
        (f.attname, None if f.has_default() and callable(f.default) else f.get_default())
        for f in model._meta.concrete_fields
    )


def _clean_record(record, project):
    """Return the Document for one record, unsaved, or raise ValidationError with field messages."""
    if not isinstance(record, dict):
        raise ValidationError({"non_field_errors": ["Each document must be an object with at least a 'text' field."]})
    errors = {}
    text = record.get("text")
    text_format = record.get("format") or "text"
    title = record.get("title")
    if text_format not in TEXT_FORMATS:
        errors["format"] = [f"Use one of: {', '.join(TEXT_FORMATS)}."]
    if not isinstance(text, str):
        errors["text"] = ["A document needs 'text' (a string)."]
    else:
        text = normalize_text(text)
        if text_format == "html":
            html_title, text = html_to_text(text)
            title = title or html_title
        try:
            if not text.strip():
                raise ImportRefused("empty: the document has no text")
            check_size(len(text.encode("utf-8")))
        except ImportRefused as exc:
            errors["text"] = [str(exc)]

    values = {}
    external_id = record.get("external_id", record.get("id"))
    values["external_id"] = "" if external_id is None else str(external_id).strip()
    if not values["external_id"]:
        errors["external_id"] = ["A document needs an external_id."]
    for name in CHECKED_FIELDS[1:]:
        value = record.get(name)
        values[name] = "" if value is None else str(value)
    for name in CHECKED_FIELDS:
        if values[name] and name not in errors:
            try:
                Document._meta.get_field(name).run_validators(values[name])
            except ValidationError as exc:
                errors[name] = exc.messages
    try:
        values["published_date"] = parse_date(record.get("published_date"))
    except ImportRefused as exc:
        errors["published_date"] = [str(exc)]
    metadata = record.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        errors["metadata"] = ["metadata must be an object."]
    else:
        metadata = dict(metadata)
        for key in sorted(set(record) - set(RECORD_FIELDS) - API_KEYS - {"id"}):
            metadata[key] = record[key]
    if errors:
        raise ValidationError(errors)

    title = str(title) if title else first_line_title(text)
    return unsaved(
        Document, project_id=project.pk, text=text, text_sha256=text_sha256(text), title=title[:500],
        metadata=metadata, **values
    )


def documents_bulk_create(*, records, resolve_project, user=None):
    """Store every record as a document, or none: raise DocumentsRefused listing each bad record.

    resolve_project(record) returns the target Project or raises ValidationError for the record.
    Returns one BulkResult per record, in order.
    """
    errors, pending = [], []
    for index, record in enumerate(records):
        try:
            project = resolve_project(record)
            pending.append((index, _clean_record(record, project)))
        except ValidationError as exc:
            errors.append({"index": index, "fields": exc.message_dict})
    if errors:
        raise DocumentsRefused(errors, len(records))

    with transaction.atomic():
        project_ids = {doc.project_id for _, doc in pending}
        stored = Document.objects.filter(project_id__in=project_ids).filter(
            text_sha256__in={doc.text_sha256 for _, doc in pending}
        ) | Document.objects.filter(project_id__in=project_ids).filter(
            external_id__in={doc.external_id for _, doc in pending}
        )
        by_sha, by_external_id = {}, {}
        for doc in stored.only("id", "project_id", "external_id", "text_sha256", "title"):
            by_sha[doc.project_id, doc.text_sha256] = doc
            by_external_id[doc.project_id, doc.external_id] = doc

        results, new = [], []
        for index, doc in pending:
            same_text = by_sha.get((doc.project_id, doc.text_sha256))
            if same_text is not None:
                results.append(BulkResult(index, "duplicate", same_text))
                continue
            if (doc.project_id, doc.external_id) in by_external_id:
                errors.append({"index": index, "fields": {"external_id": [
                    f"external id {doc.external_id!r} is already used by another document with different text"
                ]}})
                continue
            by_sha[doc.project_id, doc.text_sha256] = doc
            by_external_id[doc.project_id, doc.external_id] = doc
            results.append(BulkResult(index, "created", doc))
            new.append(doc)
        if errors:
            raise DocumentsRefused(errors, len(records))
        _store(new, user)
    return results


def _store(documents, user):
    """Insert the documents and a "+" history record of each; give each its new primary key."""
    if not documents:
        return
    now = timezone.now()
    for document in documents:
        document.created_at = document.updated_at = now
    columns = [f for f in Document._meta.concrete_fields if not f.primary_key]
    prepared = {}
    row = attrgetter(*[f.attname for f in columns])
    insert_rows(Document, columns, [row(d) for d in documents], prepared)
    # Rows written in this transaction with this exact creation time, matched on the
    # text each project holds once.
    new_ids = {
        (project_id, sha): pk
        for pk, project_id, sha in Document.objects.filter(
            project_id__in={d.project_id for d in documents}, created_at=now
        ).values_list("pk", "project_id", "text_sha256")
    }
    for document in documents:
        document.pk = new_ids[document.project_id, document.text_sha256]
    historical = apps.get_model("corpus", "HistoricalDocument")  # Document.history builds a manager class per use
    record_values = {
        "history_date": now, "history_change_reason": None, "history_type": "+",
        "history_user_id": getattr(user, "pk", None),
    }
    tracked = [f for f in historical._meta.concrete_fields if not f.primary_key and f.attname not in record_values]
    record_columns = tracked + [historical._meta.get_field(name) for name in
                                ("history_date", "history_change_reason", "history_type", "history_user")]
    tail = tuple(record_values[f.attname] for f in record_columns[len(tracked):])
    tracked_row = attrgetter(*[f.attname for f in tracked])
    insert_rows(historical, record_columns, [tracked_row(d) + tail for d in documents], prepared)
