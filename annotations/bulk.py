"""Store thousands of spans (pre-annotations) in one transaction, all of them or none.

`services.span_create` costs about a dozen queries per span (the membership check, the theme
lookup, the themes signal, two history records). Here the documents, themes and stances are
loaded once, every span is checked in Python with the model's own anchor and submission checks,
and spans, their themes and their history (themes included, so a restore still works) are
written with bulk inserts.
"""
import re
import uuid
from contextlib import contextmanager
from operator import attrgetter
from datetime import timedelta

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone

from corpus.bulk import COPY_FROM_ROWS, insert_rows, unsaved
from corpus.models import Document, Membership, Project

from .export_template import codes_json, theme_codes
from .models import ClaimType, InfoCredibility, SourceReliability, SourceType, Span, StanceValue, Theme
from .services import check_submittable

MAX_BULK_SPANS = 10_000
WRITABLE_STATUSES = (Span.Status.DRAFT, Span.Status.SUBMITTED)
TEXT_LIMITS = {"stance_target": 200, "source_name": 200, "source_affiliation": 200, "source_via": 200}
SOURCE_KEYS = {"type": "source_type", "name": "source_name", "affiliation": "source_affiliation", "via": "source_via"}
CHOICES = {
    "source_reliability": set(SourceReliability.values),
    "source_type": set(SourceType.values),
    "claim_type": set(ClaimType.values),
    "status": set(WRITABLE_STATUSES),
}
CREDIBILITY = set(InfoCredibility.values)
# The model's names for what the API nests under attributed_source.
API_FIELD_NAMES = {model: f"attributed_source.{key}" for key, model in SOURCE_KEYS.items()}
INTEGER = re.compile(r"\s*-?[0-9]+\s*")


class SpansRefused(Exception):
    """Some spans cannot be stored; errors is a list of {"index": i, "fields": {field: [message]}}."""

    def __init__(self, errors, total):
        self.errors, self.total = errors, total
        super().__init__(f"{len(errors)} of {total} span(s) refused")


def api_field_errors(exc):
    """A model ValidationError's messages keyed by the API's field names."""
    return {API_FIELD_NAMES.get(name, name): messages for name, messages in exc.message_dict.items()}


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _as_int(value):
    """An integer as DRF's IntegerField takes it (a number or a string of digits), else None."""
    if _is_int(value):
        return value
    if isinstance(value, str) and INTEGER.fullmatch(value):
        return int(value)
    return None


def _chunks(values, size=500):
    values = sorted(values, key=str)
    return [values[at:at + size] for at in range(0, len(values), size)]


class _Schema:
    """The documents, themes and stances a batch points at, loaded once (only those it names).

    Plain SQL: on the hot path of a single create, building these three queries through the ORM
    cost about as much as the rest of the request.
    """

    def __init__(self, items, user):
        items = [item for item in items if isinstance(item, dict)]
        ids = {_as_int(item.get("document")) for item in items} - {None}
        # No row has an id past 64 bits, and SQLite and PostgreSQL refuse the query outright (a 500).
        ids = {pk for pk in ids if -(2**63) <= pk < 2**63}
        codes = {code for item in items if isinstance(item.get("themes"), list)
                 for code in item["themes"] if isinstance(code, str)}
        keys = {item.get("stance") for item in items if isinstance(item.get("stance"), str)}
        q = connection.ops.quote_name
        db = connection.alias
        self.documents, self.stance_targets, self.themes, self.stances = {}, {}, {}, {}
        with connection.cursor() as cursor:
            for chunk in _chunks(ids):
                # Only documents of projects the user is a member of.
                cursor.execute(
                    f"SELECT d.{q('id')}, d.{q('project_id')}, d.{q('external_id')}, d.{q('text')}, "
                    f"p.{q('stance_target')} FROM {q(Document._meta.db_table)} d "
                    f"INNER JOIN {q(Project._meta.db_table)} p ON p.{q('id')} = d.{q('project_id')} "
                    f"INNER JOIN {q(Membership._meta.db_table)} m ON m.{q('project_id')} = d.{q('project_id')} "
                    f"AND m.{q('user_id')} = %s WHERE d.{q('id')} IN ({', '.join(['%s'] * len(chunk))})",
                    [user.pk, *chunk],
                )
                for pk, project_id, external_id, text, stance_target in cursor.fetchall():
                    self.documents[pk] = Document.from_db(
                        db, ["id", "project_id", "external_id", "text"], [pk, project_id, external_id, text]
                    )
                    self.stance_targets[pk] = stance_target
            projects = sorted({doc.project_id for doc in self.documents.values()})
            if not projects:
                return
            in_projects = f"{q('project_id')} IN ({', '.join(['%s'] * len(projects))})"
            for chunk in _chunks(codes):
                cursor.execute(
                    f"SELECT {q('id')}, {q('project_id')}, {q('code')}, {q('position')} FROM {q(Theme._meta.db_table)} "
                    f"WHERE {in_projects} AND {q('code')} IN ({', '.join(['%s'] * len(chunk))})",
                    [*projects, *chunk],
                )
                for pk, project_id, code, position in cursor.fetchall():
                    self.themes[project_id, code] = Theme.from_db(
                        db, ["id", "project_id", "code", "position"], [pk, project_id, code, position]
                    )
            for chunk in _chunks(keys):
                cursor.execute(
                    f"SELECT {q('id')}, {q('project_id')}, {q('key')} FROM {q(StanceValue._meta.db_table)} "
                    f"WHERE {in_projects} AND {q('key')} IN ({', '.join(['%s'] * len(chunk))})",
                    [*projects, *chunk],
                )
                for pk, project_id, key in cursor.fetchall():
                    self.stances[project_id, key] = StanceValue.from_db(
                        db, ["id", "project_id", "key"], [pk, project_id, key]
                    )


def _check_item(item, schema, annotator):
    """Return (span, themes) for one item, unsaved, or raise ValidationError with field messages."""
    if not isinstance(item, dict):
        raise ValidationError({"non_field_errors": ["Each span must be an object."]})
    errors = {}
    document_id = item.get("document")
    document = schema.documents.get(_as_int(document_id))
    if document is None:
        errors["document"] = [f"Document {document_id!r} does not exist or is not in one of your projects."]
    offsets = {}
    for name in ("start", "end"):
        value = item.get(name)
        offsets[name] = _as_int(value)
        if value is None:
            errors[name] = ["This field is required."]
        elif offsets[name] is None:
            errors[name] = ["A valid integer is required."]
        elif offsets[name] < 0:
            errors[name] = ["Ensure this value is greater than or equal to 0."]
    if not isinstance(item.get("text"), str):
        errors["text"] = ["This field is required." if item.get("text") is None else "Not a valid string."]

    labels = {}
    source = item.get("attributed_source") or {}
    if not isinstance(source, dict):
        errors["attributed_source"] = ["Expected an object with type, name, affiliation and via."]
        source = {}
    values = {name: item.get(name) for name in ("stance_target", "source_reliability", "claim_type", "note", "status")}
    values.update({SOURCE_KEYS[key]: value for key, value in source.items() if key in SOURCE_KEYS})
    for name, value in values.items():
        if value is None:
            continue
        field = API_FIELD_NAMES.get(name, name)
        if not isinstance(value, str):
            errors[field] = ["Not a valid string."]
        elif name in CHOICES and value and value not in CHOICES[name]:
            errors[field] = [f'"{value}" is not a valid choice.']
        elif len(value) > TEXT_LIMITS.get(name, len(value)):
            errors[field] = [f"Ensure this field has no more than {TEXT_LIMITS[name]} characters."]
        else:
            labels[name] = value
    if labels.get("status") == "":
        del labels["status"]
    credibility = item.get("info_credibility")
    if credibility is not None:
        credibility = _as_int(credibility)
        if credibility not in CREDIBILITY:
            errors["info_credibility"] = [f'"{credibility}" is not a valid choice.']
        else:
            labels["info_credibility"] = credibility

    themes = []
    codes = item.get("themes")
    if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
        errors["themes"] = ["Expected a list of theme codes."]
    elif not codes:
        errors["themes"] = ["A span needs at least one theme."]
    elif document is not None:
        unknown = sorted({code for code in codes if (document.project_id, code) not in schema.themes})
        if unknown:
            errors["themes"] = [f"Unknown theme(s) for this project: {', '.join(unknown)}."]
        else:
            themes = list({schema.themes[document.project_id, code].pk: schema.themes[document.project_id, code]
                           for code in codes}.values())
    stance_key = item.get("stance")
    if stance_key not in (None, "") and document is not None:
        stance = schema.stances.get((document.project_id, stance_key)) if isinstance(stance_key, str) else None
        if stance is None:
            errors["stance"] = [f"Unknown stance for this project: {stance_key!r}."]
        else:
            labels["stance"] = stance
    if errors:
        raise ValidationError(errors)

    labels.setdefault("stance_target", schema.stance_targets[document.pk])
    stance = labels.pop("stance", None)
    span = unsaved(
        Span, id=uuid.uuid4(), provenance={}, document_id=document.pk, annotator_id=annotator.pk,
        start=offsets["start"], end=offsets["end"], text=item["text"], stance_id=stance.pk if stance else None,
        **labels,
    )
    # Cached, so that the model's checks below read them without a query.
    span.document = document
    if stance is not None:
        span.stance = stance
    try:
        span.validate_anchor()
        check_submittable(span)
    except ValidationError as exc:
        raise ValidationError(api_field_errors(exc)) from None
    span.fill_context()
    # In schema order, as a span reads back, so a response needs no query for them.
    span.theme_codes = theme_codes(themes)
    return span, themes


def spans_bulk_create(*, items, annotator):
    """Create every item as a span of annotator, or none: raise SpansRefused listing each bad item.

    Each item is a dict in the API's span shape; documents must be in the annotator's projects.
    Returns the spans in the order of the items.
    """
    if len(items) > MAX_BULK_SPANS:
        raise ValidationError(f"At most {MAX_BULK_SPANS:,} spans per request; split the batch.")
    schema = _Schema(items, annotator)
    errors, checked = [], []
    for index, item in enumerate(items):
        try:
            checked.append(_check_item(item, schema, annotator))
        except ValidationError as exc:
            errors.append({"index": index, "fields": exc.message_dict})
    if errors:
        raise SpansRefused(errors, len(items))

    spans = [span for span, _ in checked]
    _store(checked, annotator)
    return spans


@contextmanager
def _pipeline(rows):
    """On PostgreSQL, for a few rows, send the statements inside without waiting for each answer.

    A single span save writes four statements; waiting for each in turn cost about as much as
    the server's work on them. Errors still surface before the block ends, inside the transaction.
    """
    if connection.vendor != "postgresql" or rows >= COPY_FROM_ROWS:
        yield
        return
    connection.ensure_connection()
    # An error comes out when the pipeline ends, past Django's cursor: give it Django's class.
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield


def _store(checked, annotator):
    """Write spans, their themes, and a "+" history record of each with its themes, in one transaction."""
    spans = [span for span, _ in checked]
    now = timezone.now()
    for offset, span in enumerate(spans):
        # Distinct creation times in request order keep cursor pages (created_at, id) exact.
        span.created_at = now - timedelta(microseconds=len(spans) - offset)
        span.updated_at = now
    through = Span.themes.through
    historical = apps.get_model("annotations", "HistoricalSpan")  # Span.history builds a manager class per use
    historical_themes = apps.get_model("annotations", "HistoricalSpan_themes")
    span_columns = [f for f in Span._meta.concrete_fields if not f.generated]  # the database writes the rest
    # The themes as the export reads them (annotations.export_template): written here with the
    # row, the database's triggers find them right and leave the row where it is.
    codes_column = models.TextField()
    codes_column.column = "theme_codes"
    link_columns = [through._meta.get_field("span"), through._meta.get_field("theme")]
    # The reason names the batch, so its history records can be found again in SQL below.
    reason = f"bulk create {uuid.uuid4().hex}"
    record_values = {
        "history_date": now, "history_change_reason": reason, "history_type": "+", "history_user_id": annotator.pk,
    }
    tracked = [f for f in historical._meta.concrete_fields if not f.primary_key and f.attname not in record_values]
    record_columns = tracked + [historical._meta.get_field(name) for name in
                                ("history_date", "history_change_reason", "history_type", "history_user")]
    record_tail = tuple(record_values[f.attname] for f in record_columns[len(tracked):])
    span_row = attrgetter(*[f.attname for f in span_columns])
    tracked_row = attrgetter(*[f.attname for f in tracked])

    prepared = {}
    links = sum(len(themes) for _, themes in checked)
    with transaction.atomic(), _pipeline(max(len(spans), links)):
        # Links first (foreign keys are checked at commit): the triggers that keep a span's
        # theme codes then find no span to update, and each span arrives with its codes.
        insert_rows(through, link_columns, [(span.pk, theme.pk) for span, themes in checked for theme in themes],
                    prepared)
        insert_rows(Span, span_columns + [codes_column],
                    [span_row(span) + (codes_json(span.theme_codes),) for span in spans], prepared)
        insert_rows(historical, record_columns, [tracked_row(span) + record_tail for span in spans], prepared)
        # Each record's themes, as simple-history snapshots them: the through rows just written.
        q = connection.ops.quote_name
        field = historical._meta.get_field
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {q(historical_themes._meta.db_table)} ({q('history_id')}, {q('id')}, {q('span_id')}, "
                f"{q('theme_id')}) SELECT h.{q('history_id')}, t.{q('id')}, t.{q('span_id')}, t.{q('theme_id')} "
                f"FROM {q(through._meta.db_table)} t INNER JOIN {q(historical._meta.db_table)} h "
                f"ON h.{q(field('id').column)} = t.{q('span_id')} "
                f"WHERE h.{q(field('history_date').column)} = %s AND h.{q(field('history_change_reason').column)} = %s",
                [field("history_date").get_db_prep_save(now, connection), reason],
            )
