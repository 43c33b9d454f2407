from django.urls import path

from . import views_review

app_name = "annotations"

urlpatterns = [
    path("projects/<slug:slug>/dashboard/", views_review.dashboard, name="dashboard"),
    path("projects/<slug:slug>/dashboard/<slug:chart>.csv", views_review.dashboard_chart_csv, name="dashboard-csv"),
    path("projects/<slug:slug>/dashboard/<slug:chart>.svg", views_review.dashboard_chart_svg, name="dashboard-svg"),
    path("projects/<slug:slug>/assignments/", views_review.assignments, name="assignments"),
]
