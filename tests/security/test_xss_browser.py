"""No stored or reflected script ever runs: every page that shows user data, in Chromium.

One project (see xss_world.py) holds every payload of payloads.py in every field a user or an
imported file controls. Each page is opened twice: as users get it, under the Content-Security-
Policy, and with the policy bypassed, so that escaping alone is shown to hold. A page fails when
any payload runs (it calls window.__xss or opens a dialog), when one of them reaches the DOM as
markup rather than text (an element, an event handler, a script URL, a broken JSON block, an
evaluated template), or when the page shows no payload at all (then it proved nothing). What the
policy blocked is recorded with the payloads it names, in test-artifacts/xss-report.json.
"""
import html
import io
import json
import zipfile
from dataclasses import dataclass
from typing import Callable
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from django.db import connection

from annotations.models import Span, Theme
from corpus.models import Document

from ..browser.fixtures import ARTIFACTS
from .payloads import FILE_NAME_PAYLOADS, PAYLOADS, markers_in, payload
from .xss_world import URL_PAYLOAD, USERNAMES, build_xss_world

# django_db makes pytest-django create the test database even when this module runs alone;
# without it the module-scoped data below would go to (and be flushed from) the real database.
pytestmark = [pytest.mark.browser, pytest.mark.django_db]

MODES = ("with-csp", "without-csp")
SETTLE_MS = 300  # autofocus, ontoggle, onbegin and the like fire just after load

WATCH = """
(() => {
  window.__xss = (marker) => window.__xssReport(String(marker));
  document.addEventListener("securitypolicyviolation", (event) => {
    const target = event.target && event.target.outerHTML ? event.target.outerHTML.slice(0, 300)
      : String(event.target && event.target.nodeName);
    window.__cspReport(JSON.stringify({
      directive: event.violatedDirective, blocked: event.blockedURI, sample: event.sample, element: target,
    }));
  }, true);
})();
"""

# Markup that can only be there because a payload was parsed as HTML rather than shown as text.
SCAN = r"""
() => {
  const MARK = /p\d\d-[a-z0-9_]+/;
  const TEXT_ATTRIBUTES = new Set(["title", "value", "aria-label", "label", "alt", "placeholder"]);
  const URL_ATTRIBUTES = new Set(["href", "src", "action", "formaction", "xlink:href", "data", "background",
                                  "poster", "srcset", "ping", "cite", "codebase", "manifest", "to", "from",
                                  "values"]);
  const findings = [];
  for (const element of document.querySelectorAll("*")) {
    const tag = element.tagName.toLowerCase();
    if (tag.startsWith("xss-canary")) findings.push(`element <${tag}>`);
    for (const attribute of element.attributes) {
      const name = attribute.name.toLowerCase();
      const value = attribute.value;
      if (MARK.test(name)) findings.push(`attribute named ${name} on <${tag}>`);
      if (!MARK.test(value) || name.startsWith("data-") || TEXT_ATTRIBUTES.has(name)) continue;
      if (URL_ATTRIBUTES.has(name)) {
        const url = value.replace(/[\s\u0000-\u001f]/g, "").toLowerCase();
        if (!/^(javascript|vbscript|data):/.test(url)) continue;
      }
      findings.push(`<${tag} ${name}="${value.slice(0, 120)}">`);
    }
    const json = tag === "script" && /json/.test(element.type || "");
    if (json) {
      try {
        JSON.parse(element.textContent);
      } catch (error) {
        findings.push(`broken JSON in <script id=${element.id}>`);
      }
    } else if ((tag === "script" || tag === "style") && MARK.test(element.textContent)) {
      findings.push(`<${tag}> holding ${element.textContent.slice(0, 120)}`);
    }
  }
  const text = document.documentElement.textContent;
  for (const evaluated of text.match(/49p\d\d-[a-z0-9_]+/g) || []) findings.push(`evaluated template ${evaluated}`);
  return {findings, html: document.documentElement.outerHTML};
}
"""


@dataclass(frozen=True)
class View:
    """A page to open: as whom, where, and what to do there before looking."""

    name: str
    role: str
    url: Callable
    action: Callable = None
    shows_payloads: bool = True  # False: the page shows nothing users type, yet nothing may run there

    def __str__(self):
        return self.name


def q(value):
    return quote(value, safe="")


def open_first_span(page, world):
    page.wait_for_selector("#workbench.is-ready")
    page.locator("#span-list button[data-action=jump]").first.click()
    page.wait_for_selector("#span-panel:not([hidden])")


def wait_for_workbench(page, world):
    page.wait_for_selector("#workbench.is-ready")


def import_files(page, world):
    """Upload files named with payloads, a zip of more, and records refused for payload values."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for i in range(len(PAYLOADS)):
            zipped.writestr(f"{payload(i, 'zipname')}.txt", f"Zipped {i}: {payload(i, 'ziptext')}")
    clash = [json.dumps({"external_id": payload(i, "clash"), "text": f"First {i}."}) for i in range(len(PAYLOADS))]
    clash += [json.dumps({"external_id": payload(i, "clash"), "text": f"Second {i}."}) for i in range(len(PAYLOADS))]
    clash += [json.dumps({"text": f"Dated {i}.", "published_date": payload(i, "date")}) for i in range(len(PAYLOADS))]
    files = [
        {"name": f"{payload(i, 'fname')}.txt", "mimeType": "text/plain", "buffer": payload(i, "ftext").encode()}
        for i in FILE_NAME_PAYLOADS
    ]
    files += [
        {"name": "archive.zip", "mimeType": "application/zip", "buffer": archive.getvalue()},
        {"name": "records.jsonl", "mimeType": "application/x-ndjson", "buffer": "\n".join(clash).encode()},
    ]
    page.select_option("select[name=project]", str(world.import_project.pk))
    page.set_input_files("input[name=files]", files)
    page.click("#import-form input[type=submit]")
    page.wait_for_selector("#import-report")


def choose_assign_action(page, world):
    page.check("#action-toggle")
    page.select_option("select[name=action]", "assign_documents")
    page.click("button[name=index]")
    page.wait_for_selector("text=Assign documents to annotators")


def history_record(world):
    record = Document.history.filter(id=world.sink.pk).order_by("history_id").first()
    return f"/admin/corpus/document/{world.sink.pk}/history/{record.history_id}/"


def reflected(**indexes):
    """A query string carrying payloads, to show that what a page echoes back is escaped too."""
    return urlencode({name: payload(index, f"r{name}") for name, index in indexes.items()})


CHARTS = ("themes", "stance-by-theme", "admiralty", "stance-by-outlet", "progress")
NUMBERS_ONLY = {"admiralty", "progress"}  # grades and dates: no text of anyone's

VIEWS = [
    View("project list", "annotator", lambda w: "/"),
    View("document list", "annotator", lambda w: f"/projects/{w.project.slug}/"),
    View("document list with payload filters", "annotator",
         lambda w: f"/projects/{w.project.slug}/?" + reflected(q=0, genre=1, outlet=8, status=28)),
    View("workbench, own spans, panel open", "annotator", lambda w: f"/documents/{w.sink.pk}/", open_first_span),
    View("workbench of one document", "annotator",
         lambda w: f"/documents/{w.documents[URL_PAYLOAD].pk}/", wait_for_workbench),
    View("workbench, curator viewing an annotator", "curator",
         lambda w: f"/documents/{w.sink.pk}/?view={q(USERNAMES['annotator'])}", wait_for_workbench),
    View("workbench, curator viewing all", "curator", lambda w: f"/documents/{w.sink.pk}/?view=all",
         wait_for_workbench),
    View("dashboard", "curator", lambda w: f"/projects/{w.project.slug}/dashboard/"),
    View("dashboard with a payload page number", "manager",
         lambda w: f"/projects/{w.project.slug}/dashboard/?" + reflected(page=4)),
    *[View(f"chart {chart}.svg", "curator", lambda w, chart=chart: f"/projects/{w.project.slug}/dashboard/{chart}.svg",
           shows_payloads=chart not in NUMBERS_ONLY)
      for chart in CHARTS],
    View("assignments", "manager", lambda w: f"/projects/{w.project.slug}/assignments/"),
    View("agreement", "curator", lambda w: f"/projects/{w.project.slug}/agreement/"),
    View("agreement of a payload pair", "curator",
         lambda w: f"/projects/{w.project.slug}/agreement/?pair={q(payload(2, 'rpair'))},{q(payload(9, 'rpair'))}"),
    View("agreement of a document", "curator",
         lambda w: f"/projects/{w.project.slug}/agreement/documents/{w.sink.pk}/"),
    View("curation list", "curator", lambda w: f"/projects/{w.project.slug}/curation/"),
    View("curation document", "curator", lambda w: f"/projects/{w.project.slug}/curation/documents/{w.sink.pk}/"),
    View("curation editor, accept with changes", "curator",
         lambda w: f"/projects/{w.project.slug}/curation/documents/{w.sink.pk}/?edit={w.own_span.pk}"),
    View("curation editor, merge", "curator",
         lambda w: f"/projects/{w.project.slug}/curation/documents/{w.sink.pk}/?merge={w.merge_ids}"),
    View("token page", "annotator", lambda w: "/account/token/", shows_payloads=False),
    View("login with a payload next", None, lambda w: "/accounts/login/?" + reflected(next=1)),
    View("browsable API document", "annotator", lambda w: f"/api/documents/{w.sink.pk}/"),
    View("browsable API spans", "annotator", lambda w: f"/api/spans/?document={w.sink.pk}&page_size=1000"),
    View("browsable API label schema", "annotator", lambda w: f"/api/projects/{w.project.slug}/schema/"),
    View("admin index, recent actions", "superuser", lambda w: "/admin/"),
    View("admin documents", "superuser", lambda w: "/admin/corpus/document/"),
    View("admin documents searched for a payload", "superuser",
         lambda w: "/admin/corpus/document/?" + reflected(q=15)),
    View("admin document", "superuser", lambda w: f"/admin/corpus/document/{w.sink.pk}/change/"),
    View("admin document history", "superuser", lambda w: f"/admin/corpus/document/{w.sink.pk}/history/"),
    View("admin document historical record", "superuser", history_record),
    View("admin document delete confirmation", "superuser", lambda w: f"/admin/corpus/document/{w.sink.pk}/delete/"),
    View("admin assign action", "superuser", lambda w: "/admin/corpus/document/", choose_assign_action),
    View("admin import report", "superuser", lambda w: "/admin/corpus/document/import/", import_files),
    View("admin spans", "superuser", lambda w: "/admin/annotations/span/"),
    View("admin span", "superuser", lambda w: f"/admin/annotations/span/{w.own_span.pk}/change/"),
    View("admin span history", "superuser", lambda w: f"/admin/annotations/span/{w.own_span.pk}/history/"),
    View("admin deleted spans", "superuser", lambda w: "/admin/annotations/historicalspan/"),
    View("admin projects", "superuser", lambda w: "/admin/corpus/project/"),
    View("admin project with its inlines", "superuser", lambda w: f"/admin/corpus/project/{w.project.pk}/change/"),
    View("admin project history", "superuser", lambda w: f"/admin/corpus/project/{w.project.pk}/history/"),
    View("admin themes", "superuser", lambda w: "/admin/annotations/theme/"),
    View("admin theme", "superuser",
         lambda w: f"/admin/annotations/theme/{Theme.objects.filter(project=w.project).first().pk}/change/"),
    View("admin stances", "superuser", lambda w: "/admin/annotations/stancevalue/"),
    View("admin memberships", "superuser", lambda w: "/admin/corpus/membership/"),
    View("admin assignments", "superuser", lambda w: "/admin/annotations/assignment/"),
    View("admin users", "superuser", lambda w: "/admin/auth/user/"),
    View("admin user", "superuser", lambda w: f"/admin/auth/user/{w.users['annotator'].pk}/change/"),
]


def session_for(user):
    """A logged-in session for user, as the login form would make it."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session.session_key


@pytest.fixture(scope="module")
def xss_site(django_db_setup, django_db_blocker):
    """The payload project and a server of its own for this module.

    pytest-django's live_server would flush the database after every test; this data is built
    once, so the module runs its own server and empties the database itself at the end.
    """
    from pytest_django.live_server_helper import LiveServer

    with django_db_blocker.unblock():
        name = str(connection.settings_dict["NAME"])
        assert name.startswith("test_") or "memory" in name, f"refusing to fill and flush {name!r}: not a test database"
        server = None
        try:
            world = build_xss_world()
            # Sessions made here are committed; one made inside a test's transaction would be
            # invisible to the server's own connection on PostgreSQL.
            sessions = {role: session_for(user) for role, user in world.users.items()}
            server = LiveServer("localhost")
            server._live_server_modified_settings.enable()
            yield world, server, sessions
        finally:
            if server is not None:
                server._live_server_modified_settings.disable()
                server.stop()
            call_command("flush", verbosity=0, interactive=False)


@pytest.fixture(scope="module")
def report():
    """What each page showed and what the policy blocked, written out for reading after a run."""
    rows = []
    yield rows
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "xss-report.json").write_text(json.dumps({
        "payloads": len(PAYLOADS), "pages": len({row["page"] for row in rows}), "rows": rows,
    }, indent=1))


class Probe:
    """Watches one browser context for any sign that a payload ran."""

    def __init__(self, context):
        self.runs, self.dialogs, self.violations, self.console, self.errors = [], [], [], [], []
        context.expose_binding("__xssReport", lambda source, marker: self.runs.append(marker))
        context.expose_binding("__cspReport", lambda source, data: self.violations.append(json.loads(data)))
        context.add_init_script(WATCH)

    def watch(self, page):
        def on_dialog(dialog):
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", lambda message: self.console.append(message.text)
                if "Content Security Policy" in message.text else None)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("view", VIEWS, ids=str)
def test_no_payload_runs_or_becomes_markup(view, mode, browser, xss_site, report):
    world, server, sessions = xss_site
    context = browser.new_context(base_url=server.url, bypass_csp=mode == "without-csp",
                                  viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    try:
        probe = Probe(context)
        page = context.new_page()
        probe.watch(page)
        if view.role is not None:
            context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": sessions[view.role],
                                  "url": server.url}])
        url = view.url(world)
        response = page.goto(url)
        assert response.status == 200, f"{url} answered {response.status}"
        if view.action is not None:
            view.action(page, world)
        page.wait_for_timeout(SETTLE_MS)
        findings, html = [], ""
        for frame in page.frames:
            scanned = frame.evaluate(SCAN)
            findings += [f"{frame.url[:60]}: {finding}" for finding in scanned["findings"]]
            html += scanned["html"]
    finally:
        context.close()

    ran_in_errors = [error for error in probe.errors if "__xss" in error or markers_in(error)]
    shown = markers_in(html)
    report.append({
        "page": view.name, "mode": mode, "markers_shown": len(shown),
        "payloads_shown": len({marker[:3] for marker in shown}),
        "csp_violations": [{**v, "payloads": sorted(markers_in(json.dumps(v)))} for v in probe.violations],
        "csp_console": probe.console,
    })
    assert not probe.runs, f"payloads ran: {sorted(set(probe.runs))}"
    assert not probe.dialogs, f"payloads opened dialogs: {probe.dialogs}"
    assert not ran_in_errors, f"payload code ran and failed: {ran_in_errors}"
    assert not findings, "payloads became markup:\n" + "\n".join(findings[:40])
    if view.shows_payloads:
        assert shown, f"{view.name} showed no payload, so it proves nothing"


# Where a template or a script could put a value unescaped, and how it would come out there.
RAW_CONTEXTS = {
    "html": lambda p: f"<div>{p}</div>",
    "dq": lambda p: f'<input value="{p}">',
    "sq": lambda p: f"<input value='{p}'>",
    "href": lambda p: f'<a href="{p}">link</a>',
    "jsstring": lambda p: f"<script>var s = '{p}';</script>",
    "jstemplate": lambda p: f"<script>var t = `{p}`;</script>",
    "decoded": lambda p: f"<div class=raw>{p}</div>",
    "mustache": lambda p: f"<div class=raw>{p}</div>",
}
# Careless code that decodes a stored value (entities, \u escapes, %-escapes) and writes it as HTML,
# or that evaluates {{ }} as a client-side template would.
DECODE = """
for (const source of document.querySelectorAll(".raw")) {
  let value = source.textContent;
  try { value = JSON.parse('"' + value.replace(/\\\\(?!u)/g, "\\\\\\\\").replace(/"/g, '\\\\"') + '"'); } catch (e) {}
  try { value = decodeURIComponent(value); } catch (e) {}
  const target = document.createElement("div");
  target.innerHTML = value;
  source.replaceWith(target);
}
"""
MUSTACHE = """
for (const source of document.querySelectorAll(".raw")) {
  source.textContent = source.textContent.replace(/\\{\\{(.*?)\\}\\}/g, (match, code) => String(eval(code)));
}
"""


def test_the_watch_catches_every_payload_placed_raw(browser):
    """Each payload runs, or becomes markup the scan reports, in some context that forgets to escape.

    Without this, a payload that could never fire anywhere would pass every page for free. Each
    payload sits in each context in a frame of its own, so that one cannot swallow the next.
    """
    frames = []
    for context_name, place in RAW_CONTEXTS.items():
        script = {"decoded": DECODE, "mustache": MUSTACHE}.get(context_name, "")
        for i in range(len(PAYLOADS)):
            document = f"<!doctype html><body>{place(payload(i, f'raw{context_name}'))}<script>{script}</script>"
            frames.append(f'<iframe srcdoc="{html.escape(document, quote=True)}"></iframe>')
    context = browser.new_context(bypass_csp=True)
    try:
        probe = Probe(context)
        page = context.new_page()
        probe.watch(page)
        page.set_content("<!doctype html><body>" + "".join(frames))
        page.wait_for_timeout(SETTLE_MS)
        findings = [finding for frame in page.frames if frame != page.main_frame
                    for finding in frame.evaluate(SCAN)["findings"]]
    finally:
        context.close()

    # In a script every value is "markup"; there only running counts.
    markup = [finding for finding in findings if "-rawjs" not in finding]
    caught = {marker[:3] for marker in markers_in(" ".join([*probe.runs, *probe.dialogs, *markup]))}
    every_payload = {f"p{i:02d}" for i in range(len(PAYLOADS))}
    assert caught == every_payload, f"never caught: {sorted(every_payload - caught)}"
    ran = {marker[:3] for marker in markers_in(" ".join([*probe.runs, *probe.dialogs]))}
    assert len(ran) >= 15, f"only {sorted(ran)} ran anywhere: is window.__xss still watched?"


def test_the_payloads_are_many_and_distinct():
    assert len(PAYLOADS) >= 30
    assert len(set(PAYLOADS)) == len(PAYLOADS)
    assert all("{m}" in template for template in PAYLOADS)


def test_the_project_holds_each_payload_in_each_field(xss_site):
    """Each payload was stored where the pages read it, not refused or cut on the way in."""
    world, _, _ = xss_site
    sink_spans = Span.objects.filter(document=world.sink, annotator=world.users["annotator"])
    assert {markers_in(s.note).pop()[:3] for s in sink_spans if s.note} == {f"p{i:02d}" for i in range(len(PAYLOADS))}
    assert len(world.documents) == len(PAYLOADS)
    assert all(payload(i, "title") == d.title for i, d in enumerate(world.documents))
    assert len(world.sink.metadata) == len(PAYLOADS)
