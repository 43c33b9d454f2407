import os
import sys
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from corpus.backup import project_backup
from corpus.models import Project


class Command(BaseCommand):
    help = (
        "Write a project (settings, members, schema, documents, spans, assignments, curation and history) "
        "to one gzip-compressed JSON file. API tokens are not included."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="slug of the project to back up")
        parser.add_argument("file", help="where to write the backup, e.g. demo.json.gz; - for standard output")

    def handle(self, *args, project, file, **options):
        try:
            target = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            raise CommandError(f"No project with slug {project!r}.") from None
        if file == "-":
            project_backup(project=target, stream=sys.stdout.buffer)
            return
        path = Path(file)
        if not path.parent.is_dir():
            raise CommandError(f"{path.parent}: no such folder")
        # Written beside the target and renamed at the end, so an interrupted backup never
        # leaves a partial file under the name of a good one.
        handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
        try:
            with os.fdopen(handle, "wb") as stream:
                counts = project_backup(project=target, stream=stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(partial, path)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        summary = ", ".join(f"{name} {count}" for name, count in counts.items() if count)
        size = path.stat().st_size
        self.stdout.write(self.style.SUCCESS(f"Backed up {target.slug} to {path} ({size:,} bytes): {summary}."))
