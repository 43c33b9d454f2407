"""Latency and throughput of the REST API's hot paths, end to end over HTTP.

    .venv/bin/python bench/api_bench.py [--database-url URL] [--creates 2000] [--rounds 3]

Builds its own data in a throw-away database (SQLite in a temporary folder, or a fresh
PostgreSQL database created next to the one --database-url names and dropped afterwards),
migrates it, starts gunicorn with one worker (gthread, one thread: it keeps connections alive) and DEBUG
off on a free loopback port, and measures over one kept-alive connection (http.client) with
token authentication:

- POST /api/spans/ one span at a time (median and p95 of --creates requests; history checked),
- GET /api/spans/?document=X of a document holding 500 spans,
- POST /api/documents/ with 1,000 documents of 5,000 characters,
- POST /api/spans/bulk/ with 10,000 spans.

Prints the machine and each figure next to its target with PASS or MISS. Removes the
temporary folder (and drops the PostgreSQL database) when done. Not part of the test suite.
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
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
WORDS = (
    "trade energy yuan rouble pipeline summit sanctions partnership strategic cooperation Arctic route "
    "officials said agreement volume growth currency payments military exercise drills technology "
    "satellite grain exports multipolar order sovereignty territorial BRICS SCO Eurasian union"
).split()
# Astral and CJK characters keep code-point offsets honest, as in real corpora.
EXTRAS = ["中俄合作", "🤝", "naïve", "—", "𠀀"]
THEMES = ["TRADE.volume", "ENERGY.oil_gas", "FINANCE.currency", "ORDER.multipolarity", "ARCTIC", "WEST.us"]
STANCES = ["FAVOR", "AGAINST", "NEUTRAL", "NONE", None]

TARGETS = {  # name: (target, unit)
    "span create, median": (5.0, "ms"),
    "span create, p95": (10.0, "ms"),
    "GET 500 spans of a document, median": (10.0, "ms"),
    "bulk create 1,000 documents of 5,000 chars": (0.2, "s"),
    "bulk create 10,000 spans": (2.0, "s"),
}


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.platform()}; {cpu}; {os.cpu_count()} CPU(s); Python {platform.python_version()}")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def text_of(rng, chars, label):
    words = [label]
    size = len(label)
    while size < chars:
        word = rng.choice(EXTRAS) if rng.random() < 0.03 else rng.choice(WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:chars]


def django_setup():
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def build(rng):
    """Migrate, then create the project, users with tokens and the documents the runs point at."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from annotations.bulk import spans_bulk_create
    from annotations.schema import schema_install_default
    from corpus.models import Document, Membership, Project

    call_command("migrate", verbosity=0, interactive=False)
    users = get_user_model()
    project = Project.objects.create(name="API bench", slug="api-bench")
    schema_install_default(project)
    annotator = users.objects.create_user("bench-annotator")
    manager = users.objects.create_user("bench-manager")
    Membership.objects.create(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    Membership.objects.create(project=project, user=manager, role=Membership.Role.MANAGER)
    documents = [
        Document.objects.create(project=project, external_id=f"bench-{n}", title=f"Bench {n}",
                                text=text_of(rng, 5000, f"Bench document {n}."))
        for n in range(30)
    ]
    # The document whose 500 spans the list measurement reads.
    listed = documents[0]
    spans_bulk_create(items=[span_item(rng, listed) for _ in range(500)], annotator=annotator)
    return {
        "project": project.slug,
        "documents": [(d.pk, d.text) for d in documents[1:]],
        "listed": listed.pk,
        "annotator_token": Token.objects.create(user=annotator).key,
        "manager_token": Token.objects.create(user=manager).key,
    }


def span_item(rng, document_or_pair):
    pk, text = (document_or_pair.pk, document_or_pair.text) if hasattr(document_or_pair, "pk") else document_or_pair
    start = rng.randrange(0, len(text) - 60)
    end = start + rng.randrange(5, 60)
    return {
        "document": pk, "start": start, "end": end, "text": text[start:end],
        "themes": rng.sample(THEMES, rng.randint(1, 2)), "stance": rng.choice(STANCES),
        "source_reliability": rng.choice("ABCDEF"), "info_credibility": rng.randint(1, 6),
        "attributed_source": {"type": "MEDIA", "name": "Xinhua"}, "note": "",
    }


class Server:
    """gunicorn with one sync worker on a free loopback port."""

    def __init__(self, env):
        self.port = free_port()
        self.process = subprocess.Popen(
            # gthread with one thread: still one worker serving one request at a time, but
            # unlike the sync worker it keeps connections alive, as a browser's would be.
            [GUNICORN, "config.wsgi:application", "--workers", "1", "--worker-class", "gthread", "--threads", "1",
             "--keep-alive", "60", "--bind", f"127.0.0.1:{self.port}", "--timeout", "300", "--log-level", "warning"],
            cwd=ROOT, env=env,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)

    def worker_cpu(self):
        """CPU seconds the worker has used so far: unlike wall time, barely moved by other load."""
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
            fields = Path(f"/proc/{children[0]}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Client:
    """One kept-alive HTTP/1.1 connection with a token."""

    def __init__(self, port, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json"}

    def request(self, method, path, body=None, expect=200):
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        if response.status != expect:
            raise RuntimeError(f"{method} {path} answered {response.status}: {data[:500]!r}")
        return elapsed, data

    def close(self):
        self.conn.close()


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def run(server, data, args, rng):
    from annotations.models import Span

    results, notes = {}, []
    annotator = Client(server.port, data["annotator_token"])
    manager = Client(server.port, data["manager_token"])
    try:
        # Warm the worker (imports, URL resolver, first queries) before anything is timed.
        for _ in range(20):
            annotator.request("POST", "/api/spans/", json.dumps(span_item(rng, data["documents"][0])), expect=201)
            annotator.request("GET", f"/api/spans/?document={data['listed']}&page_size=1000")

        bodies = [json.dumps(span_item(rng, rng.choice(data["documents"]))) for _ in range(args.creates)]
        history_before = Span.history.count()
        cpu = server.worker_cpu()
        timings = []
        ids = []
        for body in bodies:
            elapsed, raw = annotator.request("POST", "/api/spans/", body, expect=201)
            timings.append(elapsed)
            ids.append(json.loads(raw)["id"])
        recorded = Span.history.filter(id__in=ids[:500], history_type="+").count()
        results["span create, median"] = statistics.median(timings) * 1000
        results["span create, p95"] = percentile(timings, 0.95) * 1000
        cpu = (server.worker_cpu() - cpu) / len(timings)
        notes.append(f"span create: {args.creates} requests, mean {statistics.mean(timings) * 1000:.2f} ms, "
                     f"server CPU {cpu * 1000:.2f} ms per request, "
                     f"max {max(timings) * 1000:.1f} ms; history rows written {Span.history.count() - history_before} "
                     f"({recorded} of the first 500 spans have their '+' record)")

        timings = []
        cpu = server.worker_cpu()
        for _ in range(args.list_repeats):
            elapsed, raw = annotator.request("GET", f"/api/spans/?document={data['listed']}&page_size=1000")
            timings.append(elapsed)
        listed = len(json.loads(raw)["results"])
        results["GET 500 spans of a document, median"] = statistics.median(timings) * 1000
        cpu = (server.worker_cpu() - cpu) / len(timings)
        notes.append(f"GET spans: {listed} spans per response, {len(raw) / 1024:.0f} KiB, "
                     f"server CPU {cpu * 1000:.2f} ms per request, "
                     f"p95 {percentile(timings, 0.95) * 1000:.2f} ms over {args.list_repeats} requests")

        timings = []
        cpu = server.worker_cpu()
        for round_ in range(args.rounds):
            records = [{"external_id": f"bulk-{round_}-{n}", "title": f"Bulk {n}",
                        "text": text_of(rng, 5000, f"Bulk document {round_}-{n}."), "outlet": "Bench"}
                       for n in range(1000)]
            body = json.dumps(records)
            elapsed, raw = manager.request("POST", f"/api/documents/?project={data['project']}", body, expect=201)
            if json.loads(raw)["created"] != 1000:
                raise RuntimeError("the document batch was not stored whole")
            timings.append(elapsed)
        results["bulk create 1,000 documents of 5,000 chars"] = statistics.median(timings)
        cpu = (server.worker_cpu() - cpu) / len(timings)
        notes.append(f"bulk documents: {len(body) / 1e6:.1f} MB per request, server CPU {cpu:.3f} s per request; rounds "
                     + ", ".join(f"{t:.3f}" for t in timings) + " s")

        timings = []
        cpu = server.worker_cpu()
        for _ in range(args.rounds):
            items = [span_item(rng, rng.choice(data["documents"])) for _ in range(10_000)]
            body = json.dumps(items)
            elapsed, raw = annotator.request("POST", "/api/spans/bulk/", body, expect=201)
            if json.loads(raw)["created"] != 10_000:
                raise RuntimeError("the span batch was not stored whole")
            timings.append(elapsed)
        results["bulk create 10,000 spans"] = statistics.median(timings)
        cpu = (server.worker_cpu() - cpu) / len(timings)
        notes.append(f"bulk spans: {len(body) / 1e6:.1f} MB per request, server CPU {cpu:.3f} s per request; rounds "
                     + ", ".join(f"{t:.3f}" for t in timings) + " s")
    finally:
        annotator.close()
        manager.close()
    return results, notes


def create_postgres_database(url):
    import psycopg

    name = f"lectern_api_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def drop_postgres_database(url, name):
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="a PostgreSQL URL whose server may create a scratch database")
    parser.add_argument("--creates", type=int, default=2000, help="single span creates to time")
    parser.add_argument("--list-repeats", type=int, default=200, help="GETs of the 500-span document to time")
    parser.add_argument("--rounds", type=int, default=3, help="bulk requests of each kind to time")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="lectern-api-bench-"))
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SQLITE_PATH"}}
    env.update({"DEBUG": "false", "SECRET_KEY": uuid.uuid4().hex * 2, "ALLOWED_HOSTS": "127.0.0.1",
                "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_LEVEL": "WARNING"})
    pg_name = server = None
    try:
        if args.database_url:
            pg_name, url = create_postgres_database(args.database_url)
            env["DATABASE_URL"] = url
            backend = f"PostgreSQL (scratch database {pg_name})"
        else:
            env["SQLITE_PATH"] = str(tmp / "bench.sqlite3")
            backend = f"SQLite (WAL) in {tmp}"
        (tmp / "static").mkdir()
        env["STATIC_ROOT"] = str(tmp / "static")
        os.environ.update(env)
        django_setup()

        print(f"Machine: {machine()}")
        print(f"Load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other work on the machine "
              "slows every figure)")
        print(f"Database: {backend}")
        started = time.perf_counter()
        data = build(rng)
        print(f"Built the data in {time.perf_counter() - started:.1f} s; starting gunicorn (1 worker, DEBUG off)")
        server = Server(env)
        results, notes = run(server, data, args, rng)
    finally:
        if server is not None:
            server.stop()
        from django.db import connections

        connections.close_all()
        if pg_name:
            drop_postgres_database(args.database_url, pg_name)
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"{'measure':<46} {'result':>10}   {'target':>8}")
    missed = 0
    for name, (target, unit) in TARGETS.items():
        value = results[name]
        ok = value <= target
        missed += not ok
        shown = f"{value:.2f} {unit}" if unit == "ms" else f"{value:.3f} {unit}"
        print(f"{name:<46} {shown:>10}   <= {target:g} {unit:<2}  {'PASS' if ok else 'MISS'}")
    print()
    for note in notes:
        print(f"  {note}")
    print(f"  load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
