"""A span's API JSON, written by the database, for lists of hundreds of spans.

Building a dict per row in Python and encoding it again cost more than the query itself
(about 11 ms of CPU for a 500-span page on the development machine, against 6 ms here). The
shape is SpanSerializer.to_representation's, key for key; a test compares the two.
SQLite and PostgreSQL are supported.
"""
from django.db import NotSupportedError
from django.db.models import Case, CharField, Expression, F, Func, Q, TextField, Value, When
from django.db.models.functions import Cast, Concat, JSONObject


class UUIDText(Func):
    """A UUID column as 8-4-4-4-12 text (SQLite stores 32 hex digits)."""

    output_field = TextField()

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        pieces = [f"substr({sql}, {start}, {length})" for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))]
        return "(" + " || '-' || ".join(pieces) + ")", params * len(pieces)

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(({sql})::text)", params


class ISOTimestamp(Func):
    """A UTC date-time column as DRF writes it: 2025-05-01T10:00:00.123456Z, no fraction when it is zero."""

    output_field = TextField()

    def as_sqlite(self, compiler, connection, **extra_context):
        # Stored by Django as "2025-05-01 10:00:00.123456" in UTC, fraction left out when zero.
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(replace({sql}, ' ', 'T') || 'Z')", params

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        utc = f"(({sql}) AT TIME ZONE 'UTC')"
        return (
            f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN mod(extract(microseconds FROM {utc})::bigint, "
            f"1000000) = 0 THEN '' ELSE to_char({utc}, '.US') END || 'Z')",
            params * 3,
        )


class ThemeCodes(Expression):
    """The span's theme codes as a sorted JSON array, [] when it has none."""

    output_field = TextField()

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError("Theme code arrays are written for SQLite and PostgreSQL only.")

    def _parts(self, compiler, connection):
        from .models import Span, Theme

        q = connection.ops.quote_name
        outer = f"{compiler.quote_name_unless_alias(compiler.query.get_initial_alias())}.{q('id')}"
        links, themes = q(Span.themes.through._meta.db_table), q(Theme._meta.db_table)
        joined = f"{links} l INNER JOIN {themes} t ON t.{q('id')} = l.{q('theme_id')} WHERE l.{q('span_id')} = {outer}"
        return q, joined

    def as_sqlite(self, compiler, connection, **extra_context):
        q, joined = self._parts(compiler, connection)
        # json() marks the text as JSON, so json_object embeds an array rather than a string.
        return (f"json((SELECT json_group_array(c) FROM (SELECT t.{q('code')} AS c FROM {joined} "
                f"ORDER BY t.{q('code')})))"), []

    def as_postgresql(self, compiler, connection, **extra_context):
        q, joined = self._parts(compiler, connection)
        return f"(SELECT COALESCE(json_agg(t.{q('code')} ORDER BY t.{q('code')}), '[]'::json) FROM {joined})", []


class JSONRow(JSONObject):
    """JSON_OBJECT, kept as text (nested=True: kept as JSON for an enclosing object); json_build_object on PostgreSQL, which keeps the keys in order."""

    def __init__(self, nested=False, **fields):
        super().__init__(**fields)
        self.nested = nested

    @property
    def output_field(self):
        return TextField()

    def as_postgresql(self, compiler, connection, **extra_context):
        copy = self.copy()
        copy.set_source_expressions([
            Cast(expression, TextField()) if index % 2 == 0 else expression
            for index, expression in enumerate(copy.get_source_expressions())
        ])
        template = "%(function)s(%(expressions)s)" if self.nested else "%(function)s(%(expressions)s)::text"
        return Func.as_sql(copy, compiler, connection, function="JSON_BUILD_OBJECT", template=template,
                           **extra_context)


def span_json():
    """The expression giving each span's API JSON as text."""
    return JSONRow(
        id=UUIDText("id"),
        document=F("document_id"),
        document_external_id=F("document__external_id"),
        start=F("start"),
        end=F("end"),
        text=F("text"),
        prefix=F("prefix"),
        suffix=F("suffix"),
        themes=ThemeCodes(),
        stance=F("stance__key"),
        stance_target=F("stance_target"),
        source_reliability=F("source_reliability"),
        info_credibility=F("info_credibility"),
        attributed_source=JSONRow(
            nested=True, type=F("source_type"), name=F("source_name"), affiliation=F("source_affiliation"),
            via=F("source_via"),
        ),
        claim_type=F("claim_type"),
        note=F("note"),
        status=F("status"),
        annotator=F("annotator__username"),
        version=F("version"),
        created_at=ISOTimestamp("created_at"),
        updated_at=ISOTimestamp("updated_at"),
        # As Span.admiralty: both grades or nothing.
        admiralty=Case(
            When(~Q(source_reliability="") & Q(info_credibility__isnull=False),
                 then=Concat(F("source_reliability"), Cast("info_credibility", CharField()))),
            default=Value(""),
            output_field=CharField(),
        ),
    )
