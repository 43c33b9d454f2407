from django.contrib.auth import get_user_model
from rest_framework import serializers

from .models import Document, Membership, Project


class ProjectSerializer(serializers.ModelSerializer):
    my_role = serializers.CharField(read_only=True, help_text="Your role here: manager, curator or annotator.")

    class Meta:
        model = Project
        fields = (
            "slug", "name", "description", "guidelines", "stance_target", "unassigned_open",
            "annotators_per_document", "created_at", "my_role",
        )
        read_only_fields = fields


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.SlugRelatedField(
        source="user", slug_field="username", queryset=get_user_model().objects.all(),
        help_text="An existing user's username.",
    )

    class Meta:
        model = Membership
        fields = ("username", "role", "joined_at")
        read_only_fields = ("joined_at",)


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class ChoiceSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()


class IntegerChoiceSerializer(serializers.Serializer):
    value = serializers.IntegerField()
    label = serializers.CharField()


class SchemaThemeSerializer(serializers.Serializer):
    code = serializers.CharField()
    key = serializers.CharField()
    name = serializers.CharField()
    colour = serializers.CharField()
    shortcut = serializers.CharField()
    parent = serializers.CharField(allow_null=True, help_text="The parent's code, null for a top-level theme.")
    position = serializers.IntegerField()


class SchemaStanceSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    colour = serializers.CharField()
    shortcut = serializers.CharField()


class LabelSchemaSerializer(serializers.Serializer):
    themes = SchemaThemeSerializer(many=True)
    stances = SchemaStanceSerializer(many=True)
    stance_target = serializers.CharField()
    source_reliability = ChoiceSerializer(many=True)
    info_credibility = IntegerChoiceSerializer(many=True)
    source_types = ChoiceSerializer(many=True)
    claim_types = ChoiceSerializer(many=True)


class DocumentSerializer(serializers.ModelSerializer):
    """A document without its text, as lists show it."""

    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    my_status = serializers.CharField(
        read_only=True, help_text="Your progress on it: not_started, in_progress or done."
    )
    # A plain string in the schema: most documents have no URL, and "" is no "uri".
    url = serializers.CharField(read_only=True, help_text="The source's URL; empty when unknown.")

    class Meta:
        model = Document
        fields = (
            "id", "project", "external_id", "title", "outlet", "author", "url", "published_date", "language",
            "genre", "metadata", "text_sha256", "created_at", "updated_at", "my_status",
        )
        read_only_fields = fields


class DocumentDetailSerializer(DocumentSerializer):
    class Meta(DocumentSerializer.Meta):
        fields = DocumentSerializer.Meta.fields + ("text",)
        read_only_fields = fields


class DocumentCreateSerializer(serializers.Serializer):
    """One document to create; extra keys are kept in metadata, as the import does."""

    project = serializers.SlugField(required=False, help_text="Project slug; or give ?project= for every item.")
    external_id = serializers.CharField(max_length=200)
    text = serializers.CharField(trim_whitespace=False)
    format = serializers.ChoiceField(
        choices=["text", "html"], required=False, help_text='"html": tags, scripts and styles are removed.'
    )
    title = serializers.CharField(max_length=500, required=False, help_text="Defaults to the first line.")
    outlet = serializers.CharField(max_length=200, required=False)
    author = serializers.CharField(max_length=200, required=False)
    url = serializers.URLField(max_length=1000, required=False)
    published_date = serializers.DateField(required=False, allow_null=True)
    language = serializers.CharField(max_length=16, required=False)
    genre = serializers.CharField(max_length=100, required=False)
    metadata = serializers.DictField(required=False)


class DocumentCreatedSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=["created", "duplicate"], help_text="duplicate: the project already holds this text."
    )
    id = serializers.IntegerField()
    external_id = serializers.CharField()


class DocumentBulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    results = DocumentCreatedSerializer(many=True)


class DocumentStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["in_progress", "done"])


class AssignmentSerializer(serializers.Serializer):
    document = serializers.IntegerField(source="document_id")
    status = serializers.CharField()
    assigned = serializers.BooleanField()
    done_at = serializers.DateTimeField(allow_null=True)
    submitted = serializers.IntegerField(help_text="How many of your drafts this call submitted.")
