import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from annotations.schema import schema_install_default
from corpus.models import Membership, Project
from corpus.services import documents_import

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
DEMO_PASSWORD = "lectern-demo"
DEMO_USERS = [
    # username, role, superuser
    ("admin", Membership.Role.MANAGER, True),
    ("alice", Membership.Role.ANNOTATOR, False),
    ("bob", Membership.Role.ANNOTATOR, False),
    ("carol", Membership.Role.CURATOR, False),
]


class Command(BaseCommand):
    help = "Create (or refresh) the demo project, its five seed documents, the default schema and demo logins."

    @transaction.atomic
    def handle(self, *args, **options):
        manifest = json.loads((DEMO_DIR / "manifest.json").read_text(encoding="utf-8"))
        project, created = Project.objects.get_or_create(
            slug="demo",
            defaults={
                "name": "China–Russia partnership (demo)",
                "description": manifest["about"],
                "guidelines": GUIDELINES,
            },
        )
        schema_install_default(project)

        users = get_user_model()
        for username, role, superuser in DEMO_USERS:
            user, _ = users.objects.get_or_create(username=username, defaults={"email": f"{username}@example.org"})
            user.is_staff = user.is_superuser = superuser
            user.set_password(DEMO_PASSWORD)
            user.save()
            Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})

        by_file = {entry["file"]: entry for entry in manifest["documents"]}
        report = documents_import(
            project=project,
            files=[(name, (DEMO_DIR / name).read_bytes()) for name in sorted(by_file)],
        )
        for result in report.results:
            entry = by_file[result.name]
            document = result.document
            if result.status == "imported":
                document.title = entry["title"]
                document.genre = entry.get("genre", "")
                document.language = entry.get("language", "")
                document.save(update_fields=["title", "genre", "language", "updated_at"])
            elif result.status == "refused":
                self.stderr.write(f"{result.name}: {result.reason}")

        self.stdout.write(
            f"Demo project '{project.slug}' {'created' if created else 'ready'}: "
            f"{project.documents.count()} documents ({report.imported} new).\n"
            f"Demo logins (password '{DEMO_PASSWORD}'): "
            + ", ".join(f"{name} ({role.label.lower()}{', superuser' if su else ''})" for name, role, su in DEMO_USERS)
        )


GUIDELINES = """<h3>What to tag</h3>
<p>Select the smallest passage that carries one claim, usually one sentence, without bullets or
reference marks such as <em>[1]</em>. Give it every <strong>theme</strong> it is about, the
<strong>stance</strong> it takes toward the project's target, and grade its source on the
Admiralty scale.</p>
<h3>Stance</h3>
<ul>
<li><strong>FAVOR</strong> / <strong>AGAINST</strong>: the attributed source takes a position on the target.</li>
<li><strong>NEUTRAL</strong>: on target, no position; plain reporting is NEUTRAL.</li>
<li><strong>NONE</strong>: the passage is not about the target.</li>
</ul>
<h3>Source reliability and information credibility</h3>
<p>The letter grades the speaker for this claim type: an official on their own government B,
an unnamed official C, state media C (its commentary D), a named analyst C, the author the
outlet's grade (default F), anonymous F. The digit grades the claim: evaluative claims 6;
corroboration by the same government at most 2.</p>
"""
