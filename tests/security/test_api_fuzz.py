"""The API fuzzed from its own OpenAPI schema: no 500, and every answer as the schema says.

Schemathesis reads /api/schema/ from the WSGI application in this process and generates requests
for every operation (examples, boundary values, random data), a bounded and repeatable number per
operation. They are sent as a manager of a seeded project, mostly at that project's real slug,
documents, spans and members (a generated value is kept one time in five, so refusals are
exercised too), through pytest-django's database, so the test runs on SQLite and PostgreSQL alike.
"""
import zlib

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.wsgi import application

from .support import build_world, mark

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]

# The span import takes a raw JSONL body: send generated text as it is.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@pytest.fixture
def seeded(db):
    """Two projects with spans of several annotators; requests go as P's manager."""
    world = build_world()
    # A span of the manager's own, so that changing and deleting one can succeed.
    world.extra["own_span"] = mark(world.document, world.users["manager"], "Officials", ["TRADE"])
    world.extra["token"] = Token.objects.get(user=world.users["manager"]).key
    # Django's test client keeps the connection across requests in a test transaction; the
    # WSGI application called directly would close it at the end of each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield world
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def keep_generated(value):
    """One generated value in five stays as generated, the same ones on every run."""
    return zlib.crc32(repr(value).encode()) % 5 == 0


def aim(case, world):
    """Point most cases at objects that exist, so that they get past the lookups."""
    path = case.path_parameters or {}
    spans = [world.extra["own_span"].pk, world.span.pk, world.gold.pk, world.q_span.pk]
    members = ["annotator", "teammate", "curator", "newcomer", "q_annotator"]
    for name, value in list(path.items()):
        if keep_generated(value):
            continue
        pick = zlib.crc32(repr(value).encode())
        if name == "slug":
            path[name] = world.p.slug
        elif name == "username":
            path[name] = members[pick % len(members)]
        elif name == "id" and case.path.startswith("/api/spans/"):
            path[name] = str(spans[pick % len(spans)])
        elif name == "id":
            path[name] = [world.document.pk, world.other_document.pk, world.q_document.pk][pick % 3]


@schema.parametrize()
@settings(max_examples=25, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_api_answers_as_its_schema_says(case, seeded):
    aim(case, seeded)

    response = case.call(headers={"Authorization": f"Token {seeded.extra['token']}"})

    case.validate_response(response, checks=CHECKS)


# What the fuzzing found, pinned down.


def test_a_url_no_route_matches_answers_in_the_api_error_shape(seeded, client):
    response = client.get("/api/projects/not a slug/", HTTP_AUTHORIZATION=f"Token {seeded.extra['token']}")

    assert response.status_code == 404
    assert response.json() == {"error": {"status": 404, "code": "not_found", "message": "Not found."}}
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("document", [2**63, -(2**63) - 1, 10**30])
def test_a_document_id_past_64_bits_is_refused_not_a_crash(seeded, document):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {seeded.extra['token']}")
    item = {"document": document, "start": 0, "end": 1, "text": "A", "themes": ["TRADE"]}

    for url, body in (("/api/spans/", item), ("/api/spans/bulk/", [item])):
        response = client.post(url, body, format="json")
        assert response.status_code == 400, (url, response.content)
