"""A span's API JSON, written by the database, for lists of hundreds of spans.

Building a dict per row in Python and encoding it again cost more than the query itself
(about 11 ms of CPU for a 500-span page on the development machine), and building the JSON
in the query at each read still cost 4 ms (SQLite) to 13 ms (PostgreSQL) for 500 spans. So
the database keeps each span's JSON beside it, with slots for what belongs to other rows, and
a list fills the slots. The shape is SpanSerializer.to_representation's, key for key; a test
compares the two. The SQL is written out once per database and table alias: compiling the
same select list from Django expressions cost 2 ms a request. SQLite and PostgreSQL are
supported.
"""
from functools import lru_cache

from django.contrib.auth import get_user_model
from django.db import NotSupportedError
from django.db.models import Expression, TextField
from django.utils.deconstruct import deconstructible

from corpus.models import Document

from .export_template import ColumnTemplate


# The span's own part of its API JSON, a stored generated column (Span.api_json_template) written
# by the database with every insert and update of the row. Four "%s" slots hold what lives in
# other rows and may change under the span: the document's external id, the theme codes, the
# stance key and the annotator's name; every other "%" is doubled, so that format() (in either
# database) fills a row. As in annotations.export_template, no literal percent sign appears in
# the SQL (Django passes DDL through its parameter formatting): char(37) is "%" and char(1),
# which JSON encoding never leaves raw in a string, marks a slot until the "%" are doubled.
# The SQL is not part of the migration state: a change here needs a migration that rebuilds
# the column.
SQLITE_API_SQL = """replace(replace(
'{"id":"' || substr("id", 1, 8) || '-' || substr("id", 9, 4) || '-' || substr("id", 13, 4) || '-'
|| substr("id", 17, 4) || '-' || substr("id", 21) || '","document":' || "document_id"
|| ',"document_external_id":' || char(1) || ',"start":' || "start" || ',"end":' || "end"
|| ',"text":' || json_quote("text") || ',"prefix":' || json_quote("prefix") || ',"suffix":' || json_quote("suffix")
|| ',"themes":' || char(1) || ',"stance":' || char(1) || ',"stance_target":' || json_quote("stance_target")
|| ',"source_reliability":' || json_quote("source_reliability")
|| ',"info_credibility":' || json_quote("info_credibility")
|| ',"attributed_source":{"type":' || json_quote("source_type") || ',"name":' || json_quote("source_name")
|| ',"affiliation":' || json_quote("source_affiliation") || ',"via":' || json_quote("source_via")
|| '},"claim_type":' || json_quote("claim_type") || ',"note":' || json_quote("note")
|| ',"status":' || json_quote("status") || ',"annotator":' || char(1) || ',"version":' || "version"
|| ',"created_at":"' || replace("created_at", ' ', 'T') || 'Z","updated_at":"' || replace("updated_at", ' ', 'T')
|| 'Z","admiralty":"' || CASE WHEN "source_reliability" <> '' AND "info_credibility" IS NOT NULL
   THEN "source_reliability" || "info_credibility" ELSE '' END || '"}',
char(37), char(37, 37)), char(1), char(37, 115))"""

# The columns the PostgreSQL function takes, in its order.
API_COLUMNS = (
    "id", "document_id", "start", "end", "text", "prefix", "suffix", "stance_target", "source_reliability",
    "info_credibility", "source_type", "source_name", "source_affiliation", "source_via", "claim_type", "note",
    "status", "version", "created_at", "updated_at",
)

# Immutable, as a generated column requires: to_json() and to_char() are only marked stable
# (they could depend on settings), but neither does for text and for this fixed UTC pattern.
# PL/pgSQL for the reason given in annotations.export_template.
POSTGRESQL_API_FUNCTION = """
CREATE OR REPLACE FUNCTION lectern_span_api_template(
    p_id uuid, p_document_id bigint, p_start integer, p_end integer, p_text text, p_prefix text, p_suffix text,
    p_stance_target text, p_source_reliability text, p_info_credibility integer, p_source_type text,
    p_source_name text, p_source_affiliation text, p_source_via text, p_claim_type text, p_note text,
    p_status text, p_version integer, p_created_at timestamptz, p_updated_at timestamptz
) RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $body$ BEGIN
RETURN replace(replace(
'{"id":"' || p_id::text || '","document":' || p_document_id::text || ',"document_external_id":' || chr(1)
|| ',"start":' || p_start::text || ',"end":' || p_end::text
|| ',"text":' || to_json(p_text)::text || ',"prefix":' || to_json(p_prefix)::text
|| ',"suffix":' || to_json(p_suffix)::text
|| ',"themes":' || chr(1) || ',"stance":' || chr(1) || ',"stance_target":' || to_json(p_stance_target)::text
|| ',"source_reliability":' || to_json(p_source_reliability)::text
|| ',"info_credibility":' || coalesce(p_info_credibility::text, 'null')
|| ',"attributed_source":{"type":' || to_json(p_source_type)::text || ',"name":' || to_json(p_source_name)::text
|| ',"affiliation":' || to_json(p_source_affiliation)::text || ',"via":' || to_json(p_source_via)::text
|| '},"claim_type":' || to_json(p_claim_type)::text || ',"note":' || to_json(p_note)::text
|| ',"status":' || to_json(p_status)::text || ',"annotator":' || chr(1) || ',"version":' || p_version::text
|| ',"created_at":"' || ISO_CREATED || 'Z","updated_at":"' || ISO_UPDATED
|| 'Z","admiralty":"' || CASE WHEN p_source_reliability <> '' AND p_info_credibility IS NOT NULL
   THEN p_source_reliability || p_info_credibility::text ELSE '' END || '"}',
chr(37), chr(37) || chr(37)), chr(1), chr(37) || 's');
END $body$;
"""


def _iso_postgresql(column):
    """A UTC date-time as DRF writes it, without the "Z": no fraction when it is zero."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN mod(extract(microseconds FROM {utc})::bigint, "
            f"1000000) = 0 THEN '' ELSE to_char({utc}, '.US') END")


POSTGRESQL_API_FUNCTION = POSTGRESQL_API_FUNCTION.replace("ISO_CREATED", _iso_postgresql("p_created_at")).replace(
    "ISO_UPDATED", _iso_postgresql("p_updated_at"))


@deconstructible(path="annotations.span_json.ApiJsonTemplate")
class ApiJsonTemplate(ColumnTemplate):
    """The API JSON template column's expression."""

    sqlite_sql, function, columns = SQLITE_API_SQL, "lectern_span_api_template", API_COLUMNS
    function_sql = POSTGRESQL_API_FUNCTION


@lru_cache(maxsize=None)
def _span_json_sql(vendor, alias):
    """The SQL of one span row's JSON, the span table being known as alias: the stored template filled in."""
    from django.db import connection

    from .models import StanceValue  # the models module imports this one

    q = connection.ops.quote_name

    def col(name):
        return f"{alias}.{q(name)}"

    def lookup(model, column, key):
        table = q(model._meta.db_table)
        return f"(SELECT x.{q(column)} FROM {table} x WHERE x.{q('id')} = {col(key)})"

    # The theme codes in schema order, kept beside the span by annotations.export_template.
    slots = [lookup(Document, "external_id", "document_id"), None, lookup(StanceValue, "key", "stance_id"),
             lookup(get_user_model(), "username", "annotator_id")]
    if vendor == "sqlite":
        filled = [f"json_quote({slot})" if slot else col("theme_codes") for slot in slots]
        return f"printf({col('api_json_template')}, {', '.join(filled)})"
    if vendor == "postgresql":
        filled = [f"coalesce(to_json({slot})::text, 'null')" if slot else col("theme_codes") for slot in slots]
        return f"format({col('api_json_template')}, {', '.join(filled)})"
    raise NotSupportedError(f"Span JSON is not written for {vendor}.")


class SpanJSON(Expression):
    """Each span's API JSON as text."""

    output_field = TextField()

    def as_sql(self, compiler, connection, **extra_context):
        alias = compiler.quote_name_unless_alias(compiler.query.get_initial_alias())
        return _span_json_sql(connection.vendor, alias), []
