import hashlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from simple_history.models import HistoricalRecords

DEFAULT_STANCE_TARGET = "the China-Russia partnership"


def text_sha256(text):
    """Return the hex SHA-256 of a document text encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ProjectQuerySet(models.QuerySet):
    def for_user(self, user):
        """Projects the user is a member of (superusers included only where they are members)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user).distinct()


class Project(models.Model):
    """The unit a team annotates: documents, a label schema and members."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    guidelines = models.TextField(
        blank=True, help_text="Annotation guidelines shown to reviewers; a little HTML formatting is allowed."
    )
    stance_target = models.CharField(max_length=200, default=DEFAULT_STANCE_TARGET)
    unassigned_open = models.BooleanField(
        default=True, help_text="Annotators may also work on documents nobody assigned to them."
    )
    annotators_per_document = models.PositiveSmallIntegerField(
        default=2, help_text="How many annotators the automatic assignment gives each document."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("corpus:project-detail", args=[self.slug])

    def role_of(self, user):
        """The user's role in this project, or None when not a member."""
        if not user.is_authenticated:
            return None
        return self.memberships.filter(user=user).values_list("role", flat=True).first()


class Membership(models.Model):
    """A user's place in a project."""

    class Role(models.TextChoices):
        MANAGER = "manager", "Manager"
        CURATOR = "curator", "Curator"
        ANNOTATOR = "annotator", "Annotator"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user")]
        ordering = ["project", "user__username"]

    def __str__(self):
        return f"{self.user} ({self.get_role_display()}) in {self.project}"


class DocumentQuerySet(models.QuerySet):
    def for_user(self, user):
        """Documents of the projects the user is a member of."""
        return self.filter(project__in=Project.objects.for_user(user))


class Document(models.Model):
    """A source text, frozen at ingest; its offsets are what spans point into."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="documents")
    external_id = models.CharField(max_length=200, help_text="Identifier from the source; unique within the project.")
    title = models.CharField(max_length=500, blank=True)
    text = models.TextField()
    # Looked up within a project, through the unique (project, text_sha256) constraint's index.
    text_sha256 = models.CharField(max_length=64, editable=False)
    outlet = models.CharField(max_length=200, blank=True)
    author = models.CharField(max_length=200, blank=True)
    url = models.URLField(max_length=1000, blank=True)
    published_date = models.DateField(null=True, blank=True)
    language = models.CharField(max_length=16, blank=True)
    genre = models.CharField(max_length=100, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()
    objects = DocumentQuerySet.as_manager()

    class Meta:
        ordering = ["project", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"], name="document_unique_external_id"),
            models.UniqueConstraint(fields=["project", "text_sha256"], name="document_unique_text"),
        ]

    def __str__(self):
        return self.title or self.external_id

    def save(self, *args, **kwargs):
        self.text_sha256 = text_sha256(self.text)
        if self.pk is not None:
            self.check_text_unchanged()
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("corpus:document-detail", args=[self.pk])

    def clean(self):
        super().clean()
        if not self.text:
            raise ValidationError({"text": "A document needs some text."})
        if self.pk is not None:
            self.check_text_unchanged()

    def check_text_unchanged(self):
        """Refuse a new text once any span points into the stored one: its offsets would break."""
        stored = Document.objects.filter(pk=self.pk).values_list("text_sha256", flat=True).first()
        if stored is None or stored == text_sha256(self.text):
            return
        count = self.spans.count()
        if count:
            raise ValidationError(
                {
                    "text": (
                        f"The text cannot change: {count} span(s) point into it by offset. "
                        "Import the new text as a new document instead."
                    )
                }
            )
