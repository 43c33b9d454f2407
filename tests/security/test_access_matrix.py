"""Who may read and change what: every route of the app, for every role, in and out of the project.

Each case names a request against project P (or a global page) and the status every role gets:
anonymous visitors, P's two annotators, its curator and manager, a superuser who is no member of
P, and the annotator, curator and manager of another project Q. Every request runs in a savepoint
that is rolled back, so all roles meet the same database; a refused request must change nothing;
and no response may carry words its reader is not allowed to see (the other project's, or the
other annotator's notes). The URL resolver lists every route of the app; a route that no case
reaches fails `test_every_route_is_in_the_matrix`, so a new route cannot escape this file.
"""
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client
from django.urls import URLResolver, get_resolver, resolve, reverse
from django.urls.exceptions import Resolver404
from rest_framework.test import APIClient

from annotations.models import Span
from annotations.services import span_delete
from corpus.models import Document

from .support import (
    ALICE_SECRET, BOB_SECRET, P_ROLES, P_SECRET, Q_ROLES, Q_SECRET, ROLES, build_world, changed, fingerprint,
    jsonl_export,
)

LOGIN = "login"  # 302 to the login form
ADMIN_LOGIN = "admin-login"  # 302 to the admin's login form
WRITES = ("POST", "PUT", "PATCH", "DELETE")
REFUSALS = (LOGIN, ADMIN_LOGIN, 400, 401, 403, 404, 405)


@dataclass(frozen=True)
class Case:
    """One request and the status each role gets for it."""

    name: str
    method: str
    url: Callable
    expect: dict
    data: Callable = None
    api: bool = False
    content_type: str = None

    def __str__(self):
        return self.name


def page(members, *, superuser=404, anonymous=LOGIN, outsiders=404, **by_role):
    """Statuses of a page of P: `members` for each of P's roles unless a keyword names it."""
    statuses = {"anonymous": anonymous, "superuser": superuser, **{r: outsiders for r in Q_ROLES}}
    statuses.update({role: members for role in P_ROLES})
    statuses.update(by_role)
    assert set(statuses) == set(ROLES)
    return statuses


def api(members, *, superuser=404, outsiders=404, **by_role):
    return page(members, superuser=superuser, anonymous=401, outsiders=outsiders, **by_role)


def everyone(status, *, anonymous=None):
    statuses = dict.fromkeys(ROLES, status)
    if anonymous is not None:
        statuses["anonymous"] = anonymous
    return statuses


REVIEW_PAGE = page(200, annotator=403, teammate=403, superuser=200)
CURATION_PAGE = page(200, annotator=403, teammate=403)
CURATION_ACTION = page(302, annotator=403, teammate=403)
POST_ONLY = everyone(405, anonymous=LOGIN)  # require_POST answers before anything is looked up


def p_url(suffix=""):
    return lambda w: f"/projects/{w.p.slug}/{suffix}"


def curation_url(action=""):
    return lambda w: f"/projects/{w.p.slug}/curation/documents/{w.document.pk}/{action}"


def span_payload(w):
    start = w.document.text.index("Analysts")
    return {"document": w.document.pk, "start": start, "end": start + len("Analysts"), "text": "Analysts",
            "themes": ["TRADE"]}


def quote_range(w, quote):
    start = w.document.text.index(quote)
    return start, start + len(quote)


PAGE_CASES = [
    Case("project list", "GET", lambda w: "/", everyone(200, anonymous=LOGIN)),
    Case("project detail", "GET", p_url(), page(200)),
    Case("next document", "GET", p_url("next/"), page(302)),
    Case("workbench", "GET", lambda w: f"/documents/{w.document.pk}/", page(200)),
    Case("workbench of the teammate", "GET", lambda w: f"/documents/{w.document.pk}/?view=teammate",
         page(200, annotator=403)),
    Case("workbench of everyone", "GET", lambda w: f"/documents/{w.document.pk}/?view=all",
         page(200, annotator=403, teammate=403)),
    Case("dashboard", "GET", p_url("dashboard/"), REVIEW_PAGE),
    Case("dashboard chart csv", "GET", p_url("dashboard/themes.csv"), REVIEW_PAGE),
    Case("dashboard chart svg", "GET", p_url("dashboard/themes.svg"), REVIEW_PAGE),
    Case("assignments", "GET", p_url("assignments/"), page(403, manager=200, superuser=200)),
    Case("assignments auto", "POST", p_url("assignments/"), page(403, manager=302, superuser=302),
         data=lambda w: {"action": "auto"}),
    Case("agreement", "GET", p_url("agreement/"), REVIEW_PAGE),
    Case("agreement of a document", "GET", lambda w: f"/projects/{w.p.slug}/agreement/documents/{w.document.pk}/",
         REVIEW_PAGE),
    Case("curation list", "GET", p_url("curation/"), CURATION_PAGE),
    Case("curation document", "GET", curation_url(), CURATION_PAGE),
    Case("curation accept", "POST", curation_url("accept/"), CURATION_ACTION,
         data=lambda w: {"span": str(w.team_span.pk)}),
    Case("curation reject", "POST", curation_url("reject/"), CURATION_ACTION,
         data=lambda w: {"span": str(w.team_span.pk)}),
    Case("curation gold", "POST", curation_url("gold/"), CURATION_ACTION,
         data=lambda w: dict(zip(("start", "end"), quote_range(w, "Analysts say")), mode="new", themes=["TRADE"])),
    Case("curation accept agreed", "POST", curation_url("accept-agreed/"), CURATION_ACTION, data=lambda w: {}),
    Case("curation withdraw", "POST", curation_url("withdraw/"), CURATION_ACTION,
         data=lambda w: {"span": str(w.gold.pk)}),
    Case("curation status", "POST", curation_url("status/"), CURATION_ACTION,
         data=lambda w: {"action": "curated"}),
    *[
        Case(f"curation {action} by GET", "GET", curation_url(f"{action}/"), POST_ONLY)
        for action in ("accept", "reject", "gold", "accept-agreed", "withdraw", "status")
    ],
]

GLOBAL_CASES = [
    Case("health check", "GET", lambda w: "/healthz", everyone(200)),
    Case("login form", "GET", lambda w: "/accounts/login/", everyone(200)),
    Case("logout", "POST", lambda w: "/accounts/logout/", everyone(302), data=lambda w: {}),
    Case("password change", "GET", lambda w: "/accounts/password_change/", everyone(200, anonymous=LOGIN)),
    Case("password changed", "GET", lambda w: "/accounts/password_change/done/", everyone(200, anonymous=LOGIN)),
    Case("password reset", "GET", lambda w: "/accounts/password_reset/", everyone(200)),
    Case("password reset sent", "GET", lambda w: "/accounts/password_reset/done/", everyone(200)),
    Case("password reset link", "GET", lambda w: "/accounts/reset/MQ/not-a-token/", everyone(200)),
    Case("password reset complete", "GET", lambda w: "/accounts/reset/done/", everyone(200)),
    Case("token page", "GET", lambda w: "/account/token/", everyone(200, anonymous=LOGIN)),
    Case("token create", "POST", lambda w: "/account/token/", everyone(302, anonymous=LOGIN),
         data=lambda w: {"action": "create"}),
    Case("api schema", "GET", lambda w: "/api/schema/", everyone(200), api=True),
    Case("api docs", "GET", lambda w: "/api/docs/", everyone(200), api=True),
    Case("api root", "GET", lambda w: "/api/", everyone(200, anonymous=401), api=True),
    Case("api project list", "GET", lambda w: "/api/projects/", everyone(200, anonymous=401), api=True),
    Case("api document list", "GET", lambda w: "/api/documents/", everyone(200, anonymous=401), api=True),
    Case("api span list", "GET", lambda w: "/api/spans/", everyone(200, anonymous=401), api=True),
    Case("api span list of the teammate", "GET", lambda w: "/api/spans/?annotator=teammate",
         everyone(200, anonymous=401), api=True),
    Case("api span list of the document", "GET", lambda w: f"/api/spans/?document={w.document.pk}",
         everyone(200, anonymous=401), api=True),
]

API_CASES = [
    Case("api project", "GET", lambda w: f"/api/projects/{w.p.slug}/", api(200), api=True),
    Case("api label schema", "GET", lambda w: f"/api/projects/{w.p.slug}/schema/", api(200), api=True),
    Case("api members", "GET", lambda w: f"/api/projects/{w.p.slug}/members/", api(200), api=True),
    Case("api member add", "POST", lambda w: f"/api/projects/{w.p.slug}/members/", api(403, manager=201), api=True,
         data=lambda w: {"username": w.newcomer.username, "role": "annotator"}),
    Case("api member role", "PATCH", lambda w: f"/api/projects/{w.p.slug}/members/teammate/", api(403, manager=200),
         api=True, data=lambda w: {"role": "curator"}),
    Case("api member remove", "DELETE", lambda w: f"/api/projects/{w.p.slug}/members/teammate/",
         api(403, manager=204), api=True),
    Case("api agreement", "GET", lambda w: f"/api/projects/{w.p.slug}/agreement/",
         api(200, annotator=403, teammate=403, superuser=200), api=True),
    Case("api dashboard", "GET", lambda w: f"/api/projects/{w.p.slug}/dashboard/",
         api(200, annotator=403, teammate=403, superuser=200), api=True),
    *[
        Case(f"api export {fmt}", "GET", lambda w, fmt=fmt: f"/api/projects/{w.p.slug}/export/?format={fmt}",
             api(200), api=True)
        for fmt in ("jsonl", "csv", "webannotation", "doccano")
    ],
    Case("api export gold", "GET", lambda w: f"/api/projects/{w.p.slug}/export/?gold=true", api(200), api=True),
    Case("api export of the teammate", "GET", lambda w: f"/api/projects/{w.p.slug}/export/?annotator=teammate",
         api(200), api=True),
    Case("api import spans", "POST", lambda w: f"/api/projects/{w.p.slug}/import-spans/", api(403, manager=200),
         api=True, data=lambda w: jsonl_export(w.p), content_type="application/x-ndjson"),
    Case("api document create", "POST", lambda w: "/api/documents/",
         api(403, manager=201, superuser=400, outsiders=400), api=True,
         data=lambda w: {"project": w.p.slug, "external_id": "new-1", "text": "A new text."}),
    Case("api document", "GET", lambda w: f"/api/documents/{w.document.pk}/", api(200), api=True),
    Case("api document status", "POST", lambda w: f"/api/documents/{w.document.pk}/status/", api(200), api=True,
         data=lambda w: {"status": "in_progress"}),
    Case("api span create", "POST", lambda w: "/api/spans/", api(201, superuser=400, outsiders=400), api=True,
         data=span_payload),
    Case("api span bulk", "POST", lambda w: "/api/spans/bulk/", api(201, superuser=400, outsiders=400), api=True,
         data=lambda w: [span_payload(w)]),
    Case("api span", "GET", lambda w: f"/api/spans/{w.span.pk}/", api(200, teammate=404), api=True),
    Case("api span patch", "PATCH", lambda w: f"/api/spans/{w.span.pk}/",
         api(403, annotator=200, teammate=404), api=True, data=lambda w: {"note": "changed", "version": 1}),
    Case("api span put", "PUT", lambda w: f"/api/spans/{w.span.pk}/",
         api(403, annotator=200, teammate=404), api=True,
         data=lambda w: {**span_payload(w), "start": w.span.start, "end": w.span.end, "text": w.span.text,
                         "version": 1}),
    Case("api span delete", "DELETE", lambda w: f"/api/spans/{w.span.pk}/?version=1",
         api(403, annotator=204, teammate=404), api=True),
    Case("api teammate span patch", "PATCH", lambda w: f"/api/spans/{w.team_span.pk}/",
         api(403, annotator=404, teammate=200), api=True, data=lambda w: {"note": "changed", "version": 1}),
    Case("api teammate span delete", "DELETE", lambda w: f"/api/spans/{w.team_span.pk}/?version=1",
         api(403, annotator=404, teammate=204), api=True),
    Case("api gold span patch", "PATCH", lambda w: f"/api/spans/{w.gold.pk}/",
         api(404, curator=200, manager=403), api=True, data=lambda w: {"note": "changed", "version": 1}),
]


def clients_for(world):
    """A page client and an API client per role: sessions for pages, tokens for the API."""
    clients = {}
    for role in ROLES:
        page_client, api_client = Client(), APIClient()
        if role != "anonymous":
            user = world.users[role]
            page_client.force_login(user)
            api_client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[role]}")
        clients[role] = (page_client, api_client)
    return clients


def send(client, case, world):
    url = case.url(world)
    data = case.data(world) if case.data else None
    method = getattr(client, case.method.lower())
    kwargs = {}
    if data is not None:
        if case.content_type:
            kwargs["content_type"] = case.content_type
        elif case.api:
            kwargs["format"] = "json"
        kwargs["data"] = data
    return method(url, **kwargs)


def body_of(response):
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def forbidden_words(role):
    """What a role must never read, whatever it asks for."""
    words = {Q_SECRET}
    if role in Q_ROLES or role == "anonymous":
        words = {P_SECRET, ALICE_SECRET, BOB_SECRET}
    elif role == "annotator":
        words.add(BOB_SECRET)
    elif role == "teammate":
        words.add(ALICE_SECRET)
    return words


def matches(expected, response):
    if expected == LOGIN:
        return response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    if expected == ADMIN_LOGIN:
        return response.status_code == 302 and response["Location"].startswith(("/admin/login/", "/admin/"))
    return response.status_code == expected


def run_matrix(case, world, roles=ROLES):
    """Send the case as each role, each in a rolled-back savepoint; return the problems found."""
    clients = clients_for(world)
    problems = []
    for role in roles:
        page_client, api_client = clients[role]
        before = fingerprint()
        with transaction.atomic():
            response = send(api_client if case.api else page_client, case, world)
            after = fingerprint()
            body = body_of(response)
            transaction.set_rollback(True)
        expected = case.expect[role]
        if not matches(expected, response):
            problems.append(f"{role}: expected {expected}, got {response.status_code} "
                            f"{response.get('Location', '')} {body[:200]!r}")
        if case.method in WRITES and expected in REFUSALS and before != after:
            problems.append(f"{role}: a refused {case.method} changed {changed(before, after)}")
        accepted = case.method in WRITES and expected not in REFUSALS and matches(expected, response)
        if accepted and before == after and case.name not in UNCHANGING_WRITES:
            problems.append(f"{role}: an accepted {case.method} changed nothing")
        leaked = sorted(word for word in forbidden_words(role) if word in body)
        if leaked:
            problems.append(f"{role}: the response shows {leaked}")
    return problems


# Accepted writes that leave the rows this file fingerprints as they were.
UNCHANGING_WRITES = {"logout", "api import spans", "api document status"}

ALL_CASES = PAGE_CASES + GLOBAL_CASES + API_CASES


@pytest.fixture
def world(db):
    return build_world()


@pytest.mark.parametrize("case", ALL_CASES, ids=str)
def test_each_role_gets_what_the_matrix_says(case, world):
    problems = run_matrix(case, world)

    assert not problems, f"{case.method} {case.url(world)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", [
    "/api/.json", "/api/projects.json", "/api/projects/pelican.json", "/api/projects/pelican/schema.json",
    "/api/projects/pelican/members.json", "/api/spans/bulk.json", "/api/documents/1/status.json",
])
def test_format_suffix_paths_are_no_routes(world, path):
    """They once reached the views and answered 500 on every extra action; ?format= picks a renderer."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens['manager']}")

    for method in ("get", "post", "patch", "delete"):
        assert getattr(client, method)(path).status_code == 404, (method, path)


def test_a_project_is_not_found_the_same_way_whether_it_exists_or_not(world):
    """An outsider cannot tell P exists: every P route answers as it does for a slug nobody uses."""
    clients = clients_for(world)
    for case in PAGE_CASES + API_CASES:
        for role in ("q_manager", "superuser"):
            if case.expect[role] != 404:
                continue
            client = clients[role][1 if case.api else 0]
            real = send(client, case, world)
            ghost_url = case.url(world).replace(f"/{world.p.slug}/", "/no-such-project/")
            ghost_url = ghost_url.replace(f"/{world.document.pk}/", "/999999/")
            ghost = getattr(client, case.method.lower())(ghost_url)
            assert ghost.status_code == real.status_code == 404, (case.name, role)


# -------------------------------------------------------------------------------------------------
# Annotators never see each other's spans
# -------------------------------------------------------------------------------------------------


def test_annotators_list_only_their_own_spans_through_every_filter(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens['annotator']}")
    own = {str(pk) for pk in Span.objects.filter(annotator=world.users["annotator"]).values_list("pk", flat=True)}
    queries = ["", "?annotator=teammate", f"?document={world.document.pk}", f"?project={world.p.slug}",
               "?status=gold", "?theme=TRADE", "?stance=FAVOR", "?annotator=curator"]
    for query in queries:
        response = client.get(f"/api/spans/{query}")
        assert response.status_code == 200
        assert {row["id"] for row in response.json()["results"]} <= own, query


def test_annotators_export_only_their_own_spans(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens['teammate']}")
    for query in ("", "&annotator=annotator", "&gold=true", "&status=gold", f"&document={world.document.pk}"):
        response = client.get(f"/api/projects/{world.p.slug}/export/?format=jsonl{query}")
        assert response.status_code == 200
        lines = [line for line in body_of(response).splitlines() if line.strip()]
        assert all('"annotator":"teammate"' in line.replace(" ", "") for line in lines), query
        assert ALICE_SECRET not in "".join(lines)


def test_a_curator_reads_every_span_of_the_project_and_none_of_another(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens['curator']}")

    ids = {row["id"] for row in client.get("/api/spans/?page_size=1000").json()["results"]}

    assert str(world.span.pk) in ids and str(world.team_span.pk) in ids
    assert str(world.q_span.pk) not in ids


@pytest.mark.parametrize("method", ["PATCH", "PUT", "DELETE"])
@pytest.mark.parametrize("role", ["teammate", "curator", "manager", "q_manager", "superuser"])
def test_nobody_but_its_annotator_changes_a_span(world, role, method):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[role]}")
    before = fingerprint()
    body = {**span_payload(world), "start": world.span.start, "end": world.span.end, "text": world.span.text,
            "note": "taken over", "version": 1}

    response = getattr(client, method.lower())(f"/api/spans/{world.span.pk}/?version=1", body, format="json")

    assert response.status_code in (403, 404)
    world.span.refresh_from_db()
    assert world.span.note == ALICE_SECRET and world.span.version == 1
    assert fingerprint() == before


# -------------------------------------------------------------------------------------------------
# The admin: staff only
# -------------------------------------------------------------------------------------------------


def admin_urls(world):
    """One URL per admin route, pointing at a real object wherever the route takes one."""
    deleted = Span.objects.create(document=world.other_document, annotator=world.users["annotator"], start=0,
                                  end=7, text="Nothing")
    span_delete(span=deleted)
    Group.objects.get_or_create(name="Editors")
    Client().post(reverse("login"), {"username": "newcomer", "password": "a wrong guess"})  # an AccessAttempt
    examples = {}
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        prefix = f"admin:{meta.app_label}_{meta.model_name}"
        examples[f"{prefix}_changelist"] = reverse(f"{prefix}_changelist")
        examples[f"{prefix}_add"] = reverse(f"{prefix}_add")
        obj = model_admin.get_queryset(_superuser_request(world)).order_by("pk").first()
        if obj is None:
            obj = model._default_manager.order_by("pk").first()
        pk = str(obj.pk)
        for action in ("change", "delete", "history"):
            examples[f"{prefix}_{action}"] = reverse(f"{prefix}_{action}", args=[pk])
        examples[f"{prefix}_object"] = reverse(f"{prefix}_change", args=[pk]).removesuffix("change/")
        history = getattr(model, "history", None)
        if history is not None and hasattr(history, "model"):
            record = history.filter(**{meta.pk.attname: obj.pk}).order_by("history_id").first()
            examples[f"{prefix}_simple_history"] = reverse(f"{prefix}_simple_history", args=[pk, record.history_id])
    user = world.users["annotator"]
    examples.update({
        "admin:index": reverse("admin:index"),
        "admin:login": reverse("admin:login"),
        "admin:logout": reverse("admin:logout"),
        "admin:password_change": reverse("admin:password_change"),
        "admin:password_change_done": reverse("admin:password_change_done"),
        "admin:autocomplete": reverse("admin:autocomplete") + "?app_label=corpus&model_name=membership&field_name=user",
        "admin:jsi18n": reverse("admin:jsi18n"),
        "admin:view_on_site": reverse(
            "admin:view_on_site", args=[ContentType.objects.get_for_model(Document).pk, world.document.pk]),
        "admin:auth_user_password_change": reverse("admin:auth_user_password_change", args=[user.pk]),
        "admin:app_list": reverse("admin:app_list", args=["corpus"]),
        "admin:corpus_document_import": reverse("admin:corpus_document_import"),
        "admin:catch_all": "/admin/no-such-page/",
    })
    return examples


def _superuser_request(world):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = world.users["superuser"]
    return request


def test_only_staff_get_into_the_admin(world):
    urls = admin_urls(world)
    clients = clients_for(world)
    problems = []
    for name, url in urls.items():
        for role in ("anonymous", "annotator", "curator", "manager", "q_manager"):
            client = clients[role][0]
            for method in ("GET", "POST"):
                before = fingerprint()
                response = getattr(client, method.lower())(url)
                if name == "admin:login":
                    ok = response.status_code == 200 if method == "GET" else response.status_code in (200, 403)
                else:
                    ok = matches(ADMIN_LOGIN, response)
                if not ok:
                    problems.append(f"{role} {method} {url}: {response.status_code} {response.get('Location', '')}")
                if fingerprint() != before:
                    problems.append(f"{role} {method} {url} changed {changed(before, fingerprint())}")
                body = body_of(response)
                if P_SECRET in body or Q_SECRET in body:
                    problems.append(f"{role} {method} {url} shows project data")
    assert not problems, "\n".join(problems)


def test_the_superuser_opens_every_admin_page(world):
    urls = admin_urls(world)
    client = clients_for(world)["superuser"][0]
    problems = []
    for name, url in urls.items():
        if name == "admin:logout":
            continue
        response = client.get(url)
        if response.status_code >= 500 or matches(ADMIN_LOGIN, response) and response["Location"].startswith(
            "/admin/login/"
        ):
            problems.append(f"{url}: {response.status_code} {response.get('Location', '')}")
    assert not problems, "\n".join(problems)


# -------------------------------------------------------------------------------------------------
# Nothing escapes the matrix
# -------------------------------------------------------------------------------------------------


def all_routes():
    """Every route string the URL resolver knows, as ResolverMatch.route spells it."""

    def join(prefix, pattern):
        # As django.urls.resolvers._join_route: an inner regex loses its leading "^".
        route = str(pattern.pattern)
        return prefix + (route.removeprefix("^") if prefix else route)

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, join(prefix, pattern))
            else:
                yield join(prefix, pattern)

    return set(walk(get_resolver().url_patterns))


def route_of(url):
    try:
        return resolve(urlsplit(url).path).route
    except Resolver404:
        return None


def test_every_route_is_in_the_matrix(world):
    reached = {route_of(case.url(world)) for case in ALL_CASES}
    reached |= {route_of(url) for url in admin_urls(world).values()}

    missing = sorted(all_routes() - reached)

    assert not missing, (
        "These routes are not in the access matrix; add a case for each (who may GET, who may write):\n"
        + "\n".join(missing)
    )


def test_a_write_verb_the_matrix_does_not_list_changes_nothing(world):
    """Each route refuses, or ignores, every state-changing verb no case expects it to take."""
    listed = {}
    for case in ALL_CASES:
        listed.setdefault(route_of(case.url(world)), (case, set()))[1].add(case.method)
    clients = clients_for(world)
    problems = []
    for route, (case, methods) in listed.items():
        for method in sorted(set(WRITES) - methods):
            # The most trusted member, the owner of spans, and the superuser: others hold fewer rights.
            for role in ("manager", "annotator", "superuser"):
                page_client, api_client = clients[role]
                client = api_client if case.api else page_client
                before = fingerprint()
                with transaction.atomic():
                    response = getattr(client, method.lower())(case.url(world))
                    after = fingerprint()
                    transaction.set_rollback(True)
                if response.status_code >= 500 or before != after:
                    problems.append(f"{role} {method} {case.url(world)}: {response.status_code}, "
                                    f"changed {changed(before, after)}")
    assert not problems, "\n".join(problems)
