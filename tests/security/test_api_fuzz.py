"""The API fuzzed from its own OpenAPI schema: no 500, and every answer as the schema says.

Schemathesis reads /api/schema/ from the WSGI application in this process and generates requests
for every operation (examples, boundary values, random data), a bounded and repeatable number per
operation. They are sent as a manager of a seeded project, mostly at that project's real slug,
documents, spans and members (a generated value is kept one time in five, so refusals are
exercised too), through pytest-django's database, so the test runs on SQLite and PostgreSQL alike.
"""
import json
import zlib
from urllib.parse import quote

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings
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
# Read once, at collection, before any test database exists: without a rate, the anonymous
# throttle lets the request by instead of counting it in the database.
with override_settings(LECTERN_API_ANON_RATE=None):
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


NUL = "a\x00b"
NUL_REQUESTS = [
    ("get", "/api/spans/?annotator=a%00b", None),
    ("get", "/api/spans/?theme=a%00b&stance=a%00b", None),
    ("get", "/api/documents/?search=a%00b&genre=a%00b&outlet=a%00b&language=a%00b", None),
    ("get", "/api/projects/pelican/export/?annotator=a%00b", None),
    ("get", "/api/projects/pelican/export/?theme=a%00b&stance=a%00b", None),
    ("get", "/api/projects/pelican/agreement/?pair=a%00b,annotator", None),
    ("patch", "/api/projects/pelican/members/a%00b/", {"role": "curator"}),
    ("delete", "/api/projects/pelican/members/a%00b/", None),
    ("post", "/api/projects/pelican/members/", {"username": NUL, "role": "annotator"}),
    ("post", "/api/spans/", "span"),
    ("post", "/api/spans/bulk/", "spans"),
    ("patch", "own span", {"note": NUL, "source_name": NUL, "version": 1}),
    ("post", "/api/documents/", {"project": "pelican", "external_id": NUL, "text": NUL, "title": NUL,
                                 "metadata": {NUL: NUL}}),
    ("post", "/api/projects/pelican/import-spans/", "jsonl"),
    ("get", "/projects/pelican/?q=a%00b", None),
    ("get", "/admin/corpus/document/?q=a%00b", None),
]


@pytest.mark.parametrize("method, url, body", NUL_REQUESTS, ids=[f"{m} {u}" for m, u, _ in NUL_REQUESTS])
def test_a_nul_character_is_refused_not_a_crash(seeded, method, url, body):
    """PostgreSQL stores no NUL in text; a request carrying one must be refused, not fail with 500."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {seeded.extra['token']}")
    document = seeded.document
    start = document.text.index("Analysts")
    span = {"document": document.pk, "start": start, "end": start + 8, "text": "Analysts", "themes": ["TRADE"],
            "note": NUL, "attributed_source": {"type": "", "name": NUL, "affiliation": NUL, "via": NUL},
            "stance_target": NUL}
    if url == "own span":
        url = f"/api/spans/{seeded.extra['own_span'].pk}/"
    kwargs = {"format": "json"}
    if body == "span":
        body = span
    elif body == "spans":
        body = [span]
    elif body == "jsonl":
        line = {"id": str(seeded.span.pk), "document_external_id": NUL, "text_sha256": NUL, "note": NUL}
        body, kwargs = json.dumps(line).encode(), {"content_type": "application/x-ndjson"}

    response = getattr(client, method)(url, body, **kwargs)

    assert response.status_code < 500, response.content[:300]


@pytest.mark.parametrize("moment", [
    "2025-01-01T00:00:00+21:38", "0001-01-01T00:00:00+23:00", "9999-12-31T23:59:59-23:59",
])
def test_a_far_time_zone_offset_is_compared_in_utc_not_a_crash(seeded, moment):
    """Python takes offsets up to 23:59, PostgreSQL only up to 15:59."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {seeded.extra['token']}")
    since = quote(moment, safe="")

    assert client.get(f"/api/spans/?updated_since={since}").status_code == 200
    assert client.get(f"/api/projects/pelican/export/?updated_since={since}").status_code == 200
