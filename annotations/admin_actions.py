"""The Document admin's "Assign selected documents to…" action, with a page choosing the annotators."""
from collections import defaultdict

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.template.response import TemplateResponse

from corpus.models import Membership, Project

from .assignment import documents_assign


class AssignAnnotatorsForm(forms.Form):
    annotators = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text="Each selected document goes into the queue of every chosen annotator of its project.",
    )

    def __init__(self, *args, annotators, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["annotators"].queryset = annotators


@admin.action(description="Assign selected documents to…", permissions=["change"])
def assign_documents(modeladmin, request, queryset):
    """Ask which annotators, then put the selected documents in their queues (managers of the projects only)."""
    project_ids = set(queryset.values_list("project_id", flat=True))
    if not request.user.is_superuser:
        managed = set(
            Membership.objects.filter(
                user=request.user, role=Membership.Role.MANAGER, project_id__in=project_ids
            ).values_list("project_id", flat=True)
        )
        refused = Project.objects.filter(pk__in=project_ids - managed).order_by("name")
        if refused:
            modeladmin.message_user(
                request,
                "Only a project's managers may assign its documents; you do not manage "
                + ", ".join(p.name for p in refused) + ".",
                messages.ERROR,
            )
            return None
    annotators = (
        get_user_model()
        .objects.filter(memberships__project_id__in=project_ids, memberships__role=Membership.Role.ANNOTATOR)
        .distinct()
        .order_by("username")
    )
    if "apply" in request.POST:
        form = AssignAnnotatorsForm(request.POST, annotators=annotators)
        if form.is_valid():
            chosen = list(form.cleaned_data["annotators"])
            members = defaultdict(set)
            for project_id, user_id in Membership.objects.filter(
                project_id__in=project_ids, user__in=chosen
            ).values_list("project_id", "user_id"):
                members[project_id].add(user_id)
            created = 0
            for project_id in sorted(project_ids):
                documents = list(queryset.filter(project_id=project_id))
                people = [user for user in chosen if user.pk in members[project_id]]
                if documents and people:
                    created += documents_assign(documents=documents, annotators=people).created
            modeladmin.message_user(
                request,
                f"{created} assignment(s) added for {len(chosen)} annotator(s) on {queryset.count()} document(s)."
                " Documents of a project an annotator is not a member of were left out.",
                messages.SUCCESS,
            )
            return None
    else:
        form = AssignAnnotatorsForm(annotators=annotators)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Assign documents to annotators",
        "form": form,
        "documents": queryset.select_related("project").order_by("project__name", "external_id"),
        "opts": modeladmin.model._meta,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": modeladmin.media,
    }
    return TemplateResponse(request, "admin/corpus/document/assign.html", context)
