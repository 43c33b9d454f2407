"""Pages for reviewing a project: who annotates what (managers) and how far the work has got."""
import csv

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from corpus.models import Membership, Project

from .assignment import (
    AssignmentRefused,
    AssignmentReport,
    assignments_auto,
    assignments_rebalance,
    documents_assign,
    documents_unassign,
    project_annotators,
    started_pairs,
)
from .dashboard import CHART_SLUGS, DOCUMENTS_PER_PAGE, Dashboard, csv_safe
from .models import Assignment

REVIEWERS = (Membership.Role.MANAGER, Membership.Role.CURATOR)
MANAGERS = (Membership.Role.MANAGER,)


def project_for_review(user, slug, roles):
    """The project if the user holds one of the roles there (superusers always do); 404 for non-members, 403 otherwise."""
    project = get_object_or_404(Project, slug=slug)
    if user.is_superuser:
        return project
    role = project.role_of(user)
    if role is None:
        raise Http404("No such project.")
    if role not in roles:
        raise PermissionDenied("Only the project's managers and curators see this page.")
    return project


@login_required
def dashboard(request, slug):
    project = project_for_review(request.user, slug, REVIEWERS)
    board = Dashboard(project)
    page, documents = board.documents(request.GET.get("page"))
    context = {
        "project": project,
        "summary": board.summary,
        "annotators": board.annotators,
        "charts": board.charts(),
        "page": page,
        "documents": documents,
        "is_manager": request.user.is_superuser or project.role_of(request.user) == Membership.Role.MANAGER,
    }
    return render(request, "annotations/dashboard.html", context)


def _chart_or_404(board, chart):
    if chart not in CHART_SLUGS:
        raise Http404("No such chart.")
    return board.chart(chart)


@login_required
def dashboard_chart_csv(request, slug, chart):
    project = project_for_review(request.user, slug, REVIEWERS)
    data = _chart_or_404(Dashboard(project), chart)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-{data.slug}.csv"'
    writer = csv.writer(response)
    writer.writerow(data.header)
    for row in data.rows:
        writer.writerow([csv_safe(cell) for cell in row])
    return response


@login_required
def dashboard_chart_svg(request, slug, chart):
    project = project_for_review(request.user, slug, REVIEWERS)
    data = _chart_or_404(Dashboard(project), chart)
    return HttpResponse(data.svg(), content_type="image/svg+xml; charset=utf-8")


class AssignmentSettingsForm(forms.ModelForm):
    annotators_per_document = forms.IntegerField(
        min_value=1, max_value=50, label="Annotators per document",
        help_text="How many annotators the automatic assignment gives each document.",
    )

    class Meta:
        model = Project
        fields = ["annotators_per_document", "unassigned_open"]
        labels = {"unassigned_open": "Unassigned documents are open to every annotator"}


@login_required
@require_http_methods(["GET", "POST"])
def assignments(request, slug):
    project = project_for_review(request.user, slug, MANAGERS)
    page_number = request.GET.get("page") or request.POST.get("page") or 1
    form = AssignmentSettingsForm(instance=project)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "settings":
            form = AssignmentSettingsForm(request.POST, instance=project)
            if form.is_valid():
                form.save()
                messages.success(request, "Assignment settings saved.")
                return _back(project, page_number)
        elif action == "auto":
            report = assignments_auto(project=project)
            messages.success(
                request, f"Each document to {project.annotators_per_document} annotator(s): {report.summary()}"
            )
            return _back(project, page_number)
        elif action == "rebalance":
            report = assignments_rebalance(project=project)
            messages.success(request, f"Rebalanced: {report.summary()}")
            return _back(project, page_number)
        elif action == "save":
            report = _save_grid(request, project)
            if report is not None:
                messages.success(request, f"Assignments saved: {report.summary()}")
            return _back(project, page_number)
        else:
            messages.error(request, "Unknown action.")
            return _back(project, page_number)
    return render(request, "annotations/assignments.html", _grid_context(project, page_number, form))


def _back(project, page_number):
    url = reverse("annotations:assignments", args=[project.slug])
    return redirect(f"{url}?page={int(page_number)}" if str(page_number).isdigit() else url)


def _save_grid(request, project):
    """Apply the checkboxes of one page of the grid: checked pairs assigned, unchecked ones unassigned."""
    try:
        doc_ids = {int(value) for value in request.POST.getlist("doc")}
        checked = set()
        for value in request.POST.getlist("pair"):
            doc_id, user_id = value.split(":")
            checked.add((int(doc_id), int(user_id)))
    except ValueError:
        messages.error(request, "The form was garbled; nothing was changed.")
        return None
    documents = {doc.pk: doc for doc in project.documents.filter(pk__in=doc_ids)}
    annotators = {user.pk: user for user in project_annotators(project)}
    assigned = set(
        Assignment.objects.filter(document__in=list(documents.values()), assigned=True).values_list(
            "document_id", "annotator_id"
        )
    )
    # Started work shows as a disabled box, which a browser never submits.
    assigned -= started_pairs(list(documents.values()))
    total = AssignmentReport()
    for user_id, user in annotators.items():
        add = [documents[d] for d in documents if (d, user_id) in checked and (d, user_id) not in assigned]
        drop = [documents[d] for d in documents if (d, user_id) not in checked and (d, user_id) in assigned]
        try:
            if add:
                total.created += documents_assign(documents=add, annotators=[user]).created
        except AssignmentRefused as exc:
            messages.error(request, str(exc))
        if drop:
            report = documents_unassign(documents=drop, annotators=[user])
            total.removed += report.removed
            total.kept_started += report.kept_started
    return total


def _grid_context(project, page_number, form):
    annotators = list(project_annotators(project))
    paginator = Paginator(project.documents.order_by("external_id", "pk").only("pk", "project", "external_id", "title"),
                          DOCUMENTS_PER_PAGE)
    page = paginator.get_page(page_number)
    documents = list(page)
    rows = {
        (row.document_id, row.annotator_id): row
        for row in Assignment.objects.filter(document__in=documents).only(
            "document_id", "annotator_id", "status", "assigned"
        )
    }
    started = started_pairs(documents)
    grid = []
    for doc in documents:
        cells = []
        for user in annotators:
            row = rows.get((doc.pk, user.pk))
            is_started = (doc.pk, user.pk) in started
            if row is not None and row.status != Assignment.Status.NOT_STARTED:
                state = row.get_status_display().lower()
            elif is_started:
                state = "has spans"
            else:
                state = ""
            cells.append(
                {
                    "value": f"{doc.pk}:{user.pk}",
                    "user": user,
                    "assigned": row is not None and row.assigned,
                    "started": is_started,
                    "state": state,
                }
            )
        grid.append({"document": doc, "cells": cells, "count": sum(c["assigned"] or c["started"] for c in cells)})
    load = dict.fromkeys((u.pk for u in annotators), 0)
    for annotator_id in Assignment.objects.filter(document__project=project, assigned=True).values_list(
        "annotator_id", flat=True
    ):
        if annotator_id in load:
            load[annotator_id] += 1
    return {
        "project": project,
        "form": form,
        "annotators": [{"user": u, "assigned": load[u.pk]} for u in annotators],
        "grid": grid,
        "page": page,
        "documents_total": paginator.count,
        "is_manager": True,
    }
