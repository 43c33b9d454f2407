"""Ingest of documents: decoding, sanitising, de-duplication and per-file reports.

The admin import page, the `import_documents` command, the demo loader and the API
all call `documents_import`, so every path follows the same rules.
"""
import csv
import io
import json
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from pathlib import PurePosixPath

import bleach
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from .models import Document, text_sha256

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
RECORD_SUFFIXES = {".json", ".jsonl", ".ndjson", ".csv"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | RECORD_SUFFIXES | {".zip"}

RECORD_FIELDS = (
    "external_id", "title", "text", "outlet", "author", "url", "published_date", "language", "genre", "metadata",
)

BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption", "figure", "footer",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section",
    "table", "tr", "ul", "title", "td", "th",
}
DROPPED_TAGS = {"script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math", "head"}


HTML_SPACE = re.compile(r"[ \t\n\r\f]+")


class ImportRefused(Exception):
    """One file or record cannot be imported; the message says why."""


@dataclass
class ImportResult:
    """What happened to one file or record."""

    name: str
    status: str  # "imported", "duplicate" or "refused"
    reason: str = ""
    document: Document | None = None


@dataclass
class ImportReport:
    results: list = field(default_factory=list)

    def add(self, result):
        self.results.append(result)
        return result

    def count(self, status):
        return sum(1 for r in self.results if r.status == status)

    @property
    def imported(self):
        return self.count("imported")

    @property
    def duplicates(self):
        return self.count("duplicate")

    @property
    def refused(self):
        return self.count("refused")

    def summary(self):
        return f"{self.imported} imported, {self.duplicates} duplicate(s), {self.refused} refused"


def normalize_text(text):
    """Freeze text as stored: no BOM, CRLF and lone CR become LF, as HTML parsers do."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode_utf8(data):
    """Decode bytes as UTF-8 or refuse with the position of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImportRefused(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at position {exc.start}); save the file as UTF-8"
        ) from None


class _TextExtractor(HTMLParser):
    """Walk HTML that bleach has already reduced to block tags, keeping paragraphs as blank lines."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks, self.current, self.title, self.skip, self.in_title, self.in_pre = [], [], [], 0, False, 0

    def flush(self):
        text = "".join(self.current)
        if not self.in_pre:
            # HTML collapses only ASCII white space; a non-breaking space is content.
            text = HTML_SPACE.sub(" ", text).strip(" ")
        if text.strip():
            self.blocks.append(text.strip("\n") if self.in_pre else text)
        self.current = []

    def handle_starttag(self, tag, attrs):
        if tag in DROPPED_TAGS:
            self.skip += 1
        elif tag == "title":
            self.in_title = True
        elif tag == "br":
            self.current.append("\n" if self.in_pre else " ")
            if not self.in_pre:
                self.flush()
        elif tag in BLOCK_TAGS:
            self.flush()
            if tag == "pre":
                self.in_pre += 1

    def handle_endtag(self, tag):
        if tag in DROPPED_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag == "title":
            self.in_title = False
        elif tag in BLOCK_TAGS:
            self.flush()
            if tag == "pre":
                self.in_pre = max(0, self.in_pre - 1)

    def handle_data(self, data):
        if self.skip:
            return
        if self.in_title:
            self.title.append(data)
        else:
            self.current.append(data)


def html_to_text(html):
    """Plain text of an HTML page: scripts, styles and every tag gone, entities decoded, paragraphs as blank lines.

    Returns (title, text); the title comes from <title> when there is one.
    """
    # bleach first turns whatever was sent, however malformed, into well-formed markup
    # holding only structural tags without attributes; no handler or URL survives it.
    cleaned = bleach.clean(
        html, tags=BLOCK_TAGS | DROPPED_TAGS | {"br"}, attributes={}, strip=True, strip_comments=True
    )
    parser = _TextExtractor()
    parser.feed(cleaned)
    parser.close()
    parser.flush()
    title = HTML_SPACE.sub(" ", "".join(parser.title)).strip(" ")
    return title, "\n\n".join(parser.blocks)


def first_line_title(text, limit=300):
    for line in text.split("\n"):
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:limit]
    return ""


def parse_date(value):
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ImportRefused(f"published_date {value!r} is not a date (use YYYY-MM-DD)") from None


def check_size(data_len, name=""):
    limit = settings.LECTERN_MAX_DOCUMENT_BYTES
    if data_len > limit:
        raise ImportRefused(f"too large ({data_len:,} bytes; the limit is {limit:,} bytes)")


@transaction.atomic
def document_create(*, project, external_id, text, title="", **fields):
    """Create one document with normalised text; raise ImportRefused for a duplicate or a clash.

    Returns (document, created): created is False when the same text is already in the project.
    """
    text = normalize_text(text)
    if not text.strip():
        raise ImportRefused("empty: the document has no text")
    check_size(len(text.encode("utf-8")))
    external_id = str(external_id or "").strip()
    if not external_id:
        raise ImportRefused("no external_id")
    existing = Document.objects.filter(project=project, text_sha256=text_sha256(text)).first()
    if existing is not None:
        return existing, False
    if Document.objects.filter(project=project, external_id=external_id).exists():
        raise ImportRefused(f"external id {external_id!r} is already used by another document with different text")
    metadata = fields.pop("metadata", None) or {}
    if not isinstance(metadata, dict):
        raise ImportRefused("metadata must be an object")
    published_date = parse_date(fields.pop("published_date", None))
    fields = {key: "" if value is None else value for key, value in fields.items()}
    document = Document(
        project=project, external_id=external_id, text=text, title=str(title or "")[:500],
        metadata=metadata, published_date=published_date, **fields,
    )
    try:
        document.full_clean(exclude=["project", "text_sha256"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise ImportRefused("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
    try:
        with transaction.atomic():
            document.save()
    except IntegrityError:
        # A concurrent import stored the same text or id between the check and the insert.
        existing = Document.objects.filter(project=project, text_sha256=document.text_sha256).first()
        if existing is not None:
            return existing, False
        raise ImportRefused(f"external id {external_id!r} is already used") from None
    return document, True


def _record_to_document(project, record, default_id, report, name):
    try:
        if not isinstance(record, dict):
            raise ImportRefused("each record must be an object with at least a 'text' field")
        unknown = set(record) - set(RECORD_FIELDS) - {"id"}
        fields = {k: record[k] for k in RECORD_FIELDS if k in record}
        metadata = dict(fields.pop("metadata", None) or {}) if isinstance(record.get("metadata", {}), dict) else None
        if metadata is None:
            raise ImportRefused("metadata must be an object")
        for key in sorted(unknown):
            metadata[key] = record[key]
        text = fields.pop("text", None)
        if not isinstance(text, str):
            raise ImportRefused("missing 'text' (a string)")
        external_id = fields.pop("external_id", None) or record.get("id") or default_id
        title = fields.pop("title", None) or first_line_title(normalize_text(text))
        for key, value in fields.items():
            if key != "published_date" and value is not None and not isinstance(value, str):
                fields[key] = str(value)
        document, created = document_create(
            project=project, external_id=external_id, text=text, title=title, metadata=metadata, **fields
        )
    except ImportRefused as exc:
        return report.add(ImportResult(name, "refused", str(exc)))
    if not created:
        return report.add(ImportResult(name, "duplicate", f"same text as document {document.external_id!r}", document))
    return report.add(ImportResult(name, "imported", "", document))


def _import_records(project, records, stem, report, name):
    for index, record in enumerate(records, start=1):
        _record_to_document(project, record, f"{stem}-{index}", report, f"{name} #{index}")


def _import_one(project, name, data, report, *, inside_zip=False):
    suffix = PurePosixPath(name.lower()).suffix
    stem = PurePosixPath(name).stem
    try:
        if suffix not in SUPPORTED_SUFFIXES:
            raise ImportRefused(f"unsupported file type {suffix or '(none)'}; use .txt, .md, .html, .json, .jsonl, .csv or .zip")
        if suffix == ".zip":
            if inside_zip:
                raise ImportRefused("a zip inside a zip is not imported")
            return _import_zip(project, name, data, report)
        if not data:
            raise ImportRefused("empty file")
        if suffix not in RECORD_SUFFIXES:
            check_size(len(data))
        text = normalize_text(decode_utf8(data))
        if not text.strip():
            raise ImportRefused("empty file (only white space)")
    except ImportRefused as exc:
        return report.add(ImportResult(name, "refused", str(exc)))

    if suffix in TEXT_SUFFIXES:
        return _record_to_document(project, {"text": text, "title": first_line_title(text)}, stem, report, name)
    if suffix in HTML_SUFFIXES:
        title, plain = html_to_text(text)
        record = {"text": plain, "title": title or first_line_title(plain)}
        return _record_to_document(project, record, stem, report, name)
    try:
        records = _parse_records(suffix, text)
    except ImportRefused as exc:
        return report.add(ImportResult(name, "refused", str(exc)))
    _import_records(project, records, stem, report, name)


def _parse_records(suffix, text):
    if suffix == ".json":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportRefused(f"broken JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        if isinstance(value, dict) and isinstance(value.get("documents"), list):
            value = value["documents"]
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list) or not value:
            raise ImportRefused("expected an object, a list of objects or {\"documents\": [...]}")
        return value
    if suffix in {".jsonl", ".ndjson"}:
        records = []
        for lineno, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ImportRefused(f"broken JSON on line {lineno}: {exc.msg}") from None
        if not records:
            raise ImportRefused("no records")
        return records
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "text" not in reader.fieldnames:
        raise ImportRefused("a CSV file needs a header row with a 'text' column")
    try:
        rows = [{k: v for k, v in row.items() if k is not None and v not in (None, "")} for row in reader]
    except csv.Error as exc:
        raise ImportRefused(f"broken CSV: {exc}") from None
    if not rows:
        raise ImportRefused("no rows under the header")
    return rows


def _safe_member_name(info):
    name = info.filename
    normalized = posixpath.normpath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or normalized.startswith("..") or ":" in name.split("/")[0]:
        raise ImportRefused(f"unsafe path {name!r} in the zip (it points outside the archive)")
    return normalized


def _import_zip(project, name, data, report):
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        return report.add(ImportResult(name, "refused", f"not a readable zip archive ({exc})"))
    if len(members) > settings.LECTERN_MAX_IMPORT_FILES:
        return report.add(ImportResult(
            name, "refused", f"{len(members)} files in the zip; the limit is {settings.LECTERN_MAX_IMPORT_FILES}"))
    declared = sum(info.file_size for info in members)
    if declared > settings.LECTERN_MAX_ZIP_UNCOMPRESSED_BYTES:
        return report.add(ImportResult(
            name, "refused",
            f"the zip unpacks to {declared:,} bytes; the limit is {settings.LECTERN_MAX_ZIP_UNCOMPRESSED_BYTES:,}"))
    for info in members:
        member_name = f"{name}/{info.filename}"
        base = PurePosixPath(info.filename).name
        if base.startswith(".") or info.filename.startswith("__MACOSX/"):
            continue
        try:
            _safe_member_name(info)
            limit = settings.LECTERN_MAX_DOCUMENT_BYTES
            suffix = PurePosixPath(base.lower()).suffix
            # Read at most one byte past the limit: the declared size in a zip can lie.
            cap = settings.LECTERN_MAX_ZIP_UNCOMPRESSED_BYTES if suffix in RECORD_SUFFIXES else limit
            with archive.open(info) as handle:
                content = handle.read(cap + 1)
            if len(content) > cap:
                raise ImportRefused(f"too large (over {cap:,} bytes unpacked)")
        except ImportRefused as exc:
            report.add(ImportResult(member_name, "refused", str(exc)))
            continue
        except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
            report.add(ImportResult(member_name, "refused", f"cannot be read from the zip ({exc})"))
            continue
        _import_one(project, member_name, content, report, inside_zip=True)


def documents_import(*, project, files, progress=None, limit_files=True):
    """Import (name, bytes) pairs into project; every file gets a result, a bad one never stops the rest.

    data may also be a callable returning the bytes, so that a folder is read one file at a time.
    progress, when given, is called after each file with (done, total, name).
    """
    files = list(files)
    report = ImportReport()
    if limit_files and len(files) > settings.LECTERN_MAX_IMPORT_FILES:
        report.add(ImportResult(
            f"{len(files)} files", "refused",
            f"too many files in one import; the limit is {settings.LECTERN_MAX_IMPORT_FILES}"))
        return report
    for done, (name, data) in enumerate(files, start=1):
        _import_one(project, name, data() if callable(data) else data, report)
        if progress is not None:
            progress(done, len(files), name)
    return report
