"""Signed-in browsers: the session store reads sessions without the ORM and keeps Django's rules."""
from datetime import timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from corpus.sessions import SessionStore


def test_the_app_uses_it():
    assert settings.SESSION_ENGINE == "corpus.sessions"


def test_a_saved_session_reads_back(db):
    store = SessionStore()
    store["lang"] = "中文 ✓"
    store.save()
    again = SessionStore(store.session_key)
    assert again["lang"] == "中文 ✓"
    assert again.session_key == store.session_key


def test_an_expired_session_is_no_session(db):
    store = SessionStore()
    store["who"] = "alice"
    store.save()
    Session.objects.filter(session_key=store.session_key).update(expire_date=timezone.now() - timedelta(seconds=1))
    again = SessionStore(store.session_key)
    assert again.get("who") is None
    assert again.session_key is None  # a new key is made if anything is stored


def test_an_unknown_key_is_no_session(db):
    store = SessionStore("x" * 32)
    assert store.load() == {}
    assert store.session_key is None


def test_logging_in_and_out_through_the_pages(annotator, document):
    annotator.set_password("a long passphrase 42")
    annotator.save()
    client = Client()
    response = client.post("/accounts/login/", {"username": "alice", "password": "a long passphrase 42"})
    assert response.status_code == 302
    assert client.get(f"/documents/{document.pk}/").status_code == 200
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert Session.objects.filter(session_key=key).exists()

    client.post("/accounts/logout/")
    assert not Session.objects.filter(session_key=key).exists()
    # The old cookie, sent again, is nobody's session any more.
    stale = Client()
    stale.cookies[settings.SESSION_COOKIE_NAME] = key
    assert stale.get(f"/documents/{document.pk}/").status_code == 302
