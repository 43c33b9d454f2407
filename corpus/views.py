from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from .models import Document, Project


@login_required
def project_list(request):
    projects = Project.objects.for_user(request.user).order_by("name")
    return render(request, "corpus/project_list.html", {"projects": projects})


@login_required
def project_detail(request, slug):
    project = get_object_or_404(Project.objects.for_user(request.user), slug=slug)
    documents = project.documents.order_by("external_id")
    return render(request, "corpus/project_detail.html", {"project": project, "documents": documents})


@login_required
def document_detail(request, pk):
    document = get_object_or_404(Document.objects.for_user(request.user).select_related("project"), pk=pk)
    return render(request, "corpus/document_detail.html", {"document": document, "project": document.project})
