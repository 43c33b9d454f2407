"""The span's own part of its JSONL export record, kept by the database beside the span.

`Span.jsonl_template` is a stored generated column: the database writes it with every insert
and update of the row, whatever path the write takes (ORM, bulk insert, COPY, restore, raw SQL),
so it cannot fall behind the span. It holds the canonical record (spec section 3a) with the
span's own fields already JSON-encoded and four `%s` slots for what belongs to other rows and
may change under the span: the document's ids, the themes, the stance key and the annotator's
name. Every other `%` is doubled, so the export fills a line with one `template % (...)`.

    {"schema_version":"1.0","id":"…","document_id":%s,"start":…,"end":…,"text":…,"prefix":…,
     "suffix":…,"themes":%s,"stance":%s,"stance_target":…,…,"note":…,"annotator":%s,"status":…,
     "created_at":"…Z","updated_at":"…Z"

(no closing brace: gold spans add their provenance first). The SQL below must write exactly what
`annotations.exports.record` gives through `json.dumps(..., ensure_ascii=False,
separators=(",", ":"))`; a test compares the two on awkward text. The SQL is not part of the
migration state, so a change here needs a migration that rebuilds the column.
"""
import json

from django.db import NotSupportedError
from django.db.models import Expression, TextField
from django.utils.deconstruct import deconstructible

SCHEMA_VERSION = "1.0"

# The columns the template is made of, in the order the PostgreSQL function takes them.
COLUMNS = (
    "id", "start", "end", "text", "prefix", "suffix", "stance_target", "source_reliability", "info_credibility",
    "source_type", "source_name", "source_affiliation", "source_via", "claim_type", "note", "status",
    "created_at", "updated_at",
)

# No literal percent sign appears in the SQL: Django passes DDL through its parameter
# formatting, which would rewrite one. char(37) is "%", char(37, 115) is "%s", and char(1)
# (which JSON encoding never leaves raw in a string) marks a slot until the "%" are doubled.
SQLITE_SQL = """replace(replace(replace(replace(replace(
'{"schema_version":"SCHEMA_VERSION","id":"' || substr("id", 1, 8) || '-' || substr("id", 9, 4) || '-'
|| substr("id", 13, 4) || '-' || substr("id", 17, 4) || '-' || substr("id", 21) || '","document_id":' || char(1)
|| ',"start":' || "start" || ',"end":' || "end"
|| ',"text":' || json_quote("text") || ',"prefix":' || json_quote("prefix") || ',"suffix":' || json_quote("suffix")
|| ',"themes":' || char(1) || ',"stance":' || char(1)
|| ',"stance_target":' || json_quote("stance_target")
|| ',"source_reliability":' || json_quote("source_reliability")
|| ',"info_credibility":' || json_quote("info_credibility")
|| ',"attributed_source":{"type":' || json_quote(nullif("source_type", ''))
|| ',"name":' || json_quote(nullif("source_name", ''))
|| ',"affiliation":' || json_quote(nullif("source_affiliation", ''))
|| ',"via":' || json_quote(nullif("source_via", ''))
|| '},"claim_type":' || json_quote("claim_type") || ',"note":' || json_quote("note")
|| ',"annotator":' || char(1) || ',"status":' || json_quote("status")
|| ',"created_at":"' || substr("created_at", 1, 10) || 'T' || substr("created_at", 12, 8) || 'Z"'
|| ',"updated_at":"' || substr("updated_at", 1, 10) || 'T' || substr("updated_at", 12, 8) || 'Z"',
char(37), char(37, 37)), char(1), char(37, 115)),
char(133), '\\u0085'), char(8232), '\\u2028'), char(8233), '\\u2029')""".replace("SCHEMA_VERSION", SCHEMA_VERSION)

# PostgreSQL wants an immutable expression; to_json() and to_char() are only marked stable
# (they could depend on settings), but neither does for text and for this fixed UTC pattern.
# PL/pgSQL rather than SQL: an SQL function is not inlined here and goes through the SQL
# function executor, planned again for every statement (0.2 ms, a cost every single span
# save paid) and about 17 µs a row; PL/pgSQL keeps the expression's plan for the session and
# takes about 6 µs a row.
POSTGRESQL_FUNCTION = """
CREATE OR REPLACE FUNCTION lectern_jsonl_template(
    p_id uuid, p_start integer, p_end integer, p_text text, p_prefix text, p_suffix text, p_stance_target text,
    p_source_reliability text, p_info_credibility integer, p_source_type text, p_source_name text,
    p_source_affiliation text, p_source_via text, p_claim_type text, p_note text, p_status text,
    p_created_at timestamptz, p_updated_at timestamptz
) RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $body$ BEGIN
RETURN replace(replace(replace(replace(replace(
'{"schema_version":"SCHEMA_VERSION","id":"' || p_id::text || '","document_id":' || chr(1)
|| ',"start":' || p_start::text || ',"end":' || p_end::text
|| ',"text":' || to_json(p_text)::text || ',"prefix":' || to_json(p_prefix)::text
|| ',"suffix":' || to_json(p_suffix)::text
|| ',"themes":' || chr(1) || ',"stance":' || chr(1)
|| ',"stance_target":' || to_json(p_stance_target)::text
|| ',"source_reliability":' || to_json(p_source_reliability)::text
|| ',"info_credibility":' || coalesce(p_info_credibility::text, 'null')
|| ',"attributed_source":{"type":' || coalesce(to_json(nullif(p_source_type, ''))::text, 'null')
|| ',"name":' || coalesce(to_json(nullif(p_source_name, ''))::text, 'null')
|| ',"affiliation":' || coalesce(to_json(nullif(p_source_affiliation, ''))::text, 'null')
|| ',"via":' || coalesce(to_json(nullif(p_source_via, ''))::text, 'null')
|| '},"claim_type":' || to_json(p_claim_type)::text || ',"note":' || to_json(p_note)::text
|| ',"annotator":' || chr(1) || ',"status":' || to_json(p_status)::text
|| ',"created_at":"' || to_char(p_created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '"'
|| ',"updated_at":"' || to_char(p_updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '"',
chr(37), chr(37) || chr(37)), chr(1), chr(37) || 's'),
chr(133), '\\u0085'), chr(8232), '\\u2028'), chr(8233), '\\u2029');
END $body$;
""".replace("SCHEMA_VERSION", SCHEMA_VERSION)


class ColumnTemplate(Expression):
    """A generated column's expression: sqlite_sql on SQLite, function(columns...) on PostgreSQL.

    function_sql creates the PostgreSQL function; migrations run create_function and drop_function.
    """

    output_field = TextField()
    sqlite_sql = function = columns = function_sql = None

    def __eq__(self, other):
        return type(other) is type(self)

    def __hash__(self):
        return hash(type(self))

    def as_sql(self, compiler, connection):
        raise NotSupportedError(f"{type(self).__name__} is written for SQLite and PostgreSQL only.")

    def as_sqlite(self, compiler, connection):
        return self.sqlite_sql, []

    def as_postgresql(self, compiler, connection):
        columns = ", ".join(connection.ops.quote_name(name) for name in self.columns)
        return f"{self.function}({columns})", []

    @classmethod
    def create_function(cls, apps, schema_editor):
        _run_on_postgresql(schema_editor, cls.function_sql)

    @classmethod
    def drop_function(cls, apps, schema_editor):
        _run_on_postgresql(schema_editor, f"DROP FUNCTION IF EXISTS {cls.function}")


def _run_on_postgresql(schema_editor, statement):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(statement)


@deconstructible(path="annotations.export_template.JsonlTemplate")
class JsonlTemplate(ColumnTemplate):
    """The JSONL template column's expression."""

    sqlite_sql, function, columns, function_sql = SQLITE_SQL, "lectern_jsonl_template", COLUMNS, POSTGRESQL_FUNCTION


# A span's themes as the export writes them, their codes in schema order ('["TRADE","ENERGY"]'),
# kept in annotations_span.theme_codes by triggers on the span-theme table (a link added,
# removed or moved) and on the theme table (a code or position changed), so that an export
# reads a span's themes with the span instead of gathering them once per span (which cost more
# than the rest of the line). The column is the database's alone: Django does not know it, so
# no save can write a stale value into it, and every change of those tables, by the ORM, a bulk
# insert, COPY or raw SQL, goes through the triggers.
# On SQLite a migration that rebuilds annotations_span (altering one of its fields) drops the
# column; the triggers then fail every theme change loudly, and the tests with them. Such a
# migration must run add_theme_codes again after it.
SPAN_TABLE, THROUGH_TABLE, THEME_TABLE = "annotations_span", "annotations_span_themes", "annotations_theme"


def _sqlite_codes(span_id):
    return (
        f'(SELECT json_group_array("code") FROM (SELECT t."code" FROM "{THROUGH_TABLE}" st JOIN "{THEME_TABLE}" t '
        f'ON t."id" = st."theme_id" WHERE st."span_id" = {span_id} ORDER BY t."position", t."code"))'
    )


def _sqlite_refresh(span_id):
    return f'UPDATE "{SPAN_TABLE}" SET "theme_codes" = {_sqlite_codes(span_id)} WHERE "id" = {span_id};'


_NEW, _OLD, _ROW = 'NEW."span_id"', 'OLD."span_id"', f'"{SPAN_TABLE}"."id"'
SQLITE_THEME_CODES = [
    f'ALTER TABLE "{SPAN_TABLE}" ADD COLUMN "theme_codes" text NOT NULL DEFAULT \'[]\'',
    f'CREATE TRIGGER "span_theme_codes_insert" AFTER INSERT ON "{THROUGH_TABLE}" BEGIN '
    f'{_sqlite_refresh(_NEW)} END',
    f'CREATE TRIGGER "span_theme_codes_delete" AFTER DELETE ON "{THROUGH_TABLE}" BEGIN '
    f'{_sqlite_refresh(_OLD)} END',
    f'CREATE TRIGGER "span_theme_codes_update" AFTER UPDATE ON "{THROUGH_TABLE}" BEGIN '
    f'{_sqlite_refresh(_OLD)} {_sqlite_refresh(_NEW)} END',
    f'CREATE TRIGGER "span_theme_codes_theme" AFTER UPDATE OF "code", "position" ON "{THEME_TABLE}" '
    f'WHEN OLD."code" IS NOT NEW."code" OR OLD."position" IS NOT NEW."position" BEGIN '
    f'UPDATE "{SPAN_TABLE}" SET "theme_codes" = {_sqlite_codes(_ROW)} '
    f'WHERE "id" IN (SELECT "span_id" FROM "{THROUGH_TABLE}" WHERE "theme_id" = NEW."id"); END',
    f'UPDATE "{SPAN_TABLE}" SET "theme_codes" = {_sqlite_codes(_ROW)}',
]
SQLITE_DROP_THEME_CODES = [
    *(f'DROP TRIGGER IF EXISTS "span_theme_codes_{name}"' for name in ("insert", "delete", "update", "theme")),
    f'ALTER TABLE "{SPAN_TABLE}" DROP COLUMN "theme_codes"',
]

# PostgreSQL: one statement-level trigger per event on the link table, so a bulk insert or
# COPY of thousands of links updates their spans in one statement.
_PG_CODES = (
    f"""coalesce((SELECT '[' || string_agg(to_json(t."code")::text, ',' ORDER BY t."position", t."code") || ']' """
    f'FROM "{THROUGH_TABLE}" st JOIN "{THEME_TABLE}" t ON t."id" = st."theme_id" WHERE st."span_id" = s."id"), '
    "'[]')"
)
# A span whose column is right already is not written again: a bulk insert that fills it keeps
# its rows where it put them, next to their document's other spans, which is what an export reads.
_PG_REFRESH = (
    "CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN "
    f'UPDATE "{SPAN_TABLE}" s SET "theme_codes" = c.codes FROM (SELECT s."id", {_PG_CODES} AS codes '
    f'FROM "{SPAN_TABLE}" s WHERE s."id" IN ({{changed}})) c '
    'WHERE s."id" = c."id" AND s."theme_codes" IS DISTINCT FROM c.codes; RETURN NULL; END $body$'
)
POSTGRESQL_THEME_CODES = [
    f'ALTER TABLE "{SPAN_TABLE}" ADD COLUMN "theme_codes" text NOT NULL DEFAULT \'[]\'',
    _PG_REFRESH.format(name="lectern_span_theme_codes", changed='SELECT "span_id" FROM changed'),
    _PG_REFRESH.format(
        name="lectern_span_theme_codes_moved",
        changed='SELECT "span_id" FROM changed UNION SELECT "span_id" FROM changed_after',
    ),
    _PG_REFRESH.format(
        name="lectern_span_theme_codes_theme",
        changed=f'SELECT "span_id" FROM "{THROUGH_TABLE}" WHERE "theme_id" = NEW."id"',
    ),
    f'CREATE TRIGGER span_theme_codes_insert AFTER INSERT ON "{THROUGH_TABLE}" REFERENCING NEW TABLE AS changed '
    "FOR EACH STATEMENT EXECUTE FUNCTION lectern_span_theme_codes()",
    f'CREATE TRIGGER span_theme_codes_delete AFTER DELETE ON "{THROUGH_TABLE}" REFERENCING OLD TABLE AS changed '
    "FOR EACH STATEMENT EXECUTE FUNCTION lectern_span_theme_codes()",
    f'CREATE TRIGGER span_theme_codes_update AFTER UPDATE ON "{THROUGH_TABLE}" '
    "REFERENCING OLD TABLE AS changed NEW TABLE AS changed_after "
    "FOR EACH STATEMENT EXECUTE FUNCTION lectern_span_theme_codes_moved()",
    f'CREATE TRIGGER span_theme_codes_theme AFTER UPDATE OF "code", "position" ON "{THEME_TABLE}" FOR EACH ROW '
    'WHEN (OLD."code" IS DISTINCT FROM NEW."code" OR OLD."position" IS DISTINCT FROM NEW."position") '
    "EXECUTE FUNCTION lectern_span_theme_codes_theme()",
    f'UPDATE "{SPAN_TABLE}" s SET "theme_codes" = {_PG_CODES}',
]
POSTGRESQL_DROP_THEME_CODES = [
    f'DROP TRIGGER IF EXISTS span_theme_codes_insert ON "{THROUGH_TABLE}"',
    f'DROP TRIGGER IF EXISTS span_theme_codes_delete ON "{THROUGH_TABLE}"',
    f'DROP TRIGGER IF EXISTS span_theme_codes_update ON "{THROUGH_TABLE}"',
    f'DROP TRIGGER IF EXISTS span_theme_codes_theme ON "{THEME_TABLE}"',
    "DROP FUNCTION IF EXISTS lectern_span_theme_codes()",
    "DROP FUNCTION IF EXISTS lectern_span_theme_codes_moved()",
    "DROP FUNCTION IF EXISTS lectern_span_theme_codes_theme()",
    f'ALTER TABLE "{SPAN_TABLE}" DROP COLUMN IF EXISTS "theme_codes"',
]


def theme_codes(themes):
    """The codes of these Theme objects in schema order, as the triggers keep them."""
    return [theme.code for theme in sorted(themes, key=lambda theme: (theme.position, theme.code))]


def codes_json(codes):
    """Theme codes (in schema order) as the triggers write them, for bulk inserts that fill the column themselves."""
    return json.dumps(codes, ensure_ascii=False, separators=(",", ":"))


def theme_codes_json(themes):
    return codes_json(theme_codes(themes))


def _run(schema_editor, statements):
    with schema_editor.connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def add_theme_codes(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        # Every row a migration has just rewritten counts as inserted by its transaction, so the
        # UPDATE that fills the column queues a deferred foreign-key check per span; pending, they
        # make PostgreSQL refuse any later index on the table in the same migration. Checked now.
        _run(schema_editor, ["SET CONSTRAINTS ALL IMMEDIATE"])
    _run(schema_editor, POSTGRESQL_THEME_CODES if vendor == "postgresql" else SQLITE_THEME_CODES)


def remove_theme_codes(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    _run(schema_editor, POSTGRESQL_DROP_THEME_CODES if vendor == "postgresql" else SQLITE_DROP_THEME_CODES)
