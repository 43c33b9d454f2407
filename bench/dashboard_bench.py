"""Response time of the progress dashboard on a project of 1,000 documents x 3 annotators x 50 spans.

    .venv/bin/python bench/dashboard_bench.py [--database-url URL] [--documents 1000] [--annotators 3]
                                              [--spans 50] [--runs 7] [--keep] [--reuse LOCATION]

Builds the project in a throw-away database (SQLite in a temporary folder, or a fresh
PostgreSQL database created next to the one --database-url names and dropped afterwards;
migrated from scratch, rows inserted with bulk_create), starts gunicorn with one worker
(gthread, one thread, DEBUG off) on a free loopback port and requests, as the project's
manager over one kept-alive connection: the dashboard page, a later page of its document
table, the JSON endpoint and every chart's CSV and SVG.

Each is timed twice --runs times:

- cold: right after a data change (one span's stance is saved through the ORM, as the
  workbench does), so nothing computed before the change may be reused;
- warm: the same request again with nothing changed.

The figures are the server's response time seen from the client (loopback, kept-alive)
and the CPU time the gunicorn worker spent, which other load on the machine barely moves.
Prints the median and best of each, the SQL queries of one render, and PASS or MISS
against the 500 ms target for the page, with the load average. Not part of the test suite.
"""
import argparse
import http.client
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import api_bench  # noqa: E402  (bench/ is on the path when a bench runs)

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TARGET_MS = 500
WORDS = (
    "trade energy yuan rouble pipeline summit sanctions partnership strategic cooperation Arctic route "
    "officials said agreement volume growth currency payments military exercise drills technology "
    "satellite grain exports multipolar order sovereignty territorial BRICS SCO Eurasian union"
).split()
OUTLETS = ["Xinhua", "TASS", "Global Times", "RIA Novosti", "Reuters", "Kommersant", "SCMP", ""]
GRADES = "ABCDEF"
DAYS = 30


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPU(s); Python {platform.python_version()}"


def load_average():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def create_postgres_database(url):
    import psycopg

    name = f"lectern_dashboard_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def drop_postgres_database(url, name):
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django(env):
    # WhiteNoise warns that collectstatic never ran; the bench serves no static files.
    warnings.filterwarnings("ignore", message="No directory at")
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def word_spans(text):
    """(start, end) of every word of the text."""
    spans = []
    start = None
    for i, ch in enumerate(text + " "):
        if ch.isalnum():
            if start is None:
                start = i
        elif start is not None:
            spans.append((start, i))
            start = None
    return spans


def build(n_documents, n_annotators, spans_per_document, seed=11):
    from django.contrib.auth import get_user_model

    from annotations.models import Assignment, Curation, Span, StanceValue, Theme
    from annotations.schema import schema_install_default
    from corpus.models import Document, Membership, Project, text_sha256

    rng = random.Random(seed)
    users = get_user_model()
    project = Project.objects.create(name="Dashboard bench", slug="dashboard-bench")
    schema_install_default(project)
    manager = users.objects.create_user("bench-manager", password="bench-password-123")
    curator = users.objects.create_user("bench-curator")
    annotators = [users.objects.create_user(f"bench-annotator-{i}") for i in range(n_annotators)]
    Membership.objects.create(project=project, user=manager, role=Membership.Role.MANAGER)
    Membership.objects.create(project=project, user=curator, role=Membership.Role.CURATOR)
    for user in annotators:
        Membership.objects.create(project=project, user=user, role=Membership.Role.ANNOTATOR)
    themes = list(Theme.objects.filter(project=project).values_list("pk", flat=True))
    stances = list(StanceValue.objects.filter(project=project).values_list("pk", flat=True)) + [None]

    documents = []
    for n in range(n_documents):
        words = [rng.choice(WORDS) for _ in range(spans_per_document * 3)]
        text = f"Bench document {n}. " + " ".join(words) + "."
        documents.append(
            Document(project=project, external_id=f"bench-{n:05d}", title=f"Bench document {n}", text=text,
                     text_sha256=text_sha256(text), outlet=OUTLETS[n % len(OUTLETS)], language="en", genre="news")
        )
    documents = Document.objects.bulk_create(documents, batch_size=500)

    spans, links, assignments = [], [], []
    for index, doc in enumerate(documents):
        candidates = word_spans(doc.text)
        for a, user in enumerate(annotators):
            # Annotators agree on most passages and differ on a few, as real teams do.
            chosen = sorted(rng.sample(candidates, spans_per_document))
            for start, end in chosen:
                if rng.random() < 0.2:
                    end = min(len(doc.text), end + rng.randint(1, 6))
                span = Span(
                    id=uuid.uuid4(), document=doc, annotator=user, start=start, end=end, text=doc.text[start:end],
                    prefix=doc.text[max(0, start - 32):start], suffix=doc.text[end:end + 32],
                    stance_id=rng.choice(stances), stance_target=project.stance_target,
                    source_reliability=rng.choice(GRADES + " ").strip(), info_credibility=rng.choice([1, 2, 3, 4, 5, 6, None]),
                    status=rng.choice(["submitted", "submitted", "draft", "rejected"]),
                )
                spans.append(span)
                for theme in rng.sample(themes, rng.choice([1, 1, 2])):
                    links.append(Span.themes.through(span_id=span.id, theme_id=theme))
            roll = rng.random()
            status = "done" if roll < 0.6 else "in_progress" if roll < 0.8 else "not_started"
            assignments.append(
                Assignment(document=doc, annotator=user, assigned=True, status=status,
                           done_at=datetime(2025, 4, 1, tzinfo=timezone.utc) + timedelta(days=index % DAYS)
                           if status == "done" else None)
            )
        if index % 10 == 0:
            start, end = candidates[0]
            spans.append(Span(id=uuid.uuid4(), document=doc, annotator=curator, start=start, end=end,
                              text=doc.text[start:end], status="gold"))
    Span.objects.bulk_create(spans, batch_size=2000)
    Span.themes.through.objects.bulk_create(links, batch_size=5000)
    Assignment.objects.bulk_create(assignments, batch_size=2000)
    Curation.objects.bulk_create(
        [Curation(document=doc, curator=curator, status="curated") for doc in documents[::10]], batch_size=2000
    )
    # bulk_create stamps created_at with the insert time; spread the work over a month instead.
    for day in range(DAYS):
        Span.objects.filter(document__in=documents[day::DAYS]).update(
            created_at=datetime(2025, 4, 1, 9, tzinfo=timezone.utc) + timedelta(days=day)
        )
    return len(spans), len(links)


def settle():
    """What a running PostgreSQL server does by itself after a bulk load: statistics and visibility map."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


class Server(api_bench.Server):
    """api_bench's gunicorn (one gthread worker, one request at a time, connections kept alive)."""

    def worker_cpu(self):
        """CPU seconds the worker's threads have run so far (schedstat: nanoseconds, not 10 ms ticks)."""
        try:
            worker = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()[0]
            return sum(
                int((task / "schedstat").read_text().split()[0]) for task in Path(f"/proc/{worker}/task").iterdir()
            ) / 1e9
        except (OSError, IndexError, ValueError):
            return float("nan")


class Browser:
    """One kept-alive HTTP/1.1 connection carrying a logged-in session."""

    def __init__(self, port, session_cookie):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        self.headers = {"Cookie": session_cookie}

    def get(self, path):
        started = time.perf_counter()
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}: {data[:300]!r}")
        return elapsed, data

    def close(self):
        self.conn.close()


class SpanEditor:
    """Saves one annotator span with another stance each time: the data change before a cold render."""

    def __init__(self, project):
        from annotations.models import Span, StanceValue

        self.span = (
            Span.objects.filter(document__project=project, status=Span.Status.SUBMITTED, stance__isnull=False)
            .order_by("document__external_id", "start", "id")
            .first()
        )
        self.stances = list(StanceValue.objects.filter(project=project).order_by("position", "key"))
        self.turn = 0

    def change(self):
        self.turn += 1
        self.span.stance = self.stances[self.turn % len(self.stances)]
        self.span.save()


def count_queries(client, url):
    """SQL queries of one render, counted in this process through Django's test client."""
    from django.db import connection

    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(queries)


def measure(server, browser, editor, url, runs):
    """Cold and warm: (median ms, best ms, median worker CPU ms) each, and the response size."""
    browser.get(url)  # the worker has imported and compiled everything this URL needs
    cold, cold_cpu, warm, warm_cpu = [], [], [], []
    for _ in range(runs):
        editor.change()
        before = server.worker_cpu()
        elapsed, data = browser.get(url)
        cold.append(elapsed * 1000)
        cold_cpu.append((server.worker_cpu() - before) * 1000)
        before = server.worker_cpu()
        elapsed, data = browser.get(url)
        warm.append(elapsed * 1000)
        warm_cpu.append((server.worker_cpu() - before) * 1000)
    return (
        (statistics.median(cold), min(cold), statistics.median(cold_cpu)),
        (statistics.median(warm), min(warm), statistics.median(warm_cpu)),
        len(data),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="a PostgreSQL URL whose server may create a scratch database")
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--annotators", type=int, default=3)
    parser.add_argument("--spans", type=int, default=50, help="spans per document and annotator")
    parser.add_argument("--runs", type=int, default=7, help="cold and warm renders of each URL")
    parser.add_argument("--keep", action="store_true", help="keep the database and print where it is")
    parser.add_argument("--reuse", metavar="LOCATION",
                        help="time a database kept by an earlier --keep run (its SQLite path or PostgreSQL URL)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="lectern-dashboard-bench-"))
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SQLITE_PATH"}}
    # Measure as deployed: DEBUG off, so Django does not keep every query in memory.
    env.update({"DEBUG": "false", "SECRET_KEY": "dashboard-bench-" + uuid.uuid4().hex,
                "ALLOWED_HOSTS": "127.0.0.1,testserver", "DJANGO_SETTINGS_MODULE": "config.settings",
                "LOG_LEVEL": "WARNING", "STATIC_ROOT": str(folder / "static")})
    pg_name = server = None
    location = None
    try:
        if args.reuse:
            location = args.reuse
        elif args.database_url:
            pg_name, location = create_postgres_database(args.database_url)
        else:
            location = str(folder / "dashboard-bench.sqlite3")
        if location.startswith("postgres"):
            env["DATABASE_URL"] = location
            backend = f"PostgreSQL ({urlsplit(location).path.lstrip('/')})"
        else:
            env["SQLITE_PATH"] = location
            backend = "SQLite (WAL)"
        (folder / "static").mkdir()
        setup_django(env)
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.test import Client
        from django.urls import reverse

        from annotations.dashboard import CHART_SLUGS
        from annotations.models import Span
        from corpus.models import Project

        print(f"Machine: {machine()}")
        print(f"Load average at start: {load_average()} (other work on the machine slows every wall time)")
        print(f"Database: {backend}")
        call_command("migrate", verbosity=0, interactive=False)
        if args.reuse:
            print(f"Data: reused {args.reuse}")
        else:
            began = time.perf_counter()
            n_spans, n_links = build(args.documents, args.annotators, args.spans)
            settle()
            print(
                f"Data: {args.documents} documents x {args.annotators} annotators x {args.spans} spans = "
                f"{n_spans} spans ({n_links} theme links), built in {time.perf_counter() - began:.1f} s"
            )
        project = Project.objects.get(slug="dashboard-bench")
        print(f"      {project.documents.count()} documents and "
              f"{Span.objects.filter(document__project=project).count()} spans in the project")
        manager = get_user_model().objects.get(username="bench-manager")
        client = Client()
        client.force_login(manager, backend="django.contrib.auth.backends.ModelBackend")
        cookie = f"{client.cookies['sessionid'].key}={client.cookies['sessionid'].value}"
        editor = SpanEditor(project)

        dashboard = reverse("annotations:dashboard", args=[project.slug])
        urls = [
            ("page 1", dashboard),
            ("page 20", dashboard + "?page=20"),
            ("API JSON", reverse("api:project-dashboard", args=[project.slug])),
        ]
        for slug in CHART_SLUGS:
            urls.append((f"{slug}.csv", reverse("annotations:dashboard-csv", args=[project.slug, slug])))
        for slug in CHART_SLUGS:
            urls.append((f"{slug}.svg", reverse("annotations:dashboard-svg", args=[project.slug, slug])))

        server = Server(env)
        browser = Browser(server.port, cookie)
        print(f"gunicorn: 1 worker, 1 thread, DEBUG off; {args.runs} cold and {args.runs} warm requests per URL")
        print("cold: right after one span's stance was saved; warm: the same request again, nothing changed")
        print("ms: response time at the client over loopback; cpu: the worker's CPU time for the request"
              + ("\n    (PostgreSQL's own CPU is in the response time, not in cpu)" if "DATABASE_URL" in env else ""))
        print()
        print(f"{'what':<22}{'cold ms':>9}{'best':>7}{'cpu':>7}   {'warm ms':>8}{'best':>7}{'cpu':>7}"
              f"{'queries':>9}{'bytes':>9}")
        page = None
        try:
            for label, url in urls:
                cold, warm, size = measure(server, browser, editor, url, args.runs)
                queries = count_queries(client, url)
                print(f"{label:<22}{cold[0]:>9.0f}{cold[1]:>7.0f}{cold[2]:>7.0f}   {warm[0]:>8.0f}{warm[1]:>7.0f}"
                      f"{warm[2]:>7.0f}{queries:>9}{size:>9}")
                if label == "page 1":
                    page = cold, warm
        finally:
            browser.close()
        print()
        for name, (median, best, cpu) in zip(("cold", "warm"), page):
            verdict = "PASS" if median < TARGET_MS else "MISS"
            print(f"{verdict}: dashboard page 1, {name}: {median:.0f} ms median of {args.runs} (best {best:.0f} ms, "
                  f"server CPU {cpu:.0f} ms); target {TARGET_MS} ms")
        print(f"Load average at the end: {load_average()} on {os.cpu_count()} CPU(s)")
        if args.keep:
            print(f"Database kept at {location}")
    finally:
        if server is not None:
            server.stop()
        from django.db import connections

        connections.close_all()
        if pg_name and not args.keep:
            drop_postgres_database(args.database_url, pg_name)
        if not (args.keep and location and location.startswith(str(folder))):
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
