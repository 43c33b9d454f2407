import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from corpus.models import Project
from corpus.services import SUPPORTED_SUFFIXES, documents_import


def collect_files(paths):
    """Expand folders into the supported files below them, in a stable order."""
    found = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                p for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES and not p.name.startswith(".")
            )
        elif path.is_file():
            found.append(path)
        else:
            raise CommandError(f"{raw}: no such file or folder")
    return found


class Command(BaseCommand):
    help = "Import documents (.txt .md .html .json .jsonl .csv .zip, or folders of them) into a project."

    def add_arguments(self, parser):
        parser.add_argument("project", help="slug of the project to import into")
        parser.add_argument("paths", nargs="+", help="files or folders")
        parser.add_argument("--quiet-progress", action="store_true", help="no progress bar")

    def handle(self, *args, project, paths, quiet_progress=False, **options):
        try:
            target = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            raise CommandError(f"No project with slug {project!r}.") from None
        files = collect_files(paths)
        if not files:
            raise CommandError("No importable files found.")
        show_bar = not quiet_progress and options.get("verbosity", 1) > 0

        def progress(done, total, name):
            if not show_bar:
                return
            width = 30
            filled = width * done // total
            bar = "#" * filled + "-" * (width - filled)
            sys.stderr.write(f"\r[{bar}] {done}/{total} {Path(name).name[:40]:<40}")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

        report = documents_import(
            project=target, files=[(str(p), p.read_bytes) for p in files], progress=progress, limit_files=False,
        )
        for result in report.results:
            line = f"{result.status:<9} {result.name}"
            if result.reason:
                line += f": {result.reason}"
            style = {"imported": self.style.SUCCESS, "duplicate": self.style.WARNING}.get(result.status, self.style.ERROR)
            self.stdout.write(style(line))
        self.stdout.write(f"Summary for {target.slug}: {report.summary()}.")
