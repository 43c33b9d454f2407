"""Agreement and curation pages, under /projects/<slug>/."""
from django.urls import path

from . import views_curation as views

app_name = "curation"

document = "projects/<slug:slug>/curation/documents/<int:pk>/"

urlpatterns = [
    path("projects/<slug:slug>/agreement/", views.agreement_project, name="agreement"),
    path("projects/<slug:slug>/agreement/documents/<int:pk>/", views.agreement_document, name="agreement-document"),
    path("projects/<slug:slug>/curation/", views.curation_documents, name="documents"),
    path(document, views.curation_document, name="document"),
    path(document + "accept/", views.curation_accept, name="accept"),
    path(document + "reject/", views.curation_reject, name="reject"),
    path(document + "gold/", views.curation_gold, name="gold"),
    path(document + "accept-agreed/", views.curation_accept_agreed, name="accept-agreed"),
    path(document + "withdraw/", views.curation_withdraw, name="withdraw"),
    path(document + "status/", views.curation_status, name="status"),
]
