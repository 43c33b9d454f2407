"""Writes that touch spans and their themes together; each runs in one transaction."""
from django.core.exceptions import ValidationError
from django.db import transaction

from .models import Span, Theme

LABEL_FIELDS = (
    "stance", "stance_target", "source_reliability", "info_credibility", "source_type",
    "source_name", "source_affiliation", "source_via", "claim_type", "note", "status",
)
SUBMITTED_REQUIRED = ("stance", "stance_target", "source_reliability", "info_credibility", "source_type")


class StaleSpan(Exception):
    """The span changed since the caller read it: its version no longer matches."""

    def __init__(self, span_id, expected, current):
        self.span_id, self.expected, self.current = span_id, expected, current
        super().__init__(f"Span {span_id} is at version {current}, not {expected}: it changed since it was read.")


def resolve_themes(project, themes):
    """Map theme objects or codes to this project's Theme rows; refuse unknown or foreign ones."""
    themes = list(themes or [])
    if not themes:
        raise ValidationError({"themes": "A span needs at least one theme."})
    objs = [t for t in themes if isinstance(t, Theme)]
    codes = [t for t in themes if not isinstance(t, Theme)]
    foreign = sorted(t.code for t in objs if t.project_id != project.pk)
    found = {t.code: t for t in Theme.objects.filter(project=project, code__in=codes)} if codes else {}
    unknown = sorted(set(codes) - set(found))
    if foreign or unknown:
        raise ValidationError({"themes": f"Unknown theme(s) for this project: {', '.join(foreign + unknown)}."})
    return list({t.pk: t for t in objs + [found[c] for c in codes]}.values())


def check_submittable(span):
    """A submitted span carries every required label; a draft may lack all but its themes."""
    if span.status != Span.Status.SUBMITTED:
        return
    missing = [name for name in SUBMITTED_REQUIRED if getattr(span, name) in (None, "")]
    if missing:
        raise ValidationError({name: "Required once the span is submitted." for name in missing})


@transaction.atomic
def span_create(*, document, annotator, start, end, text, themes, **labels):
    """Create a span after checking its anchor, its labels and the annotator's membership."""
    theme_objs = resolve_themes(document.project, themes)
    unknown = set(labels) - set(LABEL_FIELDS)
    if unknown:
        raise TypeError(f"Unknown span fields: {', '.join(sorted(unknown))}")
    labels.setdefault("stance_target", document.project.stance_target)
    span = Span(document=document, annotator=annotator, start=start, end=end, text=text, **labels)
    check_submittable(span)
    span.save()
    span.themes.set(theme_objs)
    return span


@transaction.atomic
def span_update(*, span, expected_version=None, themes=None, **changes):
    """Change a span's labels or extent; refuse a stale version with StaleSpan."""
    locked = Span.objects.select_for_update().select_related("document__project").get(pk=span.pk)
    if expected_version is not None and locked.version != int(expected_version):
        raise StaleSpan(span.pk, expected_version, locked.version)
    allowed = set(LABEL_FIELDS) | {"start", "end", "text"}
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"Unknown span fields: {', '.join(sorted(unknown))}")
    for name, value in changes.items():
        setattr(locked, name, value)
    theme_objs = resolve_themes(locked.document.project, themes) if themes is not None else None
    if theme_objs is None and locked.status == Span.Status.SUBMITTED and not locked.themes.exists():
        raise ValidationError({"themes": "A span needs at least one theme."})
    check_submittable(locked)
    # The row is locked (PostgreSQL) or the write transaction is exclusive (SQLite
    # IMMEDIATE), so a plain increment cannot race.
    locked.version += 1
    locked.save()
    if theme_objs is not None and {t.pk for t in theme_objs} != set(locked.themes.values_list("pk", flat=True)):
        locked.themes.set(theme_objs)
    return locked


@transaction.atomic
def span_delete(*, span, expected_version=None):
    """Delete a span (its history keeps it restorable); refuse a stale version with StaleSpan."""
    locked = Span.objects.select_for_update().get(pk=span.pk)
    if expected_version is not None and locked.version != int(expected_version):
        raise StaleSpan(span.pk, expected_version, locked.version)
    locked.delete()


@transaction.atomic
def span_restore(*, historical_span):
    """Bring back a deleted span from its history record, with the themes it had."""
    if Span.objects.filter(pk=historical_span.id).exists():
        raise ValidationError("This span exists; only a deleted span can be restored.")
    last_saved = (
        type(historical_span).objects.filter(id=historical_span.id, history_type__in=["+", "~"])
        .order_by("-history_date", "-history_id").first()
    )
    source = last_saved or historical_span
    span = source.instance
    span.version = (source.version or 0) + 1
    span.save()
    theme_ids = list(source.themes.values_list("theme_id", flat=True)) if last_saved else []
    span.themes.set(Theme.objects.filter(pk__in=theme_ids, project_id=span.document.project_id))
    return span
