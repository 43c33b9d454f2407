"""Who annotates which document: assignment by hand, automatic k-per-document, rebalancing.

Started work is never taken away. An assignment counts as started when its status is
in progress or done, or when its annotator already has spans on the document; such
rows are never deleted or handed to someone else, by hand or by the balancer.
"""
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import partial

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from corpus.models import Membership, Project

from .models import Assignment, Span

STARTED_STATUSES = (Assignment.Status.IN_PROGRESS, Assignment.Status.DONE)


class AssignmentRefused(Exception):
    """The assignment cannot be made: an annotator is not a member of the document's project."""


@dataclass
class AssignmentReport:
    """What an assignment run changed, for the message a manager reads afterwards."""

    created: int = 0
    removed: int = 0
    kept_started: int = 0
    short: int = 0
    short_documents: list = field(default_factory=list)

    @property
    def changed(self):
        return self.created + self.removed

    def summary(self):
        parts = [f"{self.created} assignment(s) added", f"{self.removed} removed"]
        if self.kept_started:
            parts.append(f"{self.kept_started} with started work kept as they were")
        text = ", ".join(parts) + "."
        if self.short:
            text += (
                f" {self.short} document(s) have fewer annotators than asked:"
                " the project does not have enough annotators."
            )
        return text


def is_manager(project, user):
    """True for superusers and for members with the manager role."""
    if not user.is_authenticated:
        return False
    return user.is_superuser or project.role_of(user) == Membership.Role.MANAGER


def project_annotators(project):
    """Users with the annotator role in the project, in the order the balancer breaks ties."""
    return (
        get_user_model()
        .objects.filter(memberships__project=project, memberships__role=Membership.Role.ANNOTATOR)
        .order_by("username", "pk")
    )


def started_pairs(documents):
    """(document_id, annotator_id) pairs with started work on the given documents."""
    rows = set(
        Assignment.objects.filter(document__in=documents, status__in=STARTED_STATUSES).values_list(
            "document_id", "annotator_id"
        )
    )
    # Gold spans are the curator's layer, not annotation work on the document.
    rows |= set(
        Span.objects.filter(document__in=documents)
        .exclude(status=Span.Status.GOLD)
        .values_list("document_id", "annotator_id")
        .distinct()
    )
    return rows


@transaction.atomic
def documents_assign(*, documents, annotators):
    """Put the documents in each annotator's queue; every annotator must be a member of each document's project."""
    documents = list(documents)
    annotators = list(annotators)
    members = set(
        Membership.objects.filter(
            project_id__in={d.project_id for d in documents}, user__in=annotators
        ).values_list("project_id", "user_id")
    )
    outside = sorted(
        {f"{a.get_username()} ({d.project})" for d in documents for a in annotators if (d.project_id, a.pk) not in members}
    )
    if outside:
        raise AssignmentRefused(f"Not a member of the document's project: {', '.join(outside)}.")
    existing = {
        (row.document_id, row.annotator_id): row
        for row in Assignment.objects.filter(document__in=documents, annotator__in=annotators)
    }
    report = AssignmentReport()
    to_create = []
    to_mark = []
    for document in documents:
        for annotator in annotators:
            row = existing.get((document.pk, annotator.pk))
            if row is None:
                to_create.append(Assignment(document=document, annotator=annotator, assigned=True))
            elif not row.assigned:
                # The annotator picked it up alone; now it is also their assigned work.
                row.assigned = True
                to_mark.append(row)
    # The history rows record who assigned what, as a one-by-one save would.
    bulk_create_with_history(to_create, Assignment)
    bulk_update_with_history(to_mark, Assignment, ["assigned"])
    report.created = len(to_create) + len(to_mark)
    return report


@transaction.atomic
def documents_unassign(*, documents, annotators):
    """Take the documents out of the annotators' queues, except where work has started."""
    documents = list(documents)
    rows = Assignment.objects.filter(document__in=documents, annotator__in=list(annotators))
    started = started_pairs(documents)
    report = AssignmentReport()
    doomed = []
    for row in rows:
        if (row.document_id, row.annotator_id) in started:
            report.kept_started += 1
        else:
            doomed.append(row.pk)
    if doomed:
        Assignment.objects.filter(pk__in=doomed).delete()
    report.removed = len(doomed)
    return report


@transaction.atomic
def assignments_auto(*, project, k=None):
    """Give every document of the project k annotators (default project.annotators_per_document), balanced."""
    k = project.annotators_per_document if k is None else k
    targets = {pk: k for pk in project.documents.values_list("pk", flat=True)}
    return _balance(project, targets)


@transaction.atomic
def assignments_rebalance(*, project):
    """Spread the assigned documents evenly over the current annotators, keeping each document's count."""
    started = started_pairs(project.documents.all())
    rows = {
        (doc_id, annotator_id): assigned
        for doc_id, annotator_id, assigned in Assignment.objects.filter(document__project=project).values_list(
            "document_id", "annotator_id", "assigned"
        )
    }
    targets = {doc_id: 0 for (doc_id, _), assigned in rows.items() if assigned}
    for pair in set(rows) | started:
        if pair[0] in targets:
            # Started work counts whoever did it: it stays on the document, and a
            # departed annotator's share of it is the manager's call, not the balancer's.
            targets[pair[0]] += pair in started or rows.get(pair, False)
    return _balance(project, targets)


@transaction.atomic
def _balance(project, targets):
    """Give each document in `targets` its number of annotators, loads within one where started work allows."""
    annotators = list(project_annotators(project).values_list("pk", flat=True))
    rank = {pk: i for i, pk in enumerate(annotators)}
    # Whole-project reads, filtered here: a list of document ids in SQL would hit
    # the database's parameter limit on large projects.
    started = started_pairs(project.documents.all())
    report = AssignmentReport()

    locked = defaultdict(set)  # annotators whose started work stays put
    cover = Counter()  # annotators a document already has for good
    free = defaultdict(set)  # not-started assignments that may be kept, moved or dropped
    existing = {}  # (doc, annotator) -> not-started row
    for row in Assignment.objects.filter(document__project=project).only("pk", "document_id", "annotator_id", "assigned"):
        doc_id, annotator_id = row.document_id, row.annotator_id
        if doc_id not in targets:
            continue
        if (doc_id, annotator_id) in started:
            report.kept_started += 1
            continue
        existing[(doc_id, annotator_id)] = row
        if annotator_id in rank:
            free[doc_id].add(annotator_id)
    # Spans without an assignment row are work under way too; a departed
    # annotator's started work still covers the document but takes no load.
    for doc_id, annotator_id in started:
        if doc_id in targets:
            locked[doc_id].add(annotator_id)
            cover[doc_id] += 1

    load = Counter({pk: 0 for pk in annotators})
    for doc_id in targets:
        for annotator_id in locked[doc_id] | free[doc_id]:
            if annotator_id in rank:
                load[annotator_id] += 1

    def busiest_first(pk):
        return (-load[pk], -rank[pk])

    def idlest_first(pk):
        return (load[pk], rank[pk])

    documents = sorted(targets)
    for doc_id in documents:
        excess = cover[doc_id] + len(free[doc_id]) - targets[doc_id]
        for annotator_id in sorted(free[doc_id], key=busiest_first)[: max(excess, 0)]:
            free[doc_id].discard(annotator_id)
            load[annotator_id] -= 1
        need = targets[doc_id] - cover[doc_id] - len(free[doc_id])
        if need > 0:
            candidates = [pk for pk in annotators if pk not in locked[doc_id] and pk not in free[doc_id]]
            chosen = sorted(candidates, key=idlest_first)[:need]
            for annotator_id in chosen:
                free[doc_id].add(annotator_id)
                load[annotator_id] += 1
            if len(chosen) < need:
                report.short += 1
                report.short_documents.append(doc_id)

    movable = defaultdict(list)
    for doc_id in documents:
        for annotator_id in free[doc_id]:
            movable[annotator_id].append(doc_id)
    # Each move lowers the sum of squared loads, so the loop ends; without started
    # work in the way it stops with every load within one of the others.
    while True:
        order = sorted(annotators, key=idlest_first)
        move = _find_move(order, load, movable, free, locked)
        if move is None:
            break
        doc_id, giver, taker = move
        free[doc_id].discard(giver)
        free[doc_id].add(taker)
        movable[giver].remove(doc_id)
        movable[taker].append(doc_id)
        load[giver] -= 1
        load[taker] += 1

    wanted = {(doc_id, pk) for doc_id in documents for pk in free[doc_id]}
    doomed = [row.pk for pair, row in existing.items() if pair not in wanted]
    to_mark = [row for pair, row in existing.items() if pair in wanted and not row.assigned]
    for row in to_mark:
        row.assigned = True
    to_create = [
        Assignment(document_id=doc_id, annotator_id=annotator_id, assigned=True)
        for doc_id, annotator_id in sorted(wanted)
        if (doc_id, annotator_id) not in existing
    ]
    if doomed:
        Assignment.objects.filter(pk__in=doomed).delete()
    bulk_update_with_history(to_mark, Assignment, ["assigned"])
    bulk_create_with_history(to_create, Assignment)
    report.created = len(to_create)
    report.removed = len(doomed)
    return report


def _find_move(order, load, movable, free, locked):
    """A not-started assignment to hand from a busier annotator to one with at least two fewer."""
    for giver in reversed(order):
        for taker in order:
            if load[giver] - load[taker] < 2:
                break
            # The most recently listed documents move first: the giver is least likely to have reached them.
            for doc_id in reversed(movable[giver]):
                if taker not in free[doc_id] and taker not in locked[doc_id]:
                    return doc_id, giver, taker
    return None


def _rebalance_after_membership_change(project_id):
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return
    if not Assignment.objects.filter(document__project=project, assigned=True).exists():
        # Nobody assigns documents in this project: there is nothing to balance.
        return
    assignments_rebalance(project=project)


@receiver(post_save, sender=Membership)
@receiver(post_delete, sender=Membership)
def rebalance_on_membership_change(sender, instance, **kwargs):
    """A member joining, leaving or changing role shifts not-started assignments once the change is committed."""
    # After commit, so that a project or user being deleted in the same
    # transaction is gone before anything is balanced onto it.
    transaction.on_commit(partial(_rebalance_after_membership_change, instance.project_id))
