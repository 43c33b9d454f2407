import sys
from contextlib import nullcontext

from django.core.management.base import BaseCommand, CommandError

from corpus.backup import BackupRefused, project_restore


class Command(BaseCommand):
    help = (
        "Restore a project from a backup_project file, in one transaction. Refuses a project slug that "
        "exists, and ids already in use unless --new-ids is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a .json.gz file written by backup_project; - for standard input")
        parser.add_argument(
            "--new-ids", action="store_true",
            help="give the restored rows new ids where this database already uses the backup's ones",
        )
        parser.add_argument("--slug", help="restore the project under this slug instead of its own")

    def handle(self, *args, file, new_ids=False, slug=None, **options):
        try:
            source = nullcontext(sys.stdin.buffer) if file == "-" else open(file, "rb")
        except OSError as exc:
            raise CommandError(f"{file}: {exc.strerror}") from None
        try:
            with source as stream:
                project = project_restore(stream=stream, new_ids=new_ids, slug=slug, log=self.stdout.write)
        except BackupRefused as exc:
            raise CommandError(f"{exc} Nothing was restored.") from None
        self.stdout.write(self.style.SUCCESS(
            f"{project.documents.count()} document(s), {project.memberships.count()} member(s) restored "
            f"into {project.slug}."
        ))
