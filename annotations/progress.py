"""An annotator marks their work on a document in progress or done."""
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .models import Assignment, Span
from .services import SUBMITTED_REQUIRED, span_update


class IncompleteSpans(Exception):
    """Drafts that cannot be submitted yet; missing maps each span id to the labels it lacks."""

    def __init__(self, missing):
        self.missing = missing
        super().__init__(f"{len(missing)} span(s) lack labels required once the document is done.")


def missing_labels(span):
    """Names of the labels a span still needs before it can be submitted (themes included)."""
    missing = ["themes"] if not span.themes.all() else []
    return missing + [name for name in SUBMITTED_REQUIRED if getattr(span, name) in (None, "")]


@transaction.atomic
def assignment_set_status(*, document, annotator, status):
    """Record the annotator's progress on document; "done" submits their drafts, all of them or none.

    Raises IncompleteSpans naming the drafts that lack required labels; then nothing changes.
    Reopening ("in_progress") leaves submitted spans submitted. Returns (assignment, spans submitted now).
    """
    if status not in (Assignment.Status.IN_PROGRESS, Assignment.Status.DONE):
        raise ValidationError({"status": f"Use {Assignment.Status.IN_PROGRESS} or {Assignment.Status.DONE}."})
    assignment, _ = Assignment.objects.select_for_update().get_or_create(document=document, annotator=annotator)
    submitted = []
    if status == Assignment.Status.DONE:
        drafts = list(
            Span.objects.filter(document=document, annotator=annotator, status=Span.Status.DRAFT)
            .select_related("document__project", "stance").prefetch_related("themes")
        )
        incomplete = {str(span.pk): missing for span in drafts if (missing := missing_labels(span))}
        if incomplete:
            raise IncompleteSpans(incomplete)
        submitted = [
            span_update(span=span, expected_version=span.version, status=Span.Status.SUBMITTED) for span in drafts
        ]
        assignment.done_at = timezone.now()
    else:
        assignment.done_at = None
    assignment.status = status
    assignment.save(update_fields=["status", "done_at", "updated_at"])
    return assignment, submitted
