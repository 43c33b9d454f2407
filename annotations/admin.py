from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from simple_history.admin import SimpleHistoryAdmin

from .models import Assignment, Span, StanceValue, Theme
from .services import span_restore


class ThemeInline(admin.TabularInline):
    model = Theme
    fk_name = "project"
    fields = ("key", "parent", "name", "colour", "shortcut", "position", "code")
    readonly_fields = ("code",)
    extra = 0
    show_change_link = True


class StanceValueInline(admin.TabularInline):
    model = StanceValue
    fields = ("key", "name", "colour", "shortcut", "position")
    extra = 0


@admin.register(Theme)
class ThemeAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "project", "colour", "shortcut", "position")
    list_filter = ("project",)
    search_fields = ("code", "name")
    readonly_fields = ("code",)


@admin.register(StanceValue)
class StanceValueAdmin(SimpleHistoryAdmin):
    list_display = ("key", "name", "project", "shortcut", "position")
    list_filter = ("project",)


@admin.register(Span)
class SpanAdmin(SimpleHistoryAdmin):
    list_display = ("short_quote", "document", "annotator", "start", "end", "theme_codes", "stance",
                    "admiralty", "status", "updated_at")
    list_filter = ("document__project", "annotator", "themes", "stance__key", "source_reliability",
                   "info_credibility", "status")
    search_fields = ("text", "note", "source_name", "document__title", "document__external_id")
    readonly_fields = ("id", "document", "annotator", "start", "end", "text", "prefix", "suffix", "version",
                       "created_at", "updated_at")
    fieldsets = (
        ("Anchor (fixed offsets into the stored text)", {
            "fields": ("id", "document", "annotator", "start", "end", "text", "prefix", "suffix"),
        }),
        ("Labels", {"fields": ("themes", "stance", "stance_target", "source_reliability", "info_credibility",
                               "claim_type", "note", "status")}),
        ("Attributed source", {"fields": ("source_type", "source_name", "source_affiliation", "source_via")}),
        ("Record", {"fields": ("version", "created_at", "updated_at")}),
    )
    filter_horizontal = ("themes",)
    list_select_related = ("document", "annotator", "stance")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("themes")

    def has_add_permission(self, request):
        # Offsets come from a selection in the workbench or the API, never typed by hand.
        return False

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "themes":
            span_id = request.resolver_match.kwargs.get("object_id")
            span = Span.objects.filter(pk=span_id).select_related("document").first() if span_id else None
            if span is not None:
                kwargs["queryset"] = Theme.objects.filter(project_id=span.document.project_id)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change and form.changed_data:
            obj.version += 1
        super().save_model(request, obj, form, change)

    @admin.display(description="quote")
    def short_quote(self, obj):
        return obj.text if len(obj.text) <= 60 else obj.text[:57] + "…"

    @admin.display(description="themes")
    def theme_codes(self, obj):
        return ", ".join(t.code for t in obj.themes.all())


HistoricalSpan = Span.history.model


@admin.register(HistoricalSpan)
class DeletedSpanAdmin(admin.ModelAdmin):
    """Deleted spans, from their history, with an action that brings them back."""

    list_display = ("text", "document", "annotator", "start", "end", "history_date", "history_user")
    list_filter = ("document__project", "annotator")
    search_fields = ("text",)
    actions = ["restore"]

    def get_queryset(self, request):
        alive = Span.objects.filter(pk=OuterRef("id"))
        return (
            super().get_queryset(request).filter(history_type="-").exclude(Exists(alive))
            .select_related("document", "annotator", "history_user")
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Restore selected deleted spans", permissions=["view"])
    def restore(self, request, queryset):
        restored = 0
        for record in queryset:
            try:
                span_restore(historical_span=record)
                restored += 1
            except ValidationError as exc:
                self.message_user(request, f"{record.text[:40]!r}: {' '.join(exc.messages)}", messages.ERROR)
        if restored:
            self.message_user(request, f"Restored {restored} span(s).", messages.SUCCESS)


HistoricalSpan._meta.verbose_name = "deleted span"
HistoricalSpan._meta.verbose_name_plural = "deleted spans"


@admin.register(Assignment)
class AssignmentAdmin(SimpleHistoryAdmin):
    list_display = ("document", "annotator", "status", "assigned", "updated_at")
    list_filter = ("document__project", "status", "assigned", "annotator")
    list_select_related = ("document", "annotator")
