import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[1]


def production_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    for line in (ROOT / "deploy" / "production.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    env["SECRET_KEY"] = "k3y-" + "x7Qv9" * 12
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'deploy.sqlite3'}"
    return env


def manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_silent_under_the_production_configuration(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = production_env(tmp_path)
    env["SECRET_KEY"] = ""
    result = manage(env, "check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_bad_boolean_in_the_environment_is_refused(tmp_path):
    env = production_env(tmp_path)
    env["SECURE_SSL_REDIRECT"] = "perhaps"
    result = manage(env, "check")
    assert result.returncode != 0
    assert "SECURE_SSL_REDIRECT must be a boolean" in result.stderr


@pytest.mark.parametrize("name, value, message", [
    ("LECTERN_LOGIN_FAILURE_LIMIT", "0", "LECTERN_LOGIN_FAILURE_LIMIT must be at least 1"),
    ("LECTERN_LOGIN_LOCKOUT_SECONDS", "soon", "LECTERN_LOGIN_LOCKOUT_SECONDS must be an integer"),
    ("LECTERN_PROXY_COUNT", "-1", "LECTERN_PROXY_COUNT must be 0 or more"),
    ("LECTERN_API_USER_RATE", "lots", "LECTERN_API_USER_RATE must be a number of requests per"),
    ("LECTERN_API_ANON_RATE", "0/min", "LECTERN_API_ANON_RATE must be a number of requests per"),
])
def test_a_throttle_setting_that_cannot_work_is_refused(tmp_path, name, value, message):
    env = production_env(tmp_path)
    env[name] = value
    result = manage(env, "check")
    assert result.returncode != 0
    assert message in result.stderr


def test_pages_carry_the_security_headers(client, db):
    response = client.get(reverse("login"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_health_check_reports_the_database(client, db):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
