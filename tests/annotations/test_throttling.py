import time

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotations.models import ApiRequestCount, Span
from annotations.throttling import DatabaseRateThrottle

from ..api_support import error_of, install_schema

QUOTE = "trade in yuan rose"


def token_client(user):
    return APIClient(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")


@pytest.fixture
def three_a_minute(settings):
    settings.LECTERN_API_USER_RATE = "3/min"


@pytest.fixture
def frozen(monkeypatch):
    """Pin the throttles' clock 10 s into a minute; returns a function that moves it."""
    moment = {"now": (time.time() // 60) * 60 + 10}
    monkeypatch.setattr(DatabaseRateThrottle, "timer", staticmethod(lambda: moment["now"]))

    def advance(seconds):
        moment["now"] += seconds

    return advance


def test_a_user_beyond_the_rate_gets_429_in_the_error_shape(three_a_minute, frozen, annotator, project):
    client = token_client(annotator)
    assert [client.get("/api/projects/").status_code for _ in range(3)] == [200, 200, 200]

    response = client.get("/api/projects/")

    assert response.status_code == 429
    error = error_of(response)
    assert error["code"] == "throttled"
    assert "50 seconds" in error["message"]
    assert response["Retry-After"] == "50"


def test_a_refused_write_stores_nothing(three_a_minute, frozen, annotator, document, project):
    install_schema(project)
    client = token_client(annotator)
    body = {"document": document.pk, "start": 13, "end": 31, "text": QUOTE, "themes": ["TRADE"]}
    for _ in range(3):
        client.get("/api/projects/")

    response = client.post("/api/spans/", body, format="json")

    assert response.status_code == 429
    assert not Span.objects.exists()


def test_each_user_has_a_count_of_their_own(three_a_minute, frozen, annotator, teammate, project):
    client = token_client(annotator)
    for _ in range(4):
        client.get("/api/projects/")

    assert token_client(teammate).get("/api/projects/").status_code == 200


def test_token_and_session_requests_of_a_user_count_together(three_a_minute, frozen, annotator, project):
    browser = Client()
    browser.force_login(annotator)
    script = token_client(annotator)
    assert browser.get("/api/projects/").status_code == 200
    assert script.get("/api/projects/").status_code == 200
    assert browser.get("/api/projects/").status_code == 200

    assert script.get("/api/projects/").status_code == 429
    assert browser.get("/api/projects/").status_code == 429


def test_the_next_minute_lets_the_user_in_again(three_a_minute, frozen, annotator, project):
    client = token_client(annotator)
    for _ in range(4):
        client.get("/api/projects/")

    frozen(49)
    assert client.get("/api/projects/").status_code == 429
    frozen(1)
    assert [client.get("/api/projects/").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_anonymous_readers_of_the_schema_are_limited_per_address(settings, frozen, db):
    settings.LECTERN_API_ANON_RATE = "2/min"
    reader = APIClient(REMOTE_ADDR="203.0.113.7")
    assert [reader.get("/api/schema/?format=json").status_code for _ in range(3)] == [200, 200, 429]
    assert error_of(reader.get("/api/schema/?format=json"))["code"] == "throttled"

    assert APIClient(REMOTE_ADDR="198.51.100.9").get("/api/schema/?format=json").status_code == 200



def test_addresses_quiet_for_a_day_are_forgotten(frozen, db):
    APIClient(REMOTE_ADDR="203.0.113.7").get("/api/schema/?format=json")
    frozen(24 * 60 * 60 + 60)
    APIClient(REMOTE_ADDR="198.51.100.9").get("/api/schema/?format=json")

    assert list(ApiRequestCount.objects.values_list("key", flat=True)) == ["anon:198.51.100.9"]
