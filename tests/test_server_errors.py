"""Unhandled exceptions, a database outage first: the API answers in its error shape, pages plainly."""
import pytest
from django.db import OperationalError, connections
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotations.api import SpanViewSet
from corpus.middleware import RefuseNulMiddleware

REFUSED = 'connection to server at "127.0.0.1", port 5432 failed: Connection refused'


@pytest.fixture
def database_down(db):
    """Call it, and from then on every query fails as it does while PostgreSQL is stopped."""

    def refuse(*args, **kwargs):
        raise OperationalError(REFUSED)

    # Its own patch, undone before the test database is rolled back.
    with pytest.MonkeyPatch.context() as patch:
        yield lambda: patch.setattr(connections["default"], "cursor", refuse)


def assert_unavailable(response):
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": {
        "status": 503, "code": "unavailable",
        "message": "The database cannot be reached just now; try again in a few seconds.",
    }}
    assert response["Retry-After"] == "5"
    assert "5432" not in response.content.decode()


def test_a_token_request_gets_503_in_the_api_shape(annotator, database_down):
    client = APIClient(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=annotator).key}",
                       raise_request_exception=False)
    database_down()

    assert_unavailable(client.get("/api/spans/"))
    assert_unavailable(client.post("/api/spans/", {"document": 1, "start": 0, "end": 1}, format="json"))


def test_a_workbench_save_by_session_gets_503_in_the_api_shape(annotator, database_down):
    client = APIClient(raise_request_exception=False)
    client.force_login(annotator)
    database_down()

    assert_unavailable(client.post("/api/spans/", {"document": 1, "start": 0, "end": 1}, format="json"))


def test_an_anonymous_request_gets_503_in_the_api_shape(db, database_down):
    database_down()

    assert_unavailable(APIClient(raise_request_exception=False).get("/api/schema/"))


def test_a_failure_in_a_middleware_gets_503_in_the_api_shape(annotator, monkeypatch):
    def lost(self, request):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(RefuseNulMiddleware, "holds_nul", lost)
    client = APIClient(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=annotator).key}",
                       raise_request_exception=False)

    assert_unavailable(client.get("/api/spans/"))


def test_any_other_failure_gets_500_in_the_api_shape_without_its_details(annotator, monkeypatch, caplog):
    def broken(self, request, *args, **kwargs):
        raise RuntimeError("internal detail: the export key is 0xC0FFEE")

    monkeypatch.setattr(SpanViewSet, "list", broken)
    client = APIClient(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=annotator).key}",
                       raise_request_exception=False)

    response = client.get("/api/spans/")

    assert response.status_code == 500
    assert response.json() == {"error": {
        "status": 500, "code": "server_error", "message": "The server failed to answer this request; the error was logged.",
    }}
    assert "0xC0FFEE" not in response.content.decode() and "Traceback" not in response.content.decode()
    assert "Retry-After" not in response
    # The operator still gets the whole story in the log.
    assert any(record.exc_info and "0xC0FFEE" in str(record.exc_info[1]) for record in caplog.records)


def test_a_page_gets_a_plain_503_while_the_database_is_down(annotator, project, database_down):
    client = Client(raise_request_exception=False)
    client.force_login(annotator)
    database_down()

    response = client.get(project.get_absolute_url())

    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert "The database cannot be reached just now" in response.content.decode()
    assert response["Retry-After"] == "5"


def test_a_page_that_fails_otherwise_gets_djangos_500_page(db, monkeypatch):
    def broken(self, request, *args, **kwargs):
        raise RuntimeError("internal detail")

    monkeypatch.setattr("django.contrib.auth.views.LoginView.get", broken)

    response = Client(raise_request_exception=False).get("/accounts/login/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert "Server Error (500)" in response.content.decode()
    assert "internal detail" not in response.content.decode()


def test_the_health_check_reports_the_outage(client, db, database_down):
    database_down()

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
