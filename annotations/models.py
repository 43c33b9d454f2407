import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from corpus.models import Document, Membership, Project

from .export_template import JsonlTemplate
from .span_json import ApiJsonTemplate

CONTEXT_CHARS = 32

key_validator = RegexValidator(r"^[A-Za-z][A-Za-z0-9_]*$", "Use letters, digits and underscores, starting with a letter.")
colour_validator = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a colour like #1f77b4.")


class Theme(models.Model):
    """A node of a project's two-level theme taxonomy: `TOP` or `TOP.sub`."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="themes")
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children",
        help_text="Empty for a top-level theme.",
    )
    key = models.CharField(max_length=40, validators=[key_validator])
    code = models.CharField(max_length=81, editable=False, help_text="TOP or TOP.sub, derived from the keys.")
    name = models.CharField(max_length=120)
    colour = models.CharField(max_length=7, default="#4e79a7", validators=[colour_validator])
    shortcut = models.CharField(max_length=1, blank=True, help_text="One key that toggles this theme in the workbench.")
    position = models.PositiveIntegerField(default=0)

    history = HistoricalRecords()

    class Meta:
        ordering = ["project", "position", "code"]
        constraints = [
            models.UniqueConstraint(fields=["project", "code"], name="theme_unique_code"),
            models.UniqueConstraint(
                fields=["project", "shortcut"], condition=~Q(shortcut=""), name="theme_unique_shortcut"
            ),
        ]

    def __str__(self):
        return self.code

    def save(self, *args, **kwargs):
        self.code = self.key if self.parent is None else f"{self.parent.key}.{self.key}"
        super().save(*args, **kwargs)

    def clean(self):
        super().clean()
        if self.parent is not None:
            if self.parent.parent_id is not None:
                raise ValidationError({"parent": "Themes have two levels: a sub-theme's parent must be top-level."})
            if self.parent.project_id != self.project_id:
                raise ValidationError({"parent": "The parent theme belongs to another project."})


class StanceValue(models.Model):
    """One stance a span can take toward the project's target (FAVOR, AGAINST, NEUTRAL, NONE)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="stances")
    key = models.CharField(max_length=20, validators=[key_validator])
    name = models.CharField(max_length=120)
    colour = models.CharField(max_length=7, default="#888888", validators=[colour_validator])
    shortcut = models.CharField(max_length=1, blank=True)
    position = models.PositiveIntegerField(default=0)

    history = HistoricalRecords()

    class Meta:
        ordering = ["project", "position", "key"]
        constraints = [models.UniqueConstraint(fields=["project", "key"], name="stance_unique_key")]

    def __str__(self):
        return self.key


class SourceReliability(models.TextChoices):
    A = "A", "A – completely reliable"
    B = "B", "B – usually reliable"
    C = "C", "C – fairly reliable"
    D = "D", "D – not usually reliable"
    E = "E", "E – unreliable"
    F = "F", "F – reliability cannot be judged"


class InfoCredibility(models.IntegerChoices):
    CONFIRMED = 1, "1 – confirmed by other sources"
    PROBABLE = 2, "2 – probably true"
    POSSIBLE = 3, "3 – possibly true"
    DOUBTFUL = 4, "4 – doubtful"
    IMPROBABLE = 5, "5 – improbable"
    UNKNOWN = 6, "6 – truth cannot be judged"


class SourceType(models.TextChoices):
    OFFICIAL = "OFFICIAL", "Official"
    STATE_MEDIA = "STATE_MEDIA", "State media"
    MEDIA = "MEDIA", "Media"
    ANALYST = "ANALYST", "Analyst"
    AUTHOR = "AUTHOR", "Author"
    ANONYMOUS = "ANONYMOUS", "Anonymous"


class ClaimType(models.TextChoices):
    FACTUAL = "FACTUAL", "Factual"
    EVALUATIVE = "EVALUATIVE", "Evaluative"
    PREDICTIVE = "PREDICTIVE", "Predictive"


class SpanQuerySet(models.QuerySet):
    def for_annotator(self, user):
        """Spans written by this user."""
        return self.filter(annotator=user)

    def in_project(self, project):
        return self.filter(document__project=project)

    def visible_to(self, user):
        """Spans the user may read: their own, plus every span of projects they curate or manage."""
        if not user.is_authenticated:
            return self.none()
        reviewing = Membership.objects.filter(
            user=user, role__in=[Membership.Role.CURATOR, Membership.Role.MANAGER]
        ).values("project_id")
        member_of = Membership.objects.filter(user=user).values("project_id")
        return self.filter(document__project_id__in=member_of).filter(
            Q(annotator=user) | Q(document__project_id__in=reviewing)
        )


class Span(models.Model):
    """A labeled passage: half-open [start, end) code-point offsets into its document's text."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"
        GOLD = "gold", "Gold"
        REJECTED = "rejected", "Rejected"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of their own: the composite indexes below begin with each of them.
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="spans", db_index=False)
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="spans", db_index=False
    )
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    text = models.TextField(help_text="The quoted text: exactly document.text[start:end].")
    prefix = models.CharField(max_length=CONTEXT_CHARS, blank=True)
    suffix = models.CharField(max_length=CONTEXT_CHARS, blank=True)
    themes = models.ManyToManyField(Theme, related_name="spans", blank=True)
    stance = models.ForeignKey(StanceValue, on_delete=models.PROTECT, null=True, blank=True, related_name="spans")
    stance_target = models.CharField(max_length=200, blank=True)
    source_reliability = models.CharField(max_length=1, choices=SourceReliability.choices, blank=True)
    info_credibility = models.PositiveSmallIntegerField(choices=InfoCredibility.choices, null=True, blank=True)
    source_type = models.CharField(max_length=16, choices=SourceType.choices, blank=True)
    source_name = models.CharField(max_length=200, blank=True)
    source_affiliation = models.CharField(max_length=200, blank=True)
    source_via = models.CharField(max_length=200, blank=True)
    claim_type = models.CharField(max_length=16, choices=ClaimType.choices, blank=True)
    note = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    # Gold spans only: the annotators' spans they were made from and how (spec section 5).
    sources = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="gold_spans")
    provenance = models.JSONField(default=dict, blank=True)
    # The span's own part of its export line, written by the database (annotations.export_template).
    jsonl_template = models.GeneratedField(expression=JsonlTemplate(), output_field=models.TextField(), db_persist=True)
    # The span's own part of its API JSON, for lists (annotations.span_json).
    api_json_template = models.GeneratedField(
        expression=ApiJsonTemplate(), output_field=models.TextField(), db_persist=True
    )

    history = HistoricalRecords(m2m_fields=[themes], excluded_fields=["jsonl_template", "api_json_template"])
    objects = SpanQuerySet.as_manager()

    class Meta:
        ordering = ["document", "start", "end", "created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="span_start_before_end"),
        ]
        indexes = [
            models.Index(fields=["document", "annotator", "start"], name="span_doc_annotator_start"),
            # The export's order: a chunk is read off the index instead of sorted.
            models.Index(fields=["document", "start", "end", "id"], name="span_export_order"),
            # The dashboard's grouped passes (annotations.dashboard) read these instead of the wide
            # rows; a third, on the theme codes, is plain SQL (migration 0005).
            models.Index(
                fields=["annotator", "status", "source_reliability", "info_credibility", "document", "updated_at"],
                name="span_dashboard_counts",
            ),
            models.Index(fields=["document", "stance", "status", "created_at"], name="span_dashboard_layer"),
        ]

    def __str__(self):
        return f"[{self.start}, {self.end}) {self.text[:40]!r}"

    def save(self, *args, **kwargs):
        # Every write path (API, admin, shell, import) goes through here, so the
        # anchor and label checks cannot be skipped by a caller that forgets clean().
        self.validate_anchor()
        self.validate_labels()
        self.fill_context()
        super().save(*args, **kwargs)

    @property
    def admiralty(self):
        """The derived Admiralty code, e.g. "B2", or "" while either grade is missing."""
        if not self.source_reliability or self.info_credibility is None:
            return ""
        return f"{self.source_reliability}{self.info_credibility}"

    def clean(self):
        super().clean()
        self.validate_anchor()
        self.validate_labels()

    def validate_anchor(self):
        """Refuse offsets outside the text, an empty span, or a quote that is not the text at the offsets."""
        text = self.document.text
        errors = {}
        if self.start is None or self.end is None:
            raise ValidationError({"start": "A span needs a start and an end."})
        if self.start < 0:
            errors["start"] = f"start {self.start} is negative."
        elif self.start >= len(text):
            errors["start"] = f"start {self.start} is outside the text (length {len(text)})."
        if self.end > len(text):
            errors["end"] = f"end {self.end} is outside the text (length {len(text)})."
        elif self.end <= self.start:
            errors["end"] = f"end {self.end} must be greater than start {self.start}: a span cannot be empty."
        if errors:
            raise ValidationError(errors)
        actual = text[self.start:self.end]
        if self.text != actual:
            raise ValidationError(
                {"text": f"The quote {self.text[:60]!r} is not the text at [{self.start}, {self.end}), which reads {actual[:60]!r}."}
            )

    def validate_labels(self):
        """Refuse a stance from another project or an annotator who is not a member."""
        project_id = self.document.project_id
        errors = {}
        if self.stance_id is not None and self.stance.project_id != project_id:
            errors["stance"] = f"Stance {self.stance.key} belongs to another project's schema."
        if self.annotator_id is not None and not Membership.objects.filter(
            project_id=project_id, user_id=self.annotator_id
        ).exists():
            errors["annotator"] = f"{self.annotator} is not a member of this project."
        if errors:
            raise ValidationError(errors)

    def fill_context(self):
        text = self.document.text
        self.prefix = text[max(0, self.start - CONTEXT_CHARS):self.start]
        self.suffix = text[self.end:self.end + CONTEXT_CHARS]

    def overlaps(self, other):
        """True when the two half-open ranges share at least one code point."""
        return self.start < other.end and other.start < self.end


class Assignment(models.Model):
    """One annotator's work on one document: assigned by a manager or begun by choice, then done."""

    class Status(models.TextChoices):
        NOT_STARTED = "not_started", "Not started"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NOT_STARTED)
    assigned = models.BooleanField(default=False, help_text="Given by a manager, not picked up by the annotator.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    done_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["document", "annotator"]
        constraints = [models.UniqueConstraint(fields=["document", "annotator"], name="assignment_unique")]

    def __str__(self):
        return f"{self.annotator} on {self.document}: {self.get_status_display()}"


class Curation(models.Model):
    """A curator's adjudication of one document into gold spans."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        CURATED = "curated", "Curated"

    document = models.OneToOneField(Document, on_delete=models.CASCADE, related_name="curation")
    curator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="curations")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    updated_at = models.DateTimeField(auto_now=True)
    curated_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    def __str__(self):
        return f"{self.document}: {self.get_status_display()} by {self.curator}"


class ApiRequestCount(models.Model):
    """Requests one API client made in its current throttling window (see annotations.throttling)."""

    key = models.CharField(max_length=80, primary_key=True)
    window_start = models.BigIntegerField(help_text="Unix time at which the counted window began.")
    hits = models.PositiveIntegerField()

    def __str__(self):
        return f"{self.key}: {self.hits} since {self.window_start}"
