from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from corpus.models import Document

from .bulk import api_field_errors
from .models import SourceType, Span, StanceValue
from .services import span_update

SOURCE_FIELDS = {"type": "source_type", "name": "source_name", "affiliation": "source_affiliation", "via": "source_via"}


def iso(value):
    """A datetime as DRF writes it (ISO 8601, "Z" for UTC), without a serializer field per value."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class DocumentField(serializers.PrimaryKeyRelatedField):
    """A document id, looked up only among the documents of the requesting user's projects."""

    default_error_messages = {
        "does_not_exist": "Document {pk_value} does not exist or is not in one of your projects.",
    }

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return Document.objects.none()
        return Document.objects.for_user(request.user).select_related("project")


class AttributedSourceSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=SourceType.choices, allow_blank=True, required=False)
    name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    affiliation = serializers.CharField(max_length=200, allow_blank=True, required=False)
    via = serializers.CharField(max_length=200, allow_blank=True, required=False)


@extend_schema_field({"type": "string", "enum": list(Span.Status.values)})
class SpanStatusField(serializers.ChoiceField):
    """Reads give any status; the schema says so, though writes take only draft or submitted."""


class SpanSerializer(serializers.ModelSerializer):
    """A labeled passage; offsets are code points of the document text and `text` must equal text[start:end]."""

    document = DocumentField()
    document_external_id = serializers.CharField(read_only=True)
    themes = serializers.ListField(
        child=serializers.CharField(max_length=81), help_text='Theme codes, e.g. ["FINANCE.currency"].'
    )
    stance = serializers.CharField(
        allow_null=True, allow_blank=True, required=False, help_text="A stance key of the project, e.g. NEUTRAL."
    )
    attributed_source = AttributedSourceSerializer(required=False)
    status = SpanStatusField(
        choices=[Span.Status.DRAFT, Span.Status.SUBMITTED], required=False,
        help_text="Annotators write draft or submitted; gold and rejected come from curation.",
    )
    annotator = serializers.CharField(read_only=True, help_text="Username of the span's author.")
    version = serializers.IntegerField(
        min_value=1, required=False,
        help_text="Read: the current version. On update: the version you read (or send If-Match).",
    )
    admiralty = serializers.CharField(read_only=True, help_text='Derived grade, e.g. "F2", or "".')

    class Meta:
        model = Span
        fields = (
            "id", "document", "document_external_id", "start", "end", "text", "prefix", "suffix", "themes",
            "stance", "stance_target", "source_reliability", "info_credibility", "attributed_source",
            "claim_type", "note", "status", "annotator", "version", "created_at", "updated_at", "admiralty",
        )
        read_only_fields = ("id", "prefix", "suffix", "annotator", "created_at", "updated_at")
        extra_kwargs = {
            "stance_target": {"required": False},
            # The quote is compared with the text character for character: keep its spaces,
            # and leave an empty one to the model, which names the real fault (start == end).
            "text": {"trim_whitespace": False, "allow_blank": True},
        }

    def validate(self, attrs):
        attrs.pop("version", None)
        if self.instance is None:
            project = attrs["document"].project
        else:
            document = attrs.pop("document", None)
            if document is not None and document.pk != self.instance.document_id:
                raise serializers.ValidationError({"document": "A span cannot move to another document."})
            project = self.instance.document.project
        if "stance" in attrs:
            key = attrs.pop("stance")
            attrs["stance"] = None
            if key:
                attrs["stance"] = StanceValue.objects.filter(project=project, key=key).first()
                if attrs["stance"] is None:
                    raise serializers.ValidationError({"stance": f"Unknown stance for this project: {key!r}."})
        source = attrs.pop("attributed_source", None) or {}
        for key, value in source.items():
            attrs[SOURCE_FIELDS[key]] = value
        return attrs

    def update(self, instance, validated_data):
        try:
            span = span_update(span=instance, **validated_data)
        except DjangoValidationError as exc:
            raise DjangoValidationError(api_field_errors(exc)) from None
        span.annotator = instance.annotator
        return span

    def to_representation(self, span):
        # Written out by hand: DRF's per-field machinery costs more than the query. Keys match
        # Meta.fields and span_json.SpanJSON (lists), theme codes in schema order on every path.
        codes = getattr(span, "theme_codes", None)
        return {
            "id": str(span.pk),
            "document": span.document_id,
            "document_external_id": span.document.external_id,
            "start": span.start,
            "end": span.end,
            "text": span.text,
            "prefix": span.prefix,
            "suffix": span.suffix,
            "themes": [theme.code for theme in span.themes.all()] if codes is None else codes,
            "stance": span.stance.key if span.stance_id is not None else None,
            "stance_target": span.stance_target,
            "source_reliability": span.source_reliability,
            "info_credibility": span.info_credibility,
            "attributed_source": {
                "type": span.source_type, "name": span.source_name,
                "affiliation": span.source_affiliation, "via": span.source_via,
            },
            "claim_type": span.claim_type,
            "note": span.note,
            "status": span.status,
            "annotator": span.annotator.username,
            "version": span.version,
            "created_at": iso(span.created_at),
            "updated_at": iso(span.updated_at),
            "admiralty": span.admiralty,
        }


class SpanBulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="How many spans were stored.")
    ids = serializers.ListField(child=serializers.UUIDField(), help_text="The new spans' ids, in request order.")
