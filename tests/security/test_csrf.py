"""Cross-site request forgery: every write made with a browser's session needs the CSRF token.

A page on another site can make a logged-in browser send a POST, with its cookies, but it cannot
read the CSRF cookie to copy it into the form or the X-CSRFToken header. So with the session alone
every state-changing page and API call must answer 403 and change nothing; with the token it
works. Scripts that send `Authorization: Token ...` carry no cookie a third site could ride on, and
need no CSRF token.
"""
import pytest
from django.conf import settings
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from annotations.models import Span
from annotations.services import span_delete
from corpus.models import Document

from ..factories import PASSWORD
from .support import build_world, changed, fingerprint
from .test_access_matrix import API_CASES, GLOBAL_CASES, PAGE_CASES, REFUSALS, UNCHANGING_WRITES, WRITES, Case, matches

# With the token these succeed without touching the rows fingerprinted (the queues are already even).
UNCHANGED = UNCHANGING_WRITES | {"assignment rebalance"}
PAGE_WRITES = [case for case in PAGE_CASES + GLOBAL_CASES if case.method in WRITES]
API_WRITES = [case for case in API_CASES if case.method in WRITES]


def first_allowed_role(case):
    """A role the matrix lets make this request, so that only the missing token can refuse it."""
    for role in ("annotator", "teammate", "curator", "manager", "superuser"):
        if case.expect[role] not in REFUSALS:
            return role
    raise AssertionError(f"nobody may {case.name}")


def deleted_span(world):
    span = Span.objects.create(document=world.other_document, annotator=world.users["annotator"], start=0, end=7,
                               text="Nothing")
    span_delete(span=span)
    return Span.history.filter(id=span.pk, history_type="-").get()


def upload(name, content):
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


# Writes the matrix does not list: further actions of its pages, the admin's and the auth views'.
# Each names the one role it is sent as and the status that role gets with the token.
EXTRA_PAGE_WRITES = [
    Case("token revoke", "POST", lambda w: "/account/token/", {"annotator": 302},
         data=lambda w: {"action": "revoke"}),
    Case("assignment settings", "POST", lambda w: f"/projects/{w.p.slug}/assignments/", {"manager": 302},
         data=lambda w: {"action": "settings", "annotators_per_document": 1, "unassigned_open": "on"}),
    Case("assignment rebalance", "POST", lambda w: f"/projects/{w.p.slug}/assignments/", {"manager": 302},
         data=lambda w: {"action": "rebalance"}),
    Case("assignment grid", "POST", lambda w: f"/projects/{w.p.slug}/assignments/", {"manager": 302},
         data=lambda w: {"action": "save", "doc": [w.other_document.pk],
                         "pair": [f"{w.other_document.pk}:{w.users['annotator'].pk}"]}),
    Case("password change", "POST", lambda w: "/accounts/password_change/", {"annotator": 302},
         data=lambda w: {"old_password": PASSWORD, "new_password1": "a-new-long-passphrase-7",
                         "new_password2": "a-new-long-passphrase-7"}),
    Case("admin import", "POST", lambda w: "/admin/corpus/document/import/", {"superuser": 200},
         data=lambda w: {"project": w.p.pk, "files": [upload("forged.txt", b"A forged document.")]}),
    Case("admin delete action", "POST", lambda w: "/admin/corpus/document/", {"superuser": 302},
         data=lambda w: {"action": "delete_selected", admin.helpers.ACTION_CHECKBOX_NAME: [w.other_document.pk],
                         "post": "yes"}),
    Case("admin assign action", "POST", lambda w: "/admin/corpus/document/", {"superuser": 302},
         data=lambda w: {"action": "assign_documents", admin.helpers.ACTION_CHECKBOX_NAME: [w.other_document.pk],
                         "apply": "1", "annotators": [w.users["annotator"].pk]}),
    Case("admin restore action", "POST", lambda w: "/admin/annotations/historicalspan/", {"superuser": 302},
         data=lambda w: {"action": "restore", admin.helpers.ACTION_CHECKBOX_NAME: [deleted_span(w).pk]}),
    Case("admin delete page", "POST", lambda w: f"/admin/corpus/document/{w.other_document.pk}/delete/",
         {"superuser": 302}, data=lambda w: {"post": "yes"}),
    Case("admin change page", "POST", lambda w: f"/admin/auth/user/{w.users['annotator'].pk}/change/",
         {"superuser": 302},
         data=lambda w: {"username": "annotator", "first_name": "Forged", "last_name": "", "email": "",
                         "is_active": "on", "date_joined_0": "2025-01-01", "date_joined_1": "00:00:00",
                         "last_login_0": "", "last_login_1": ""}),
]


def role_and_status(case):
    if len(case.expect) == 1:
        return next(iter(case.expect.items()))
    role = first_allowed_role(case)
    return role, case.expect[role]


def csrf_client(world, role):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users[role])
    # Any page with a form sets the cookie, as it would in the browser.
    assert client.get("/account/token/").status_code == 200
    return client


@pytest.fixture
def world(db):
    return build_world()


@pytest.mark.parametrize("case", PAGE_WRITES + EXTRA_PAGE_WRITES, ids=str)
def test_a_page_write_without_the_token_is_refused_and_changes_nothing(world, case):
    role, _ = role_and_status(case)
    client = csrf_client(world, role)
    data = case.data(world)
    before = fingerprint()

    response = client.post(case.url(world), data)

    assert response.status_code == 403, response.content[:300]
    assert b"CSRF" in response.content
    assert fingerprint() == before, changed(before, fingerprint())
    assert client.get("/account/token/").status_code == 200, "the session must survive the refused request"


@pytest.mark.parametrize("case", PAGE_WRITES + EXTRA_PAGE_WRITES, ids=str)
def test_a_page_write_with_the_token_goes_through(world, case):
    role, status = role_and_status(case)
    client = csrf_client(world, role)
    data = {**case.data(world), "csrfmiddlewaretoken": client.cookies[settings.CSRF_COOKIE_NAME].value}
    before = fingerprint()

    response = client.post(case.url(world), data)

    assert matches(status, response), (response.status_code, response.content[:300])
    if case.name not in UNCHANGED:
        assert fingerprint() != before


def test_a_token_for_another_cookie_is_refused(world):
    client = csrf_client(world, "annotator")
    stranger = csrf_client(world, "teammate")

    response = client.post("/account/token/", {
        "action": "revoke", "csrfmiddlewaretoken": stranger.cookies[settings.CSRF_COOKIE_NAME].value,
    })

    assert response.status_code == 403


def test_a_post_from_another_origin_is_refused_even_with_the_token(world):
    client = csrf_client(world, "annotator")
    before = fingerprint()

    response = client.post(
        "/account/token/",
        {"action": "revoke", "csrfmiddlewaretoken": client.cookies[settings.CSRF_COOKIE_NAME].value},
        HTTP_ORIGIN="https://evil.example",
    )

    assert response.status_code == 403
    assert fingerprint() == before


def test_logging_in_needs_the_token_too(world):
    """Login CSRF: a forged login would file the victim's work under the attacker's account."""
    client = Client(enforce_csrf_checks=True)
    credentials = {"username": "annotator", "password": PASSWORD}

    assert client.post("/accounts/login/", credentials).status_code == 403
    assert client.get("/account/token/").status_code == 302

    client.get("/accounts/login/")
    response = client.post("/accounts/login/", {
        **credentials, "csrfmiddlewaretoken": client.cookies[settings.CSRF_COOKIE_NAME].value,
    })
    assert response.status_code == 302
    assert client.get("/account/token/").status_code == 200


# -------------------------------------------------------------------------------------------------
# The API with a session, and with a token
# -------------------------------------------------------------------------------------------------


def api_send(client, case, world, **headers):
    data = case.data(world) if case.data else None
    kwargs = {"content_type": case.content_type} if case.content_type else {"format": "json"}
    return getattr(client, case.method.lower())(case.url(world), data, **kwargs, **headers)


@pytest.mark.parametrize("case", API_WRITES, ids=str)
def test_an_api_write_with_the_session_but_no_token_is_refused(world, case):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.users[first_allowed_role(case)])
    before = fingerprint()

    response = api_send(client, case, world)

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
    assert fingerprint() == before, changed(before, fingerprint())


@pytest.mark.parametrize("case", API_WRITES, ids=str)
def test_an_api_write_with_the_session_and_the_token_goes_through(world, case):
    role = first_allowed_role(case)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.users[role])
    client.get("/account/token/")
    before = fingerprint()

    response = api_send(client, case, world, HTTP_X_CSRFTOKEN=client.cookies[settings.CSRF_COOKIE_NAME].value)

    assert response.status_code == case.expect[role], response.content[:300]
    if case.name not in UNCHANGING_WRITES:
        assert fingerprint() != before


@pytest.mark.parametrize("case", API_WRITES, ids=str)
def test_an_api_write_with_a_token_needs_no_csrf(world, case):
    role = first_allowed_role(case)
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[role]}")

    response = api_send(client, case, world)

    assert response.status_code == case.expect[role], response.content[:300]


def test_the_documents_endpoint_refuses_a_forged_import(world):
    """The manager's session alone cannot add documents from another site's page."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.users["manager"])

    response = client.post("/api/documents/", {"project": world.p.slug, "external_id": "forged",
                                               "text": "Forged."}, format="json")

    assert response.status_code == 403
    assert not Document.objects.filter(external_id="forged").exists()
