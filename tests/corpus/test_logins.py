from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory

LOGIN = reverse("login")
ADMIN_LOGIN = reverse("admin:login")


def log_in(client, username, password, url=LOGIN, **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


def fail(client, username, times, **extra):
    return [log_in(client, username, "wrong-guess", **extra).status_code for _ in range(times)]


def logged_in(client):
    return client.get(reverse("account-token")).status_code == 200


@pytest.fixture
def limit():
    # The shipped settings, as a deployment without LECTERN_LOGIN_* in its environment runs them.
    assert settings.LECTERN_LOGIN_FAILURE_LIMIT == 5
    assert settings.LECTERN_LOGIN_LOCKOUT_SECONDS == 15 * 60
    return settings.LECTERN_LOGIN_FAILURE_LIMIT


def test_a_username_is_locked_out_after_five_failures_even_with_the_right_password(client, annotator, limit):
    assert fail(client, "alice", limit - 1) == [200] * (limit - 1)

    response = log_in(client, "alice", "wrong-guess")
    assert response.status_code == 429
    response = log_in(client, "alice", PASSWORD)

    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed logins" in page and "15 more minutes" in page
    assert "did not match" not in page
    assert 'name="username"' in page and 'value="alice"' in page
    assert 0 < int(response["Retry-After"]) <= 15 * 60
    assert not logged_in(client)


def test_a_locked_out_username_stays_locked_from_another_address(annotator, limit):
    fail(Client(REMOTE_ADDR="203.0.113.7"), "alice", limit)

    client = Client(REMOTE_ADDR="198.51.100.9")
    assert log_in(client, "alice", PASSWORD).status_code == 429
    assert not logged_in(client)


def test_an_address_is_locked_out_after_five_failures_whatever_the_usernames(annotator, teammate, limit):
    guesser = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(limit):
        log_in(guesser, f"guess{n}", "wrong-guess")

    assert log_in(guesser, "alice", PASSWORD).status_code == 429
    assert not logged_in(guesser)
    # Another address is not held back by it, nor is the username it did not guess at.
    elsewhere = Client(REMOTE_ADDR="198.51.100.9")
    assert log_in(elsewhere, "alice", PASSWORD).status_code == 302
    assert logged_in(elsewhere)


def test_a_successful_login_clears_the_users_failures(client, annotator, limit):
    fail(client, "alice", limit - 1)
    assert log_in(client, "alice", PASSWORD).status_code == 302
    client.post(reverse("logout"))

    assert fail(client, "alice", limit - 1) == [200] * (limit - 1)
    assert log_in(client, "alice", PASSWORD).status_code == 302
    assert logged_in(client)


def test_logging_into_ones_own_account_does_not_clear_guesses_at_another(client, annotator, teammate, limit):
    fail(client, "alice", limit - 1)
    assert log_in(client, "bob", PASSWORD).status_code == 302
    client.post(reverse("logout"))

    assert log_in(client, "alice", "wrong-guess").status_code == 429
    assert log_in(client, "alice", PASSWORD).status_code == 429


def test_knocking_during_the_lock_out_does_not_extend_it(client, annotator, limit):
    fail(client, "alice", limit)
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=10))
    response = log_in(client, "alice", PASSWORD)

    assert response.status_code == 429
    assert "5 more minutes" in response.content.decode()
    assert 4 * 60 < int(response["Retry-After"]) <= 5 * 60


def test_the_lock_out_ends_after_the_window(client, annotator, limit):
    fail(client, "alice", limit)
    window = timedelta(seconds=settings.LECTERN_LOGIN_LOCKOUT_SECONDS)
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - window - timedelta(seconds=1))

    assert log_in(client, "alice", PASSWORD).status_code == 302
    assert logged_in(client)


def test_the_admin_login_is_locked_out_too(client, db, limit):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    fail(client, "root", limit, url=ADMIN_LOGIN)

    response = log_in(client, "root", PASSWORD, url=ADMIN_LOGIN)

    assert response.status_code == 429
    page = response.content.decode()
    assert 'id="login-form"' in page  # the admin's own form, with the lock-out as its error
    assert "Too many failed logins" in page
    assert "Please enter the correct username and password" not in page
    assert client.get(reverse("admin:index")).status_code == 302


@pytest.mark.parametrize("forwarded, locked", [
    ("203.0.113.7", True),
    ("198.51.100.1, 203.0.113.7", True),  # what the client wrote itself, left of the proxy's entry, is ignored
    ("198.51.100.9", False),
])
def test_behind_a_proxy_each_client_is_counted_on_its_own(settings, annotator, limit, forwarded, locked):
    settings.LECTERN_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for n in range(limit):
        log_in(Client(**proxy), f"guess{n}", "wrong-guess", HTTP_X_FORWARDED_FOR=f"198.51.100.{n + 20}, 203.0.113.7")

    response = log_in(Client(**proxy), "alice", PASSWORD, HTTP_X_FORWARDED_FOR=forwarded)

    assert response.status_code == (429 if locked else 302)
