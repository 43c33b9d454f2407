"""Throughput and memory of the streaming span export, end to end over HTTP.

    .venv/bin/python bench/export_bench.py [--spans 1000000] [--documents 10000] [--database-url URL]

Builds its own data in a throw-away database (SQLite in a temporary folder, or a
fresh PostgreSQL database created next to the one --database-url names and dropped
afterwards), starts gunicorn with one sync worker and DEBUG off, and streams
GET /api/projects/<slug>/export/?format=jsonl with a token. Prints the machine, the
spans/s of the whole export and the worker's peak RSS (VmHWM) for a large and a
small export, each in a freshly started server so that each peak is its own.
Not part of the test suite.
"""
import argparse
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
BIG_SLUG, SMALL_SLUG = "bench", "bench-small"
SMALL_SPANS, SMALL_DOCUMENTS = 10_000, 100
WORDS = (
    "trade energy yuan rouble pipeline summit sanctions partnership strategic cooperation Arctic route "
    "officials said agreement volume growth currency payments military exercise drills technology "
    "satellite grain exports multipolar order sovereignty territorial BRICS SCO Eurasian union"
).split()
# Non-BMP and CJK characters keep code-point and UTF-16 offsets apart, as in real corpora.
EXTRAS = ["中俄合作", "🤝", "“quoted”", "naïve", "—", "𠀀"]
SOURCE_TYPES = ["OFFICIAL", "STATE_MEDIA", "MEDIA", "ANALYST", "AUTHOR", "ANONYMOUS", ""]


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} CPU(s){mem}; {platform.system()} {platform.release()}; Python {platform.python_version()}"


def calibration():
    """Microseconds for json.dumps of one canonical record: how fast this Python runs right now."""
    import timeit

    record = {
        "schema_version": "1.0", "id": str(uuid.uuid4()), "document_id": 7, "document_external_id": "demo-01",
        "text_sha256": "9a0c" * 16, "start": 13, "end": 31, "text": "trade in yuan rose", "prefix": "Analysts say ",
        "suffix": ". Critics disagree.", "themes": ["FINANCE.currency"], "stance": "NEUTRAL",
        "stance_target": "the China-Russia partnership", "source_reliability": "F", "info_credibility": 2,
        "attributed_source": {"type": "ANONYMOUS", "name": "analysts", "affiliation": None, "via": None},
        "claim_type": "FACTUAL", "note": "", "annotator": "ann1", "status": "submitted",
        "created_at": "2025-05-01T10:00:00Z", "updated_at": "2025-05-01T10:05:00Z",
    }
    best = min(timeit.repeat(lambda: json.dumps(record), number=20_000, repeat=5))
    return best / 20_000 * 1e6


def load():
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def document_text(rng, n):
    words = []
    while sum(len(w) + 1 for w in words) < 1800:
        words.append(rng.choice(EXTRAS) if rng.random() < 0.03 else rng.choice(WORDS))
    return f"Bench document {n}. " + " ".join(words) + "."


def django_setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def build_data(spans, documents, seed=7):
    """Create users, two projects with the default schema, documents and spans by raw bulk inserts."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from rest_framework.authtoken.models import Token

    from annotations.export_template import theme_codes_json
    from annotations.models import Span, StanceValue, Theme
    from annotations.schema import schema_install_default
    from corpus.models import Document, Membership, Project, text_sha256

    rng = random.Random(seed)
    users = get_user_model()
    manager = users.objects.create_user("bench-manager", password="bench-password-123")
    annotators = [users.objects.create_user(f"bench-annotator-{i}") for i in range(5)]
    token = Token.objects.create(user=manager).key
    vendor = connection.vendor
    quote = connection.ops.quote_name
    now = datetime(2025, 5, 1, 10, 0, tzinfo=timezone.utc)

    def stamp(dt):
        # Raw inserts skip the ORM's adaptation: SQLite stores Django's naive-UTC text form.
        return dt.replace(tzinfo=None).isoformat(sep=" ") if vendor == "sqlite" else dt

    def span_id():
        value = uuid.UUID(int=rng.getrandbits(128), version=4)
        return value.hex if vendor == "sqlite" else value

    doc_columns = ["project_id", "external_id", "title", "text", "text_sha256", "outlet", "author", "url",
                   "language", "genre", "metadata", "created_at", "updated_at"]
    span_columns = ["id", "document_id", "annotator_id", "start", "end", "text", "prefix", "suffix", "stance_id",
                    "stance_target", "source_reliability", "info_credibility", "source_type", "source_name",
                    "source_affiliation", "source_via", "claim_type", "note", "status", "version", "created_at",
                    "updated_at", "provenance", "theme_codes"]
    doc_sql = "INSERT INTO {} ({}) VALUES ({})".format(
        quote(Document._meta.db_table), ", ".join(quote(c) for c in doc_columns), ", ".join(["%s"] * len(doc_columns)))
    span_sql = "INSERT INTO {} ({}) VALUES ({})".format(
        quote(Span._meta.db_table), ", ".join(quote(c) for c in span_columns), ", ".join(["%s"] * len(span_columns)))
    through = Span.themes.through._meta.db_table
    theme_sql = f"INSERT INTO {quote(through)} ({quote('span_id')}, {quote('theme_id')}) VALUES (%s, %s)"

    for slug, n_docs, n_spans in ((BIG_SLUG, documents, spans), (SMALL_SLUG, SMALL_DOCUMENTS, SMALL_SPANS)):
        project = Project.objects.create(name=slug, slug=slug)
        schema_install_default(project)
        Membership.objects.create(project=project, user=manager, role=Membership.Role.MANAGER)
        for user in annotators:
            Membership.objects.create(project=project, user=user, role=Membership.Role.ANNOTATOR)
        themes = {theme.pk: theme for theme in Theme.objects.filter(project=project)}
        theme_ids = list(themes)
        stance_ids = list(StanceValue.objects.filter(project=project).values_list("id", flat=True)) + [None]
        annotator_ids = [u.pk for u in annotators]
        with transaction.atomic(), connection.cursor() as cursor:
            rows = []
            for n in range(n_docs):
                text = document_text(rng, n)
                stamp_text = stamp(now)
                rows.append((project.pk, f"{slug}-{n:06d}", f"Document {n}", text, text_sha256(text), "Bench Wire", "",
                             "", "en", "news", "{}", stamp_text, stamp_text))
            cursor.executemany(doc_sql, rows)
            docs = list(Document.objects.filter(project=project).order_by("id").values_list("id", "text"))
            per_doc, extra = divmod(n_spans, len(docs))
            span_rows, theme_rows = [], []

            def flush():
                if vendor == "postgresql":
                    # COPY is PostgreSQL's bulk insert; executemany there costs a round trip a row.
                    copy_rows(cursor, Span._meta.db_table, span_columns, span_rows)
                    copy_rows(cursor, through, ["span_id", "theme_id"], theme_rows)
                else:
                    cursor.executemany(span_sql, span_rows)
                    cursor.executemany(theme_sql, theme_rows)
                span_rows.clear()
                theme_rows.clear()

            for index, (doc_id, text) in enumerate(docs):
                for _ in range(per_doc + (1 if index < extra else 0)):
                    start = rng.randrange(0, len(text) - 80)
                    end = start + rng.randrange(5, 80)
                    sid = span_id()
                    created = now + timedelta(seconds=rng.randrange(0, 86400 * 30), microseconds=rng.randrange(10**6))
                    source_type = rng.choice(SOURCE_TYPES)
                    span_rows.append((
                        sid, doc_id, rng.choice(annotator_ids), start, end, text[start:end],
                        text[max(0, start - 32):start], text[end:end + 32], rng.choice(stance_ids),
                        "the China-Russia partnership", rng.choice("ABCDEF "), rng.choice([1, 2, 3, 4, 5, 6, None]),
                        source_type, "Wang Yi" if source_type == "OFFICIAL" else "", "", "", rng.choice(["", "FACTUAL"]),
                        "", rng.choice(["submitted", "submitted", "draft"]), 1, stamp(created),
                        stamp(created + timedelta(minutes=5)), "{}",
                    ))
                    chosen = rng.sample(theme_ids, rng.choice([1, 1, 2, 3]))
                    # As the app's bulk insert does, the row carries its themes as the export reads them.
                    span_rows[-1] += (theme_codes_json([themes[theme_id] for theme_id in chosen]),)
                    for theme_id in chosen:
                        theme_rows.append((sid, theme_id))
                    if len(span_rows) >= 20_000:
                        flush()
            flush()
    if vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return token


def copy_rows(cursor, table, columns, rows):
    names = ", ".join(f'"{c}"' for c in columns)
    with cursor.cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


def run(cmd, env, **kwargs):
    return subprocess.run(cmd, env=env, cwd=ROOT, check=True, **kwargs)


def worker_pid(master_pid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
        except OSError:
            children = []
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def cpu_seconds(pid):
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


class Server:
    """gunicorn with one sync worker on a free loopback port."""

    def __init__(self, env):
        self.port = free_port()
        self.process = subprocess.Popen(
            [GUNICORN, "config.wsgi:application", "--workers", "1", "--bind", f"127.0.0.1:{self.port}",
             "--timeout", "900", "--log-level", "warning"],
            cwd=ROOT, env=env,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        self.worker = worker_pid(self.process.pid)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def export(port, token, slug, fmt="jsonl", extra=""):
    """Stream one export; return (lines, bytes, seconds, seconds to first byte)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    started = time.perf_counter()
    conn.request("GET", f"/api/projects/{slug}/export/?format={fmt}{extra}", headers={"Authorization": f"Token {token}"})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"export answered {response.status}: {response.read()[:500]!r}")
    lines = size = 0
    first = None
    while True:
        block = response.read1(1 << 20)
        if not block:
            break
        if first is None:
            first = time.perf_counter() - started
        size += len(block)
        lines += block.count(b"\n")
    elapsed = time.perf_counter() - started
    conn.close()
    return lines, size, elapsed, first or elapsed


def measure(env, token, slug, fmt="jsonl"):
    server = Server(env)
    try:
        # One empty export first, so that the timed one does not pay for the worker's
        # first request (URL resolution, lazy imports) and both runs start alike.
        export(server.port, token, slug, fmt, "&document=0")
        baseline = peak_rss_mb(server.worker)
        cpu = cpu_seconds(server.worker)
        lines, size, elapsed, first = export(server.port, token, slug, fmt)
        cpu = cpu_seconds(server.worker) - cpu
        peak = peak_rss_mb(server.worker)
    finally:
        server.stop()
    return {"lines": lines, "bytes": size, "seconds": elapsed, "first_byte": first, "rss_before": baseline,
            "rss_peak": peak, "cpu": cpu}


def create_postgres_database(url):
    import psycopg

    parts = urlsplit(url)
    name = f"lectern_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, urlunsplit(parts._replace(path=f"/{name}"))


def drop_postgres_database(url, name):
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--format", default="jsonl", choices=["jsonl", "csv", "webannotation", "doccano"])
    parser.add_argument("--database-url", help="a PostgreSQL URL whose server may create a scratch database")
    parser.add_argument("--keep", action="store_true", help="leave the scratch database in place")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lectern-bench-"))
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SQLITE_PATH"}}
    env.update({"DEBUG": "false", "SECRET_KEY": uuid.uuid4().hex * 2, "ALLOWED_HOSTS": "127.0.0.1",
                "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_LEVEL": "WARNING", "STATIC_ROOT": str(tmp)})
    pg_name = None
    try:
        if args.database_url:
            pg_name, url = create_postgres_database(args.database_url)
            env["DATABASE_URL"] = url
            where = f"PostgreSQL (scratch database {pg_name})"
        else:
            env["SQLITE_PATH"] = str(tmp / "bench.sqlite3")
            where = f"SQLite {env['SQLITE_PATH']}"
        print(f"machine: {machine()}")
        print(f"database: {where}")
        run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env)
        started = time.perf_counter()
        # Building runs in a child so that this process holds no database connection
        # while the server reads (SQLite) and so that it can drop the database after.
        token = subprocess.run(
            [PYTHON, __file__, "--build-only", str(args.spans), str(args.documents)],
            env=env, cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]
        print(f"built {args.documents:,} + {SMALL_DOCUMENTS} documents and {args.spans:,} + {SMALL_SPANS:,} spans "
              f"in {time.perf_counter() - started:.1f} s")

        print(f"before: load average {load()}, json.dumps of a span record {calibration():.1f} us")
        big = measure(env, token, BIG_SLUG, args.format)
        small = measure(env, token, SMALL_SLUG, args.format)
        print(f"after: load average {load()}, json.dumps of a span record {calibration():.1f} us")
        expect_big = args.spans if args.format != "doccano" else None
        for label, result, expected in (("large", big, expect_big), ("small", small, None)):
            rate = (args.spans if label == "large" else SMALL_SPANS) / result["seconds"]
            print(
                f"{label}: {result['lines']:,} lines, {result['bytes'] / 1e6:.1f} MB in {result['seconds']:.2f} s "
                f"(first byte {result['first_byte'] * 1000:.0f} ms) = {rate:,.0f} spans/s; worker CPU "
                f"{result['cpu']:.2f} s ({(args.spans if label == 'large' else SMALL_SPANS) / max(result['cpu'], 1e-9):,.0f} "
                f"spans per CPU second); worker RSS {result['rss_before']:.1f} MB before, peak {result['rss_peak']:.1f} MB"
            )
            if expected is not None and result["lines"] != expected:
                print(f"  warning: expected {expected:,} lines")
        rate = args.spans / big["seconds"]
        growth = big["rss_peak"] - small["rss_peak"]
        print(f"throughput: {rate:,.0f} spans/s (target >= 150,000): {'met' if rate >= 150_000 else 'NOT met'}")
        print(f"peak RSS, {args.spans:,} vs {SMALL_SPANS:,} spans: +{growth:.1f} MB (target <= 50 MB): "
              f"{'met' if growth <= 50 else 'NOT met'}")
    finally:
        if pg_name and not args.keep:
            drop_postgres_database(args.database_url, pg_name)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}" + (f" and database {pg_name}" if pg_name else ""))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--build-only":
        django_setup()
        print(build_data(int(sys.argv[2]), int(sys.argv[3])))
    else:
        main()
