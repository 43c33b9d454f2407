from django.core.exceptions import ValidationError as DjangoValidationError
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


def iso_from_db_text(text):
    """A UTC date-time as the database prints it, as iso() would write it.

    SQLite stores "2025-05-01 10:00:00.123456"; PostgreSQL, in the UTC sessions Django opens,
    prints "2025-05-01 10:00:00.12+00" (trailing zeros of the fraction dropped).
    """
    if text.endswith("+00"):
        text = text[:-3]
    elif text.endswith("+00:00"):
        text = text[:-6]
    whole, dot, fraction = text.partition(".")
    return whole.replace(" ", "T", 1) + (dot + fraction.ljust(6, "0") if dot else "") + "Z"


def uuid_from_db_text(text):
    """A UUID as the database prints it (SQLite: 32 hex digits), with the usual dashes."""
    if len(text) == 32:
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return text


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
    status = serializers.ChoiceField(
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

    # What SpanViewSet.list selects: the span's columns plus names and theme codes joined in SQL.
    ROW_FIELDS = (
        "id_text", "document_id", "document_external_id", "start", "end", "text", "prefix", "suffix", "theme_list",
        "stance_key", "stance_target", "source_reliability", "info_credibility", "source_type", "source_name",
        "source_affiliation", "source_via", "claim_type", "note", "status", "annotator_username", "version",
        "created_text", "updated_text",
    )

    def to_representation(self, span):
        # Written out by hand: a document page lists hundreds of spans, and DRF's
        # per-field machinery costs more than the query. Keys match Meta.fields.
        # Theme codes come sorted, so every path lists a span's themes alike.
        if isinstance(span, dict):
            return self._row_representation(span)
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
            "themes": sorted(theme.code for theme in span.themes.all()) if codes is None else codes,
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

    @staticmethod
    def _row_representation(row):
        reliability, credibility = row["source_reliability"], row["info_credibility"]
        return {
            "id": uuid_from_db_text(row["id_text"]),
            "document": row["document_id"],
            "document_external_id": row["document_external_id"],
            "start": row["start"],
            "end": row["end"],
            "text": row["text"],
            "prefix": row["prefix"],
            "suffix": row["suffix"],
            "themes": sorted(row["theme_list"].split(",")) if row["theme_list"] else [],
            "stance": row["stance_key"],
            "stance_target": row["stance_target"],
            "source_reliability": reliability,
            "info_credibility": credibility,
            "attributed_source": {
                "type": row["source_type"], "name": row["source_name"],
                "affiliation": row["source_affiliation"], "via": row["source_via"],
            },
            "claim_type": row["claim_type"],
            "note": row["note"],
            "status": row["status"],
            "annotator": row["annotator_username"],
            "version": row["version"],
            "created_at": iso_from_db_text(row["created_text"]),
            "updated_at": iso_from_db_text(row["updated_text"]),
            # As Span.admiralty: both grades or nothing.
            "admiralty": f"{reliability}{credibility}" if reliability and credibility is not None else "",
        }


class SpanBulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="How many spans were stored.")
    ids = serializers.ListField(child=serializers.UUIDField(), help_text="The new spans' ids, in request order.")
