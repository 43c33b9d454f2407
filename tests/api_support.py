"""Helpers shared by the API tests: clients acting as a user, a small label schema."""
from rest_framework.test import APIClient

from .factories import StanceValueFactory, ThemeFactory


def client_for(user=None):
    """An API client authenticated as user (anonymous when None)."""
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def install_schema(project):
    """Themes TRADE, TRADE.volume, FINANCE, FINANCE.currency and stances FAVOR, NEUTRAL; returns themes by code."""
    trade = ThemeFactory(project=project, key="TRADE", name="Trade", position=1)
    finance = ThemeFactory(project=project, key="FINANCE", name="Finance", position=3)
    themes = [
        trade,
        ThemeFactory(project=project, key="volume", parent=trade, name="Volume", position=2),
        finance,
        ThemeFactory(project=project, key="currency", parent=finance, name="Currency", position=4),
    ]
    StanceValueFactory(project=project, key="FAVOR", name="Favor", position=1)
    StanceValueFactory(project=project, key="NEUTRAL", name="Neutral", position=2)
    return {theme.code: theme for theme in themes}


def error_of(response):
    """The shared error object of a refusal."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["status"] == response.status_code
    return body["error"]
