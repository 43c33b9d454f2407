from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.contrib import admin
from django.db.models import Count, Exists, OuterRef
from django.shortcuts import render
from django.urls import path, reverse
from simple_history.admin import SimpleHistoryAdmin

from annotations.admin import StanceValueInline, ThemeInline
from annotations.admin_actions import assign_documents
from annotations.models import Span

from .models import Document, Membership, Project
from .services import SUPPORTED_SUFFIXES, documents_import, normalize_text


admin.site.site_header = "Lectern administration"
admin.site.site_title = "Lectern admin"
admin.site.index_title = "Corpus, schema and spans"

# Failed logins that count toward a lock-out (see settings); deleting a row lifts its lock-out
# early. Axes' logs of every login and failure are switched off, so their pages would be empty.
admin.site.register(AccessAttempt, AccessAttemptAdmin)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "stance_target", "document_count", "member_count")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name", "slug")
    inlines = [MembershipInline, ThemeInline, StanceValueInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            n_documents=Count("documents", distinct=True), n_members=Count("memberships", distinct=True)
        )

    @admin.display(description="documents", ordering="n_documents")
    def document_count(self, obj):
        return obj.n_documents

    @admin.display(description="members", ordering="n_members")
    def member_count(self, obj):
        return obj.n_members


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "project", "role", "joined_at")
    list_filter = ("project", "role")
    search_fields = ("user__username", "project__name")
    autocomplete_fields = ("user",)


class AnnotatedFilter(admin.SimpleListFilter):
    title = "annotated"
    parameter_name = "annotated"

    def lookups(self, request, model_admin):
        return [("yes", "Has spans"), ("no", "No spans yet")]

    def queryset(self, request, queryset):
        has_spans = Exists(Span.objects.filter(document=OuterRef("pk")))
        if self.value() == "yes":
            return queryset.filter(has_spans)
        if self.value() == "no":
            return queryset.exclude(has_spans)
        return queryset


class DocumentAdminForm(forms.ModelForm):
    # The stored text is what offsets count into: keep its white space exactly as typed.
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 20, "cols": 100}), strip=False)
    url = forms.URLField(max_length=1000, required=False, assume_scheme="https")

    class Meta:
        model = Document
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            count = self.instance.spans.count()
            if count:
                self.fields["text"].help_text = (
                    f"{count} span(s) point into this text by offset, so it cannot change."
                )

    def clean_text(self):
        return normalize_text(self.cleaned_data["text"])


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ",".join(sorted(SUPPORTED_SUFFIXES))}))
        # An empty file is reported in the per-file table, not refused for the whole upload.
        kwargs.setdefault("allow_empty_file", True)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class ImportForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.none())
    files = MultipleFileField(
        help_text="Several files at once: .txt, .md, .html, .json, .jsonl, .csv, or a .zip of those.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        projects = Project.objects.all()
        if not user.is_superuser:
            projects = projects.filter(memberships__user=user, memberships__role=Membership.Role.MANAGER)
        self.fields["project"].queryset = projects


@admin.register(Document)
class DocumentAdmin(SimpleHistoryAdmin):
    form = DocumentAdminForm
    list_display = ("external_id", "title", "project", "outlet", "language", "genre", "published_date", "span_count")
    list_filter = ("project", "language", "genre", "outlet", AnnotatedFilter)
    search_fields = ("title", "text", "outlet", "external_id")
    readonly_fields = ("text_sha256", "created_at", "updated_at")
    list_select_related = ("project",)
    change_list_template = "admin/corpus/document/change_list.html"
    actions = [assign_documents]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_spans=Count("spans"))

    @admin.display(description="spans", ordering="n_spans")
    def span_count(self, obj):
        return obj.n_spans

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="corpus_document_import"),
        ] + super().get_urls()

    def import_view(self, request):
        """Import several files into a project and show what happened to each."""
        if not self.has_add_permission(request):
            return self.admin_site.login(request) if not request.user.is_authenticated else render(
                request, "admin/corpus/document/import.html",
                {**self.admin_site.each_context(request), "denied": True, "title": "Import documents"}, status=403,
            )
        report = None
        if request.method == "POST":
            form = ImportForm(request.POST, request.FILES, user=request.user)
            if form.is_valid():
                report = documents_import(
                    project=form.cleaned_data["project"],
                    files=[(f.name, f.read()) for f in form.cleaned_data["files"]],
                )
        else:
            form = ImportForm(user=request.user, initial={"project": request.GET.get("project")})
        context = {
            **self.admin_site.each_context(request),
            "title": "Import documents",
            "form": form,
            "report": report,
            "opts": self.model._meta,
            "changelist_url": reverse("admin:corpus_document_changelist"),
        }
        return render(request, "admin/corpus/document/import.html", context)
