"""Upgrading a database that holds spans: the columns the database keeps beside each span are filled."""
import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from annotations.models import Span

from ..api_support import client_for

BEFORE_TEMPLATES = [("annotations", "0002_api_request_count"), ("corpus", "0001_initial")]


@pytest.mark.django_db(transaction=True)
def test_upgrading_a_database_with_spans_fills_their_templates_and_theme_codes():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_TEMPLATES)
    old = executor.loader.project_state(BEFORE_TEMPLATES).apps
    user = old.get_model("auth", "User").objects.create(username="ann", password="!")
    project = old.get_model("corpus", "Project").objects.create(name="Old", slug="old")
    old.get_model("corpus", "Membership").objects.create(project=project, user=user, role="curator")
    text = "Trade in yuan rose 50% as the summit met."
    document = old.get_model("corpus", "Document").objects.create(
        project=project, external_id="old-1", title="Old", text=text, text_sha256="0" * 64,
    )
    Theme = old.get_model("annotations", "Theme")
    trade = Theme.objects.create(project=project, key="TRADE", code="TRADE", name="Trade", position=0)
    finance = Theme.objects.create(project=project, key="FINANCE", code="FINANCE", name="Finance", position=1)
    stance = old.get_model("annotations", "StanceValue").objects.create(project=project, key="NEUTRAL", name="Neutral")
    spans = []
    for start, end, themes in [(0, 5, [finance, trade]), (9, 13, [trade]), (19, 22, [])]:
        span = old.get_model("annotations", "Span").objects.create(
            document=document, annotator=user, start=start, end=end, text=text[start:end], stance=stance,
            note="up 50% %s",
        )
        span.themes.set(themes)
        spans.append(span)

    # Upgraded within one migration run, as a deployment does; PostgreSQL checks its deferred
    # constraints at each migration's commit.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    with connection.cursor() as cursor:
        cursor.execute("SELECT theme_codes FROM annotations_span ORDER BY start")
        assert [json.loads(codes) for (codes,) in cursor.fetchall()] == [["TRADE", "FINANCE"], ["TRADE"], []]
    listed = client_for(Span.objects.get(start=0).annotator).get(f"/api/spans/?document={document.pk}").json()
    assert [(item["start"], item["themes"], item["stance"], item["note"]) for item in listed["results"]] == [
        (0, ["TRADE", "FINANCE"], "NEUTRAL", "up 50% %s"), (9, ["TRADE"], "NEUTRAL", "up 50% %s"),
        (19, [], "NEUTRAL", "up 50% %s"),
    ]
    exported = client_for(Span.objects.get(start=0).annotator).get("/api/projects/old/export/?format=jsonl")
    lines = [json.loads(line) for line in b"".join(exported.streaming_content).splitlines()]
    assert [(line["document_external_id"], line["themes"], line["text"]) for line in lines] == [
        ("old-1", ["TRADE", "FINANCE"], "Trade"), ("old-1", ["TRADE"], "yuan"), ("old-1", [], "50%"),
    ]
