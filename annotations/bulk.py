"""Store thousands of spans (pre-annotations) in one transaction, all of them or none.

`services.span_create` costs about a dozen queries per span (the membership check, the theme
lookup, the themes signal, two history records). Here the documents, themes and stances are
loaded once, every span is checked in Python with the model's own anchor and submission checks,
and spans, their themes and their history (themes included, so a restore still works) are
written with bulk inserts.
"""
import re
import uuid
from datetime import timedelta

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from corpus.models import Document

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
INTEGER = re.compile(r"\s*-?[0-9]+\s*")


class SpansRefused(Exception):
    """Some spans cannot be stored; errors is a list of {"index": i, "fields": {field: [message]}}."""

    def __init__(self, errors, total):
        self.errors, self.total = errors, total
        super().__init__(f"{len(errors)} of {total} span(s) refused")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _as_int(value):
    """An integer as DRF's IntegerField takes it (a number or a string of digits), else None."""
    if _is_int(value):
        return value
    if isinstance(value, str) and INTEGER.fullmatch(value):
        return int(value)
    return None


class _Schema:
    """The documents, themes and stances a batch may point at, loaded once."""

    def __init__(self, items, user):
        ids = {_as_int(item.get("document")) for item in items if isinstance(item, dict)} - {None}
        self.documents = {
            doc.pk: doc
            for doc in Document.objects.for_user(user).filter(pk__in=ids).select_related("project")
        }
        project_ids = {doc.project_id for doc in self.documents.values()}
        self.themes = {(t.project_id, t.code): t for t in Theme.objects.filter(project_id__in=project_ids)}
        self.stances = {(s.project_id, s.key): s for s in StanceValue.objects.filter(project_id__in=project_ids)}


SPAN_ATTNAMES = [field.attname for field in Span._meta.concrete_fields]
SPAN_DEFAULTS = {
    field.attname: None if field.has_default() and callable(field.default) else field.get_default()
    for field in Span._meta.concrete_fields
}


def _new_span(**values):
    """An unsaved Span from attribute names; positional construction skips Django's per-field defaults."""
    values.setdefault("id", uuid.uuid4())
    values.setdefault("provenance", {})
    return Span(*[values.get(name, SPAN_DEFAULTS[name]) for name in SPAN_ATTNAMES])


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
    values = {SOURCE_KEYS[key]: value for key, value in source.items() if key in SOURCE_KEYS}
    for name in ("stance_target", "source_reliability", "source_type", "source_name", "source_affiliation",
                 "source_via", "claim_type", "note", "status"):
        value = values.get(name, item.get(name))
        if value is None:
            continue
        if not isinstance(value, str):
            errors[name] = ["Not a valid string."]
        elif name in CHOICES and value and value not in CHOICES[name]:
            errors[name] = [f'"{value}" is not a valid choice.']
        elif len(value) > TEXT_LIMITS.get(name, len(value)):
            errors[name] = [f"Ensure this field has no more than {TEXT_LIMITS[name]} characters."]
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

    labels.setdefault("stance_target", document.project.stance_target)
    stance = labels.pop("stance", None)
    span = _new_span(document_id=document.pk, annotator_id=annotator.pk, start=offsets["start"],
                     end=offsets["end"], text=item["text"], stance_id=stance.pk if stance else None, **labels)
    # Cached, so that the model's checks below read them without a query.
    span.document = document
    if stance is not None:
        span.stance = stance
    span.validate_anchor()
    check_submittable(span)
    span.fill_context()
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


# Columns whose Python value is already what either database takes; the others go
# through the field's own conversion (UUIDs, date-times, JSON).
PLAIN_TYPES = {
    "AutoField", "BigAutoField", "BigIntegerField", "BooleanField", "CharField", "IntegerField",
    "PositiveIntegerField", "PositiveSmallIntegerField", "SmallIntegerField", "TextField",
}


def _plain(field):
    if field.is_relation:
        field = field.target_field
    return field.get_internal_type() in PLAIN_TYPES


def _converter(field, prepared):
    """A function giving the database value of field, computing each distinct value once."""
    kind = (field.target_field if field.is_relation else field).get_internal_type()

    def convert(value):
        try:
            key = (kind, value)
            return prepared[key]
        except TypeError:  # a JSON value: dicts do not hash
            key = (kind, repr(value))
            if key in prepared:
                return prepared[key]
        except KeyError:
            pass
        prepared[key] = result = field.get_db_prep_save(value, connection)
        return result

    return convert


def _insert(model, columns, rows, prepared):
    """INSERT rows of model (tuples in the order of columns, a list of fields) with one executemany.

    Django's bulk_create prepares each value through the ORM, which for 10,000 spans with their
    history costs seconds; here only UUIDs, date-times and JSON are converted, each distinct value
    once (prepared is a cache shared by the tables of one batch: a span's id appears in four).
    """
    ops = connection.ops
    converters = [None if _plain(field) else _converter(field, prepared) for field in columns]
    if any(converters):
        rows = [tuple(v if c is None or v is None else c(v) for v, c in zip(row, converters)) for row in rows]
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        ops.quote_name(model._meta.db_table),
        ", ".join(ops.quote_name(field.column) for field in columns),
        ", ".join(["%s"] * len(columns)),
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _store(checked, annotator):
    """Write spans, their themes, and a "+" history record of each with its themes, in one transaction."""
    spans = [span for span, _ in checked]
    now = timezone.now()
    for offset, span in enumerate(spans):
        # Distinct creation times in request order keep cursor pages (created_at, id) exact.
        span.created_at = now - timedelta(microseconds=len(spans) - offset)
        span.updated_at = now
    through = Span.themes.through
    historical = Span.history.model
    historical_themes = apps.get_model("annotations", "HistoricalSpan_themes")
    span_columns = Span._meta.concrete_fields
    link_columns = [through._meta.get_field("span"), through._meta.get_field("theme")]
    record_columns = [field for field in historical._meta.concrete_fields if not field.primary_key]
    # The reason names the batch, so its history records can be found again in SQL below.
    reason = f"bulk create {uuid.uuid4().hex}"
    record_values = {
        "history_date": now, "history_change_reason": reason, "history_type": "+", "history_user_id": annotator.pk,
    }

    prepared = {}
    with transaction.atomic():
        _insert(Span, span_columns, [tuple(getattr(span, f.attname) for f in span_columns) for span in spans],
                prepared)
        _insert(through, link_columns, [(span.pk, theme.pk) for span, themes in checked for theme in themes],
                prepared)
        _insert(historical, record_columns, [
            tuple(record_values[f.attname] if f.attname in record_values else getattr(span, f.attname)
                  for f in record_columns)
            for span in spans
        ], prepared)
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
