"""Render time of the progress dashboard on a project of 1,000 documents x 3 annotators x 50 spans.

    .venv/bin/python bench/dashboard_bench.py [--documents 1000] [--annotators 3] [--spans 50] [--runs 7] [--keep]

Builds the project in a throw-away SQLite database (SQLITE_PATH in a temporary
folder, migrated from scratch; rows inserted with bulk_create), logs in as the
project's manager with Django's test Client and times the dashboard page, a later
page of its document table, the JSON endpoint and every chart's CSV. Prints the
median of --runs renders after one warm-up, cold (the cache of span aggregates
cleared before each render) and cached, with CPU time, SQL queries, and PASS or
MISS against the 500 ms target for the page. Not part of the test suite.
"""
import argparse
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

ROOT = Path(__file__).resolve().parent.parent
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


def setup_django(path):
    # WhiteNoise warns that collectstatic never ran; the bench serves no static files.
    warnings.filterwarnings("ignore", message="No directory at")
    os.environ.pop("DATABASE_URL", None)
    os.environ["SQLITE_PATH"] = str(path)
    # Measure as deployed: DEBUG off, so Django does not keep every query in memory.
    os.environ["DEBUG"] = "false"
    os.environ["SECRET_KEY"] = "dashboard-bench-" + uuid.uuid4().hex
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


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
    return project, manager, len(spans), len(links)


def timed(client, url, runs, cold):
    """Median, min and max wall ms, median CPU ms, SQL queries of one render, response bytes."""
    from django.core.cache import cache
    from django.db import connection

    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    cache.clear()
    with connection.execute_wrapper(count):
        first = client.get(url)
    assert first.status_code == 200, (url, first.status_code)
    walls, cpus = [], []
    for _ in range(runs):
        if cold:
            cache.clear()
        began, began_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        walls.append((time.perf_counter() - began) * 1000)
        cpus.append((time.process_time() - began_cpu) * 1000)
        assert response.status_code == 200
    return statistics.median(walls), min(walls), max(walls), statistics.median(cpus), len(queries), len(first.content)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--annotators", type=int, default=3)
    parser.add_argument("--spans", type=int, default=50, help="spans per document and annotator")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temporary database and print its path")
    parser.add_argument("--reuse", metavar="PATH", help="time a database kept by an earlier --keep run instead of building one")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="lectern-dashboard-bench-")
    try:
        setup_django(args.reuse or Path(folder) / "dashboard-bench.sqlite3")
        from django.test import Client
        from django.urls import reverse

        from annotations.dashboard import CHART_SLUGS

        print(f"Machine: {machine()}")
        if args.reuse:
            from django.contrib.auth import get_user_model

            from corpus.models import Project

            project = Project.objects.get(slug="dashboard-bench")
            manager = get_user_model().objects.get(username="bench-manager")
            print(f"Data: reused {args.reuse}, {project.documents.count()} documents")
        else:
            began = time.perf_counter()
            project, manager, n_spans, n_links = build(args.documents, args.annotators, args.spans)
            print(
                f"Data: {args.documents} documents x {args.annotators} annotators x {args.spans} spans = "
                f"{n_spans} spans ({n_links} theme links), built in {time.perf_counter() - began:.1f} s"
            )
        client = Client()
        client.force_login(manager)
        dashboard = reverse("annotations:dashboard", args=[project.slug])
        results = [
            ("page 1, cold", dashboard, True),
            ("page 1, cached", dashboard, False),
            ("page 20, cold", dashboard + "?page=20", True),
            ("API JSON, cold", reverse("api:project-dashboard", args=[project.slug]), True),
        ] + [
            (f"{slug}.csv, cold", reverse("annotations:dashboard-csv", args=[project.slug, slug]), True)
            for slug in CHART_SLUGS
        ]
        print("cold: the span aggregates cache is cleared before each render; cached: it holds them")
        print(f"{'what':<26}{'median ms':>10}{'min':>7}{'max':>7}{'cpu ms':>8}{'queries':>9}{'bytes':>9}")
        pages = {}
        for label, url, cold in results:
            median, low, high, cpu, queries, size = timed(client, url, args.runs, cold)
            pages[label] = median
            print(f"{label:<26}{median:>10.0f}{low:>7.0f}{high:>7.0f}{cpu:>8.0f}{queries:>9}{size:>9}")
        for label in ("page 1, cold", "page 1, cached"):
            verdict = "PASS" if pages[label] < TARGET_MS else "MISS"
            print(f"{verdict}: dashboard {label}: {pages[label]:.0f} ms (median of {args.runs}); target {TARGET_MS} ms")
        print(f"Load average while measuring: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPU(s)")
        if args.keep:
            print(f"Database kept at {os.environ['SQLITE_PATH']}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
