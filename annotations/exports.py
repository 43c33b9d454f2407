"""Span exports: canonical JSONL, CSV, W3C Web Annotation and doccano, streamed chunk by chunk.

The export endpoint and the `export_spans` command share these generators. Spans are read
in (document, start, end, id) order a chunk at a time by keyset pagination over a window of
the project's documents, so a chunk costs a fixed handful of queries whatever the export's
size, and memory stays flat: nothing but the current chunk and its documents is held.
"""
import bisect
import csv
import io
import json
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timezone as dt_timezone
from json.encoder import encode_basestring

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connections, router
from django.db.models import Exists, OuterRef, Q, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from psycopg.adapt import Loader
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from corpus.models import Document, Membership, Project

from .api import ERRORS, as_utc
from .models import InfoCredibility, SourceReliability, Span, StanceValue, Theme

SCHEMA_VERSION = "1.0"
CHUNK_SIZE = 2000
# Document ids per span query: a window as large as this still fits SQLite's bound on
# query parameters (32,766), and the query sorts only the window's spans.
MAX_WINDOW = 4000
FIRST_WINDOW = 32
# PostgreSQL: a window's documents go as an array indexed by id while ids are this close together.
ID_GAP_ALLOWANCE = 64
DOCUMENT_PAGE = 1000
# PostgreSQL JSONL: blocks of documents read at once, each on a connection of its own.
READ_AHEAD = 2
TEXT_BATCH = 50

JSONL_FIELDS = (
    "schema_version", "id", "document_id", "document_external_id", "text_sha256", "start", "end", "text",
    "prefix", "suffix", "themes", "stance", "stance_target", "source_reliability", "info_credibility",
    "attributed_source", "claim_type", "note", "annotator", "status", "created_at", "updated_at",
)
CSV_FIELDS = (
    "schema_version", "id", "document_id", "document_external_id", "text_sha256", "start", "end", "text",
    "prefix", "suffix", "themes", "stance", "stance_target", "source_reliability", "info_credibility",
    "source_type", "source_name", "source_affiliation", "source_via", "claim_type", "note", "annotator",
    "status", "created_at", "updated_at", "admiralty",
)
# OWASP "CSV injection": spreadsheets run a cell that starts with one of these as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
ANNOTATION_CONTEXT = "http://www.w3.org/ns/anno.jsonld"
GOLD_PREFIX = "curator:"

# Positions in a row as `SpanReader` reads it.
(ID, DOC, START, END, TEXT, PREFIX, SUFFIX, STANCE, TARGET, RELIABILITY, CREDIBILITY, SOURCE_TYPE, SOURCE_NAME,
 SOURCE_AFFILIATION, SOURCE_VIA, CLAIM, NOTE, ANNOTATOR, STATUS, CREATED, UPDATED, PROVENANCE) = range(22)
ROW_COLUMNS = (
    "id_text", "document_id", "start", "end", "text", "prefix", "suffix", "stance_id", "stance_target",
    "source_reliability", "info_credibility", "source_type", "source_name", "source_affiliation", "source_via",
    "claim_type", "note", "annotator_id", "status", "created_text", "updated_text", "provenance_text",
)
# The JSONL writer reads the database's template of each line instead (annotations.export_template);
# the first four positions are the same, for the keyset.
(TEMPLATE, THEME_CODES, TEMPLATE_STANCE, TEMPLATE_ANNOTATOR, TEMPLATE_STATUS, TEMPLATE_PROVENANCE) = range(4, 10)
TEMPLATE_COLUMNS = (
    "id_text", "document_id", "start", "end", "template", "theme_codes", "stance_id", "annotator_id", "status",
    "provenance_text",
)
# PostgreSQL fills the templates itself and sends a chunk's lines as one value (SpanReader.filled_block):
# the documents', stances' and members' parts of the lines come as parameters, and a former
# member's name, JSON-encoded as JSON_NAME, from the user table.
JSON_NAME = (
    "replace(replace(replace(to_json({})::text, chr(133), '\\u0085'), chr(8232), '\\u2028'), "
    "chr(8233), '\\u2029')"
)
FILLED_LINES = (
    "SELECT string_agg(format(x.template, {document}, x.theme_codes, "
    "coalesce(%s::jsonb ->> x.stance_id::text, 'null'), "
    "coalesce(CASE WHEN x.status = 'gold' THEN %s::jsonb ELSE %s::jsonb END ->> x.annotator_id::text, "
    "(SELECT {name} FROM {users} u WHERE u.{pk} = x.annotator_id))) "
    "|| CASE WHEN x.status = 'gold' THEN chr(2) || x.provenance_text ELSE '}}' END || chr(10), ''), count(*) "
    "FROM ({inner}) x"
)


def parse_filters(params):
    """Read the span-list filters (and `gold`) from a query mapping; refuse malformed values."""
    errors = {}
    filters = {}

    def text(name):
        value = params.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    if (value := text("document")) is not None:
        try:
            filters["document"] = int(value)
        except ValueError:
            errors["document"] = [f"Use a document id (a whole number), not {value!r}."]
    if (value := text("annotator")) is not None:
        filters["annotator"] = value.removeprefix(GOLD_PREFIX)
    if (value := text("theme")) is not None:
        filters["theme"] = value
    if (value := text("stance")) is not None:
        filters["stance"] = value
    if (value := text("source_reliability")) is not None:
        if value.upper() not in SourceReliability.values:
            errors["source_reliability"] = [f"Use one of {', '.join(SourceReliability.values)}."]
        filters["source_reliability"] = value.upper()
    if (value := text("info_credibility")) is not None:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number not in InfoCredibility.values:
            errors["info_credibility"] = ["Use a grade from 1 to 6."]
        filters["info_credibility"] = number
    if (value := text("status")) is not None:
        if value not in Span.Status.values:
            errors["status"] = [f"Use one of {', '.join(Span.Status.values)}."]
        filters["status"] = value
    if (value := text("updated_since")) is not None:
        # An unencoded "+00:00" in a query string arrives as " 00:00".
        candidates = [value] + ([value[::-1].replace(" ", "+", 1)[::-1]] if " " in value else [])
        moment = None
        for candidate in candidates:
            try:
                moment = parse_datetime(candidate)
            except ValueError:
                moment = None
            if moment is not None:
                break
        if moment is None:
            errors["updated_since"] = [f"Use an ISO 8601 date and time such as 2025-05-01T10:00:00Z, not {value!r}."]
        else:
            filters["updated_since"] = (
                as_utc(moment) if timezone.is_aware(moment) else moment.replace(tzinfo=dt_timezone.utc)
            )
    if (value := text("gold")) is not None:
        lowered = value.lower()
        if lowered in {"true", "1", "yes"}:
            filters["gold"] = True
        elif lowered in {"false", "0", "no"}:
            filters["gold"] = False
        else:
            errors["gold"] = ["Use true or false."]
    if errors:
        raise ValidationError(errors)
    return filters


def export_spans(project, *, user=None, filters=None):
    """The project's spans the user may export, filtered; user None (the command) reads them all.

    Curators and managers get every span of the project, annotators only their own. Without
    `gold`, the annotators' layers are exported (every status but gold); gold=true gives only gold.
    """
    filters = filters or {}
    spans = Span.objects.all()
    if user is not None:
        role = Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
        if role is None:
            return Span.objects.none()
        if role == Membership.Role.ANNOTATOR:
            spans = spans.filter(annotator=user)
    gold = filters.get("gold")
    if gold:
        spans = spans.filter(status=Span.Status.GOLD)
    elif gold is False or filters.get("status") != Span.Status.GOLD:
        spans = spans.exclude(status=Span.Status.GOLD)
    if "status" in filters:
        spans = spans.filter(status=filters["status"])
    if "document" in filters:
        spans = spans.filter(document_id=filters["document"])
    if "annotator" in filters:
        spans = spans.filter(annotator__username=filters["annotator"])
    if "theme" in filters:
        code = filters["theme"]
        theme_ids = list(
            Theme.objects.filter(project=project).filter(Q(code=code) | Q(code__startswith=f"{code}."))
            .values_list("pk", flat=True)
        )
        # A correlated EXISTS probes the through table per span of the current window; an
        # IN (subquery) would scan every span's themes again for each chunk.
        spans = spans.filter(
            Exists(Span.themes.through.objects.filter(span_id=OuterRef("pk"), theme_id__in=theme_ids))
        )
    if "stance" in filters:
        spans = spans.filter(stance__project=project, stance__key=filters["stance"])
    if "source_reliability" in filters:
        spans = spans.filter(source_reliability=filters["source_reliability"])
    if "info_credibility" in filters:
        spans = spans.filter(info_credibility=filters["info_credibility"])
    if "updated_since" in filters:
        spans = spans.filter(updated_at__gt=filters["updated_since"])
    return spans


def uuid_text(value):
    """Canonical hyphenated form of a UUID read as text (SQLite stores 32 hex digits)."""
    if len(value) == 32:
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return value


def iso_seconds(value):
    """"2025-05-01 10:00:00.123456[+00]" (a UTC timestamp read as text) as "2025-05-01T10:00:00Z"."""
    if value is None:
        return None
    return f"{value[:10]}T{value[11:19]}Z"


@dataclass
class Chunk:
    """Up to CHUNK_SIZE spans as row tuples, with what their records refer to."""

    rows: list
    themes: dict  # span id as read -> [theme id, ...]
    documents: dict  # document id -> (external_id, text_sha256)
    annotators: dict  # user id -> username (every one seen so far)
    block: bytes | None = None  # the chunk's JSONL, where the database wrote it (PostgreSQL)


class _Blocks:
    """The span queries of an export: blocks of consecutive documents, each read a chunk at a time.

    A block covers as many documents as should hold about one chunk of spans, judged by the
    spans per document of the last block read. A block holding more is read on: the next
    query resumes after its last span (keyset on document, start, end, id) within the block's
    remaining documents. Blocks never depend on each other's rows, so the next block's first
    query can run while the current block is still being read.
    """

    def __init__(self, rows_query, documents, chunk_size):
        self.rows_query, self.documents, self.chunk_size = rows_query, documents, chunk_size
        self.pending = []  # the next documents in id order, read a page at a time
        self.last_read = -1  # id of the last document read into pending
        self.more = True  # whether documents after last_read may remain
        self.window = FIRST_WINDOW

    def next(self):
        """The next block's documents, as (pk, external_id, text_sha256) rows, or None after the last."""
        pending = self.pending
        if len(pending) < self.window and self.more:
            size = max(DOCUMENT_PAGE, self.window)
            page = list(self.documents.filter(pk__gt=self.last_read)[:size])
            self.more = len(page) == size
            if page:
                self.last_read = page[-1][0]
                pending.extend(page)
        block = pending[:self.window]
        del pending[:self.window]
        return block or None

    def query(self, block, after=None):
        """(documents, sql, params): up to a chunk of the block's spans, those after the row `after` if given."""
        docs = block
        query = self.rows_query
        if after is not None:
            doc, start, end, span_id = after[DOC], after[START], after[END], after[ID]
            docs = block[bisect.bisect_left(block, (doc,)):]
            query = query.filter(
                Q(document_id__gt=doc)
                | Q(document_id=doc, start__gt=start)
                | Q(document_id=doc, start=start, end__gt=end)
                | Q(document_id=doc, start=start, end=end, id__gt=uuid.UUID(span_id))
            )
        query = query.filter(document_id__in=[d[0] for d in docs])
        # The compiled SQL runs on a plain cursor: rows of a dozen columns decoded by the
        # ORM cost a third more, and every column here is already text or a number.
        sql, params = query[:self.chunk_size].query.sql_with_params()
        return docs, sql, params

    def finished(self, block, spans):
        """Learn from a block read to its end how many documents the next ones should cover."""
        density = spans / len(block)
        # Sparse spans (a narrow filter) widen the blocks toward a chunk's worth; dense ones narrow them.
        self.window = MAX_WINDOW if density == 0 else min(MAX_WINDOW, max(1, int(self.chunk_size / density)))


class _ReadAhead:
    """Threads with database connections of their own, running chunk queries ahead of the writer."""

    def __init__(self, alias, threads):
        self.alias = alias
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="export-read-ahead")
        self.opened = []

    def submit(self, read, planned):
        docs, sql, params = planned
        return self.executor.submit(self._run, read, sql, params, docs)

    def _run(self, read, sql, params, docs):
        connection = connections[self.alias]
        if connection not in self.opened:
            connection.inc_thread_sharing()  # so that close() may close it from the writer's thread
            self.opened.append(connection)
        return read(connection, sql, params, docs)

    def close(self):
        """Wait for the queries still running, then close the threads' connections."""
        self.executor.shutdown(wait=True, cancel_futures=True)
        for connection in self.opened:
            connection.close()
            connection.dec_thread_sharing()


class RawTextLoader(Loader):
    """Hands a PostgreSQL text value over as the bytes it arrived in: UTF-8, the encoding Django sets."""

    def load(self, data):
        return bytes(data)


@dataclass
class SpanReader:
    """Reads a span queryset of one project in (document, start, end, id) order, a chunk at a time."""

    project: object
    spans: object
    chunk_size: int = CHUNK_SIZE
    document_id: int | None = None
    themes: dict = field(default_factory=dict)  # theme id -> code
    theme_order: dict = field(default_factory=dict)  # theme id -> position in the schema
    stances: dict = field(default_factory=dict)  # stance id -> key
    template: bool = False  # read TEMPLATE_COLUMNS (for JsonlWriter) rather than ROW_COLUMNS
    filled_maps: list | None = None  # PostgreSQL: stance and member names, as filled_block sends them

    def __post_init__(self):
        for order, (pk, code) in enumerate(
            Theme.objects.filter(project=self.project).order_by("position", "code").values_list("pk", "code")
        ):
            self.themes[pk] = code
            self.theme_order[pk] = order
        self.stances = dict(StanceValue.objects.filter(project=self.project).values_list("pk", "key"))

    def documents(self):
        documents = Document.objects.filter(project=self.project)
        if self.document_id is not None:
            documents = documents.filter(pk=self.document_id)
        return documents.order_by("pk")

    def count(self):
        return self.spans.filter(document__project=self.project).count()

    def rows(self):
        ordered = self.spans.order_by("document_id", "start", "end", "id")
        if self.template:
            connection = connections[router.db_for_read(Span)]
            q = connection.ops.quote_name
            table = q(Span._meta.db_table)
            template, codes = f"{table}.{q('jsonl_template')}", f"{table}.{q('theme_codes')}"
            if connection.vendor != "postgresql":
                # Bytes: the line is assembled and sent as UTF-8 without decoding it first.
                template, codes = f"CAST({template} AS BLOB)", f"CAST({codes} AS BLOB)"
            return ordered.annotate(
                id_text=Cast("id", TextField()),
                template=RawSQL(template, [], output_field=TextField()),
                # Kept by the database's triggers (annotations.export_template); Django does not know the column.
                theme_codes=RawSQL(codes, [], output_field=TextField()),
                provenance_text=Cast("provenance", TextField()),
            ).values_list(*TEMPLATE_COLUMNS)
        return ordered.annotate(
            id_text=Cast("id", TextField()),
            created_text=Cast("created_at", TextField()),
            updated_text=Cast("updated_at", TextField()),
            provenance_text=Cast("provenance", TextField()),
        ).values_list(*ROW_COLUMNS)

    def chunks(self):
        """Yield Chunk objects until the spans run out; each costs four or five queries.

        The chunks are separate statements, not one snapshot (a transaction would hold SQLite's
        write lock for the whole export): a span edited while an export runs may come in its old
        or new place, or be missed if it moved behind the cursor; its updated_at brings it back
        in the next updated_since pull.

        On PostgreSQL the JSONL blocks are read ahead, on connections of their own, while the
        chunk before goes out: two blocks of documents at a time, in parallel. One server process
        wrote and sent a chunk's block in about four times as long as the worker took to pass
        it on.
        """
        alias = router.db_for_read(Span)
        connection = connections[alias]
        through = Span.themes.through._meta
        # PostgreSQL takes the chunk's ids as one array literal: psycopg spends longer on a
        # statement with 2,000 placeholders, or on adapting a list, than the server on the query.
        theme_sql = "SELECT CAST({span} AS text), {theme} FROM {table} WHERE {span} {match}".format(
            span=connection.ops.quote_name(through.get_field("span").column),
            theme=connection.ops.quote_name(through.get_field("theme").column),
            table=connection.ops.quote_name(through.db_table),
            match="= ANY(%s::uuid[])" if connection.vendor == "postgresql" else "IN ({})",
        )
        users = get_user_model().objects
        annotators = {}
        blocks = _Blocks(self.rows(), self.documents().values_list("pk", "external_id", "text_sha256"),
                         self.chunk_size)
        filled = self.template and connection.vendor == "postgresql"

        def read(connection, sql, params, docs):
            if filled:
                return self.filled_block(connection, sql, params, docs)
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return None, cursor.fetchall()

        # Another connection sees only what is committed: inside a transaction (a test's,
        # for one) every query runs in turn on this one.
        ahead = _ReadAhead(alias, READ_AHEAD) if filled and not connection.in_atomic_block else None
        # The queries to read, in the order their rows go out: [block, (docs, sql, params), future, spans so far].
        queue = deque()

        def start(entry):
            entry[2] = ahead.submit(read, entry[1]) if ahead is not None else None
            return entry

        def fill():
            while len(queue) < READ_AHEAD:
                block = blocks.next()
                if block is None:
                    return
                queue.append(start([block, blocks.query(block), None, 0]))

        try:
            fill()
            while queue:
                entry = queue[0]
                block, (docs, sql, params), future, spans = entry
                block_text, rows = future.result() if future is not None else read(connection, sql, params, docs)
                if len(rows) == self.chunk_size:
                    # The block holds more: read on after this chunk's last span.
                    entry[1], entry[3] = blocks.query(block, after=rows[-1]), spans + len(rows)
                    start(entry)
                else:
                    queue.popleft()
                    blocks.finished(block, spans + len(rows))
                    fill()
                if not rows:
                    continue
                themes = {}
                if block_text is not None:
                    yield Chunk(rows=rows, themes=themes, documents={}, annotators=annotators, block=block_text)
                    continue
                if not self.template:
                    span_ids = [row[ID] for row in rows]
                    with connection.cursor() as cursor:
                        if connection.vendor == "postgresql":
                            cursor.execute(theme_sql, ["{" + ",".join(span_ids) + "}"])
                        else:
                            cursor.execute(theme_sql.format(", ".join(["%s"] * len(span_ids))), span_ids)
                        for span_id, theme_id in cursor.fetchall():
                            themes.setdefault(span_id, []).append(theme_id)
                person = TEMPLATE_ANNOTATOR if self.template else ANNOTATOR
                missing = {row[person] for row in rows} - annotators.keys()
                if missing:
                    annotators.update(users.filter(pk__in=missing).values_list("pk", "username"))
                yield Chunk(rows=rows, themes=themes, documents={d[0]: (d[1], d[2]) for d in docs},
                            annotators=annotators)
        finally:
            if ahead is not None:
                ahead.close()

    def filled_block(self, connection, sql, params, documents):
        """Run a chunk's query with PostgreSQL filling each template: (JSONL block, key rows).

        The server writes the lines and joins them into one value, so Python handles one row
        a chunk rather than one a span. Gold spans come with their provenance after a chr(2),
        to be written compactly here. The key rows stand in for the chunk's rows: one per
        line, the last with its keys.
        """
        q, enc = connection.ops.quote_name, encode_basestring
        # What comes from other tables travels with the statement, encoded here: the window's
        # documents by position (their ids are close together) or, when they are far apart, by
        # id, and the stances and members' names by id (a former member's name is looked up).
        if self.filled_maps is None:
            members = Membership.objects.filter(project=self.project).values_list("user_id", "user__username")
            self.filled_maps = [
                json.dumps({pk: escape_line_breakers(enc(key)) for pk, key in self.stances.items()}),
                json.dumps({pk: escape_line_breakers(enc(GOLD_PREFIX + name)) for pk, name in members}),
                json.dumps({pk: escape_line_breakers(enc(name)) for pk, name in members}),
            ]
        parts = {
            pk: escape_line_breakers(f'{pk},"document_external_id":{enc(external_id)},"text_sha256":{enc(sha)}')
            for pk, external_id, sha in documents
        }
        first, last = documents[0][0], documents[-1][0]
        if last - first < 4 * len(documents) + ID_GAP_ALLOWANCE:
            document, by_document = "(%s::text[])[x.document_id - %s]", [
                [parts.get(pk) for pk in range(first, last + 1)], first - 1,
            ]
        else:
            document, by_document = "%s::jsonb ->> x.document_id::text", [json.dumps(parts)]
        statement = FILLED_LINES.format(
            inner=sql, document=document, users=q(get_user_model()._meta.db_table), pk=q("id"),
            name=JSON_NAME.format(
                f"CASE WHEN x.status = 'gold' THEN '{GOLD_PREFIX}' || u.username ELSE u.username END"
            ),
        )
        params = [*by_document, *self.filled_maps, *params]
        with connection.cursor() as cursor:
            # The block as the server's UTF-8 bytes: decoding 1.5 MB a chunk only to encode it
            # again cost a fifth of the export's time in Python.
            cursor.cursor.adapters.register_loader("text", RawTextLoader)
            cursor.execute(statement, params)
            block, lines = cursor.fetchone()
        if not lines:
            return b"", []
        if b"\x02" in block:
            # Gold spans: the provenance, written compactly, then the closing brace.
            parts = block.split(b"\n")
            for i, line in enumerate(parts):
                if b"\x02" in line:
                    head, provenance = line.split(b"\x02")
                    provenance = json.dumps(json.loads(provenance), ensure_ascii=False, separators=(",", ":"))
                    parts[i] = head + escape_line_breakers(',"provenance":' + provenance + "}").encode("utf-8")
            block = b"\n".join(parts)
        last = json.loads(block[block.rfind(b"\n", 0, len(block) - 1) + 1:])
        keys = (last["id"], last["document_id"], last["start"], last["end"])
        return block, [keys] * lines

    def theme_codes(self, chunk, row):
        ids = chunk.themes.get(row[ID], ())
        if len(ids) > 1:
            ids = sorted(ids, key=self.theme_order.get)
        return [self.themes[pk] for pk in ids]


def annotator_name(chunk, row):
    name = chunk.annotators[row[ANNOTATOR]]
    return GOLD_PREFIX + name if row[STATUS] == Span.Status.GOLD else name


def record(reader, chunk, row):
    """The canonical JSONL record of one span (spec section 3a), as a dict in the spec's key order."""
    external_id, sha = chunk.documents[row[DOC]]
    result = {
        "schema_version": SCHEMA_VERSION,
        "id": uuid_text(row[ID]),
        "document_id": row[DOC],
        "document_external_id": external_id,
        "text_sha256": sha,
        "start": row[START],
        "end": row[END],
        "text": row[TEXT],
        "prefix": row[PREFIX],
        "suffix": row[SUFFIX],
        "themes": reader.theme_codes(chunk, row),
        "stance": reader.stances.get(row[STANCE]),
        "stance_target": row[TARGET],
        "source_reliability": row[RELIABILITY],
        "info_credibility": row[CREDIBILITY],
        "attributed_source": {
            "type": row[SOURCE_TYPE] or None,
            "name": row[SOURCE_NAME] or None,
            "affiliation": row[SOURCE_AFFILIATION] or None,
            "via": row[SOURCE_VIA] or None,
        },
        "claim_type": row[CLAIM],
        "note": row[NOTE],
        "annotator": annotator_name(chunk, row),
        "status": row[STATUS],
        "created_at": iso_seconds(row[CREATED]),
        "updated_at": iso_seconds(row[UPDATED]),
    }
    if row[STATUS] == Span.Status.GOLD:
        result["provenance"] = json.loads(row[PROVENANCE] or "{}")
    return result


# JSON allows these raw inside strings, but line readers such as Python's str.splitlines
# break lines at them; escaped, every JSONL line is one line whatever reads it.
LINE_BREAKERS = (("\x85", "\\u0085"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def escape_line_breakers(text):
    """Escape U+0085, U+2028 and U+2029 in JSON text; the parsed values stay the same."""
    for char, escaped in LINE_BREAKERS:
        if char in text:
            text = text.replace(char, escaped)
    return text


class JsonlWriter:
    """Canonical JSONL: one span per line, byte for byte what json.dumps would write for `record`.

    Each line is the span's template, which the database keeps JSON-encoded beside the span
    (annotations.export_template), with its four slots filled: the document's ids and the
    stance key and annotator's name from small maps, the themes from the span's theme_codes
    column. Reading two columns and one `%` per span is what lets an export keep up with a
    million spans in a few seconds; on PostgreSQL the server fills the slots and the chunk
    arrives as one block. Text stays UTF-8 (ensure_ascii=False): escaped, a Russian or Chinese
    corpus would triple in size and be unreadable in an editor. Only the three characters that
    line readers split at are escaped.
    """

    def __init__(self, reader):
        if not reader.template:
            raise ValueError("JsonlWriter reads the span templates: make the SpanReader with template=True.")
        self.reader = reader
        self.kind = None  # bytes, as SQLite gives the templates, or str
        self.stances = self.people = None

    def _encode(self, json_text):
        """A piece of a line in the templates' type; line breakers escaped as the templates have them."""
        json_text = escape_line_breakers(json_text)
        return json_text.encode("utf-8") if self.kind is bytes else json_text

    def _prepare(self, kind):
        self.kind = kind
        self.stances = {pk: self._encode(encode_basestring(key)) for pk, key in self.reader.stances.items()}
        self.stances[None] = self._encode("null")
        self.people = {}  # (annotator id, status) -> the annotator's JSON string

    def chunk(self, chunk):
        if chunk.block is not None:
            return chunk.block
        rows = chunk.rows
        if self.kind is None:
            self._prepare(type(rows[0][TEMPLATE]))
        encode, enc, gold = self._encode, encode_basestring, Span.Status.GOLD
        documents = {
            pk: encode(f'{pk},"document_external_id":{enc(external_id)},"text_sha256":{enc(sha)}')
            for pk, (external_id, sha) in chunk.documents.items()
        }
        stances, people = self.stances, self.people
        for row in rows:
            key = (row[TEMPLATE_ANNOTATOR], row[TEMPLATE_STATUS])
            if key not in people:
                name = chunk.annotators[key[0]]
                people[key] = encode(enc(GOLD_PREFIX + name if key[1] == gold else name))
        lines = [
            row[TEMPLATE] % (
                documents[row[DOC]], row[THEME_CODES], stances[row[TEMPLATE_STANCE]],
                people[row[TEMPLATE_ANNOTATOR], row[TEMPLATE_STATUS]],
            )
            for row in rows
        ]
        for i, row in enumerate(rows):
            if row[TEMPLATE_STATUS] == gold:
                provenance = json.loads(row[TEMPLATE_PROVENANCE] or "{}")
                lines[i] += encode(',"provenance":' + json.dumps(provenance, ensure_ascii=False, separators=(",", ":")))
        lines.append(encode(""))
        return encode("}\n").join(lines)

    def header(self):
        return ""

    def footer(self):
        return ""


def neutralise(value):
    """A text cell a spreadsheet cannot mistake for a formula (OWASP CSV injection)."""
    if value and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


class CsvWriter:
    """RFC 4180 CSV with a header row; text cells are neutralised against formula injection."""

    def __init__(self, reader):
        self.reader = reader
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")

    def take(self):
        value = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return value

    def header(self):
        self.writer.writerow(CSV_FIELDS)
        return self.take()

    def chunk(self, chunk):
        reader, safe = self.reader, neutralise
        out = []
        for row in chunk.rows:
            external_id, sha = chunk.documents[row[DOC]]
            credibility = row[CREDIBILITY]
            reliability = row[RELIABILITY]
            out.append((
                SCHEMA_VERSION, uuid_text(row[ID]), row[DOC], safe(external_id), sha, row[START], row[END],
                safe(row[TEXT]), safe(row[PREFIX]), safe(row[SUFFIX]), safe("|".join(reader.theme_codes(chunk, row))),
                safe(reader.stances.get(row[STANCE], "")), safe(row[TARGET]), safe(reliability),
                "" if credibility is None else credibility, safe(row[SOURCE_TYPE]), safe(row[SOURCE_NAME]),
                safe(row[SOURCE_AFFILIATION]), safe(row[SOURCE_VIA]), safe(row[CLAIM]), safe(row[NOTE]),
                safe(annotator_name(chunk, row)), safe(row[STATUS]), iso_seconds(row[CREATED]),
                iso_seconds(row[UPDATED]),
                f"{reliability}{credibility}" if reliability and credibility is not None else "",
            ))
        self.writer.writerows(out)
        return self.take()

    def footer(self):
        return ""


def annotation(reader, chunk, row, document_url):
    """One span as a W3C Web Annotation (spec section 3b)."""
    body = [
        {"type": "TextualBody", "purpose": "classifying", "value": f"theme:{code}"}
        for code in reader.theme_codes(chunk, row)
    ]
    stance = reader.stances.get(row[STANCE])
    if stance:
        body.append({"type": "TextualBody", "purpose": "assessing", "value": f"stance:{stance}"})
    if row[RELIABILITY] and row[CREDIBILITY] is not None:
        body.append(
            {"type": "TextualBody", "purpose": "assessing", "value": f"admiralty:{row[RELIABILITY]}{row[CREDIBILITY]}"}
        )
    if row[SOURCE_TYPE] or row[SOURCE_NAME]:
        value = " ".join(part for part in (row[SOURCE_TYPE], row[SOURCE_NAME]) if part)
        if row[SOURCE_VIA]:
            value += f" via {row[SOURCE_VIA]}"
        body.append({"type": "TextualBody", "purpose": "describing", "value": f"source:{value}"})
    return {
        "id": f"urn:uuid:{uuid_text(row[ID])}",
        "type": "Annotation",
        "motivation": "classifying",
        "creator": {"type": "Person", "nickname": annotator_name(chunk, row)},
        "created": iso_seconds(row[CREATED]),
        "modified": iso_seconds(row[UPDATED]),
        "body": body,
        "target": {
            "source": document_url(row[DOC]),
            "selector": [
                {"type": "TextPositionSelector", "start": row[START], "end": row[END]},
                {"type": "TextQuoteSelector", "exact": row[TEXT], "prefix": row[PREFIX], "suffix": row[SUFFIX]},
            ],
        },
    }


class WebAnnotationWriter:
    """An AnnotationCollection whose first page embeds every annotation, written piece by piece."""

    def __init__(self, reader, *, collection_id, label, document_url):
        self.reader = reader
        self.collection_id = collection_id
        self.label = label
        self.document_url = document_url
        self.first = True

    def header(self):
        head = {
            "@context": ANNOTATION_CONTEXT,
            "id": self.collection_id,
            "type": "AnnotationCollection",
            "label": self.label,
            "total": self.reader.count(),
        }
        opening = json.dumps(head, ensure_ascii=False)[:-1]
        return opening + ', "first": {"type": "AnnotationPage", "startIndex": 0, "items": [\n'

    def chunk(self, chunk):
        items = ",\n".join(
            json.dumps(annotation(self.reader, chunk, row, self.document_url), ensure_ascii=False)
            for row in chunk.rows
        )
        if not self.first:
            items = ",\n" + items
        self.first = False
        return items

    def footer(self):
        return "\n]}}\n"


class DoccanoWriter:
    """doccano JSONL: one line per document and annotator with the full text and [start, end, label] triples."""

    def __init__(self, reader):
        self.reader = reader
        self.open_document = None  # the document whose spans may continue in the next chunk
        self.external_id = ""
        self.labels = {}  # annotator name -> labels, for open_document
        self.finished = []  # (document id, external id, {annotator: labels}) awaiting their texts

    def header(self):
        return ""

    def chunk(self, chunk):
        reader = self.reader
        for row in chunk.rows:
            if row[DOC] != self.open_document:
                self.close_document()
                self.open_document = row[DOC]
                self.external_id = chunk.documents[row[DOC]][0]
            labels = self.labels.setdefault(annotator_name(chunk, row), [])
            start, end = row[START], row[END]
            labels.extend([start, end, f"THEME:{code}"] for code in reader.theme_codes(chunk, row))
            stance = reader.stances.get(row[STANCE])
            if stance:
                labels.append([start, end, f"STANCE:{stance}"])
        # Texts are read a few documents at a time: a chunk may span thousands of long documents.
        out = []
        while len(self.finished) >= TEXT_BATCH:
            out.append(self.flush(self.finished[:TEXT_BATCH]))
            del self.finished[:TEXT_BATCH]
        return "".join(out)

    def close_document(self):
        if self.open_document is not None:
            self.finished.append((self.open_document, self.external_id, self.labels))
        self.open_document = None
        self.labels = {}

    def flush(self, documents):
        texts = dict(Document.objects.filter(pk__in=[d[0] for d in documents]).values_list("pk", "text"))
        lines = []
        for pk, external_id, by_annotator in documents:
            for annotator, labels in by_annotator.items():
                lines.append(json.dumps(
                    {"id": pk, "text": texts[pk], "label": labels, "document_external_id": external_id,
                     "annotator": annotator},
                    ensure_ascii=False,
                ))
        return escape_line_breakers("\n".join(lines) + "\n") if lines else ""

    def footer(self):
        self.close_document()
        out = []
        for i in range(0, len(self.finished), TEXT_BATCH):
            out.append(self.flush(self.finished[i:i + TEXT_BATCH]))
        self.finished = []
        return "".join(out)


@dataclass(frozen=True)
class Format:
    name: str
    content_type: str
    suffix: str


FORMATS = {
    "jsonl": Format("jsonl", "application/x-ndjson", "jsonl"),
    "csv": Format("csv", "text/csv; charset=utf-8", "csv"),
    "webannotation": Format(
        "webannotation", 'application/ld+json;profile="http://www.w3.org/ns/anno.jsonld"', "jsonld"
    ),
    "doccano": Format("doccano", "application/x-ndjson", "doccano.jsonl"),
}


def export_filename(project, fmt, *, gold=False, now=None):
    """lectern-<slug>-spans-<YYYYMMDDTHHMMSS>.<suffix> (gold exports say "gold")."""
    moment = (now or timezone.now()).astimezone(dt_timezone.utc)
    kind = "gold" if gold else "spans"
    return f"lectern-{project.slug}-{kind}-{moment:%Y%m%dT%H%M%S}.{FORMATS[fmt].suffix}"


def export_stream(project, fmt, *, spans, document_id=None, collection_id="", document_url=None,
                  chunk_size=CHUNK_SIZE):
    """Yield the export of `spans` (a queryset from export_spans) in format fmt as UTF-8 blocks."""
    if fmt not in FORMATS:
        raise ValidationError({"format": [f"Use one of {', '.join(FORMATS)}."]})
    reader = SpanReader(project, spans, chunk_size=chunk_size, document_id=document_id, template=fmt == "jsonl")
    if fmt == "jsonl":
        writer = JsonlWriter(reader)
    elif fmt == "csv":
        writer = CsvWriter(reader)
    elif fmt == "webannotation":
        writer = WebAnnotationWriter(
            reader, collection_id=collection_id, label=f"Lectern spans of {project.name}",
            document_url=document_url or (lambda pk: f"/documents/{pk}/"),
        )
    else:
        writer = DoccanoWriter(reader)
    return _blocks(reader, writer)


def _blocks(reader, writer):
    head = writer.header()
    if head:
        yield head.encode("utf-8")
    for chunk in reader.chunks():
        block = writer.chunk(chunk)
        if block:
            yield block if isinstance(block, bytes) else block.encode("utf-8")
    tail = writer.footer()
    if tail:
        yield tail.encode("utf-8")


class ProjectExportView(APIView):
    """GET /api/projects/<slug>/export/?format=jsonl|csv|webannotation|doccano&<span filters>&gold=true."""

    def perform_content_negotiation(self, request, force=False):
        # ?format= names the export format here, not a DRF renderer; refusals are JSON.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        summary="Stream a project's spans as JSONL, CSV, W3C Web Annotation or doccano JSONL",
        description=(
            "Curators and managers export every span of the project, annotators their own. Without gold, the "
            "annotators' layers (every status but gold); gold=true: gold spans only. Offsets are code points."
        ),
        parameters=[
            OpenApiParameter("format", OpenApiTypes.STR, enum=list(FORMATS), required=False),
            OpenApiParameter("document", OpenApiTypes.INT, required=False),
            OpenApiParameter("annotator", OpenApiTypes.STR, required=False),
            OpenApiParameter("theme", OpenApiTypes.STR, required=False,
                             description="Theme code; a top-level code also matches its sub-themes."),
            OpenApiParameter("stance", OpenApiTypes.STR, required=False),
            OpenApiParameter("source_reliability", OpenApiTypes.STR, required=False),
            OpenApiParameter("info_credibility", OpenApiTypes.INT, required=False),
            OpenApiParameter("status", OpenApiTypes.STR, required=False),
            OpenApiParameter("updated_since", OpenApiTypes.DATETIME, required=False,
                             description="Only spans changed after this moment, for incremental pulls."),
            OpenApiParameter("gold", OpenApiTypes.BOOL, required=False),
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.STR,  # jsonl and doccano: one JSON object a line
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/ld+json"): OpenApiTypes.OBJECT,  # webannotation: one AnnotationCollection
            **ERRORS,
        },
    )
    def get(self, request, slug):
        project = get_object_or_404(Project.objects.for_user(request.user), slug=slug)
        fmt = request.query_params.get("format") or "jsonl"
        if fmt not in FORMATS:
            raise ValidationError({"format": [f"Use one of {', '.join(FORMATS)}."]})
        filters = parse_filters(request.query_params)
        spans = export_spans(project, user=request.user, filters=filters)
        base = request.build_absolute_uri("/")[:-1]
        blocks = export_stream(
            project, fmt, spans=spans, document_id=filters.get("document"),
            collection_id=request.build_absolute_uri(),
            document_url=lambda pk: base + reverse("corpus:document-detail", args=[pk]),
        )
        response = StreamingHttpResponse(blocks, content_type=FORMATS[fmt].content_type)
        filename = export_filename(project, fmt, gold=bool(filters.get("gold")))
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response
