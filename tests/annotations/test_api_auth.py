import pytest
import yaml
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotations.models import Span

from ..api_support import error_of, install_schema
from ..factories import PASSWORD

QUOTE = "trade in yuan rose"


def token_client(key):
    return APIClient(HTTP_AUTHORIZATION=f"Token {key}")


def test_the_token_page_needs_a_login(client):
    response = client.get("/account/token/")

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_user_creates_uses_and_revokes_a_token(client, annotator, project):
    client.force_login(annotator)

    assert b"You have no token" in client.get("/account/token/").content
    response = client.post("/account/token/", {"action": "create"}, follow=True)
    key = Token.objects.get(user=annotator).key
    assert key.encode() in response.content
    assert token_client(key).get("/api/projects/").json()["results"][0]["slug"] == project.slug

    client.post("/account/token/", {"action": "revoke"})

    assert not Token.objects.filter(user=annotator).exists()
    response = token_client(key).get("/api/projects/")
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_regenerating_replaces_the_key(client, annotator):
    client.force_login(annotator)
    client.post("/account/token/", {"action": "create"})
    old = Token.objects.get(user=annotator).key

    client.post("/account/token/", {"action": "create"})

    new = Token.objects.get(user=annotator).key
    assert new != old
    assert token_client(old).get("/api/spans/").status_code == 401
    assert token_client(new).get("/api/spans/").status_code == 200


def test_the_token_page_refuses_a_post_without_csrf(annotator):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator)

    assert client.post("/account/token/", {"action": "create"}).status_code == 403
    assert not Token.objects.filter(user=annotator).exists()


def test_the_navigation_links_the_token_page(client, annotator):
    client.force_login(annotator)

    assert b'href="/account/token/"' in client.get("/account/token/").content


def test_tokens_are_managed_in_the_admin(client, superuser, annotator):
    Token.objects.create(user=annotator)
    client.force_login(superuser)

    response = client.get("/admin/authtoken/tokenproxy/")

    assert response.status_code == 200
    assert b"alice" in response.content


@pytest.fixture
def span_payload(document, project):
    install_schema(project)
    return {"document": document.pk, "start": 13, "end": 31, "text": QUOTE, "themes": ["TRADE"]}


def test_a_session_post_without_the_csrf_token_is_refused(annotator, span_payload):
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="alice", password=PASSWORD)

    response = client.post("/api/spans/", span_payload, format="json")

    assert response.status_code == 403
    assert "CSRF" in error_of(response)["message"]
    assert not Span.objects.exists()


def test_a_session_post_with_the_csrf_token_is_accepted(annotator, span_payload):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="alice", password=PASSWORD)
    client.get("/account/token/")  # a page with a form sets the CSRF cookie

    response = client.post("/api/spans/", span_payload, format="json",
                           HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)

    assert response.status_code == 201
    assert Span.objects.count() == 1


def test_token_requests_need_no_csrf_token(annotator, span_payload):
    token = Token.objects.create(user=annotator)
    client = APIClient(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Token {token.key}")

    assert client.post("/api/spans/", span_payload, format="json").status_code == 201


@pytest.mark.parametrize("url", ["/api/projects/", "/api/documents/", "/api/spans/", "/api/spans/bulk/"])
def test_anonymous_requests_get_401_everywhere(db, url):
    response = APIClient().get(url) if not url.endswith("bulk/") else APIClient().post(url, [], format="json")

    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_a_wrong_method_answers_in_the_error_shape(annotator):
    client = APIClient()
    client.force_authenticate(annotator)

    response = client.delete("/api/projects/")

    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_the_openapi_schema_generates_without_warnings(tmp_path):
    path = tmp_path / "schema.yml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))

    schema = yaml.safe_load(path.read_text())
    assert schema["openapi"].startswith("3.")
    for route in ("/api/spans/", "/api/spans/{id}/", "/api/spans/bulk/", "/api/documents/",
                  "/api/documents/{id}/status/", "/api/projects/{slug}/schema/", "/api/projects/{slug}/members/"):
        assert route in schema["paths"], route
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


def test_the_schema_and_docs_are_served(client, db):
    assert client.get("/api/schema/").status_code == 200
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert b"drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page.content
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and b"SwaggerUIBundle" in script.content
