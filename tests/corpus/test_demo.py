import json
from pathlib import Path

from django.contrib.auth import authenticate
from django.core.management import call_command

from annotations.models import StanceValue, Theme
from corpus.models import Document, Membership, Project

SEED = Path(__file__).resolve().parents[2] / "corpus" / "demo"


def test_demo_command_loads_the_seed_corpus_schema_and_logins(db, capsys):
    call_command("load_demo")
    out = capsys.readouterr().out
    assert "lectern-demo" in out and "alice" in out and "carol" in out
    project = Project.objects.get(slug="demo")
    manifest = json.loads((SEED / "manifest.json").read_text(encoding="utf-8"))
    titles = {d.title: d for d in project.documents.all()}
    assert set(titles) == {entry["title"] for entry in manifest["documents"]}
    for entry in manifest["documents"]:
        document = titles[entry["title"]]
        assert document.genre == entry["genre"]
        assert document.language == "en"
        assert document.text == (SEED / entry["file"]).read_text(encoding="utf-8")
    assert Theme.objects.filter(project=project, parent=None).count() == 13
    assert Theme.objects.filter(project=project, code="ORDER.multipolarity").exists()
    assert set(StanceValue.objects.filter(project=project).values_list("key", flat=True)) == {
        "FAVOR", "AGAINST", "NEUTRAL", "NONE"}
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {"admin": "manager", "alice": "annotator", "bob": "annotator", "carol": "curator"}
    admin = authenticate(username="admin", password="lectern-demo")
    assert admin is not None and admin.is_superuser
    assert authenticate(username="alice", password="lectern-demo") is not None


def test_demo_command_is_idempotent(db):
    call_command("load_demo")
    call_command("load_demo")
    assert Project.objects.filter(slug="demo").count() == 1
    assert Document.objects.count() == 5
    assert Theme.objects.count() == Theme.objects.values("code").distinct().count()
    assert Membership.objects.count() == 4


def test_the_seed_corpus_shipped_in_the_project_matches_the_manifest():
    manifest = json.loads((SEED / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["documents"]) == 5
    for entry in manifest["documents"]:
        assert (SEED / entry["file"]).is_file()
