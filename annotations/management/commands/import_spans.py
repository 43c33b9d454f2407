import sys

from django.core.management.base import BaseCommand, CommandError

from annotations.imports import spans_import
from corpus.models import Project


class Command(BaseCommand):
    help = "Import spans from a JSONL export into a project, all or nothing (see the API's import-spans)."

    def add_arguments(self, parser):
        parser.add_argument("project", help="slug of the project to import into")
        parser.add_argument("file", help="JSONL file; '-' reads standard input")
        parser.add_argument("--dry-run", action="store_true", help="check every line, store nothing")

    def handle(self, *args, project, file, dry_run=False, **options):
        try:
            target = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            raise CommandError(f"No project with slug {project!r}.") from None
        if file == "-":
            report = spans_import(project=target, lines=sys.stdin.buffer, dry_run=dry_run)
        else:
            try:
                with open(file, "rb") as lines:
                    report = spans_import(project=target, lines=lines, dry_run=dry_run)
            except OSError as exc:
                raise CommandError(f"{file}: {exc.strerror}") from None
        for number, message in report.errors:
            self.stderr.write(self.style.ERROR(f"line {number}: {message}"))
        if not report.ok:
            raise CommandError(report.summary())
        self.stdout.write(self.style.SUCCESS(report.summary()))
