from django.urls import path

from . import views

app_name = "corpus"

urlpatterns = [
    path("", views.project_list, name="project-list"),
    path("projects/<slug:slug>/", views.project_detail, name="project-detail"),
    path("projects/<slug:slug>/next/", views.project_next, name="project-next"),
    path("documents/<int:pk>/", views.document_detail, name="document-detail"),
]
