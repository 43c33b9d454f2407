"""REST API for projects (with their label schema and members) and documents."""
import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import CharField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from annotations.api import (
    ERROR_RESPONSE,
    ERRORS,
    Conflict,
    DocumentCursorPagination,
    ItemsInvalid,
    ProjectCursorPagination,
    error_response,
)
from annotations.models import Assignment, ClaimType, InfoCredibility, SourceReliability, SourceType
from annotations.progress import IncompleteSpans, assignment_set_status

from .bulk import DocumentsRefused, documents_bulk_create
from .models import Document, Membership, Project
from .serializers import (
    AssignmentSerializer,
    DocumentBulkResultSerializer,
    DocumentCreateSerializer,
    DocumentDetailSerializer,
    DocumentSerializer,
    DocumentStatusSerializer,
    LabelSchemaSerializer,
    MemberRoleSerializer,
    MemberSerializer,
    ProjectSerializer,
)

MAX_BULK_DOCUMENTS = 5_000


def my_role(user):
    """An annotation with the user's role in each project."""
    return Subquery(Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1])


def require_manager(project, user):
    role = getattr(project, "my_role", None) or project.role_of(user)
    if role != Membership.Role.MANAGER:
        raise exceptions.PermissionDenied("Only managers of the project may do this.")


def choices(enum):
    return [{"value": value, "label": label} for value, label in enum.choices]


@extend_schema_view(
    list=extend_schema(summary="My projects", responses={200: ProjectSerializer(many=True), **ERRORS}),
    retrieve=extend_schema(summary="One project", responses={200: ProjectSerializer, **ERRORS}),
)
class ProjectViewSet(viewsets.ReadOnlyModelViewSet):
    """Projects I am a member of; any other answers 404."""

    serializer_class = ProjectSerializer
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    pagination_class = ProjectCursorPagination
    filterset_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Project.objects.none()
        return Project.objects.for_user(self.request.user).annotate(my_role=my_role(self.request.user))

    @extend_schema(summary="The project's label schema", responses={200: LabelSchemaSerializer, **ERRORS})
    @action(detail=True, methods=["get"], url_path="schema", pagination_class=None)
    def label_schema(self, request, slug=None):
        project = self.get_object()
        themes = project.themes.select_related("parent").order_by("position", "code")
        return Response({
            "themes": [
                {"code": t.code, "key": t.key, "name": t.name, "colour": t.colour, "shortcut": t.shortcut,
                 "parent": t.parent.code if t.parent_id else None, "position": t.position}
                for t in themes
            ],
            "stances": [
                {"key": s.key, "name": s.name, "colour": s.colour, "shortcut": s.shortcut}
                for s in project.stances.order_by("position", "key")
            ],
            "stance_target": project.stance_target,
            "source_reliability": choices(SourceReliability),
            "info_credibility": choices(InfoCredibility),
            "source_types": choices(SourceType),
            "claim_types": choices(ClaimType),
        })

    @extend_schema(
        methods=["GET"], summary="Members and their roles", responses={200: MemberSerializer(many=True), **ERRORS}
    )
    @extend_schema(
        methods=["POST"], summary="Add a member or change a member's role (managers)",
        request=MemberSerializer, responses={200: MemberSerializer, 201: MemberSerializer, **ERRORS},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None, serializer_class=MemberSerializer)
    def members(self, request, slug=None):
        project = self.get_object()
        if request.method == "GET":
            memberships = project.memberships.select_related("user").order_by("user__username")
            return Response(MemberSerializer(memberships, many=True).data)
        require_manager(project, request.user)
        serializer = MemberSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user, role = serializer.validated_data["user"], serializer.validated_data["role"]
        with transaction.atomic():
            membership = Membership.objects.filter(project=project, user=user).first()
            if membership is None:
                membership = Membership.objects.create(project=project, user=user, role=role)
                return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)
            self._keep_a_manager(project, membership, role)
            membership.role = role
            membership.save(update_fields=["role"])
        return Response(MemberSerializer(membership).data)

    @extend_schema(
        methods=["PATCH"], summary="Change a member's role (managers)", request=MemberRoleSerializer,
        responses={200: MemberSerializer, **ERRORS},
    )
    @extend_schema(methods=["DELETE"], summary="Remove a member (managers)", responses={204: None, **ERRORS})
    @action(detail=True, methods=["patch", "delete"], url_path=r"members/(?P<username>[^/]+)",
            pagination_class=None, serializer_class=MemberRoleSerializer)
    def member(self, request, slug=None, username=None):
        project = self.get_object()
        membership = get_object_or_404(project.memberships.select_related("user"), user__username=username)
        require_manager(project, request.user)
        with transaction.atomic():
            if request.method == "DELETE":
                self._keep_a_manager(project, membership, None)
                membership.delete()
                return Response(status=status.HTTP_204_NO_CONTENT)
            serializer = MemberRoleSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            self._keep_a_manager(project, membership, serializer.validated_data["role"])
            membership.role = serializer.validated_data["role"]
            membership.save(update_fields=["role"])
        return Response(MemberSerializer(membership).data)

    @staticmethod
    def _keep_a_manager(project, membership, new_role):
        """A project left without a manager could not be managed through the API again."""
        if membership.role != Membership.Role.MANAGER or new_role == Membership.Role.MANAGER:
            return
        if not project.memberships.filter(role=Membership.Role.MANAGER).exclude(pk=membership.pk).exists():
            raise exceptions.ValidationError({"role": ["The project's last manager cannot leave or change role."]})


class DocumentFilter(django_filters.FilterSet):
    project = django_filters.CharFilter(field_name="project__slug", help_text="Project slug.")
    genre = django_filters.CharFilter()
    outlet = django_filters.CharFilter()
    language = django_filters.CharFilter()
    status = django_filters.ChoiceFilter(
        field_name="my_status", choices=Assignment.Status.choices,
        help_text="My progress: not_started (also when I never opened it), in_progress or done.",
    )
    search = django_filters.CharFilter(
        method="filter_search", help_text="Words found in the title, external id, outlet, author or text."
    )

    class Meta:
        model = Document
        fields = []

    def filter_search(self, queryset, name, value):
        for word in value.split():
            queryset = queryset.filter(
                Q(title__icontains=word) | Q(external_id__icontains=word) | Q(outlet__icontains=word)
                | Q(author__icontains=word) | Q(text__icontains=word)
            )
        return queryset


DOCUMENT_CREATE_REQUEST = PolymorphicProxySerializer(
    component_name="DocumentCreateRequest",
    serializers=[DocumentCreateSerializer, DocumentCreateSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)


@extend_schema_view(
    list=extend_schema(summary="Documents of my projects (without text)",
                       responses={200: DocumentSerializer(many=True), **ERRORS}),
    retrieve=extend_schema(summary="One document with its text", responses={200: DocumentDetailSerializer, **ERRORS}),
)
class DocumentViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Documents of my projects; managers add them, one or many per request."""

    filterset_class = DocumentFilter
    pagination_class = DocumentCursorPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Document.objects.none()
        user = self.request.user
        mine = Assignment.objects.filter(document=OuterRef("pk"), annotator=user).values("status")[:1]
        documents = Document.objects.for_user(user).select_related("project").annotate(
            my_status=Coalesce(Subquery(mine), Value(Assignment.Status.NOT_STARTED), output_field=CharField())
        )
        if self.action == "list":
            # Texts can be megabytes; a list needs none of them.
            documents = documents.defer("text")
        return documents

    def get_serializer_class(self):
        return DocumentDetailSerializer if self.action == "retrieve" else DocumentSerializer

    @extend_schema(
        summary="Add one document or a list of them (managers; all or nothing)",
        request=DOCUMENT_CREATE_REQUEST,
        responses={
            201: OpenApiResponse(DocumentBulkResultSerializer, description="A list was sent; what each item became."),
            200: OpenApiResponse(DocumentDetailSerializer,
                                 description="One document was sent and the project already holds its text."),
            413: ERROR_RESPONSE, **ERRORS,
        },
    )
    def create(self, request, *args, **kwargs):
        many = isinstance(request.data, list)
        records = request.data if many else [request.data]
        if len(records) > MAX_BULK_DOCUMENTS:
            raise exceptions.ValidationError(
                {"non_field_errors": [f"At most {MAX_BULK_DOCUMENTS:,} documents per request; split the batch."]}
            )
        projects = {
            project.slug: project
            for project in Project.objects.for_user(request.user).annotate(my_role=my_role(request.user))
        }
        default_slug = request.query_params.get("project")

        def resolve_project(record):
            slug = record.get("project", default_slug) if isinstance(record, dict) else default_slug
            if not slug:
                raise DjangoValidationError({"project": ["Give the project's slug, in the item or as ?project=."]})
            project = projects.get(slug) if isinstance(slug, str) else None
            if project is None:
                raise DjangoValidationError({"project": [f"No project {slug!r} among yours."]})
            return project

        # Refuse the whole request before any item is checked when it adds to a
        # project the user only reads: that is a matter of rights, not of data.
        for record in records:
            slug = record.get("project", default_slug) if isinstance(record, dict) else default_slug
            if isinstance(slug, str) and slug in projects:
                require_manager(projects[slug], request.user)
        try:
            results = documents_bulk_create(records=records, resolve_project=resolve_project, user=request.user)
        except DocumentsRefused as exc:
            if not many:
                raise exceptions.ValidationError(exc.errors[0]["fields"]) from None
            raise ItemsInvalid(exc.errors, exc.total) from None
        except IntegrityError:
            raise Conflict("Another import stored one of these documents at the same time; send the request again.",
                           code="conflict") from None
        if not many:
            document = self.get_queryset().get(pk=results[0].document.pk)
            code = status.HTTP_201_CREATED if results[0].status == "created" else status.HTTP_200_OK
            return Response(DocumentDetailSerializer(document).data, status=code)
        return Response({
            "created": sum(1 for r in results if r.status == "created"),
            "duplicates": sum(1 for r in results if r.status == "duplicate"),
            "results": [
                {"index": r.index, "status": r.status, "id": r.document.pk, "external_id": r.document.external_id}
                for r in results
            ],
        }, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Mark my work on the document in progress or done",
        description='"done" submits all my drafts of the document, or refuses (400) naming the drafts that lack '
                    'required labels and changes nothing. "in_progress" reopens it; submitted spans stay submitted.',
        request=DocumentStatusSerializer, responses={200: AssignmentSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="status", pagination_class=None, filterset_class=None)
    def set_status(self, request, pk=None):
        document = self.get_object()
        serializer = DocumentStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            assignment, submitted = assignment_set_status(
                document=document, annotator=request.user, status=serializer.validated_data["status"]
            )
        except IncompleteSpans as exc:
            return error_response(
                400, "incomplete", str(exc),
                fields={"spans": [f"Span {span_id} lacks {', '.join(names)}." for span_id, names in exc.missing.items()]},
                spans=[{"id": span_id, "missing": names} for span_id, names in exc.missing.items()],
            )
        assignment.submitted = len(submitted)
        return Response(AssignmentSerializer(assignment).data)
