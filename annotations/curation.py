"""Curating a document's annotator spans into gold (annotation scheme section 5).

Annotator layers are never changed. Every curator decision is a span of its own in the
curator's layer, so it is versioned in history like any other span:

* a gold span (status gold) copies or edits annotator spans, names them in `sources` and
  records `provenance` {"method": pick|edit|new|auto_complete, "source_ids": [...], "votes": n};
* a rejection (status rejected) copies the rejected annotator span and names it in
  `sources`, with provenance method "pick". Exports of gold leave it out by its status.

`votes` is the number of annotators whose own span has exactly the gold span's extent and
labels, so an accepted span that everyone marked the same way shows it.
"""
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from .models import Assignment, Curation, Span
from .services import resolve_themes, span_create, span_delete, span_update

DECISIONS = (Span.Status.GOLD, Span.Status.REJECTED)
# Labels a gold span carries over from an annotator's span; the note stays the annotator's.
COPIED_LABELS = (
    "stance", "stance_target", "source_reliability", "info_credibility", "source_type",
    "source_name", "source_affiliation", "source_via", "claim_type",
)


class CurationRefused(Exception):
    """A curation step that cannot be taken as asked; the message says why."""


def annotator_spans(document):
    """The annotators' spans of a document (gold and rejected decisions left out), with their labels."""
    return (
        Span.objects.filter(document=document).exclude(status__in=DECISIONS)
        .select_related("annotator", "stance").prefetch_related("themes")
        .order_by("start", "end", "annotator__username", "created_at", "id")
    )


def decision_spans(document):
    """The curators' gold spans and rejections of a document, with the spans they came from."""
    return (
        Span.objects.filter(document=document, status__in=DECISIONS)
        .select_related("annotator", "stance")
        .prefetch_related("themes", Prefetch("sources", queryset=Span.objects.select_related("annotator")))
        .order_by("start", "end", "created_at", "id")
    )


def _normalized(value):
    return " ".join((value or "").split()).casefold()


def label_signature(span=None, *, theme_ids=None, **labels):
    """What "same labels" means when comparing spans: themes and every label but the note.

    Free-text source fields compare without regard to case and spacing.
    """
    if span is not None:
        theme_ids = {t.pk for t in span.themes.all()}
        labels = {name: getattr(span, name) for name in COPIED_LABELS}
        labels["stance"] = span.stance_id
    stance = labels.get("stance")
    return (
        frozenset(theme_ids or ()),
        getattr(stance, "pk", stance),
        labels.get("stance_target") or "",
        labels.get("source_reliability") or "",
        labels.get("info_credibility"),
        labels.get("source_type") or "",
        _normalized(labels.get("source_name")),
        _normalized(labels.get("source_affiliation")),
        _normalized(labels.get("source_via")),
        labels.get("claim_type") or "",
    )


def document_annotators(document, spans):
    """Usernames of the document's annotators: those with spans and those who marked it done."""
    names = {s.annotator.username for s in spans}
    names.update(
        Assignment.objects.filter(document=document, status=Assignment.Status.DONE)
        .values_list("annotator__username", flat=True)
    )
    return sorted(names)


@dataclass
class Candidate:
    """Overlapping annotator spans grouped for one curation decision."""

    number: int
    start: int
    end: int
    spans: list = field(default_factory=list)
    state: str = ""          # agreed, disagreed or incomplete
    missing: list = field(default_factory=list)
    accepted: set = field(default_factory=set)   # ids of spans that went into gold
    rejected: set = field(default_factory=set)   # ids of spans the curator rejected

    @property
    def decided(self):
        return bool(self.accepted or self.rejected)

    @property
    def span_ids(self):
        return ",".join(str(s.pk) for s in self.spans)


def candidates(document, spans, annotators, decisions=()):
    """Group annotator spans into candidates: chains of spans that overlap, across annotators.

    A candidate is agreed when every annotator of the document marked it once with the same
    [start, end) and labels, incomplete when some annotator has no span in it, and
    disagreed otherwise (different extents or labels, or one annotator marking it twice).
    """
    groups = []
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if groups and span.start < groups[-1].end:
            groups[-1].spans.append(span)
            groups[-1].end = max(groups[-1].end, span.end)
        else:
            groups.append(Candidate(number=len(groups) + 1, start=span.start, end=span.end, spans=[span]))
    accepted = {s.pk for d in decisions if d.status == Span.Status.GOLD for s in d.sources.all()}
    rejected = {s.pk for d in decisions if d.status == Span.Status.REJECTED for s in d.sources.all()}
    for group in groups:
        group.spans.sort(key=lambda s: (s.annotator.username, s.start, s.end))
        marked = [s.annotator.username for s in group.spans]
        group.missing = [name for name in annotators if name not in marked]
        first = group.spans[0]
        same = all(
            (s.start, s.end) == (first.start, first.end) and label_signature(s) == label_signature(first)
            for s in group.spans
        )
        if group.missing:
            group.state = "incomplete"
        elif same and len(marked) == len(set(marked)):
            group.state = "agreed"
        else:
            group.state = "disagreed"
        group.accepted = {s.pk for s in group.spans if s.pk in accepted}
        group.rejected = {s.pk for s in group.spans if s.pk in rejected}
    return groups


def curation_state(document):
    """Everything the curation page shows: annotators, their spans, candidates and decisions."""
    spans = list(annotator_spans(document))
    decisions = list(decision_spans(document))
    annotators = document_annotators(document, spans)
    return {
        "spans": spans,
        "annotators": annotators,
        "decisions": decisions,
        "candidates": candidates(document, spans, annotators, decisions),
        "curation": Curation.objects.filter(document=document).select_related("curator").first(),
    }


# --------------------------------------------------------------------------
# Decisions
# --------------------------------------------------------------------------


def _open_curation(document, curator):
    """The document's Curation, created on the first decision; refused once it is marked curated."""
    curation, _ = Curation.objects.select_for_update().get_or_create(
        document=document, defaults={"curator": curator, "status": Curation.Status.IN_PROGRESS}
    )
    if curation.status == Curation.Status.CURATED:
        raise CurationRefused("This document is marked curated; reopen it to change its gold spans.")
    return curation


def _checked_sources(document, sources):
    sources = list({s.pk: s for s in sources}.values())
    for source in sources:
        if source.document_id != document.pk:
            raise CurationRefused("A span from another document cannot become gold here.")
        if source.status in DECISIONS:
            raise CurationRefused("Only annotators' spans can be accepted or rejected, not curators' decisions.")
    return sources


def _votes(document, start, end, signature):
    same = [
        s for s in annotator_spans(document).filter(start=start, end=end)
        if label_signature(s) == signature
    ]
    return len({s.annotator_id for s in same})


def _record(*, document, curator, sources, start, end, themes, method, status, **labels):
    """Create one decision span with its sources and provenance, or return the identical one: (span, created)."""
    theme_objs = resolve_themes(document.project, themes)
    signature = label_signature(theme_ids={t.pk for t in theme_objs}, **labels)
    for existing in decision_spans(document).filter(status=status, start=start, end=end):
        if label_signature(existing) == signature:
            new = [s for s in sources if s.pk not in {x.pk for x in existing.sources.all()}]
            if new:
                # Another annotator's identical span backs the same decision.
                existing.sources.add(*new)
                existing.provenance = {
                    **existing.provenance,
                    "source_ids": sorted({*existing.provenance.get("source_ids", []), *(str(s.pk) for s in new)}),
                    "votes": _votes(document, start, end, signature),
                }
                existing._change_reason = "curation: another identical span"
                existing.save(update_fields=["provenance"])
            return existing, False
    span = span_create(
        document=document, annotator=curator, start=start, end=end, text=document.text[start:end],
        themes=theme_objs, status=status, **labels,
    )
    span.sources.set(sources)
    # span_create takes labels only; provenance follows in the same transaction, and the
    # second history record says which curation step made the span.
    span.provenance = {
        "method": method, "source_ids": [str(s.pk) for s in sources],
        "votes": _votes(document, start, end, signature),
    }
    span._change_reason = f"curation: {method}" + (" (rejected)" if status == Span.Status.REJECTED else "")
    span.save(update_fields=["provenance"])
    return span, True


def _withdraw_rejections(document, sources):
    """Accepting a span overrides an earlier rejection of it."""
    ids = {s.pk for s in sources}
    for decision in decision_spans(document).filter(status=Span.Status.REJECTED, sources__in=ids).distinct():
        span_delete(span=decision)


def _refuse_if_in_gold(document, sources, except_signature=None):
    """Refuse to decide again on a span already in a gold span, unless it is that same gold span."""
    golds = decision_spans(document).filter(status=Span.Status.GOLD, sources__in=[s.pk for s in sources])
    for gold in golds.distinct():
        if except_signature is not None and (gold.start, gold.end, label_signature(gold)) == except_signature:
            continue
        raise CurationRefused(
            f"That span is already in gold span [{gold.start}, {gold.end}) “{gold.text[:40]}”; "
            "withdraw that gold span first to decide again."
        )


def _copied_labels(span):
    return {name: getattr(span, name) for name in COPIED_LABELS}


@transaction.atomic
def gold_accept(*, span, curator):
    """Copy an annotator's span into gold as it is (method "pick"); (gold span, created)."""
    document = span.document
    _open_curation(document, curator)
    [span] = _checked_sources(document, [span])
    themes = list(span.themes.all())
    _refuse_if_in_gold(document, [span], (span.start, span.end, label_signature(span)))
    gold, created = _record(
        document=document, curator=curator, sources=[span], start=span.start, end=span.end, themes=themes,
        method="pick", status=Span.Status.GOLD, **_copied_labels(span),
    )
    _withdraw_rejections(document, [span])
    return gold, created


@transaction.atomic
def gold_edit(*, document, curator, sources, start, end, themes, **labels):
    """A gold span with the curator's extent and labels, made from sources (method "edit", or "new" without any).

    Several overlapping sources make a merge: pass the union or one source's extent.
    """
    _open_curation(document, curator)
    sources = _checked_sources(document, sources)
    theme_objs = resolve_themes(document.project, themes)
    signature = label_signature(theme_ids={t.pk for t in theme_objs}, **labels)
    _refuse_if_in_gold(document, sources, (start, end, signature))
    gold, created = _record(
        document=document, curator=curator, sources=sources, start=start, end=end, themes=theme_objs,
        method="edit" if sources else "new", status=Span.Status.GOLD, **labels,
    )
    _withdraw_rejections(document, sources)
    return gold, created


def merged_extent(sources, extent="union"):
    """[start, end) of a merge: the union of the sources, or the extent of the source whose id is `extent`."""
    if not sources:
        raise CurationRefused("Choose the spans to merge.")
    if extent in (None, "", "union"):
        starts = [s.start for s in sources]
        ends = [s.end for s in sources]
        ordered = sorted((s.start, s.end) for s in sources)
        reach = ordered[0][1]
        for start, end in ordered[1:]:
            if start >= reach:
                raise CurationRefused("Only overlapping spans can be merged; these leave a gap.")
            reach = max(reach, end)
        return min(starts), max(ends)
    chosen = next((s for s in sources if str(s.pk) == str(extent)), None)
    if chosen is None:
        raise CurationRefused("The chosen extent is not one of the merged spans.")
    return chosen.start, chosen.end


@transaction.atomic
def gold_reject(*, span, curator):
    """Record that an annotator's span does not go into gold; (rejection, created)."""
    document = span.document
    _open_curation(document, curator)
    [span] = _checked_sources(document, [span])
    _refuse_if_in_gold(document, [span])
    existing = decision_spans(document).filter(status=Span.Status.REJECTED, sources=span).first()
    if existing is not None:
        return existing, False
    return _record(
        document=document, curator=curator, sources=[span], start=span.start, end=span.end,
        themes=list(span.themes.all()), method="pick", status=Span.Status.REJECTED, **_copied_labels(span),
    )


@transaction.atomic
def gold_accept_agreed(*, document, curator):
    """Accept every candidate all annotators marked identically ("complete agreement"); the new gold spans.

    Re-runnable: candidates with any decision already (accepted or rejected) are kept as
    the curator left them.
    """
    _open_curation(document, curator)
    state = curation_state(document)
    created = []
    if len(state["annotators"]) < 2:
        return created
    for candidate in state["candidates"]:
        if candidate.state != "agreed" or candidate.decided:
            continue
        first = candidate.spans[0]
        gold, is_new = _record(
            document=document, curator=curator, sources=candidate.spans, start=first.start, end=first.end,
            themes=list(first.themes.all()), method="auto_complete", status=Span.Status.GOLD,
            **_copied_labels(first),
        )
        if is_new:
            created.append(gold)
    return created


@transaction.atomic
def gold_withdraw(*, span, curator):
    """Undo a curator's decision (a gold span or a rejection); its history keeps it."""
    if span.status not in DECISIONS:
        raise CurationRefused("Only gold spans and rejections can be withdrawn here.")
    _open_curation(span.document, curator)
    span_delete(span=span)


@transaction.atomic
def gold_update(*, span, curator, start, end, themes, **labels):
    """Change a gold span's extent or labels (method becomes "edit"); its sources stay."""
    if span.status != Span.Status.GOLD:
        raise CurationRefused("Only gold spans can be edited here.")
    document = span.document
    _open_curation(document, curator)
    theme_objs = resolve_themes(document.project, themes)
    signature = label_signature(theme_ids={t.pk for t in theme_objs}, **labels)
    updated = span_update(
        span=span, start=start, end=end, text=document.text[start:end], themes=theme_objs, **labels
    )
    updated.provenance = {**updated.provenance, "method": "edit", "votes": _votes(document, start, end, signature)}
    updated._change_reason = "curation: edit"
    updated.save(update_fields=["provenance"])
    return updated


@transaction.atomic
def curation_complete(*, document, curator):
    """Mark the document curated by this curator."""
    curation, _ = Curation.objects.select_for_update().get_or_create(document=document, defaults={"curator": curator})
    curation.curator = curator
    curation.status = Curation.Status.CURATED
    curation.curated_at = timezone.now()
    curation.save()
    return curation


@transaction.atomic
def curation_reopen(*, document, curator):
    """Open a curated document again so its gold spans can change."""
    curation, _ = Curation.objects.select_for_update().get_or_create(document=document, defaults={"curator": curator})
    curation.curator = curator
    curation.status = Curation.Status.IN_PROGRESS
    curation.curated_at = None
    curation.save()
    return curation

