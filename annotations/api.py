"""REST API for spans, and what every API view shares: errors, paging, access rules."""
import json
import re
import sys
from datetime import datetime
from datetime import timezone as dt_timezone

import django_filters
from django import forms
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.db.models import Exists, OuterRef, Q
from django.http import Http404, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.defaults import page_not_found
from django.views.defaults import server_error as django_server_error
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from .bulk import MAX_BULK_SPANS, SpansRefused, spans_bulk_create
from .models import InfoCredibility, SourceReliability, Span
from .serializers import SpanBulkResultSerializer, SpanSerializer
from .span_json import SpanJSON
from .services import StaleSpan, span_delete


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object changed since it was read."
    default_code = "stale"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class ItemsInvalid(exceptions.APIException):
    """Some items of a bulk request were refused; the request as a whole stored nothing."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, items, total):
        self.items = items
        super().__init__(
            f"{len(items)} of {total} item(s) were refused; nothing was stored.", code="invalid"
        )


def _fields_from(detail):
    """DRF error detail as {field: [messages]}, nested serializers flattened with dots."""
    fields = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list) and value and all(isinstance(v, (dict, list)) for v in value):
            for index, inner in enumerate(value):
                walk(f"{prefix}.{index}" if prefix else str(index), inner)
        else:
            messages = value if isinstance(value, list) else [value]
            fields.setdefault(prefix or "non_field_errors", []).extend(str(m) for m in messages)

    walk("", detail)
    return fields


def validation_fields(exc):
    """A Django ValidationError's messages by field, non-field messages under "non_field_errors"."""
    return _fields_from(as_serializer_error(exc))


def _summary(fields):
    field, messages = next(iter(fields.items()))
    first = messages[0] if messages else "invalid"
    if field == "non_field_errors":
        return first
    more = len(fields) - 1
    return f"{field}: {first}" + (f" (and {more} more field(s))" if more else "")


def exception_handler(exc, context):
    """Answer every refusal with {"error": {"status", "code", "message", ["fields"], ["items"]}}."""
    extra = {}
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(str(exc))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, StaleSpan):
        extra["current_version"] = exc.current
        exc = Conflict(str(exc))

    response = drf_exception_handler(exc, context)
    if response is None:
        return None

    error = {"status": response.status_code}
    if isinstance(exc, exceptions.ValidationError):
        fields = _fields_from(exc.detail)
        error.update(code="invalid", message=_summary(fields), fields=fields)
    else:
        codes = exc.get_codes()
        error["code"] = codes if isinstance(codes, str) else "error"
        error["message"] = str(exc.detail)
    if isinstance(exc, ItemsInvalid):
        error["items"] = exc.items
    error.update(extra)
    response.data = {"error": error}
    return response


class StableCursorPagination(CursorPagination):
    """Cursor pages over an ordering that ends in a unique field, so rows added while a client pages are neither skipped nor repeated."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = ("created_at", "id")

    def _get_position_from_instance(self, instance, ordering):
        # Span list rows are the spans' JSON (SpanViewSet.get_queryset), ordered by creation time
        # first; DRF asks for the position of a row or two at each page's ends.
        if isinstance(instance, str):
            return json.loads(instance)[ordering[0].lstrip("-")]
        return super()._get_position_from_instance(instance, ordering)


class ProjectCursorPagination(StableCursorPagination):
    ordering = ("slug",)


class DocumentCursorPagination(StableCursorPagination):
    ordering = ("id",)


_IF_MATCH_VERSION = re.compile(r'^\s*(?:W/)?"?(\d+)"?\s*$')


def expected_version(request, data=None):
    """The version the client read: the body's "version", else If-Match, else ?version=; None when absent."""
    raw = None
    if isinstance(data, dict) and data.get("version") not in (None, ""):
        raw = data["version"]
    elif request.headers.get("If-Match"):
        match = _IF_MATCH_VERSION.match(request.headers["If-Match"])
        if match is None:
            raise exceptions.ValidationError({"version": ["If-Match must hold the span's version, e.g. \"3\"."]})
        raw = match.group(1)
    elif request.query_params.get("version"):
        raw = request.query_params["version"]
    if raw is None:
        return None
    try:
        if isinstance(raw, (bool, float)):
            raise ValueError(raw)
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise exceptions.ValidationError({"version": ["A version is a whole number of at least 1."]})
    return value


def not_found(request, exception=None):
    """The 404 of a URL no route matches: under /api/ in the API's error shape, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"status": 404, "code": "not_found", "message": "Not found."}}, status=404)
    return page_not_found(request, exception)


# What a request meets while the database is down, restarting or refusing connections; it is
# back within a second or so (README, "Load and fault tests").
UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)
UNAVAILABLE_RETRY_SECONDS = 5
UNAVAILABLE_PAGE = (
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Service unavailable</title></head>"
    "<body><h1>Service unavailable</h1><p>The database cannot be reached just now. Try again in a few seconds."
    "</p></body></html>"
)


def server_error(request):
    """The answer to an unhandled exception (DEBUG off): 503 when the database cannot be reached, else 500.

    Under /api/ it is in the API's error shape, never with the exception's text; elsewhere a plain
    page for the 503 (a template could need the database too) and Django's page for the 500.
    Django calls this inside its `except` clause, so the exception is the one being handled.
    """
    unavailable = isinstance(sys.exc_info()[1], UNAVAILABLE_ERRORS)
    if request.path.startswith("/api/"):
        if unavailable:
            response = JsonResponse({"error": {
                "status": 503, "code": "unavailable",
                "message": "The database cannot be reached just now; try again in a few seconds.",
            }}, status=503)
        else:
            return JsonResponse({"error": {
                "status": 500, "code": "server_error",
                "message": "The server failed to answer this request; the error was logged.",
            }}, status=500)
    elif unavailable:
        response = HttpResponse(UNAVAILABLE_PAGE, status=503)
    else:
        return django_server_error(request)
    response["Retry-After"] = str(UNAVAILABLE_RETRY_SECONDS)
    return response


def error_response(status_code, code, message, **extra):
    """A refusal in the shared error shape, for views that answer without raising."""
    return Response({"error": {"status": status_code, "code": code, "message": message, **extra}}, status=status_code)


ERROR_RESPONSE = inline_serializer(
    "Error",
    {"error": inline_serializer("ErrorDetail", {
        "status": serializers.IntegerField(),
        "code": serializers.CharField(),
        "message": serializers.CharField(),
        "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False),
        "items": serializers.ListField(child=serializers.DictField(), required=False),
        "current_version": serializers.IntegerField(required=False),
    })},
)
# 415: a body in a type the endpoint does not read, or one its parser cannot make sense of.
# 429: more requests than the client's rate (annotations.throttling), with Retry-After.
ERRORS = {400: ERROR_RESPONSE, 401: ERROR_RESPONSE, 403: ERROR_RESPONSE, 404: ERROR_RESPONSE, 415: ERROR_RESPONSE,
          429: ERROR_RESPONSE}
VERSION_HEADER = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description='The version you read, e.g. "3"; alternative to the "version" field.',
)


class PreRendered(list):
    """Rows already written as JSON text, spliced into the response as they are."""


class SpanJSONRenderer(JSONRenderer):
    """JSON, with a page of PreRendered rows joined in rather than decoded and encoded again."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, dict) and isinstance(data.get("results"), PreRendered):
            head = super().render({k: v for k, v in data.items() if k != "results"}, accepted_media_type,
                                  renderer_context)
            rows = ",".join(data["results"]).encode()
            return head[:-1] + (b"," if len(data) > 1 else b"") + b'"results":[' + rows + b"]}"
        return super().render(data, accepted_media_type, renderer_context)


@extend_schema_field(OpenApiTypes.INT)
class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


def as_utc(moment):
    """An aware moment in UTC, clamped to the calendar's ends.

    Python takes offsets up to 23:59 but PostgreSQL refuses any beyond 15:59 and fails the query
    (a 500), so filters compare in UTC; a moment that UTC pushes past year 1 or 9999 clamps.
    """
    try:
        return moment.astimezone(dt_timezone.utc)
    except OverflowError:
        return (datetime.min if moment.year == 1 else datetime.max).replace(tzinfo=dt_timezone.utc)


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    def filter(self, qs, value):
        return super().filter(qs, as_utc(value) if value is not None and value.tzinfo is not None else value)


class SpanFilter(django_filters.FilterSet):
    project = django_filters.CharFilter(field_name="document__project__slug", help_text="Project slug.")
    document = IntegerFilter(field_name="document_id", help_text="Document id.")
    annotator = django_filters.CharFilter(field_name="annotator__username", help_text="Username.")
    theme = django_filters.CharFilter(
        method="filter_theme", help_text="Theme code; a top-level code also matches its sub-themes."
    )
    stance = django_filters.CharFilter(field_name="stance__key", help_text="Stance key.")
    source_reliability = django_filters.ChoiceFilter(choices=SourceReliability.choices)
    info_credibility = django_filters.TypedChoiceFilter(choices=InfoCredibility.choices, coerce=int)
    status = django_filters.ChoiceFilter(choices=Span.Status.choices)
    updated_since = UtcDateTimeFilter(
        field_name="updated_at", lookup_expr="gt", help_text="ISO 8601 date-time; spans changed after it."
    )

    class Meta:
        model = Span
        fields = []

    def filter_theme(self, queryset, name, value):
        links = Span.themes.through.objects.filter(span_id=OuterRef("pk")).filter(
            Q(theme__code=value) | Q(theme__code__startswith=f"{value}.")
        )
        return queryset.filter(Exists(links))


ONE_DOCUMENT_PARAMS = {"document", "page_size", "cursor"}
DOCUMENT_ID = re.compile(r"[0-9]{1,18}")


@extend_schema_view(
    list=extend_schema(summary="Spans I may read", responses={200: SpanSerializer(many=True), **ERRORS}),
    retrieve=extend_schema(summary="One span", responses={200: SpanSerializer, **ERRORS}),
    create=extend_schema(summary="Create a span (annotator = me)", responses={201: SpanSerializer, **ERRORS}),
    update=extend_schema(summary="Replace a span's labels and extent", parameters=[VERSION_HEADER],
                         responses={200: SpanSerializer, 409: ERROR_RESPONSE, **ERRORS}),
    partial_update=extend_schema(summary="Change some of a span's labels", parameters=[VERSION_HEADER],
                                 responses={200: SpanSerializer, 409: ERROR_RESPONSE, **ERRORS}),
    destroy=extend_schema(
        summary="Delete a span", responses={204: None, 409: ERROR_RESPONSE, **ERRORS},
        parameters=[VERSION_HEADER, OpenApiParameter("version", OpenApiTypes.INT, required=False,
                                                     description="The version you read.")],
    ),
)
class SpanViewSet(viewsets.ModelViewSet):
    """Spans: annotators read and write their own; curators and managers read all of their projects."""

    serializer_class = SpanSerializer
    filterset_class = SpanFilter
    pagination_class = StableCursorPagination
    renderer_classes = [SpanJSONRenderer, BrowsableAPIRenderer]

    def get_queryset(self):
        spans = Span.objects.visible_to(self.request.user)
        if self.action == "list":
            # Each row's JSON comes from the database (see span_json): one query for the page,
            # however many spans it holds.
            return spans.annotate(row_json=SpanJSON()).values_list("row_json", flat=True)
        return spans.select_related("document__project", "annotator", "stance")

    def filter_queryset(self, queryset):
        # The workbench reads one document's spans at every load: a plain document id is
        # applied as it is, without building and validating the whole filter form (about a
        # millisecond). Anything else, an invalid id included, goes through SpanFilter.
        params = self.request.query_params
        if self.action == "list" and params.keys() <= ONE_DOCUMENT_PARAMS:
            document = params.get("document", "")
            if DOCUMENT_ID.fullmatch(document):
                return queryset.filter(document_id=int(document))
        return super().filter_queryset(queryset)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(PreRendered(page))

    def create(self, request, *args, **kwargs):
        # The same checks as the bulk path, which asks for the schema once and writes a
        # span, its themes and one history record in a handful of statements, where
        # services.span_create costs about fifteen queries and two history records.
        # The model's own anchor and submission checks run on the span either way.
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError(
                {"non_field_errors": ["Send one span as an object; send lists to /api/spans/bulk/."]}
            )
        try:
            [span] = spans_bulk_create(items=[request.data], annotator=request.user)
        except SpansRefused as exc:
            raise exceptions.ValidationError(exc.errors[0]["fields"]) from None
        span.annotator = request.user
        data = self.get_serializer(span).data
        # Where the new span lives and its version, as a 201 conventionally says: a client can
        # take both from the headers, before the body has arrived.
        return Response(data, status=status.HTTP_201_CREATED, headers={
            "Location": reverse("api:span-detail", args=[span.pk]), "ETag": f'"{data["version"]}"',
        })

    def get_object(self):
        span = super().get_object()
        if self.request.method not in ("GET", "HEAD", "OPTIONS") and span.annotator_id != self.request.user.pk:
            raise exceptions.PermissionDenied("Only the annotator who wrote a span may change it.")
        return span

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        response["ETag"] = f'"{response.data["version"]}"'
        return response

    def update(self, request, *args, **kwargs):
        span = self.get_object()
        version = expected_version(request, request.data)
        if version is None:
            raise exceptions.ValidationError(
                {"version": ["Send the version you read, in the body or as an If-Match header."]}
            )
        serializer = self.get_serializer(span, data=request.data, partial=kwargs.pop("partial", False))
        serializer.is_valid(raise_exception=True)
        serializer.save(expected_version=version)
        response = Response(serializer.data)
        response["ETag"] = f'"{serializer.data["version"]}"'
        return response

    def destroy(self, request, *args, **kwargs):
        span = self.get_object()
        version = expected_version(request, request.data)
        if version is None:
            raise exceptions.ValidationError(
                {"version": ["Send the version you read, as ?version=, in the body or as an If-Match header."]}
            )
        span_delete(span=span, expected_version=version)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Create up to 10,000 spans at once (all or nothing)",
        request=SpanSerializer(many=True),
        responses={201: SpanBulkResultSerializer, 413: ERROR_RESPONSE, **ERRORS},
    )
    @action(detail=False, methods=["post"], pagination_class=None, filterset_class=None)
    def bulk(self, request):
        items = request.data
        if isinstance(items, dict) and isinstance(items.get("spans"), list):
            items = items["spans"]
        if not isinstance(items, list):
            raise exceptions.ValidationError({"non_field_errors": ["Send a list of spans."]})
        if len(items) > MAX_BULK_SPANS:
            raise exceptions.ValidationError(
                {"non_field_errors": [f"At most {MAX_BULK_SPANS:,} spans per request; split the batch."]}
            )
        try:
            spans = spans_bulk_create(items=items, annotator=request.user)
        except SpansRefused as exc:
            raise ItemsInvalid(exc.errors, exc.total) from None
        return Response({"created": len(spans), "ids": [str(span.pk) for span in spans]},
                        status=status.HTTP_201_CREATED)
