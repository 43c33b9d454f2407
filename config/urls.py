from django.contrib import admin
from django.urls import include, path

from annotations.views import api_token
from corpus.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("account/token/", api_token, name="account-token"),
    path("api/", include("annotations.api_urls")),
    path("", include("corpus.urls")),
    path("", include("annotations.urls")),
    path("", include("annotations.curation_urls")),
]

# API clients read every refusal in one JSON shape, a URL that matches no route included.
handler404 = "annotations.api.not_found"
# And every unhandled exception too, with 503 while the database cannot be reached.
handler500 = "annotations.api.server_error"
