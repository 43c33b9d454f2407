"""Agreement figures as JSON: GET /api/projects/<slug>/agreement/?document=<id>&pair=<u1>,<u2>."""
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from .agreement_report import UnknownPair, agreement_report
from .api import ERRORS
from .views_review import REVIEWERS, project_for_review


class AgreementView(APIView):
    """A project's agreement report (or one document's, or one pair's); managers and curators only."""

    @extend_schema(
        summary="Inter-annotator agreement of a project, a document or a pair",
        description=(
            "Span F1 (exact and overlap) per pair and pooled, Krippendorff's alpha_U per theme and overall, "
            "and label agreement on spans paired at IoU >= 0.5: Cohen's kappa per pair, Krippendorff's alpha "
            "(nominal, ordinal, MASI) and Fleiss' kappa. Gold and rejected spans are left out. A figure that "
            "cannot be computed (one annotator, no spans, nothing paired) is null, with a reason beside it."
        ),
        parameters=[
            OpenApiParameter("document", OpenApiTypes.INT, required=False, description="One document's figures."),
            OpenApiParameter("pair", OpenApiTypes.STR, required=False, description="Two usernames, as alice,bob."),
        ],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
    )
    def get(self, request, slug):
        project = project_for_review(request.user, slug, REVIEWERS)
        document = None
        document_id = request.query_params.get("document", "").strip()
        if document_id:
            if not document_id.isdigit():
                raise ValidationError({"document": ["A document id is a number."]})
            document = get_object_or_404(project.documents.defer("text"), pk=int(document_id))
        try:
            report = agreement_report(project, document=document, pair=request.query_params.get("pair") or None)
        except UnknownPair as exc:
            raise ValidationError({"pair": [str(exc)]}) from exc
        return Response(report)
