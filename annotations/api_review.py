"""The progress dashboard's figures as JSON, for scripts and notebooks."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from .api import ERRORS
from .dashboard import Dashboard
from .views_review import REVIEWERS, project_for_review


class DashboardView(APIView):
    """GET /api/projects/<slug>/dashboard/: the dashboard page's figures; managers and curators only."""

    @extend_schema(
        summary="Progress figures of a project",
        description=(
            "Summary, per annotator, one page of documents (?page=, 50 per page) with mean pairwise overlap F1 "
            "(null: fewer than two annotators with spans), and every chart's table. Gold and rejected spans "
            "are left out of the annotator-layer figures; gold spans are counted in summary.gold_spans."
        ),
        parameters=[OpenApiParameter("page", OpenApiTypes.INT, required=False)],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
    )
    def get(self, request, slug):
        project = project_for_review(request.user, slug, REVIEWERS)
        board = Dashboard(project)
        page, documents = board.documents(request.query_params.get("page"))
        return Response(
            {
                "project": project.slug,
                "summary": board.summary,
                "annotators": board.annotators,
                "documents": {
                    "count": page.paginator.count,
                    "page": page.number,
                    "pages": page.paginator.num_pages,
                    "next": page.next_page_number() if page.has_next() else None,
                    "previous": page.previous_page_number() if page.has_previous() else None,
                    "results": documents,
                },
                "charts": {chart.slug: chart.records() for chart in board.charts()},
            }
        )
