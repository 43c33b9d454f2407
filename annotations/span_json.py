"""A span's API JSON, written by the database, for lists of hundreds of spans.

Building a dict per row in Python and encoding it again cost more than the query itself
(about 11 ms of CPU for a 500-span page on the development machine). The shape is
SpanSerializer.to_representation's, key for key; a test compares the two. The SQL is
written out once per database and table alias: compiling the same select list from
Django expressions cost 2 ms a request. SQLite and PostgreSQL are supported.
"""
from functools import lru_cache

from django.contrib.auth import get_user_model
from django.db import NotSupportedError
from django.db.models import Expression, Func, TextField

from corpus.models import Document

from .models import Span, StanceValue, Theme


def _iso_sqlite(column):
    # Stored by Django as "2025-05-01 10:00:00.123456" in UTC, the fraction left out when zero.
    return f"(replace({column}, ' ', 'T') || 'Z')"


def _iso_postgresql(column):
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN mod(extract(microseconds FROM {utc})::bigint, "
            f"1000000) = 0 THEN '' ELSE to_char({utc}, '.US') END || 'Z')")


class ISOTimestamp(Func):
    """A UTC date-time column as DRF writes it: 2025-05-01T10:00:00.123456Z, no fraction when it is zero."""

    output_field = TextField()

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError("ISOTimestamp is written for SQLite and PostgreSQL only.")

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return _iso_sqlite(sql), params

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return _iso_postgresql(f"({sql})"), params * 3


@lru_cache(maxsize=None)
def _span_json_sql(vendor, alias):
    """The SQL of one span row's JSON, the span table being known as alias."""
    from django.db import connection

    q = connection.ops.quote_name

    def col(name):
        return f"{alias}.{q(name)}"

    def lookup(model, column, key):
        table = q(model._meta.db_table)
        return f"(SELECT x.{q(column)} FROM {table} x WHERE x.{q('id')} = {col(key)})"

    links, themes = q(Span.themes.through._meta.db_table), q(Theme._meta.db_table)
    linked = (f"{links} l INNER JOIN {themes} t ON t.{q('id')} = l.{q('theme_id')} "
              f"WHERE l.{q('span_id')} = {col('id')}")
    admiralty = (f"CASE WHEN {col('source_reliability')} <> '' AND {col('info_credibility')} IS NOT NULL "
                 f"THEN {col('source_reliability')} || {col('info_credibility')} ELSE '' END")
    if vendor == "sqlite":
        hex_id = col("id")  # 32 hex digits
        uuid = " || '-' || ".join(f"substr({hex_id}, {a}, {n})" for a, n in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12)))
        # json() marks the array as JSON, so json_object embeds it rather than quoting it.
        codes = f"json((SELECT json_group_array(c) FROM (SELECT t.{q('code')} AS c FROM {linked} ORDER BY t.{q('code')})))"
        build, key, iso, tail = "json_object", "'{}'", _iso_sqlite, ""
    elif vendor == "postgresql":
        uuid = f"{col('id')}::text"
        codes = f"(SELECT COALESCE(json_agg(t.{q('code')} ORDER BY t.{q('code')}), '[]'::json) FROM {linked})"
        # json_build_object keeps the keys in order, unlike jsonb.
        build, key, iso, tail = "json_build_object", "'{}'::text", _iso_postgresql, "::text"
    else:
        raise NotSupportedError(f"Span JSON is not written for {vendor}.")

    def obj(pairs):
        return f"{build}(" + ", ".join(f"{key.format(k)}, {v}" for k, v in pairs) + ")"

    source = obj([("type", col("source_type")), ("name", col("source_name")),
                  ("affiliation", col("source_affiliation")), ("via", col("source_via"))])
    return obj([
        ("id", f"({uuid})"),
        ("document", col("document_id")),
        ("document_external_id", lookup(Document, "external_id", "document_id")),
        ("start", col("start")),
        ("end", col("end")),
        ("text", col("text")),
        ("prefix", col("prefix")),
        ("suffix", col("suffix")),
        ("themes", codes),
        ("stance", lookup(StanceValue, "key", "stance_id")),
        ("stance_target", col("stance_target")),
        ("source_reliability", col("source_reliability")),
        ("info_credibility", col("info_credibility")),
        ("attributed_source", source),
        ("claim_type", col("claim_type")),
        ("note", col("note")),
        ("status", col("status")),
        ("annotator", lookup(get_user_model(), "username", "annotator_id")),
        ("version", col("version")),
        ("created_at", iso(col("created_at"))),
        ("updated_at", iso(col("updated_at"))),
        # As Span.admiralty: both grades or nothing.
        ("admiralty", admiralty),
    ]) + tail


class SpanJSON(Expression):
    """Each span's API JSON as text."""

    output_field = TextField()

    def as_sql(self, compiler, connection, **extra_context):
        alias = compiler.quote_name_unless_alias(compiler.query.get_initial_alias())
        return _span_json_sql(connection.vendor, alias), []
