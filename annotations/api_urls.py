"""Every /api/ route. Another resource is one `router.register(...)` or `path(...)` line here."""
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from corpus.api import DocumentViewSet, ProjectViewSet

from .api import SpanViewSet
from .api_curation import AgreementView
from .api_review import DashboardView
from .exports import ProjectExportView
from .imports import SpanImportView

app_name = "api"

router = DefaultRouter()
# "<path>.json" routes answered 500 on every extra action (members, schema, status, bulk) and no
# client uses them; ?format= still picks a renderer.
router.include_format_suffixes = False
router.register("projects", ProjectViewSet, basename="project")
router.register("documents", DocumentViewSet, basename="document")
router.register("spans", SpanViewSet, basename="span")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    # Routes under projects/<slug>/ that are not viewset actions (e.g. export/) go here;
    # the router's project routes end at their own segments, so they do not shadow them.
    path("projects/<slug:slug>/agreement/", AgreementView.as_view(), name="project-agreement"),
    path("projects/<slug:slug>/dashboard/", DashboardView.as_view(), name="project-dashboard"),
    path("projects/<slug:slug>/export/", ProjectExportView.as_view(), name="project-export"),
    path("projects/<slug:slug>/import-spans/", SpanImportView.as_view(), name="project-import-spans"),
    *router.urls,
]
