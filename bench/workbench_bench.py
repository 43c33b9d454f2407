"""Speed of the annotation workbench on a long, busy document, end to end in Chromium.

    .venv/bin/python bench/workbench_bench.py [--chars 100000] [--spans 2000] [--saves 50]

Builds a throw-away SQLite database (SQLITE_PATH in a temporary folder), migrates it, writes one
document of --chars characters holding --spans spans from three annotators, starts gunicorn
(DEBUG off) on a free loopback port and drives headless Chromium through Playwright. Prints,
with targets:

- the server's response for the workbench page (median of 20 GETs, and its query count), for
  an annotator's own third of the spans and for a curator viewing all of them;
- every highlight painted: from navigation start to the frame after the last highlight went
  into the page (median of 5 loads, all spans shown);
- saving a span: key press (Enter) to the highlight turning "saved" in the page, median of
  --saves saves, each key pressed --pause ms after the page drew the last one and held for
  100 ms, as a person holds a key; beside it, the time until the next frame has been drawn;
- scrolling: p95 frame time while the page scrolls through the text.

Not part of the test suite. Everything it made is removed at the end.
"""
import argparse
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
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WORDS = (
    "trade energy yuan rouble pipeline summit sanctions partnership strategic cooperation Arctic route "
    "officials said agreement volume growth currency payments military exercise drills technology "
    "satellite grain exports multipolar order sovereignty territorial BRICS SCO Eurasian union the of and"
).split()
# Non-BMP and CJK characters keep code-point and UTF-16 offsets apart, as in real corpora.
EXTRAS = ["中俄合作", "🤝", "“quoted”", "cafe\u0301", "—", "𠀀", "\u00a0"]
PASSWORD = "bench-password-1"
KEY_HOLD = 0.1  # s, how long a person holds a key down

TARGETS = {
    "response": 150.0,  # ms, server response for the page
    "paint": 1000.0,  # ms, navigation to every highlight painted
    "save": 20.0,  # ms, key press to saved
    "frame": 1000 / 60 * 2,  # ms, p95 frame while scrolling: no frame misses more than one vsync
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
    return f"{cpu}, {os.cpu_count()} CPU(s); {platform.system()} {platform.release()}; Python {platform.python_version()}"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def long_text(rng, chars):
    """Paragraphs of words with some emoji, CJK and combining marks, exactly chars code points long."""
    parts = []
    length = 0
    while length < chars:
        sentence = " ".join(rng.choice(EXTRAS) if rng.random() < 0.02 else rng.choice(WORDS)
                            for _ in range(rng.randint(8, 22)))
        sentence = sentence[0].upper() + sentence[1:] + ". "
        if rng.random() < 0.15:
            sentence += "\n\n"
        parts.append(sentence)
        length += len(sentence)
    return "".join(parts)[:chars].rstrip() + "."


def build(args):
    """Create the project, members, the document and its spans; return what the browser needs."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from annotations.models import Span, StanceValue, Theme
    from annotations.schema import schema_install_default
    from corpus.models import Document, Membership, Project
    from corpus.services import document_create

    rng = random.Random(7)
    project = Project.objects.create(name="Bench", slug="bench")
    schema_install_default(project)
    users = {}
    for name, role in (("ann1", "annotator"), ("ann2", "annotator"), ("ann3", "annotator"), ("cur", "curator")):
        user = get_user_model().objects.create_user(name, password=PASSWORD)
        Membership.objects.create(project=project, user=user, role=role)
        users[name] = user
    document, _ = document_create(project=project, external_id="long", text=long_text(rng, args.chars),
                                  title="A long document")
    text = document.text
    themes = list(Theme.objects.filter(project=project))
    stances = list(StanceValue.objects.filter(project=project))
    annotators = [users["ann1"], users["ann2"], users["ann3"]]
    spans, links = [], []
    Link = Span.themes.through
    for i in range(args.spans):
        start = rng.randrange(0, len(text) - 400)
        end = start + rng.randint(5, 300)
        span = Span(document=document, annotator=annotators[i % 3], start=start, end=end, text=text[start:end],
                    stance=rng.choice(stances + [None]), source_reliability=rng.choice("ABCDEF"),
                    info_credibility=rng.randint(1, 6), source_type="OFFICIAL", source_name=f"Source {i % 40}",
                    stance_target=project.stance_target)
        span.fill_context()
        spans.append(span)
        for theme in rng.sample(themes, rng.randint(1, 3)):
            links.append(Link(span=span, theme=theme))
    Span.objects.bulk_create(spans, batch_size=500)
    Link.objects.bulk_create(links, batch_size=2000)

    sessions = {}
    for name, user in users.items():
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        sessions[name] = session.session_key
    return {"document": document.pk, "text": text, "sessions": sessions,
            "own": Span.objects.filter(annotator=users["ann1"]).count()}


def count_queries(document_id, user, query=""):
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/documents/{document_id}/{query}")
    assert response.status_code == 200, response.status_code
    return len(queries)


def time_get(url, session, times=20):
    request = urllib.request.Request(url, headers={"Cookie": f"sessionid={session}"})
    samples = []
    size = 0
    for i in range(times + 2):
        started = time.perf_counter()
        with urllib.request.urlopen(request) as response:
            body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        size = len(body)
        if i >= 2:  # the first requests warm the worker's imports and caches
            samples.append(elapsed)
    return statistics.median(samples), size


def wait_for(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


PAINT_PROBE = """
window.__frames = null;
window.addEventListener("lectern:painted", () => {
  const inDom = performance.now();
  requestAnimationFrame(() => requestAnimationFrame(() => {
    window.__paint = { inDom, framed: performance.now() };
  }));
}, true);
window.__saves = [];
window.addEventListener("lectern:saved", (event) => {
  const detail = { ...event.detail };
  window.__saves.push(detail);
  // On screen: the next frame drawn after the change, and the task after it.
  const changed = performance.now();
  requestAnimationFrame(() => setTimeout(() => { detail.framedMs = detail.ms + performance.now() - changed; }));
}, true);
"""

SELECT_RANGE = """([start, end]) => {
  const box = document.getElementById("doc-text");
  const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
  const point = (u) => {
    let seen = 0;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (u <= seen + node.length) return [node, u - seen];
      seen += node.length;
    }
    throw new Error("outside");
  };
  walker.currentNode = box;
  const [a, ao] = point(start);
  walker.currentNode = box;
  const [b, bo] = point(end);
  a.parentElement.scrollIntoView({ block: "center" });
  box.dispatchEvent(new MouseEvent("mousedown", { bubbles: true, button: 0 }));
  document.getSelection().setBaseAndExtent(a, ao, b, bo);
  document.dispatchEvent(new MouseEvent("mouseup", { bubbles: true, button: 0 }));
}"""

# A person presses each key after seeing the page answer the last one: wait for the page to draw,
# then for the pause, so that a save is not timed while the scroll and the panel for the same
# passage are still being drawn, which no one could type fast enough to meet.
SETTLE = """(pause) => new Promise((resolve) => {
  requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(resolve, pause)));
})"""

SCROLL_FRAMES = """(frames) => new Promise((resolve) => {
  window.scrollTo(0, 0);
  const times = [];
  let last = null;
  const step = (now) => {
    if (last !== null) times.push(now - last);
    last = now;
    if (times.length >= frames) { resolve(times); return; }
    window.scrollBy(0, 40);
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
})"""


def browse(base, data, args):
    from playwright.sync_api import sync_playwright

    figures = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def context_for(user):
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.add_cookies([{"name": "sessionid", "value": data["sessions"][user], "url": base}])
            context.add_init_script(PAINT_PROBE)
            return context

        # Every highlight: the curator's view of all annotators' spans.
        context = context_for("cur")
        page = context.new_page()
        paints, in_dom = [], []
        for _ in range(5):
            page.goto(f"{base}/documents/{data['document']}/?view=all")
            page.wait_for_function("() => window.__paint !== undefined", timeout=30_000)
            paint = page.evaluate("() => window.__paint")
            paints.append(paint["framed"])
            in_dom.append(paint["inDom"])
            painted = page.locator("#span-list .span-item").count()
        figures["paint"] = statistics.median(paints)
        figures["paint_dom"] = statistics.median(in_dom)
        figures["painted_spans"] = painted
        figures["segments"] = page.locator("#doc-text .hl").count()
        page.wait_for_selector("#workbench.is-laid-out", state="attached", timeout=60_000)
        figures["laid_out"] = page.evaluate("() => performance.now()")
        frames = page.evaluate(SCROLL_FRAMES, 300)
        frames.sort()
        figures["frame_p95"] = frames[int(len(frames) * 0.95) - 1]
        figures["frame_median"] = statistics.median(frames)
        context.close()

        # Saving: an annotator tags passages spread through the text.
        context = context_for("ann1")
        page = context.new_page()
        page.goto(f"{base}/documents/{data['document']}/")
        page.wait_for_function("() => window.__paint !== undefined", timeout=30_000)
        text = data["text"]
        rng = random.Random(11)
        for i in range(args.saves + 3):
            start = rng.randrange(0, len(text) - 200)
            while text[start] in " \n\u00a0":
                start += 1
            end = start + rng.randint(10, 80)
            # Offsets above are code points; the page counts UTF-16 units.
            u16 = lambda cp: len(text[:cp].encode("utf-16-le")) // 2  # noqa: E731
            page.evaluate(SELECT_RANGE, [u16(start), u16(end)])
            page.wait_for_selector("#span-panel:not([hidden])")
            page.evaluate(SETTLE, args.pause)
            page.keyboard.press("t")
            page.evaluate(SETTLE, args.pause)
            # Enter is held as long as a person holds a key: the save starts on its keydown, and
            # the driver sends nothing more until the key comes up. Pressed and released at once,
            # the key-up and the next wait would keep this process, Playwright's driver and the
            # browser busy on the second core while the server answers, which a keyboard does not.
            page.keyboard.down("Enter")
            time.sleep(KEY_HOLD)
            page.keyboard.up("Enter")
            page.wait_for_function(f"() => window.__saves.length >= {i + 1} && window.__saves[{i}].framedMs")
        details = page.evaluate("() => window.__saves")[3:]  # the first saves warm the worker
        # The browser's own timing of each request: server and network, without the page.
        network = page.evaluate("""() => performance.getEntriesByType("resource")
          .filter((entry) => entry.name.endsWith("/api/spans/")).map((entry) => entry.duration)""")[3:]
        saves = [d["ms"] for d in details]
        errors = page.locator("#span-list .state-unsaved").count()
        figures["save_median"] = statistics.median(saves)
        figures["save_p95"] = sorted(saves)[int(len(saves) * 0.95) - 1]
        figures["save_request"] = statistics.median(d["requestMs"] for d in details)
        figures["save_page"] = statistics.median(d["ms"] - d["requestMs"] for d in details)
        figures["save_errors"] = errors
        figures["save_network"] = statistics.median(network)
        figures["save_framed"] = statistics.median(d["framedMs"] for d in details)
        context.close()
        browser.close()
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chars", type=int, default=100_000)
    parser.add_argument("--spans", type=int, default=2000)
    parser.add_argument("--saves", type=int, default=50)
    parser.add_argument("--pause", type=int, default=150, help="ms between a person's key presses (default 150)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="lectern-workbench-bench-"))
    env = dict(os.environ, SQLITE_PATH=str(workdir / "bench.sqlite3"), DEBUG="false",
               SECRET_KEY="workbench-bench-" + "x" * 40, ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
               DJANGO_SETTINGS_MODULE="config.settings", LOG_LEVEL="WARNING")
    env.pop("DATABASE_URL", None)
    os.environ.update({k: env[k] for k in ("SQLITE_PATH", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS",
                                            "DJANGO_SETTINGS_MODULE", "LOG_LEVEL")})
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    server = None
    try:
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        started = time.perf_counter()
        data = build(args)
        print(f"Machine: {machine()}")
        print(f"Data: one document of {len(data['text']):,} characters, {args.spans:,} spans by 3 annotators "
              f"({data['own']} of them the annotator's own); built in {time.perf_counter() - started:.1f} s")

        from django.contrib.auth import get_user_model

        users = get_user_model().objects
        queries_own = count_queries(data["document"], users.get(username="ann1"))
        queries_all = count_queries(data["document"], users.get(username="cur"), "?view=all")

        port = free_port()
        server = subprocess.Popen(
            [GUNICORN, "config.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1",
             "--log-level", "warning"],
            cwd=ROOT, env=env,
        )
        wait_for(port)
        base = f"http://127.0.0.1:{port}"
        url = f"{base}/documents/{data['document']}/"
        response_own, size_own = time_get(url, data["sessions"]["ann1"])
        response_all, size_all = time_get(url + "?view=all", data["sessions"]["cur"])
        figures = browse(base, data, args)
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)

    def row(label, value, target, unit="ms", note=""):
        verdict = "PASS" if value < target else "MISS"
        print(f"  {label:<58} {value:8.1f} {unit}   target < {target:.0f} {unit}   {verdict}{note}")

    print("Results (gunicorn, 1 sync worker, SQLite; headless Chromium):")
    row(f"page response, annotator's own {data['own']} spans ({size_own / 1024:.0f} KiB, {queries_own} queries)",
        response_own, TARGETS["response"])
    row(f"page response, curator viewing all {args.spans} ({size_all / 1024:.0f} KiB, {queries_all} queries)",
        response_all, TARGETS["response"])
    row(f"all {figures['painted_spans']} highlights painted ({figures['segments']} segments), nav → frame",
        figures["paint"], TARGETS["paint"], note=f"   (in the DOM at {figures['paint_dom']:.0f} ms)")
    row(f"save: key press → highlight saved, median of {args.saves}", figures["save_median"], TARGETS["save"],
        note=f"   (p95 {figures['save_p95']:.1f} ms; of the median, API request {figures['save_request']:.1f} ms"
             f" of which the browser's network timing {figures['save_network']:.1f} ms, page {figures['save_page']:.1f} ms;"
             f" on screen by the next frame {figures['save_framed']:.1f} ms; {figures['save_errors']} failed)")
    row("scrolling: p95 frame time over 300 frames", figures["frame_p95"], TARGETS["frame"],
        note=f"   (median {figures['frame_median']:.1f} ms; whole text laid out at {figures['laid_out'] / 1000:.1f} s)")
    print(f"  load average during the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
