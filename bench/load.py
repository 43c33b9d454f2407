"""Load and fault test: reviewers tag spans over HTTP at once, then every acknowledged write is checked in the database.

    .venv/bin/python bench/load.py [--users 20] [--duration 180] [--database-url URL] [--faults]

Builds its own world and throws it away afterwards: a SQLite file in a temporary folder
(default) or, with --database-url, a fresh PostgreSQL database created on that server
(named after the URL's database plus a random suffix) and dropped at the end. It migrates,
seeds a project with the default label schema, documents with multi-byte and astral
characters, one token per simulated user, and starts gunicorn (sync workers, DEBUG off)
on a free loopback port, as `make serve` does.

Each simulated reviewer is a thread with its own HTTP connection. It reads the schema,
opens documents (text and its own spans, checking that it reads back exactly what it
wrote), creates spans with random valid offsets, quotes and labels, edits them (PATCH
with the version), deletes some (DELETE with the version), marks documents done (the
outcome, 200 or the 400 "incomplete" refusal, is predicted from what it wrote), sends
stale versions (must be 409) and invalid writes (bad quote, offsets past the end,
unknown theme, incomplete submission: must be 400). A researcher streams the JSONL
export meanwhile.

Every request's outcome goes into a client-side ledger: each span the server
acknowledged, exactly as it must now be stored; each acknowledged delete; each refused
write; each write whose answer never came (connection reset, 5xx), with the states the
span may now be in. Afterwards a child process reads the database through the ORM and
checks the ledger against it, and a final export against the database.

--faults kills one gunicorn worker with SIGKILL and, on PostgreSQL, stops the server for
a few seconds (pg_ctlcluster, so it needs root); writes cut short may have happened or
not, but never in part, and the time until requests succeed again is measured.

Exit status 0 only when every target is met. bench/load.py is importable: `run(Config(...))`.
"""
import argparse
import http.client
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
SLUG = "load"
STANCE_TARGET = "the China-Russia partnership"
REQUEST_TIMEOUT = 30
WRITE_P95_TARGET_MS = 200
RECOVERY_TARGET_S = 5.0
# Failures of requests sent this long after a fault was cleared count against the app.
FAULT_GRACE_S = 10.0

WORDS = (
    "trade energy yuan rouble pipeline summit sanctions partnership strategic cooperation Arctic route "
    "officials said agreement volume growth currency payments military exercise drills technology "
    "satellite grain exports multipolar order sovereignty territorial BRICS SCO Eurasian union Beijing "
    "Moscow analysts warned ministry statement according to sources close the talks"
).split()
# Non-BMP, CJK and combining characters keep code-point offsets honest.
EXTRAS = ["中俄合作", "🤝", "“quoted”", "naïve", "—", "𠀀", "Лавров", "e\u0301", "\u00a0"]
NAMES = ["Wang Yi", "Сергей Лавров", "王毅", "a senior official", "Reuters", "Dr. O'Neil", ""]
NOTES = ["", "", "check the date", "quoted twice 🤝", "ironic?", "see paragraph 3 — context"]
TARGETS = [STANCE_TARGET, "the yuan settlement scheme", "BRICS enlargement"]
SOURCE_TYPES = ["OFFICIAL", "STATE_MEDIA", "MEDIA", "ANALYST", "AUTHOR", "ANONYMOUS"]
CLAIM_TYPES = ["", "FACTUAL", "EVALUATIVE", "PREDICTIVE"]
GRADES = ("stance", "source_reliability", "info_credibility", "source_type")
REQUIRED = ("stance", "stance_target", "source_reliability", "info_credibility", "source_type")
STATE_FIELDS = (
    "document", "start", "end", "text", "themes", "stance", "stance_target", "source_reliability",
    "info_credibility", "source_type", "source_name", "source_affiliation", "source_via", "claim_type", "note",
    "status", "version",
)
# gunicorn's default access format plus the time spent in the worker (%(D)s, microseconds),
# which tells time in the application from time queued for a free worker.
ACCESS_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s'
WARM_UP_AGENT = "lectern-load-warm-up"
SPAN_WRITE_LABELS = ("POST /api/spans/", "PATCH /api/spans/{id}/", "DELETE /api/spans/{id}/")
IN_FLIGHT, OK, UNEXPECTED = "in_flight", "ok", "unexpected"


# --------------------------------------------------------------------------- set-up


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPU(s); {platform.system()} {platform.release()}; Python {platform.python_version()}"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ScratchDatabase:
    """A database that exists for one run only: a SQLite file in a temporary folder, or a fresh PostgreSQL database."""

    def __init__(self, database_url, folder):
        self.server_url = database_url
        self.pg_name = None
        if database_url:
            parts = urlsplit(database_url)
            if parts.scheme not in ("postgres", "postgresql"):
                raise SystemExit("--database-url must be a postgresql:// URL")
            base = (parts.path.lstrip("/") or "lectern_load").replace('"', "")
            self.pg_name = f"{base[:40]}_{uuid.uuid4().hex[:8]}"
            self.admin_url = urlunsplit(parts._replace(path="/postgres"))
            self.url = urlunsplit(parts._replace(path=f"/{self.pg_name}"))
            self.host = parts.hostname or "localhost"
            self.label = f"PostgreSQL, scratch database {self.pg_name}"
        else:
            self.path = Path(folder) / "load.sqlite3"
            self.label = f"SQLite {self.path}"

    @property
    def is_postgres(self):
        return self.pg_name is not None

    def env(self, env):
        env = dict(env)
        env.pop("DATABASE_URL", None)
        env.pop("SQLITE_PATH", None)
        if self.is_postgres:
            env["DATABASE_URL"] = self.url
        else:
            env["SQLITE_PATH"] = str(self.path)
        return env

    def create(self):
        if self.is_postgres:
            import psycopg

            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg_name}"')

    def drop(self):
        if self.is_postgres:
            import psycopg

            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')


def child(command, env, payload, timeout=600):
    """Run this file as a Django process (`prepare` or `verify`) and return the JSON it writes."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(payload, handle, ensure_ascii=False)
        path = handle.name
    try:
        result = subprocess.run([PYTHON, __file__, f"--child-{command}", path], env=env, cwd=ROOT,
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
        return json.loads(Path(path).read_text())
    finally:
        os.unlink(path)


def django_setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def document_text(rng, n):
    sentences = []
    size = rng.randrange(1200, 3200)
    while sum(len(s) + 1 for s in sentences) < size:
        words = [rng.choice(EXTRAS) if rng.random() < 0.05 else rng.choice(WORDS) for _ in range(rng.randrange(6, 18))]
        sentences.append(" ".join(words).capitalize() + ".")
    return f"Load document {n}.\n" + " ".join(sentences)


def child_prepare(payload):
    """Migrate, then create the project, its schema, documents, users, memberships and tokens."""
    django_setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction
    from rest_framework.authtoken.models import Token

    call_command("migrate", "--noinput", verbosity=0)
    from annotations.schema import schema_install_default
    from corpus.models import Document, Membership, Project, text_sha256

    rng = random.Random(payload["seed"])
    users = get_user_model()
    with transaction.atomic():
        project = Project.objects.create(name="Load test", slug=SLUG, stance_target=STANCE_TARGET)
        schema_install_default(project)
        manager = users.objects.create_user("load-manager")
        Membership.objects.create(project=project, user=manager, role=Membership.Role.MANAGER)
        researcher = users.objects.create_user("load-researcher")
        Membership.objects.create(project=project, user=researcher, role=Membership.Role.CURATOR)
        reviewers = []
        for n in range(payload["users"]):
            user = users.objects.create_user(f"load-reviewer-{n:03d}")
            Membership.objects.create(project=project, user=user, role=Membership.Role.ANNOTATOR)
            reviewers.append({"username": user.username, "token": Token.objects.create(user=user).key})
        documents = []
        for n in range(payload["documents"]):
            text = document_text(rng, n)
            documents.append(Document(project=project, external_id=f"load-{n:04d}", title=f"Load document {n}",
                                      text=text, text_sha256=text_sha256(text), language="en", genre="news"))
        Document.objects.bulk_create(documents)
    return {
        "reviewers": reviewers,
        "researcher": Token.objects.create(user=researcher).key,
        "documents": list(Document.objects.filter(project=project).order_by("pk").values_list("pk", flat=True)),
    }


# --------------------------------------------------------------------------- server and faults


class Server:
    """gunicorn as `make serve` runs it, on a free loopback port, its output in files."""

    def __init__(self, env, workers, folder):
        self.port = free_port()
        self.workers = workers
        self.access_log = Path(folder) / "access.log"
        self.error_log = Path(folder) / "server.log"
        self._out = open(self.access_log, "wb")
        self._err = open(self.error_log, "wb")
        self.process = subprocess.Popen(
            [GUNICORN, "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
             "--timeout", "60", "--graceful-timeout", "30", "--max-requests", "2000", "--max-requests-jitter", "200",
             "--access-logfile", "-", "--error-logfile", "-", "--access-logformat", ACCESS_FORMAT],
            cwd=ROOT, env=env, stdout=self._out, stderr=self._err,
        )

    def wait_ready(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.error_log.read_text()[-3000:]}")
            if len(self.worker_pids()) == self.workers and self._healthy():
                return
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not become ready")

    def warm_up(self, token, document):
        """A few API reads per worker, unmeasured: what a worker imports and builds on its first
        request (URL patterns, serializers, the schema) is not what a running server costs."""
        client = Client(self.port, token, Recorder(time.monotonic), "warm-up")
        for _ in range(self.workers * 3):
            for path in (f"/api/projects/{SLUG}/schema/", f"/api/documents/{document}/",
                         f"/api/spans/?document={document}", f"/api/projects/{SLUG}/export/?document={document}"):
                client.call("warm-up", "GET", path, headers={"User-Agent": WARM_UP_AGENT})
        client.close()

    def _healthy(self):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except (OSError, http.client.HTTPException):
            return False

    def worker_pids(self):
        try:
            text = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()
        self._err.close()


def children(pid):
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def process_times(pid):
    """(CPU seconds, seconds spent runnable but waiting for a CPU) of one process, from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # Numbered as in proc(5): utime is field 14, stime 15; stat[0] is field 3.
    cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    waited = int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    return cpu, waited


class ProcessMonitor(threading.Thread):
    """Samples CPU and run-queue wait of gunicorn's processes (and of the scratch database's PostgreSQL backends).

    A worker that is recycled or killed counts up to its last sample; one born during the run counts
    from zero, boot included. Run-queue wait is the time a process was ready to run but the machine
    had no free CPU for it: what a busy machine adds to every latency.
    """

    def __init__(self, server, pg_name=None, interval=0.5):
        super().__init__(daemon=True, name="monitor")
        self.server, self.pg_name, self.interval = server, pg_name, interval
        self.stop_event = threading.Event()
        self.first, self.last = {}, {}
        self.loads = []
        self.sample(initial=True)

    def pids(self):
        pids = {("gunicorn", self.server.process.pid)} | {("gunicorn", pid) for pid in self.server.worker_pids()}
        if self.pg_name:
            master = postmaster_pid()
            for pid in children(master) if master else []:
                try:
                    if f" {self.pg_name} " in Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ") + " ":
                        pids.add(("postgres", pid))
                except OSError:
                    pass
        return pids

    def sample(self, initial=False):
        for owner, pid in self.pids():
            try:
                times = process_times(pid)
            except (OSError, ValueError, IndexError):
                continue
            self.first.setdefault((owner, pid), times if initial else (0.0, 0.0))
            self.last[(owner, pid)] = times
        self.loads.append(os.getloadavg()[0])

    def run(self):
        while not self.stop_event.wait(self.interval):
            self.sample()

    def finish(self):
        self.stop_event.set()
        self.join(timeout=5)
        self.sample()

    def totals(self, owner):
        """(CPU seconds, run-queue seconds) used by owner's processes since the monitor started."""
        cpu = waited = 0.0
        for key, (last_cpu, last_wait) in self.last.items():
            if key[0] == owner:
                first_cpu, first_wait = self.first[key]
                cpu += last_cpu - first_cpu
                waited += last_wait - first_wait
        return cpu, waited


def postmaster_pid():
    try:
        return int(Path(f"/var/run/postgresql/{'-'.join(postgres_cluster())}.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError, RuntimeError):
        return None


def set_session_niceness(pid, value):
    """Set the autogroup (session) niceness of pid; return the previous value, or None where unsupported.

    With autogroup scheduling the kernel first shares CPU between sessions, and a process's own
    nice value only counts inside its session: the session's value is what competes with other work.
    """
    path = Path(f"/proc/{pid}/autogroup")
    try:
        previous = int(path.read_text().split()[-1])
        path.write_text(str(value))
    except (OSError, ValueError, IndexError):
        return None
    return previous


def postgres_cluster():
    versions = sorted(os.listdir("/etc/postgresql"))
    if not versions:
        raise RuntimeError("no PostgreSQL cluster under /etc/postgresql")
    return versions[-1], "main"


def pg_ctl(action, timeout=90):
    version, name = postgres_cluster()
    return subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name, action],
                          capture_output=True, text=True, timeout=timeout)


def ensure_postgres_running():
    """Start the local cluster if it is down; any fault run ends through here, even on error."""
    try:
        if pg_ctl("status").returncode != 0:
            result = pg_ctl("start")
            if result.returncode != 0:
                print(f"could not start PostgreSQL: {result.stderr}", file=sys.stderr)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        print(f"could not check PostgreSQL: {exc}", file=sys.stderr)


@dataclass
class Fault:
    name: str
    started: float
    cleared: float = None
    detail: str = ""
    recovered: float = None  # first successful probe after `cleared`


class FaultInjector(threading.Thread):
    """Kills a worker at a quarter of the run and stops PostgreSQL for a few seconds past half of it."""

    def __init__(self, server, clock, duration, postgres, stop_event, pg_down_s=3.0):
        super().__init__(daemon=True, name="faults")
        self.server, self.clock, self.duration = server, clock, duration
        self.postgres, self.stop_event, self.pg_down_s = postgres, stop_event, pg_down_s
        self.faults = []
        self.errors = []

    def run(self):
        try:
            if self.stop_event.wait(self.duration * 0.25):
                return
            self.kill_worker()
            if self.postgres and not self.stop_event.wait(self.duration * 0.3):
                self.restart_postgres()
        except Exception as exc:  # reported, never swallowed: a fault that was not injected fails the run
            self.errors.append(f"{exc.__class__.__name__}: {exc}")

    def kill_worker(self):
        victim, busy = self.busy_worker()
        fault = Fault("SIGKILL one gunicorn worker" + (" while it served a request" if busy else ""), self.clock())
        os.kill(victim, signal.SIGKILL)
        fault.cleared = fault.started
        self.faults.append(fault)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pids = self.server.worker_pids()
            if victim not in pids and len(pids) == self.server.workers:
                fault.detail = f"pid {victim}; master had {len(pids)} workers again after {self.clock() - fault.started:.2f} s"
                return
            time.sleep(0.05)
        fault.detail = f"pid {victim}; master did not respawn it within 30 s"

    def busy_worker(self, within=3.0):
        """A worker that is running (serving a request) if one is seen within a few seconds, else any worker."""
        deadline = time.monotonic() + within
        while True:
            pids = self.server.worker_pids()
            for pid in pids:
                try:
                    if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "R":
                        return pid, True
                except OSError:
                    continue
            if time.monotonic() > deadline:
                if not pids:
                    raise RuntimeError("no gunicorn worker to kill")
                return pids[0], False
            time.sleep(0.005)

    def restart_postgres(self):
        fault = Fault(f"stop PostgreSQL for {self.pg_down_s:.0f} s", self.clock())
        self.faults.append(fault)
        try:
            result = pg_ctl("stop")
            if result.returncode != 0:
                raise RuntimeError(f"pg_ctlcluster stop failed: {result.stderr.strip()}")
            time.sleep(self.pg_down_s)
        finally:
            result = pg_ctl("start")
            fault.cleared = self.clock()
            if result.returncode != 0:
                ensure_postgres_running()
        fault.detail = f"down {fault.cleared - fault.started:.1f} s (stop, {self.pg_down_s:.0f} s, start)"


# --------------------------------------------------------------------------- HTTP client


@dataclass
class Answer:
    status: object  # int, or the exception's class name when no answer came
    data: object
    kind: str
    content_type: str = ""


class Recorder:
    """Every request's outcome, for the summary; list.append is atomic, so threads share it unlocked."""

    def __init__(self, clock):
        self.clock = clock
        self.rows = []  # (sent at, label, status, milliseconds, kind, who)
        self.problems = []
        self.five_xx_types = Counter()

    def add(self, *row):
        self.rows.append(row)

    def problem(self, text):
        self.problems.append(text)


class Client:
    """One simulated user's connection; http.client reconnects by itself when gunicorn closes it."""

    def __init__(self, port, token, recorder, who):
        self.port, self.token, self.recorder, self.who = port, token, recorder, who
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)

    def call(self, label, method, path, body=None, expect=(200,), headers=None):
        sent = {"Authorization": f"Token {self.token}", "Accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            sent["Content-Type"] = "application/json"
        at = self.recorder.clock()
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=sent)
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            ms = (time.perf_counter() - started) * 1000
            self.recorder.add(at, label, exc.__class__.__name__, ms, IN_FLIGHT, self.who)
            return Answer(exc.__class__.__name__, None, IN_FLIGHT)
        ms = (time.perf_counter() - started) * 1000
        content_type = response.getheader("Content-Type", "")
        parsed = None
        if raw and content_type.startswith("application/json"):
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
        if response.status >= 500:
            kind = IN_FLIGHT
            self.recorder.five_xx_types[f"{response.status} {content_type.split(';')[0] or 'no body'}"] += 1
        elif response.status in expect:
            kind = OK
        else:
            kind = UNEXPECTED
            self.recorder.problem(f"{self.who}: {method} {path} answered {response.status}, expected "
                                  f"{'/'.join(map(str, expect))}: {raw[:300]!r}")
        if kind == OK and response.status >= 400:
            error = (parsed or {}).get("error") if isinstance(parsed, dict) else None
            if not isinstance(error, dict) or error.get("status") != response.status or not error.get("message"):
                kind = UNEXPECTED
                self.recorder.problem(f"{self.who}: {method} {path} refused without the shared error shape: {raw[:300]!r}")
        self.recorder.add(at, label, response.status, ms, kind, self.who)
        return Answer(response.status, parsed, kind, content_type)

    def stream(self, label, path, handle=None):
        """GET a streamed body line by line; returns (status or exception name, lines, ids seen twice)."""
        at = self.recorder.clock()
        started = time.perf_counter()
        lines, duplicates, seen = 0, 0, set()
        try:
            self.conn.request("GET", path, headers={"Authorization": f"Token {self.token}"})
            response = self.conn.getresponse()
            if response.status != 200:
                raw = response.read()
                kind = IN_FLIGHT if response.status >= 500 else UNEXPECTED
                if kind == UNEXPECTED:
                    self.recorder.problem(f"{self.who}: export answered {response.status}: {raw[:300]!r}")
                self.recorder.add(at, label, response.status, (time.perf_counter() - started) * 1000, kind, self.who)
                return response.status, 0, 0
            for line in response:
                record = json.loads(line)
                if record["id"] in seen:
                    duplicates += 1
                seen.add(record["id"])
                lines += 1
                if handle is not None:
                    handle.write(line)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self.conn.close()
            self.recorder.add(at, label, exc.__class__.__name__, (time.perf_counter() - started) * 1000, IN_FLIGHT,
                              self.who)
            return exc.__class__.__name__, lines, duplicates
        self.recorder.add(at, label, 200, (time.perf_counter() - started) * 1000, OK, self.who)
        return 200, lines, duplicates

    def close(self):
        self.conn.close()


# --------------------------------------------------------------------------- the scenario


def blank_state(document):
    return {"document": document, "themes": [], "stance": None, "stance_target": STANCE_TARGET,
            "source_reliability": "", "info_credibility": None, "source_type": "", "source_name": "",
            "source_affiliation": "", "source_via": "", "claim_type": "", "note": "", "status": "draft",
            "version": 1}


def apply_payload(state, payload):
    """The state a span must have once the server accepted payload (a POST or PATCH body)."""
    state = dict(state)
    for name, value in payload.items():
        if name == "version":
            continue
        if name == "themes":
            state["themes"] = sorted(set(value))
        elif name == "stance":
            state["stance"] = value or None
        elif name == "attributed_source":
            for key, inner in value.items():
                state[f"source_{key}"] = inner
        else:
            state[name] = value
    return state


def state_from_body(body):
    """A span's JSON as the API answers it, reduced to the fields the ledger compares."""
    source = body.get("attributed_source") or {}
    state = {name: body.get(name) for name in STATE_FIELDS if name in body}
    state["themes"] = sorted(body.get("themes") or [])
    for key in ("type", "name", "affiliation", "via"):
        state[f"source_{key}"] = source.get(key, "")
    return state


def complete(state):
    return bool(state["themes"]) and all(state[name] not in (None, "") for name in REQUIRED)


def differences(expected, actual):
    if actual is None:
        return "absent"
    return ", ".join(f"{name}: {expected.get(name)!r} != {actual.get(name)!r}"
                     for name in STATE_FIELDS if expected.get(name) != actual.get(name))


class Ledger:
    """What one user was told: spans that exist and how, deletes, refusals, and writes without an answer."""

    def __init__(self, username):
        self.username = username
        self.spans = {}
        self.deleted = []
        self.refused = []
        self.uncertain = []
        self.done = []
        self.abandoned = set()

    def on_document(self, document):
        return {sid: state for sid, state in self.spans.items() if state["document"] == document}

    def as_json(self):
        return {"username": self.username, "spans": self.spans, "deleted": self.deleted, "refused": self.refused,
                "uncertain": self.uncertain, "done": self.done}


class Reviewer(threading.Thread):
    """A reviewer tagging documents: creates, edits, deletes spans, sends bad ones on purpose, marks documents done."""

    def __init__(self, index, port, token, username, documents, recorder, deadline, think, max_requests, seed):
        super().__init__(daemon=True, name=username)
        self.client = Client(port, token, recorder, username)
        self.recorder = recorder
        self.ledger = Ledger(username)
        self.rng = random.Random(seed * 1000 + index)
        self.documents = list(documents)
        self.deadline, self.think, self.max_requests = deadline, think, max_requests
        self.texts = {}
        self.document = None
        self.theme_codes, self.stance_keys = [], []
        self.crashed = None
        self.client_calls = 0

    def run(self):
        try:
            self.scenario()
        except Exception as exc:  # a bug in the scenario must fail the run, not vanish with the thread
            import traceback

            self.crashed = traceback.format_exc()
            self.recorder.problem(f"{self.ledger.username}: scenario crashed: {exc!r}")
        finally:
            self.client.close()

    def call(self, *args, **kwargs):
        self.client_calls += 1
        return self.client.call(*args, **kwargs)

    def going(self):
        return time.monotonic() < self.deadline and self.client_calls < self.max_requests

    def pause(self):
        time.sleep(min(self.rng.uniform(*self.think), max(0.0, self.deadline - time.monotonic())))

    def scenario(self):
        while self.going() and not self.theme_codes:
            answer = self.call("GET /api/projects/{slug}/schema/", "GET", f"/api/projects/{SLUG}/schema/")
            if answer.kind == OK:
                self.theme_codes = [theme["code"] for theme in answer.data["themes"]]
                self.stance_keys = [stance["key"] for stance in answer.data["stances"]]
            else:
                self.pause()
        if not self.theme_codes:
            return
        self.open_document(self.rng.choice(self.documents))
        actions = [
            (40, self.create), (18, self.edit), (8, self.delete), (3, self.stale_edit), (8, self.invalid_create),
            (3, self.invalid_edit), (5, self.mark_done), (4, self.finish_document), (5, self.reread),
            (6, self.switch_document),
        ]
        weights = [weight for weight, _ in actions]
        while self.going():
            self.pause()
            if not self.going():
                break
            if self.document is None or self.document in self.ledger.abandoned:
                self.open_document(self.rng.choice(self.documents))
                continue
            self.rng.choices(actions, weights)[0][1]()

    # Reading -----------------------------------------------------------------

    def open_document(self, document):
        answer = self.call("GET /api/documents/{id}/", "GET", f"/api/documents/{document}/")
        if answer.kind != OK:
            return
        self.texts[document] = answer.data["text"]
        self.document = document
        self.reread()

    def reread(self):
        """List my spans of the document and compare them with what the server acknowledged."""
        document = self.document
        answer = self.call("GET /api/spans/?document=", "GET", f"/api/spans/?document={document}&page_size=1000")
        if answer.kind != OK or document in self.ledger.abandoned:
            return
        listed = {item["id"]: state_from_body(item) for item in answer.data["results"]}
        mine = self.ledger.on_document(document)
        for sid, state in mine.items():
            if listed.get(sid) != state:
                self.recorder.problem(f"{self.ledger.username}: read back span {sid} differs: "
                                      f"{differences(state, listed.get(sid))}")
        for sid in set(listed) - set(mine):
            self.recorder.problem(f"{self.ledger.username}: read back a span never acknowledged: {sid}")

    def switch_document(self):
        self.open_document(self.rng.choice(self.documents))

    # Payloads ----------------------------------------------------------------

    def extent(self, text):
        start = self.rng.randrange(0, len(text) - 1)
        end = min(len(text), start + self.rng.randrange(1, 120))
        return start, end

    def labels(self, complete_labels, status=None):
        rng = self.rng
        payload = {
            "themes": rng.sample(self.theme_codes, rng.choice((1, 1, 1, 2, 2, 3))),
            "stance": rng.choice(self.stance_keys),
            "source_reliability": rng.choice("ABCDEF"),
            "info_credibility": rng.randint(1, 6),
            "attributed_source": {"type": rng.choice(SOURCE_TYPES), "name": rng.choice(NAMES)},
            "claim_type": rng.choice(CLAIM_TYPES),
            "note": rng.choice(NOTES),
        }
        if rng.random() < 0.3:
            payload["stance_target"] = rng.choice(TARGETS)
        if rng.random() < 0.2:
            payload["attributed_source"]["affiliation"] = rng.choice(["MFA", "Kremlin", "", "Xinhua"])
        if not complete_labels:
            for name in rng.sample(GRADES, rng.randint(1, 2)):
                if name == "source_type":
                    payload["attributed_source"]["type"] = ""
                elif rng.random() < 0.5:
                    del payload[name]
                else:
                    payload[name] = None if name in ("stance", "info_credibility") else ""
        if status:
            payload["status"] = status
        return payload

    # Writes ------------------------------------------------------------------

    def create(self):
        document = self.document
        text = self.texts[document]
        start, end = self.extent(text)
        complete_labels = self.rng.random() < 0.7
        status = "submitted" if complete_labels and self.rng.random() < 0.15 else None
        payload = {"document": document, "start": start, "end": end, "text": text[start:end],
                   **self.labels(complete_labels, status)}
        expected = apply_payload(blank_state(document), payload)
        answer = self.call("POST /api/spans/", "POST", "/api/spans/", payload, expect=(201,))
        if answer.kind == OK:
            state = state_from_body(answer.data)
            if state != expected:
                self.recorder.problem(f"{self.ledger.username}: created span echoes {differences(expected, state)}")
            self.ledger.spans[answer.data["id"]] = expected
        elif answer.kind == IN_FLIGHT:
            self.ledger.uncertain.append({"kind": "create", "state": expected})
            self.ledger.abandoned.add(document)

    def pick_span(self, document=None):
        spans = self.ledger.on_document(document or self.document)
        return self.rng.choice(sorted(spans)) if spans else None

    def edit(self):
        sid = self.pick_span()
        if sid is None:
            return self.create()
        before = self.ledger.spans[sid]
        rng = self.rng
        kind = rng.random()
        if kind < 0.25:
            text = self.texts[before["document"]]
            start, end = self.extent(text)
            payload = {"start": start, "end": end, "text": text[start:end]}
        else:
            fresh = self.labels(before["status"] == "submitted" or rng.random() < 0.7)
            names = rng.sample(sorted(fresh), rng.randint(1, 3))
            payload = {name: fresh[name] for name in names}
            if before["status"] == "submitted":
                # Clearing a required label of a submitted span is refused; this edit must not be.
                after = apply_payload(before, payload)
                if not complete(after):
                    payload = {"themes": fresh["themes"], "note": fresh["note"]}
        headers = None
        if rng.random() < 0.3:
            headers = {"If-Match": f'"{before["version"]}"'}
        else:
            payload["version"] = before["version"]
        expected = apply_payload(before, payload)
        expected["version"] = before["version"] + 1
        answer = self.call("PATCH /api/spans/{id}/", "PATCH", f"/api/spans/{sid}/", payload, headers=headers)
        if answer.kind == OK:
            state = state_from_body(answer.data)
            if state != expected:
                self.recorder.problem(f"{self.ledger.username}: edited span {sid} echoes {differences(expected, state)}")
            self.ledger.spans[sid] = expected
        elif answer.kind == IN_FLIGHT:
            self.ledger.uncertain.append({"kind": "update", "id": sid, "options": [before, expected]})
            del self.ledger.spans[sid]
            self.ledger.abandoned.add(before["document"])

    def delete(self):
        sid = self.pick_span()
        if sid is None:
            return
        before = self.ledger.spans[sid]
        if self.rng.random() < 0.5:
            answer = self.call("DELETE /api/spans/{id}/", "DELETE", f"/api/spans/{sid}/",
                               headers={"If-Match": f'"{before["version"]}"'}, expect=(204,))
        else:
            answer = self.call("DELETE /api/spans/{id}/", "DELETE", f"/api/spans/{sid}/?version={before['version']}",
                               expect=(204,))
        if answer.kind == OK:
            del self.ledger.spans[sid]
            self.ledger.deleted.append(sid)
        elif answer.kind == IN_FLIGHT:
            self.ledger.uncertain.append({"kind": "delete", "id": sid, "options": [before, None]})
            del self.ledger.spans[sid]
            self.ledger.abandoned.add(before["document"])

    def stale_edit(self):
        """An edit based on an old read must be refused with 409 and change nothing."""
        sid = self.pick_span()
        if sid is None:
            return
        before = self.ledger.spans[sid]
        stale = before["version"] - 1 if before["version"] > 1 else before["version"] + 3
        answer = self.call("PATCH /api/spans/{id}/", "PATCH", f"/api/spans/{sid}/",
                           {"note": "written over a stale read", "version": stale}, expect=(409,))
        if answer.kind == OK:
            current = answer.data["error"].get("current_version")
            if current != before["version"]:
                self.recorder.problem(f"{self.ledger.username}: 409 for {sid} names version {current}, "
                                      f"the span is at {before['version']}")
        elif answer.kind == IN_FLIGHT:
            # A stale write can only be refused, answer or not: the span keeps its state.
            self.ledger.uncertain.append({"kind": "update", "id": sid, "options": [before]})
            del self.ledger.spans[sid]
            self.ledger.abandoned.add(before["document"])

    def invalid_create(self):
        """Writes that must be refused with 400 and leave nothing behind."""
        document = self.document
        text = self.texts[document]
        start, end = self.extent(text)
        quote = text[start:end]
        kind = self.rng.choice(["quote", "quote", "past_end", "theme", "incomplete"])
        labels = self.labels(kind != "incomplete", "submitted" if kind == "incomplete" else None)
        payload = {"document": document, "start": start, "end": end, "text": quote, **labels}
        if kind == "quote":
            payload["text"] = quote[:-1] + ("x" if quote[-1] != "x" else "y")
        elif kind == "past_end":
            payload["start"], payload["end"] = len(text) - 2, len(text) + 5
            payload["text"] = text[len(text) - 2:] + "extra"
        elif kind == "theme":
            payload["themes"] = [self.theme_codes[0], "NOSUCH.theme"]
        self.call("POST /api/spans/", "POST", "/api/spans/", payload, expect=(400,))
        self.ledger.refused.append({"kind": kind, "document": document, "start": payload["start"],
                                    "end": payload["end"], "text": payload["text"],
                                    "themes": sorted(payload["themes"])})

    def invalid_edit(self):
        """A PATCH whose quote is not the text at its offsets: 400, and the span stays as it was."""
        sid = self.pick_span()
        if sid is None:
            return self.invalid_create()
        before = self.ledger.spans[sid]
        text = self.texts[before["document"]]
        start, end = self.extent(text)
        quote = text[start:end]
        bad = quote[:-1] + ("x" if quote[-1] != "x" else "y")
        answer = self.call("PATCH /api/spans/{id}/", "PATCH", f"/api/spans/{sid}/",
                           {"start": start, "end": end, "text": bad, "version": before["version"]}, expect=(400,))
        if answer.kind == IN_FLIGHT:
            self.ledger.uncertain.append({"kind": "update", "id": sid, "options": [before]})
            del self.ledger.spans[sid]
            self.ledger.abandoned.add(before["document"])

    def mark_done(self):
        """Mark the document done; the answer must be the one the ledger predicts."""
        document = self.document
        drafts = {sid: s for sid, s in self.ledger.on_document(document).items() if s["status"] == "draft"}
        incomplete = sorted(sid for sid, s in drafts.items() if not complete(s))
        answer = self.call("POST /api/documents/{id}/status/", "POST", f"/api/documents/{document}/status/",
                           {"status": "done"}, expect=(400,) if incomplete else (200,))
        if answer.kind == OK and not incomplete:
            if answer.data.get("submitted") != len(drafts) or answer.data.get("status") != "done":
                self.recorder.problem(f"{self.ledger.username}: done on {document} answered {answer.data}, "
                                      f"expected {len(drafts)} submitted")
            for sid, state in drafts.items():
                self.ledger.spans[sid] = {**state, "status": "submitted", "version": state["version"] + 1}
            self.ledger.done.append(document)
        elif answer.kind == OK:
            named = sorted(item["id"] for item in answer.data.get("error", {}).get("spans", []))
            if named != incomplete:
                self.recorder.problem(f"{self.ledger.username}: done on {document} named incomplete {named}, "
                                      f"expected {incomplete}")
        elif answer.kind == IN_FLIGHT:
            after = {sid: {**s, "status": "submitted", "version": s["version"] + 1} for sid, s in drafts.items()}
            self.ledger.uncertain.append({"kind": "done", "document": document, "before": drafts,
                                          "after": after if not incomplete else drafts})
            for sid in drafts:
                del self.ledger.spans[sid]
            self.ledger.abandoned.add(document)

    def finish_document(self):
        """Fill in what the drafts lack, one PATCH each, then mark the document done."""
        document = self.document
        for sid, state in sorted(self.ledger.on_document(document).items()):
            if not self.going() or document in self.ledger.abandoned:
                return
            if state["status"] != "draft" or complete(state):
                continue
            fresh = self.labels(True)
            payload = {"version": state["version"]}
            for name in REQUIRED:
                if state[name] in (None, ""):
                    if name == "source_type":
                        payload["attributed_source"] = {"type": fresh["attributed_source"]["type"]}
                    elif name == "stance_target":
                        payload["stance_target"] = STANCE_TARGET
                    else:
                        payload[name] = fresh[name]
            expected = apply_payload(state, payload)
            expected["version"] = state["version"] + 1
            answer = self.call("PATCH /api/spans/{id}/", "PATCH", f"/api/spans/{sid}/", payload)
            if answer.kind == OK:
                if state_from_body(answer.data) != expected:
                    self.recorder.problem(f"{self.ledger.username}: completed span {sid} echoes "
                                          f"{differences(expected, state_from_body(answer.data))}")
                self.ledger.spans[sid] = expected
            elif answer.kind == IN_FLIGHT:
                self.ledger.uncertain.append({"kind": "update", "id": sid, "options": [state, expected]})
                del self.ledger.spans[sid]
                self.ledger.abandoned.add(document)
                return
            else:
                return
            time.sleep(min(0.2, self.think[0]))
        if self.going() and document not in self.ledger.abandoned:
            self.mark_done()


class Researcher(threading.Thread):
    """A curator streaming the project's JSONL export again and again while reviewers write."""

    def __init__(self, port, token, recorder, deadline, seed, pause=(3.0, 8.0)):
        super().__init__(daemon=True, name="researcher")
        self.client = Client(port, token, recorder, "load-researcher")
        self.recorder, self.deadline = recorder, deadline
        self.rng = random.Random(seed)
        self.pause = pause
        self.exports = []  # (status, lines, seconds)

    def run(self):
        while time.monotonic() < self.deadline and len(self.exports) < 10_000:
            time.sleep(min(self.rng.uniform(*self.pause), max(0.0, self.deadline - time.monotonic())))
            if time.monotonic() >= self.deadline:
                break
            started = time.perf_counter()
            status, lines, duplicates = self.client.stream("GET /api/projects/{slug}/export/",
                                                           f"/api/projects/{SLUG}/export/?format=jsonl")
            self.exports.append((status, lines, time.perf_counter() - started))
            if duplicates:
                self.recorder.problem(f"export listed {duplicates} span(s) twice")
        self.client.close()


class Probe(threading.Thread):
    """An authenticated read every 200 ms during a fault run, to time how soon requests succeed again."""

    def __init__(self, port, token, recorder, deadline, document):
        super().__init__(daemon=True, name="probe")
        self.client = Client(port, token, Recorder(recorder.clock), "probe")
        self.clock, self.deadline, self.document = recorder.clock, deadline, document
        self.results = []  # (sent at, ok)

    def run(self):
        for _ in range(100_000):
            if time.monotonic() >= self.deadline:
                break
            at = self.clock()
            answer = self.client.call("probe", "GET", f"/api/spans/?document={self.document}&page_size=1")
            self.results.append((at, answer.kind == OK))
            time.sleep(0.2)
        self.client.close()


# --------------------------------------------------------------------------- verification


def child_verify(payload):
    """Compare the ledgers and the final export with the database; return counts and failures."""
    django_setup()
    from django.db.models import Prefetch

    from annotations.models import Assignment, Span, Theme

    failures = []
    counts = Counter()
    spans = (Span.objects.filter(document__project__slug=SLUG).select_related("stance", "annotator", "document")
             .prefetch_related(Prefetch("themes", queryset=Theme.objects.only("id", "code"))))
    stored = {}
    by_user = defaultdict(dict)
    for span in spans:
        state = {
            "document": span.document_id, "start": span.start, "end": span.end, "text": span.text,
            "themes": sorted(theme.code for theme in span.themes.all()),
            "stance": span.stance.key if span.stance_id else None, "stance_target": span.stance_target,
            "source_reliability": span.source_reliability, "info_credibility": span.info_credibility,
            "source_type": span.source_type, "source_name": span.source_name,
            "source_affiliation": span.source_affiliation, "source_via": span.source_via,
            "claim_type": span.claim_type, "note": span.note, "status": span.status, "version": span.version,
        }
        stored[str(span.pk)] = state
        by_user[span.annotator.username][str(span.pk)] = state
    counts["spans in database"] = len(stored)

    def fail(text):
        if len(failures) < 200:
            failures.append(text)
        counts["failures"] += 1

    # Whatever the ledger says, no stored span may be half-written.
    for span in spans:
        if span.text != span.document.text[span.start:span.end] or not span.themes.all():
            fail(f"span {span.pk} is half-written: quote {span.text!r} at [{span.start}, {span.end}), "
                 f"{len(span.themes.all())} theme(s)")

    for ledger in payload["ledgers"]:
        user = ledger["username"]
        mine = by_user.get(user, {})
        accounted = set()
        for sid, expected in ledger["spans"].items():
            counts["acknowledged spans checked"] += 1
            accounted.add(sid)
            actual = mine.get(sid)
            if actual is None:
                fail(f"{user}: acknowledged span {sid} is missing")
            elif actual != expected:
                fail(f"{user}: span {sid} differs from its last acknowledged write: {differences(expected, actual)}")
        for sid in ledger["deleted"]:
            counts["acknowledged deletes checked"] += 1
            if sid in stored:
                fail(f"{user}: span {sid} was acknowledged deleted but is still there")
        creates = []
        for entry in ledger["uncertain"]:
            counts["writes without an answer"] += 1
            if entry["kind"] in ("update", "delete"):
                accounted.add(entry["id"])
                actual = mine.get(entry["id"])
                if actual not in entry["options"]:
                    fail(f"{user}: span {entry['id']} after a write without an answer is in none of its possible "
                         f"states: {actual}")
                else:
                    counts["  ... resolved " + ("as sent" if actual == entry["options"][-1] and len(entry["options"]) > 1
                                                else "as before")] += 1
            elif entry["kind"] == "done":
                accounted.update(entry["before"])
                actual = {sid: mine.get(sid) for sid in entry["before"]}
                if actual == entry["after"]:
                    counts["  ... resolved as sent"] += 1
                elif actual == entry["before"]:
                    counts["  ... resolved as before"] += 1
                else:
                    fail(f"{user}: marking document {entry['document']} done half-happened: {actual}")
            else:
                creates.append(entry["state"])
        # Whatever else the user has stored must be a create that got no answer, stored exactly as sent.
        unaccounted = {sid: mine[sid] for sid in sorted(set(mine) - accounted)}
        refused_anchors = {(r["document"], r["start"], r["end"], r["text"]): r for r in ledger["refused"]}
        counts["refused writes checked"] += len(ledger["refused"])
        for sid, state in unaccounted.items():
            refused = refused_anchors.get((state["document"], state["start"], state["end"], state["text"]))
            if state in creates:
                creates.remove(state)
                counts["  ... resolved as sent"] += 1
            elif refused is not None:
                fail(f"{user}: a refused write ({refused['kind']}) was stored as span {sid}: {refused}")
            else:
                fail(f"{user}: span {sid} is stored but was never acknowledged, nor sent without an answer: {state}")
        if creates:
            counts["  ... resolved as before"] += len(creates)
        for document in ledger["done"]:
            counts["done documents checked"] += 1
            if not Assignment.objects.filter(document_id=document, annotator__username=user, status="done").exists():
                fail(f"{user}: document {document} was acknowledged done but its assignment is not")

    strangers = set(by_user) - {ledger["username"] for ledger in payload["ledgers"]}
    for user in sorted(strangers):
        fail(f"{user} has {len(by_user[user])} span(s) though no simulated reviewer is called so")

    export_path = payload.get("export")
    if export_path:
        exported = {}
        with open(export_path, encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                exported[record["id"]] = (record["document_id"], record["start"], record["end"], record["text"],
                                          sorted(record["themes"]), record["status"])
        expected = {sid: (s["document"], s["start"], s["end"], s["text"], s["themes"], s["status"])
                    for sid, s in stored.items()}
        counts["final export lines"] = len(exported)
        if exported != expected:
            missing = set(expected) - set(exported)
            extra = set(exported) - set(expected)
            changed = [sid for sid in set(expected) & set(exported) if expected[sid] != exported[sid]]
            fail(f"final export differs from the database: {len(missing)} missing, {len(extra)} extra, "
                 f"{len(changed)} changed")
    return {"counts": dict(counts), "failures": failures}


def verify(env, ledgers, export_path=None):
    """Check ledgers (and a final export) against the database env points at; {"counts", "failures"}."""
    return child("verify", env, {"ledgers": ledgers, "export": str(export_path) if export_path else None})


# --------------------------------------------------------------------------- running and reporting


@dataclass
class Config:
    users: int = 20
    duration: float = 180.0
    database_url: str = None
    faults: bool = False
    workers: int = 4
    think: tuple = (0.5, 2.0)
    documents: int = None
    seed: int = 1
    keep: bool = False
    pg_down_s: float = 3.0
    nice: int = 0
    out: object = None


@dataclass
class Target:
    key: str
    name: str
    measured: str
    met: bool


@dataclass
class Report:
    targets: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    rows: list = field(default_factory=list)
    faults: list = field(default_factory=list)
    ledgers: list = field(default_factory=list)
    env: dict = field(default_factory=dict)  # the scratch database's settings, for verify() on a kept run
    text: str = ""

    @property
    def passed(self):
        return bool(self.targets) and all(target.met for target in self.targets)

    def statuses(self):
        return Counter(row[2] for row in self.rows)


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def run(config):
    """Set up, load, break (with faults), verify, tear down; return a Report whose .passed says it all."""
    out = config.out or sys.stdout

    def say(text=""):
        print(text, file=out, flush=True)

    folder = Path(tempfile.mkdtemp(prefix="lectern-load-"))
    database = ScratchDatabase(config.database_url, folder)
    if config.faults and database.is_postgres and database.host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("--faults restarts the local PostgreSQL cluster: use a loopback --database-url")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update({"DEBUG": "false", "SECRET_KEY": uuid.uuid4().hex * 2, "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DJANGO_SETTINGS_MODULE": "config.settings"})
    env = database.env(env)
    documents = config.documents or max(10, config.users * 2)
    report = Report()
    server = None
    created = False
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    reniced = []  # (pid, previous session niceness)
    if config.nice:
        # Before any thread or child exists: both inherit it, gunicorn and the load generator alike.
        os.setpriority(os.PRIO_PROCESS, 0, config.nice)
        for pid in (os.getpid(), postmaster_pid() if database.is_postgres else None):
            previous = set_session_niceness(pid, config.nice) if pid else None
            if previous is not None:
                reniced.append((pid, previous))
    try:
        say(f"machine: {machine()}")
        say(f"database: {database.label}; gunicorn {config.workers} sync workers; {config.users} reviewers + 1 "
            f"researcher for {config.duration:.0f} s, think time {config.think[0]}-{config.think[1]} s"
            + ("; with faults" if config.faults else "")
            + (f"; load generator, gunicorn and PostgreSQL at session nice {config.nice}" if config.nice else ""))
        say("load average (1, 5, 15 min) before: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
        database.create()
        created = True
        world = child("prepare", env, {"seed": config.seed, "users": config.users, "documents": documents})
        server = Server(env, config.workers, folder)
        server.wait_ready()
        server.warm_up(world["researcher"], world["documents"][0])
        monitor = ProcessMonitor(server, database.pg_name)
        monitor.start()
        client_cpu = sum(os.times()[:2])

        origin = time.monotonic()
        clock = lambda: time.monotonic() - origin  # noqa: E731 - a shared clock for every thread
        recorder = Recorder(clock)
        deadline = origin + config.duration
        max_requests = int(config.duration / max(config.think[0], 0.05)) + 50
        reviewers = [
            Reviewer(n, server.port, user["token"], user["username"], world["documents"], recorder, deadline,
                     config.think, max_requests, config.seed)
            for n, user in enumerate(world["reviewers"])
        ]
        researcher = Researcher(server.port, world["researcher"], recorder, deadline, config.seed)
        threads = [*reviewers, researcher]
        stop_faults = threading.Event()
        injector = probe = None
        if config.faults:
            probe = Probe(server.port, world["researcher"], recorder, deadline, world["documents"][0])
            injector = FaultInjector(server, clock, config.duration, database.is_postgres, stop_faults,
                                     config.pg_down_s)
            threads += [probe, injector]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join(timeout=max(1.0, deadline - time.monotonic()) + REQUEST_TIMEOUT + 60)
        finally:
            stop_faults.set()
            if injector is not None:
                injector.join(timeout=120)
                if database.is_postgres:
                    ensure_postgres_running()
        elapsed = clock()
        monitor.finish()
        client_cpu = sum(os.times()[:2]) - client_cpu

        # Wait for the app to answer again (a fault at the very end must not hide the export).
        for _ in range(100):
            if server._healthy():
                break
            time.sleep(0.1)
        export_path = folder / "final-export.jsonl"
        with open(export_path, "wb") as handle:
            status, lines, _ = Client(server.port, world["researcher"], Recorder(clock), "final").stream(
                "final export", f"/api/projects/{SLUG}/export/?format=jsonl", handle)
        if status != 200:
            recorder.problem(f"final export answered {status}")
        server.stop()
        server_log = server.error_log.read_text(errors="replace")
        access_log = server.access_log.read_text(errors="replace")

        report.ledgers = [r.ledger.as_json() for r in reviewers]
        report.env = env
        verification = verify(env, report.ledgers, export_path if status == 200 else None)
        report.rows = recorder.rows
        report.problems = recorder.problems + [f"thread {r.name} crashed:\n{r.crashed}" for r in reviewers if r.crashed]
        report.counts = verification["counts"]
        report.faults = injector.faults if injector else []
        summarize(report, recorder, verification, elapsed, server_log, access_log, researcher, injector, probe,
                  config, monitor, client_cpu)
        say(report.text)
        return report
    finally:
        if config.nice:
            os.setpriority(os.PRIO_PROCESS, 0, niceness)
            for pid, previous in reniced:
                set_session_niceness(pid, previous)
        if server is not None:
            server.stop()
        if config.faults and database.is_postgres:
            ensure_postgres_running()
        if created and not config.keep:
            try:
                database.drop()
            except Exception as exc:  # a failed drop must not hide the run's result
                say(f"could not drop {database.label}: {exc}")
        if config.keep:
            say(f"kept {folder}" + (f" and database {database.pg_name}" if database.is_postgres else ""))
        else:
            shutil.rmtree(folder, ignore_errors=True)


def ended(row):
    return row[0] + row[3] / 1000


def in_fault_window(row, faults):
    """A request that ended between a fault's start and shortly after it was cleared may have failed because of it."""
    return any(f.started <= ended(row) <= (f.cleared or f.started) + FAULT_GRACE_S for f in faults)


def summarize(report, recorder, verification, elapsed, server_log, access_log, researcher, injector, probe, config,
              monitor, client_cpu):
    rows = recorder.rows
    lines = []
    faults = injector.faults if injector else []
    by_label = defaultdict(list)
    for at, label, status, ms, kind, who in rows:
        by_label[label].append((status, ms, kind))
    total = len(rows)
    lines.append("")
    lines.append(f"{total:,} requests in {elapsed:.1f} s = {total / max(elapsed, 0.001):.1f} req/s "
                 f"({config.users} reviewers, 1 researcher" + (", 1 probe excluded" if probe else "") + ")")
    lines.append("")
    header = f"{'endpoint':<36} {'count':>7} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}  statuses"
    lines.append(header)
    lines.append("-" * len(header))
    for label in sorted(by_label):
        items = by_label[label]
        times = [ms for _, ms, _ in items]
        statuses = Counter(str(status) for status, _, _ in items)
        status_text = " ".join(f"{status}:{count}" for status, count in sorted(statuses.items()))
        lines.append(f"{label:<36} {len(items):>7} {percentile(times, 0.5):>10.1f} {percentile(times, 0.95):>8.1f} "
                     f"{max(times):>8.1f}  {status_text}")
    writes = [ms for _, label, _, ms, _, _ in rows if label in SPAN_WRITE_LABELS]
    lines.append(f"{'span writes (POST/PATCH/DELETE)':<36} {len(writes):>7} {percentile(writes, 0.5):>10.1f} "
                 f"{percentile(writes, 0.95):>8.1f} {max(writes or [0]):>8.1f}")
    timed = list(_access_times(access_log))
    in_app = [ms for method, path, ms in timed if method != "GET" and _is_span_path(path)]
    lines.append(f"{'  of which in the worker (access log)':<36} {len(in_app):>7} {percentile(in_app, 0.5):>10.1f} "
                 f"{percentile(in_app, 0.95):>8.1f} {max(in_app or [0]):>8.1f}")
    reads = [ms for method, path, ms in timed if method == "GET" and path.startswith("/api/")
             and "/export/" not in path]
    lines.append(f"{'API reads (no export), in the worker':<36} {len(reads):>7} {percentile(reads, 0.5):>10.1f} "
                 f"{percentile(reads, 0.95):>8.1f} {max(reads or [0]):>8.1f}")
    lines.append("")
    for owner in ("gunicorn", "postgres"):
        cpu, waited = monitor.totals(owner)
        if cpu or owner == "gunicorn":
            lines.append(f"{owner + ':':<10} CPU {cpu:.1f} s = {cpu * 1000 / max(total, 1):.1f} ms per request "
                         f"({cpu / max(elapsed, 0.001):.2f} of {os.cpu_count()} cores); waited for a free CPU "
                         f"{waited:.1f} s = {waited * 1000 / max(total, 1):.1f} ms per request")
    lines.append(f"load generator: CPU {client_cpu:.1f} s; machine load average during the run: mean "
                 f"{sum(monitor.loads) / max(len(monitor.loads), 1):.1f}, max {max(monitor.loads or [0]):.1f} "
                 f"on {os.cpu_count()} CPUs")
    statuses = Counter(str(row[2]) for row in rows)
    lines.append("answers: " + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items())))
    in_flight = [row for row in rows if row[4] == IN_FLIGHT]
    outside = [row for row in in_flight if not in_fault_window(row, faults)]
    if recorder.five_xx_types:
        lines.append("5xx bodies: " + ", ".join(f"{k}: {v}" for k, v in sorted(recorder.five_xx_types.items())))
    exports = researcher.exports
    good = [(n, s) for status, n, s in exports if status == 200]
    if good:
        lines.append(f"exports during the run: {len(good)} complete of {len(exports)}, up to {max(n for n, _ in good):,} "
                     f"spans, {sum(n for n, _ in good) / max(sum(s for _, s in good), 1e-6):,.0f} spans/s")
    server_5xx = sum(1 for line in access_log.splitlines() if _access_status(line) >= 500)
    locked = server_log.lower().count("database is locked")
    tracebacks = server_log.count("Traceback (most recent call last)")
    lines.append("load average (1, 5, 15 min) at the end: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    lines.append(f"server log: {server_5xx} 5xx in the access log, {tracebacks} traceback(s), "
                 f"{locked} 'database is locked'")
    recovery = []
    if faults:
        lines.append("")
        lines.append("faults:")
        for fault in faults:
            cleared = fault.cleared if fault.cleared is not None else fault.started
            failed = [row for row in in_flight if fault.started <= ended(row) <= cleared + FAULT_GRACE_S]
            after_ok = [at for at, ok in (probe.results if probe else []) if ok and at >= cleared]
            first_ok = (after_ok[0] - cleared) if after_ok else None
            last_fail = max((ended(row) for row in failed), default=None)
            tail = max(0.0, last_fail - cleared) if last_fail is not None else 0.0
            fault.recovered = first_ok
            recovery.append((fault, first_ok, tail))
            lines.append(f"  t={fault.started:6.1f} s  {fault.name}: {fault.detail}")
            lines.append(f"      {len(failed)} request(s) failed in flight "
                         f"({', '.join(f'{k}: {v}' for k, v in sorted(Counter(str(r[2]) for r in failed).items())) or 'none'}); "
                         f"first probe success {_seconds(first_ok)} after it was cleared; last failure "
                         f"{tail:.2f} s after it was cleared")
        for error in injector.errors:
            lines.append(f"  fault not injected: {error}")
    lines.append("")
    lines.append("verification against the database:")
    for name, value in verification["counts"].items():
        if name != "failures":
            lines.append(f"  {name}: {value}")
    for failure in verification["failures"][:30]:
        lines.append(f"  FAIL {failure}")
    for problem in report.problems[:30]:
        lines.append(f"  client saw: {problem}")
    if len(report.problems) > 30:
        lines.append(f"  ... and {len(report.problems) - 30} more")

    targets = report.targets
    failures = verification["failures"]
    targets.append(Target("verified", "every acknowledged write stored exactly, deletes gone, refusals absent, export = database",
                          f"{len(failures)} failure(s)", not failures))
    unexpected = [row for row in rows if row[4] == UNEXPECTED]
    targets.append(Target("answers", "every answer as predicted (status, echo, read-back)",
                          f"{len(unexpected)} unexpected status(es), {len(report.problems)} problem(s)",
                          not unexpected and not report.problems))
    if config.faults:
        targets.append(Target("no_errors", "no request failed outside a fault window",
                              f"{len(outside)} of {len(in_flight)} failed in flight", not outside))
        if injector.errors or not faults:
            targets.append(Target("faults", "faults injected", "; ".join(injector.errors) or "none", False))
        for fault, first_ok, tail in recovery:
            ok = first_ok is not None and first_ok <= RECOVERY_TARGET_S and tail <= RECOVERY_TARGET_S
            targets.append(Target("recovery", f"recovers within {RECOVERY_TARGET_S:.0f} s from: {fault.name}",
                                  f"first success +{_seconds(first_ok)}, last failure +{tail:.2f} s", ok))
    else:
        five = sum(1 for row in rows if isinstance(row[2], int) and row[2] >= 500)
        targets.append(Target("no_errors", "no 5xx and no failed connection", f"{len(in_flight)} ({five} 5xx; server log "
                              f"{server_5xx})", not in_flight and not server_5xx))
    targets.append(Target("locked", "no 'database is locked' in the server log", str(locked), locked == 0))
    p95 = percentile(writes, 0.95)
    targets.append(Target("p95", f"p95 of span writes under {WRITE_P95_TARGET_MS} ms", f"{p95:.1f} ms over {len(writes)}",
                          bool(writes) and p95 < WRITE_P95_TARGET_MS))
    lines.append("")
    for target in targets:
        lines.append(f"{'PASS' if target.met else 'MISS'}  {target.name}: {target.measured}")
    lines.append("")
    lines.append("RESULT: " + ("PASS" if all(t.met for t in targets) else "FAIL"))
    report.text = "\n".join(lines)


def _access_times(access_log):
    """(method, path, milliseconds in the worker) of each request in the access log."""
    for line in access_log.splitlines():
        if WARM_UP_AGENT in line:
            continue
        try:
            request = line.split('"', 2)[1]
            method, path = request.split()[:2]
            micros = int(line.rsplit(None, 1)[1])
        except (IndexError, ValueError):
            continue
        yield method, path, micros / 1000


def _is_span_path(path):
    return path.startswith("/api/spans/") and not path.startswith("/api/spans/bulk")


def _access_status(line):
    # gunicorn's default access format: ... "GET /path HTTP/1.1" 200 123 "-" "agent"
    try:
        return int(line.split('" ', 1)[1].split()[0])
    except (IndexError, ValueError):
        return 0


def _seconds(value):
    return "never" if value is None else f"{value:.2f} s"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20, help="simulated reviewers (default 20)")
    parser.add_argument("--duration", type=float, default=180, help="seconds of load (default 180)")
    parser.add_argument("--database-url", help="PostgreSQL server to create the scratch database on; SQLite without")
    parser.add_argument("--faults", action="store_true",
                        help="kill a gunicorn worker and (PostgreSQL) stop the local cluster for a few seconds")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--think", default="0.5,2.0", help="seconds between a reviewer's actions, min,max")
    parser.add_argument("--documents", type=int, help="documents to seed (default 2 per reviewer, at least 10)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database and logs")
    parser.add_argument("--nice", type=int, default=0,
                        help="run the load generator, gunicorn and PostgreSQL at this niceness, their sessions' "
                             "included (e.g. -20, as root; restored afterwards) so that a machine busy with other "
                             "work stands in for a dedicated one")
    args = parser.parse_args(argv)
    low, high = (float(part) for part in args.think.split(","))
    config = Config(users=args.users, duration=args.duration, database_url=args.database_url, faults=args.faults,
                    workers=args.workers, think=(low, high), documents=args.documents, seed=args.seed, keep=args.keep,
                    nice=args.nice)
    # SIGTERM unwinds like Ctrl-C, so the finally blocks restart PostgreSQL and clean up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = run(config)
    return 0 if report.passed else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("--child-prepare", "--child-verify"):
        payload = json.loads(Path(sys.argv[2]).read_text())
        result = child_prepare(payload) if sys.argv[1] == "--child-prepare" else child_verify(payload)
        Path(sys.argv[2]).write_text(json.dumps(result, ensure_ascii=False))
    else:
        sys.exit(main())
