import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotations.exports import FORMATS, export_filename, export_spans, export_stream, parse_filters
from corpus.models import Project


class Command(BaseCommand):
    help = "Export a project's spans as JSONL, CSV, W3C Web Annotation or doccano JSONL (the API's export)."

    def add_arguments(self, parser):
        parser.add_argument("project", help="slug of the project")
        parser.add_argument("--format", default="jsonl", choices=list(FORMATS))
        parser.add_argument("--output", "-o", help="file to write; '-' or absent: standard output")
        parser.add_argument("--default-name", action="store_true",
                            help="write to lectern-<slug>-spans-<time>.<ext> in the current folder")
        parser.add_argument("--base-url", default="http://localhost:8000",
                            help="site address for the Web Annotation targets (default %(default)s)")
        parser.add_argument("--document", help="document id")
        parser.add_argument("--annotator", help="username")
        parser.add_argument("--theme", help="theme code; a top-level code also matches its sub-themes")
        parser.add_argument("--stance", help="stance key")
        parser.add_argument("--source-reliability", dest="source_reliability", help="A-F")
        parser.add_argument("--info-credibility", dest="info_credibility", help="1-6")
        parser.add_argument("--status", help="draft, submitted, gold or rejected")
        parser.add_argument("--updated-since", dest="updated_since", help="ISO 8601 date and time")
        parser.add_argument("--gold", action="store_true", help="export the gold spans instead of the annotators'")

    def handle(self, *args, project, format, output=None, default_name=False, base_url, gold=False, **options):
        try:
            target = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            raise CommandError(f"No project with slug {project!r}.") from None
        params = {name: options.get(name) for name in (
            "document", "annotator", "theme", "stance", "source_reliability", "info_credibility", "status",
            "updated_since",
        )}
        if gold:
            params["gold"] = "true"
        try:
            filters = parse_filters(params)
        except ValidationError as exc:
            raise CommandError("; ".join(f"--{k.replace('_', '-')}: {' '.join(v)}" for k, v in exc.message_dict.items()))
        spans = export_spans(target, filters=filters)
        base = base_url.rstrip("/")
        blocks = export_stream(
            target, format, spans=spans, document_id=filters.get("document"),
            collection_id=f"{base}/api/projects/{target.slug}/export/?format={format}",
            document_url=lambda pk: f"{base}/documents/{pk}/",
        )
        if default_name:
            output = export_filename(target, format, gold=gold)
        if output in (None, "-"):
            if options.get("stdout"):
                # call_command(stdout=...) hands over a text stream.
                for block in blocks:
                    self.stdout.write(block.decode("utf-8"), ending="")
            else:
                for block in blocks:
                    sys.stdout.buffer.write(block)
                sys.stdout.buffer.flush()
            return
        with open(output, "wb") as out:
            for block in blocks:
                out.write(block)
        self.stderr.write(f"Wrote {output}.")
