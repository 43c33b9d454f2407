"""Import of spans from canonical JSONL: the other half of the export's round trip.

A JSONL export of one project imports into another project that holds the same documents
(matched by external id and checked against text_sha256), with annotators matched by
username, themes by code and stances by key in the target's schema. All or nothing: one
bad line and nothing is stored, and the report names every bad line with its reason.
"""
import json
import uuid
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.exceptions import APIException
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView
from simple_history.models import HistoricalRecords
from simple_history.utils import bulk_create_with_history

from corpus.models import Document, Membership, Project

from .api import ERRORS, ItemsInvalid, PayloadTooLarge
from .models import CONTEXT_CHARS, ClaimType, InfoCredibility, SourceReliability, SourceType, Span, StanceValue, Theme
from .services import SUBMITTED_REQUIRED

CHUNK_LINES = 2000
GOLD_PREFIX = "curator:"
# Ids that are taken by a span of another project are replaced by one derived from the
# target project and the original id, so that importing the same file again finds them.
ID_NAMESPACE = uuid.UUID("6f1d3c2e-9b7a-4e55-8d0c-2a61b7f4e913")
TEXT_LIMITS = {"stance_target": 200, "source_name": 200, "source_affiliation": 200, "source_via": 200}
# What must match for a line to count as the span already stored.
COMPARED = (
    "document_id", "annotator_id", "start", "end", "text", "stance_id", "stance_target", "source_reliability",
    "info_credibility", "source_type", "source_name", "source_affiliation", "source_via", "claim_type", "note",
    "status",
)


class LineRefused(Exception):
    """One line cannot be imported; the message says why."""


@dataclass
class SpanImportReport:
    """What an import did, or would have done: counts, and every refused line with its reason."""

    imported: int = 0
    unchanged: int = 0
    errors: list = field(default_factory=list)  # [(line number, message)]
    dry_run: bool = False

    @property
    def ok(self):
        return not self.errors

    def refuse(self, line, message):
        self.errors.append((line, message))

    def summary(self):
        if self.errors:
            return f"{len(self.errors)} line(s) refused; nothing was imported."
        verb = "would be imported" if self.dry_run else "imported"
        return f"{self.imported} span(s) {verb}, {self.unchanged} unchanged."


@dataclass
class Line:
    """A parsed, not yet resolved line."""

    number: int
    data: dict
    id: uuid.UUID | None = None


def _decode(number, raw):
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LineRefused(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if number == 1:
        raw = raw.removeprefix("\ufeff")
    return raw.strip("\r\n")


def _parse(number, text):
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LineRefused(f"broken JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(data, dict):
        raise LineRefused("each line must be a JSON object (one span)")
    return data


def _integer(data, name):
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise LineRefused(f"{name} must be a whole number, not {value!r}")
    return value


def _text(data, name, *, required=False, allow_null=True):
    value = data.get(name)
    if value is None:
        if required:
            raise LineRefused(f"{name} is missing")
        if not allow_null and name in data:
            raise LineRefused(f"{name} must be a string, not null")
        return ""
    if not isinstance(value, str):
        raise LineRefused(f"{name} must be a string, not {type(value).__name__}")
    limit = TEXT_LIMITS.get(name)
    if limit and len(value) > limit:
        raise LineRefused(f"{name} is longer than {limit} characters")
    return value


def _choice(value, name, allowed):
    if value not in allowed:
        raise LineRefused(f"{name} {value!r} is not one of {', '.join(str(v) for v in sorted(allowed))}")
    return value


class SpanImport:
    """Resolves and stores lines a chunk at a time; one query per table per chunk."""

    def __init__(self, project, *, user=None, dry_run=False, chunk_lines=CHUNK_LINES):
        self.project = project
        self.user = user
        self.report = SpanImportReport(dry_run=dry_run)
        self.chunk_lines = chunk_lines
        self.themes = dict(Theme.objects.filter(project=project).order_by().values_list("code", "pk"))
        self.stances = dict(StanceValue.objects.filter(project=project).order_by().values_list("key", "pk"))
        self.members = {
            username: (pk, role)
            for username, pk, role in Membership.objects.filter(project=project).order_by()
            .values_list("user__username", "user_id", "role")
        }
        self.seen = {}  # span id -> the line that brought it

    # Reading -------------------------------------------------------------------------------

    def run(self, lines):
        """Import every line of an iterable of str or bytes; roll everything back if any is refused."""
        with transaction.atomic():
            batch = []
            for number, raw in enumerate(lines, start=1):
                try:
                    text = _decode(number, raw)
                    if not text.strip():
                        continue
                    batch.append(Line(number, _parse(number, text)))
                except LineRefused as exc:
                    self.report.refuse(number, str(exc))
                if len(batch) >= self.chunk_lines:
                    self.chunk(batch)
                    batch = []
            if batch:
                self.chunk(batch)
            if not self.report.ok or self.report.dry_run:
                transaction.set_rollback(True)
        if not self.report.ok:
            self.report.imported = self.report.unchanged = 0
        self.report.errors.sort()
        return self.report

    # One chunk -----------------------------------------------------------------------------

    def chunk(self, lines):
        external_ids = {line.data.get("document_external_id") for line in lines}
        external_ids = {e for e in external_ids if isinstance(e, str)}
        documents = {
            external_id: (pk, text, sha)
            for pk, external_id, text, sha in Document.objects.filter(
                project=self.project, external_id__in=external_ids
            ).order_by().values_list("pk", "external_id", "text", "text_sha256")
        }
        unknown_users = {
            name.removeprefix(GOLD_PREFIX) for line in lines
            if isinstance(name := line.data.get("annotator"), str) and name.removeprefix(GOLD_PREFIX) not in self.members
        }
        registered = set(
            get_user_model().objects.filter(username__in=unknown_users).values_list("username", flat=True)
        ) if unknown_users else set()

        spans = []  # (line, Span, [theme ids])
        for line in lines:
            try:
                spans.append((line, *self.resolve(line, documents, registered)))
            except LineRefused as exc:
                self.report.refuse(line.number, str(exc))
        spans = self.drop_repeats(spans)
        if not spans:
            return

        # Ids the database holds already: the same span imported before, or a span of another project.
        wanted = {span.pk for _, span, _ in spans}
        derived = {span.pk: self.derived_id(span.pk) for _, span, _ in spans}
        wanted |= set(derived.values())
        existing = {
            row[0]: row for row in Span.objects.filter(pk__in=wanted).order_by().values_list("pk", "document__project_id", *COMPARED)
        }
        existing_themes = {}
        if existing:
            for span_id, theme_id in Span.themes.through.objects.filter(span_id__in=list(existing)).values_list(
                "span_id", "theme_id"
            ):
                existing_themes.setdefault(span_id, set()).add(theme_id)

        new = []
        for line, span, theme_ids in spans:
            for candidate in (span.pk, derived[span.pk]):
                row = existing.get(candidate)
                if row is None:
                    span.pk = candidate
                    new.append((line, span, theme_ids))
                    break
                if row[1] != self.project.pk:
                    continue  # taken by another project's span: try the derived id
                stored = dict(zip(COMPARED, row[2:]))
                ours = {name: getattr(span, name) for name in COMPARED}
                if stored == ours and existing_themes.get(candidate, set()) == set(theme_ids):
                    self.report.unchanged += 1
                else:
                    differing = sorted(n for n in COMPARED if stored[n] != ours[n])
                    if existing_themes.get(candidate, set()) != set(theme_ids):
                        differing.append("themes")
                    self.report.refuse(
                        line.number,
                        f"span {candidate} already exists in this project with different {', '.join(differing)}; "
                        "the import does not overwrite spans",
                    )
                break
            else:
                self.report.refuse(line.number, f"span id {span.pk} is taken by spans of other projects")
        if new:
            self.report.imported += len(new)
            if self.report.ok and not self.report.dry_run:
                self.store(new)

    def drop_repeats(self, spans):
        kept = []
        for line, span, theme_ids in spans:
            first = self.seen.get(span.pk)
            if first is not None:
                self.report.refuse(line.number, f"span {span.pk} appears again (first on line {first})")
                continue
            self.seen[span.pk] = line.number
            kept.append((line, span, theme_ids))
        return kept

    def derived_id(self, original):
        return uuid.uuid5(ID_NAMESPACE, f"{self.project.pk}:{original}")

    def resolve(self, line, documents, registered):
        """Check one line against the target project; return (line, unsaved Span, theme ids)."""
        data = line.data
        version = data.get("schema_version", "1.0")
        if not isinstance(version, str) or not version.startswith("1."):
            raise LineRefused(f"schema_version {version!r} is not 1.x")
        external_id = _text(data, "document_external_id", required=True)
        document = documents.get(external_id)
        if document is None:
            raise LineRefused(f"unknown document {external_id!r} in project {self.project.slug}")
        document_pk, document_text, sha = document
        if data.get("text_sha256") not in (None, "") and data["text_sha256"] != sha:
            raise LineRefused(
                f"document {external_id!r} has a different text here (text_sha256 differs): offsets would not match"
            )
        start, end = _integer(data, "start"), _integer(data, "end")
        quote = _text(data, "text", required=True)
        length = len(document_text)
        if start >= end:
            raise LineRefused(f"a span cannot be empty: end {end} must be greater than start {start}")
        if start < 0 or end > length:
            raise LineRefused(f"offsets [{start}, {end}) are outside the text of {external_id!r} (length {length})")
        actual = document_text[start:end]
        if actual != quote:
            raise LineRefused(f"quote {quote[:60]!r} is not the text at [{start}, {end}), which reads {actual[:60]!r}")

        codes = data.get("themes")
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise LineRefused("themes must be a list of theme codes")
        if not codes:
            raise LineRefused("a span needs at least one theme")
        unknown = sorted({c for c in codes if c not in self.themes})
        if unknown:
            raise LineRefused(f"unknown theme(s) in {self.project.slug}: {', '.join(unknown)}")
        theme_ids = list(dict.fromkeys(self.themes[c] for c in codes))

        stance = data.get("stance")
        if stance is not None and stance not in self.stances:
            raise LineRefused(f"unknown stance {stance!r} in {self.project.slug}")
        status = _choice(data.get("status", Span.Status.SUBMITTED), "status", set(Span.Status.values))
        reliability = _choice(data.get("source_reliability") or "", "source_reliability",
                              set(SourceReliability.values) | {""})
        credibility = data.get("info_credibility")
        if credibility is not None:
            if isinstance(credibility, bool) or not isinstance(credibility, int):
                raise LineRefused(f"info_credibility must be a whole number from 1 to 6, not {credibility!r}")
            _choice(credibility, "info_credibility", set(InfoCredibility.values))
        source = data.get("attributed_source") or {}
        if not isinstance(source, dict):
            raise LineRefused("attributed_source must be an object with type, name, affiliation and via")
        source_type = _choice(source.get("type") or "", "attributed_source.type", set(SourceType.values) | {""})
        source_fields = {
            f"source_{part}": _text(source, part) for part in ("name", "affiliation", "via")
        }
        for name, value in source_fields.items():
            if len(value) > TEXT_LIMITS[name]:
                raise LineRefused(f"attributed_source.{name.removeprefix('source_')} is longer than 200 characters")
        claim_type = _choice(data.get("claim_type") or "", "claim_type", set(ClaimType.values) | {""})

        annotator = _text(data, "annotator", required=True)
        gold = annotator.startswith(GOLD_PREFIX)
        username = annotator.removeprefix(GOLD_PREFIX)
        if gold != (status == Span.Status.GOLD):
            raise LineRefused(
                f"annotator {annotator!r} with status {status!r}: gold spans, and only they, "
                f"belong to \"{GOLD_PREFIX}<curator>\""
            )
        member = self.members.get(username)
        if member is None:
            if username in registered:
                raise LineRefused(f"annotator {username!r} is not a member of {self.project.slug}")
            raise LineRefused(f"unknown annotator {username!r}")
        user_pk, role = member
        if gold and role not in (Membership.Role.CURATOR, Membership.Role.MANAGER):
            raise LineRefused(f"{username!r} is not a curator or manager of {self.project.slug}, so cannot own gold spans")

        raw_id = data.get("id")
        if raw_id is None:
            span_id = uuid.uuid5(
                ID_NAMESPACE,
                json.dumps([self.project.pk, external_id, annotator, start, end, sorted(codes), status]),
            )
        else:
            try:
                span_id = uuid.UUID(str(raw_id))
            except ValueError:
                raise LineRefused(f"id {raw_id!r} is not a UUID") from None
        provenance = data.get("provenance") if gold else None
        if provenance is not None and not isinstance(provenance, dict):
            raise LineRefused("provenance must be an object")

        span = Span(
            id=span_id, document_id=document_pk, annotator_id=user_pk, start=start, end=end, text=quote,
            prefix=document_text[max(0, start - CONTEXT_CHARS):start], suffix=document_text[end:end + CONTEXT_CHARS],
            stance_id=self.stances.get(stance) if stance is not None else None,
            stance_target=_text(data, "stance_target") if "stance_target" in data else self.project.stance_target,
            source_reliability=reliability, info_credibility=credibility, source_type=source_type,
            claim_type=claim_type, note=_text(data, "note"), status=status, provenance=provenance or {},
            **source_fields,
        )
        if status == Span.Status.SUBMITTED:
            missing = [
                name for name in SUBMITTED_REQUIRED
                if getattr(span, "stance_id" if name == "stance" else name) in (None, "")
            ]
            if missing:
                raise LineRefused(f"a submitted span needs {', '.join(missing)}")
        return span, theme_ids

    # Writing -------------------------------------------------------------------------------

    def store(self, new):
        """Insert the chunk's spans, their themes and the history of both, a few statements per table."""
        objs = [span for _, span, _ in new]
        bulk_create_with_history(objs, Span, default_user=self.user, default_change_reason="import")
        through = Span.themes.through
        links = through.objects.bulk_create(
            [through(span_id=span.pk, theme_id=theme_id) for _, span, theme_ids in new for theme_id in theme_ids]
        )
        # The history row of a created span carries its themes, as one saved with its themes set would.
        history = dict(
            Span.history.filter(id__in=[s.pk for s in objs], history_type="+")
            .order_by("history_id").values_list("id", "history_id")
        )
        history_links = HistoricalRecords.m2m_models[Span._meta.get_field("themes")]
        history_links.objects.bulk_create(
            [history_links(id=link.pk, span_id=link.span_id, theme_id=link.theme_id, history_id=history[link.span_id])
             for link in links]
        )


def spans_import(*, project, lines, user=None, dry_run=False, chunk_lines=CHUNK_LINES):
    """Import canonical JSONL lines (str or bytes) into project, all or nothing; return a SpanImportReport."""
    return SpanImport(project, user=user, dry_run=dry_run, chunk_lines=chunk_lines).run(lines)


class LinesRefused(ItemsInvalid):
    """Some lines of an import were refused: items list each line and why; nothing was stored."""

    def __init__(self, report):
        self.items = [{"line": number, "message": message} for number, message in report.errors]
        APIException.__init__(self, f"{len(report.errors)} line(s) refused; nothing was imported.", code="invalid")


class UnreadJsonlParser(BaseParser):
    """Accept a JSONL body without reading it: the view reads request.body itself.

    A browser session's CSRF check looks for the token among the form fields, which makes DRF
    parse the body; without a parser for JSONL that answered 415 to a request carrying its token.
    """

    media_type = "application/x-ndjson"

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


class SpanImportView(APIView):
    """POST /api/projects/<slug>/import-spans/: a JSONL export (raw body or multipart "file"); managers only."""

    # Multipart for the "file" field; a raw JSONL body passes its parser unread and is read as it is.
    parser_classes = [MultiPartParser, UnreadJsonlParser]

    @extend_schema(
        summary="Import spans from a JSONL export, all or nothing",
        description=(
            "Send the JSONL as the body (Content-Type application/x-ndjson) or as the multipart field \"file\". "
            "Documents are matched by document_external_id and text_sha256, annotators by username (members "
            "only), themes and stances by code in this project. A span whose id is stored with the same anchor "
            "and labels counts as unchanged; ?dry_run=true checks without storing."
        ),
        request={"application/x-ndjson": OpenApiTypes.STR, "multipart/form-data": OpenApiTypes.OBJECT},
        responses={200: inline_serializer("SpanImportResult", {
            "imported": serializers.IntegerField(), "unchanged": serializers.IntegerField(),
            "dry_run": serializers.BooleanField(),
        }), **ERRORS},
    )
    def post(self, request, slug):
        project = get_object_or_404(Project.objects.for_user(request.user), slug=slug)
        if project.role_of(request.user) != Membership.Role.MANAGER:
            raise exceptions.PermissionDenied("Only managers of the project may import spans.")
        if request.content_type.startswith("multipart/"):
            upload = request.FILES.get("file")
            if upload is None:
                raise exceptions.ValidationError({"file": ["Send the JSONL export as the field \"file\"."]})
            lines = upload
        else:
            try:
                body = request.body
            except RequestDataTooBig:
                raise PayloadTooLarge("The body is too large; send the file as multipart field \"file\".") from None
            lines = body.split(b"\n")
        dry_run = request.query_params.get("dry_run", "").lower() in {"1", "true", "yes"}
        report = spans_import(project=project, lines=lines, user=request.user, dry_run=dry_run)
        if not report.ok:
            raise LinesRefused(report)
        return Response({"imported": report.imported, "unchanged": report.unchanged, "dry_run": dry_run})
