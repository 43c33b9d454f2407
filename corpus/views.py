from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Case, CharField, Count, Exists, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Cast, Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from annotations.exports import uuid_text
from annotations.models import (
    Assignment, ClaimType, InfoCredibility, SourceReliability, SourceType, Span, StanceValue, Theme,
)

from .models import Document, Membership, Project

REVIEWER_ROLES = {Membership.Role.CURATOR, Membership.Role.MANAGER}
DOCUMENTS_PER_PAGE = 50
SOURCE_NAME_SUGGESTIONS = 500
Status = Assignment.Status


def documents_with_progress(user, projects, roles):
    """Documents of projects that user may open, each annotated with the user's own progress.

    `my_status` is the Assignment's status, except that a document holding the user's spans
    counts as in progress until it is marked done. Where a project is closed to unassigned
    work, annotators see only the documents assigned to them or already begun.
    """
    mine = Assignment.objects.filter(document=OuterRef("pk"), annotator=user).order_by()
    own_spans = (
        Span.objects.filter(document=OuterRef("pk"), annotator=user)
        .order_by().values("document").annotate(n=Count("pk")).values("n")
    )
    documents = (
        Document.objects.filter(project__in=projects)
        .annotate(
            assignment_status=Subquery(mine.values("status")[:1]),
            is_assigned=Exists(mine.filter(assigned=True)),
            span_count=Coalesce(Subquery(own_spans), 0),
        )
        .annotate(
            my_status=Case(
                When(assignment_status=Status.DONE, then=Value(Status.DONE)),
                When(Q(assignment_status=Status.IN_PROGRESS) | Q(span_count__gt=0), then=Value(Status.IN_PROGRESS)),
                default=Value(Status.NOT_STARTED),
                output_field=CharField(),
            )
        )
    )
    closed = [
        project.pk for project in projects
        if not project.unassigned_open and roles.get(project.pk) not in REVIEWER_ROLES
    ]
    if closed:
        documents = documents.filter(
            ~Q(project__in=closed)
            | Q(is_assigned=True)
            | Q(assignment_status__in=[Status.IN_PROGRESS, Status.DONE])
        )
    return documents


def progress_counts(documents):
    """Count documents per status for each project, in one query.

    The statuses are counted inside the aggregates rather than grouped on, so that no database
    is asked to group by an expression holding correlated subqueries.
    """
    rows = documents.order_by().values("project_id").annotate(
        total=Count("pk"),
        **{status: Count("pk", filter=Q(my_status=status)) for status in Status.values},
    )
    return {row.pop("project_id"): row for row in rows}


NO_PROGRESS = {"total": 0, **{status: 0 for status in Status.values}}


def roles_of(user):
    return dict(Membership.objects.filter(user=user).values_list("project_id", "role"))


@login_required
def project_list(request):
    projects = list(Project.objects.for_user(request.user).order_by("name"))
    roles = roles_of(request.user)
    counts = progress_counts(documents_with_progress(request.user, projects, roles))
    spans = dict(
        Span.objects.filter(annotator=request.user, document__project__in=projects)
        .order_by().values_list("document__project_id").annotate(n=Count("pk"))
    )
    for project in projects:
        project.progress = dict(counts.get(project.pk, NO_PROGRESS))
        project.progress["spans"] = spans.get(project.pk, 0)
        project.my_role = Membership.Role(roles[project.pk]).label
    return render(request, "corpus/project_list.html", {"projects": projects})


def project_for(request, slug):
    """The project at slug with the user's role, or 404 for non-members."""
    project = get_object_or_404(Project.objects.for_user(request.user), slug=slug)
    return project, project.role_of(request.user)


@login_required
def project_detail(request, slug):
    project, role = project_for(request, slug)
    all_documents = documents_with_progress(request.user, [project], {project.pk: role})
    progress = progress_counts(all_documents).get(project.pk, NO_PROGRESS)

    filters = {name: request.GET.get(name, "").strip() for name in ("q", "genre", "outlet", "status")}
    documents = all_documents
    if filters["q"]:
        q = filters["q"]
        documents = documents.filter(Q(title__icontains=q) | Q(text__icontains=q) | Q(external_id__icontains=q))
    if filters["genre"]:
        documents = documents.filter(genre=filters["genre"])
    if filters["outlet"]:
        documents = documents.filter(outlet=filters["outlet"])
    if filters["status"] in Status.values:
        documents = documents.filter(my_status=filters["status"])
    documents = documents.defer("text", "metadata").order_by("external_id", "pk")
    page = Paginator(documents, DOCUMENTS_PER_PAGE).get_page(request.GET.get("page"))

    choices = project.documents.order_by()
    context = {
        "project": project,
        "role": role,
        "page": page,
        "progress": progress,
        "filters": filters,
        "filtered": any(filters.values()),
        "query_string": urlencode({k: v for k, v in filters.items() if v}),
        "genres": choices.exclude(genre="").values_list("genre", flat=True).distinct().order_by("genre"),
        "outlets": choices.exclude(outlet="").values_list("outlet", flat=True).distinct().order_by("outlet"),
        "statuses": Status.choices,
    }
    return render(request, "corpus/project_detail.html", context)


@login_required
def project_next(request, slug):
    """Open the user's first document not done yet, assigned ones first; ?skip=<pk> passes one by."""
    project, role = project_for(request, slug)
    candidates = (
        documents_with_progress(request.user, [project], {project.pk: role})
        .exclude(my_status=Status.DONE).order_by("-is_assigned", "external_id", "pk")
    )
    skip = request.GET.get("skip", "")
    if skip.isdigit():
        candidates = candidates.exclude(pk=int(skip))
    document = candidates.only("pk").first()
    if document is None:
        messages.info(request, "Every document open to you in this project is done.")
        return redirect(project)
    return redirect("corpus:document-detail", document.pk)


def schema_payload(project):
    """The project's label schema in the shape of GET /api/projects/{slug}/schema/."""
    themes = list(Theme.objects.filter(project=project).select_related("parent").order_by("position", "code"))
    return {
        "themes": [
            {
                "code": theme.code, "key": theme.key, "name": theme.name, "colour": theme.colour,
                "shortcut": theme.shortcut, "parent": theme.parent.code if theme.parent else None,
                "position": theme.position,
            }
            for theme in themes
        ],
        "stances": list(
            StanceValue.objects.filter(project=project).order_by("position", "key")
            .values("key", "name", "colour", "shortcut")
        ),
        "stance_target": project.stance_target,
        "source_reliability": [{"value": v, "label": label} for v, label in SourceReliability.choices],
        "info_credibility": [{"value": v, "label": label} for v, label in InfoCredibility.choices],
        "source_types": [{"value": v, "label": label} for v, label in SourceType.choices],
        "claim_types": [{"value": v, "label": label} for v, label in ClaimType.choices],
    }


SPAN_FIELDS = (
    "id_text", "start", "end", "stance__key", "source_reliability", "info_credibility", "source_type",
    "source_name", "source_affiliation", "source_via", "claim_type", "note", "status", "annotator__username",
    "version",
)


def span_payloads(spans, theme_order):
    """Spans as the API's span JSON less what the page derives itself, in two queries.

    The quote is left out (the page cuts it from the text it already has, which is what the
    server checks it against), as are the fields the page never reads and labels not set. Thousands of spans go
    into one page, so ids are read as text rather than as UUID objects, and themes come in one
    query for all spans, sorted like the schema.
    """
    rows = list(
        spans.order_by("start", "end", "created_at", "id")
        .annotate(id_text=Cast("id", CharField())).values_list(*SPAN_FIELDS)
    )
    themes = {}
    through = (
        Span.themes.through.objects.filter(span__in=spans).annotate(span_text=Cast("span_id", CharField()))
        .values_list("span_text", "theme__code")
    )
    for span_id, code in through:
        themes.setdefault(span_id, []).append(code)
    payloads = []
    for (span_id, start, end, stance, reliability, credibility, source_type, source_name, affiliation, via,
         claim_type, note, status, annotator, version) in rows:
        payload = {
            "id": uuid_text(span_id), "start": start, "end": end,
            "themes": sorted(themes.get(span_id, ()), key=theme_order.__getitem__),
            "status": status, "annotator": annotator, "version": version,
        }
        # Labels not set yet are left out: the page reads a missing label as unset.
        for name, value in (("stance", stance), ("source_reliability", reliability),
                            ("info_credibility", credibility), ("claim_type", claim_type), ("note", note)):
            if value not in (None, ""):
                payload[name] = value
        if source_type or source_name or affiliation or via:
            payload["attributed_source"] = {"type": source_type, "name": source_name, "affiliation": affiliation,
                                            "via": via}
        payloads.append(payload)
    return payloads


@login_required
def document_detail(request, pk):
    """The annotation workbench: the text, the user's spans (or a member's, read-only) and the schema."""
    document = get_object_or_404(Document.objects.for_user(request.user).select_related("project"), pk=pk)
    project = document.project
    role = project.role_of(request.user)
    reviewer = role in REVIEWER_ROLES
    if not project.unassigned_open and not reviewer and not (
        Assignment.objects.filter(document=document, annotator=request.user)
        .filter(Q(assigned=True) | Q(status__in=[Status.IN_PROGRESS, Status.DONE])).exists()
    ):
        raise Http404("This document is not assigned to you.")

    viewing = request.GET.get("view", "").strip()
    spans = Span.objects.filter(document=document)
    if not viewing or viewing == request.user.get_username():
        viewing = ""
        spans = spans.filter(annotator=request.user)
    elif not reviewer:
        raise PermissionDenied("Only curators and managers can read other members' spans.")
    elif viewing != "all":
        member = get_object_or_404(project.memberships.select_related("user"), user__username=viewing)
        spans = spans.filter(annotator=member.user)
    schema = schema_payload(project)
    payloads = span_payloads(spans, {theme["code"]: i for i, theme in enumerate(schema["themes"])})

    own_status = Assignment.objects.filter(document=document, annotator=request.user).values_list(
        "status", flat=True).first()
    if own_status != Status.DONE:
        has_own = (any(p["annotator"] == request.user.get_username() for p in payloads) if not viewing
                   else Span.objects.filter(document=document, annotator=request.user).exists())
        own_status = Status.IN_PROGRESS if has_own or own_status == Status.IN_PROGRESS else Status.NOT_STARTED

    for index, theme in enumerate(schema["themes"]):
        theme["index"] = index
    groups = []
    for theme in schema["themes"]:
        if theme["parent"] is None:
            groups.append({"top": theme, "subs": []})
        elif groups and groups[-1]["top"]["code"] == theme["parent"]:
            groups[-1]["subs"].append(theme)
        else:
            parent = next((g for g in groups if g["top"]["code"] == theme["parent"]), None)
            if parent is not None:
                parent["subs"].append(theme)

    context = {
        "document": document,
        "project": project,
        "role": role,
        "reviewer": reviewer,
        "viewing": viewing,
        "read_only": bool(viewing),
        "members": project.memberships.select_related("user").order_by("user__username") if reviewer else [],
        "spans": payloads,
        "schema": schema,
        "theme_groups": groups,
        "source_names": (
            Span.objects.filter(document__project=project).exclude(source_name="").order_by("source_name")
            .values_list("source_name", flat=True).distinct()[:SOURCE_NAME_SUGGESTIONS]
        ),
        "own_status": own_status,
        "status_label": Status(own_status).label,
        "next_url": reverse("corpus:project-next", args=[project.slug]) + f"?skip={document.pk}",
    }
    return render(request, "annotations/workbench.html", context)
