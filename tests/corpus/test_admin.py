import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotations.models import Span
from annotations.services import span_delete
from corpus.models import Document, Membership
from tests.factories import (
    AssignmentFactory, DocumentFactory, MembershipFactory, SpanFactory, StanceValueFactory, ThemeFactory,
)


@pytest.fixture
def admin_client_with_data(client, superuser, document, annotator):
    span = SpanFactory(document=document, annotator=annotator)
    StanceValueFactory(project=document.project)
    AssignmentFactory(document=document, annotator=annotator)
    span_delete(span=SpanFactory(document=document, annotator=annotator, start=9, end=12, text="say"))
    client.force_login(superuser)
    client.span = span
    return client


def test_every_admin_page_renders_for_a_superuser(admin_client_with_data):
    client = admin_client_with_data
    assert client.get(reverse("admin:index")).status_code == 200
    for model, model_admin in admin.site._registry.items():
        info = model._meta.app_label, model._meta.model_name
        changelist = client.get(reverse("admin:%s_%s_changelist" % info))
        assert changelist.status_code == 200, info
        if model_admin.has_add_permission(changelist.wsgi_request):
            assert client.get(reverse("admin:%s_%s_add" % info)).status_code == 200, info
        obj = model_admin.get_queryset(changelist.wsgi_request).first()
        if obj is not None:
            change = client.get(reverse("admin:%s_%s_change" % info, args=[obj.pk]))
            assert change.status_code == 200, info
            if hasattr(model_admin, "history_view"):
                history = client.get(reverse("admin:%s_%s_history" % info, args=[obj.pk]))
                assert history.status_code == 200, info


def test_document_list_filters_by_annotated_and_counts_spans(admin_client_with_data, document):
    DocumentFactory(project=document.project, title="Untouched")
    url = reverse("admin:corpus_document_changelist")
    annotated = admin_client_with_data.get(url, {"annotated": "yes"})
    assert list(annotated.context["cl"].queryset) == [document]
    assert annotated.context["cl"].queryset[0].n_spans == 1
    untouched = admin_client_with_data.get(url, {"annotated": "no"})
    assert [d.title for d in untouched.context["cl"].queryset] == ["Untouched"]
    found = admin_client_with_data.get(url, {"q": "yuan"})
    assert document in found.context["cl"].queryset


def post_document_form(client, document, **changes):
    data = {
        "project": document.project.pk, "external_id": document.external_id, "title": document.title,
        "text": document.text, "outlet": document.outlet, "author": "", "url": "", "published_date": "",
        "language": document.language, "genre": "", "metadata": "{}",
    }
    data.update(changes)
    return client.post(reverse("admin:corpus_document_change", args=[document.pk]), data)


def test_admin_refuses_to_change_the_text_of_an_annotated_document_and_says_why(admin_client_with_data, document):
    original = document.text
    response = post_document_form(admin_client_with_data, document, text="Rewritten text entirely.")
    assert response.status_code == 200
    assert "cannot change" in response.content.decode()
    assert "span(s) point into" in response.content.decode()
    document.refresh_from_db()
    assert document.text == original


def test_admin_saves_other_fields_and_keeps_the_text_byte_for_byte(admin_client_with_data, document):
    response = post_document_form(
        admin_client_with_data, document, title="New title", text=document.text.replace("\n", "\r\n")
    )
    assert response.status_code == 302
    document.refresh_from_db()
    assert document.title == "New title"


def test_deleted_span_is_restored_from_the_admin(admin_client_with_data, document):
    record = Span.history.get(history_type="-")
    response = admin_client_with_data.post(
        reverse("admin:annotations_historicalspan_changelist"),
        {"action": "restore", admin.helpers.ACTION_CHECKBOX_NAME: [record.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Restored 1 span" in response.content.decode()
    restored = Span.objects.get(pk=record.id)
    assert restored.text == "say"
    assert restored.themes.count() == 1


def test_import_page_reports_each_file(admin_client_with_data, project):
    files = [
        SimpleUploadedFile("good.txt", b"A brand new document."),
        SimpleUploadedFile("page.html", b"<p>Hello <script>alert(1)</script>world</p>"),
        SimpleUploadedFile("latin.txt", "Caf\u00e9".encode("latin-1")),
        SimpleUploadedFile("empty.txt", b""),
    ]
    response = admin_client_with_data.post(
        reverse("admin:corpus_document_import"), {"project": project.pk, "files": files}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "2 imported, 0 duplicate(s), 2 refused" in page
    assert "not valid UTF-8" in page
    assert "empty file" in page
    assert Document.objects.get(external_id="page").text == "Hello world"


def test_import_page_is_linked_from_the_document_list(admin_client_with_data):
    page = admin_client_with_data.get(reverse("admin:corpus_document_changelist")).content.decode()
    assert reverse("admin:corpus_document_import") in page


def test_a_staff_manager_imports_only_into_projects_they_manage(client, project, outsider):
    from django.contrib.auth.models import Permission

    outsider.is_staff = True
    outsider.save()
    outsider.user_permissions.add(Permission.objects.get(codename="add_document"))
    client.force_login(outsider)
    response = client.post(
        reverse("admin:corpus_document_import"),
        {"project": project.pk, "files": [SimpleUploadedFile("x.txt", b"Sneaky.")]},
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Document.objects.filter(project=project).exists()


def test_a_staff_user_without_permission_cannot_import(client, project):
    user = MembershipFactory(project=project, role=Membership.Role.ANNOTATOR).user
    user.is_staff = True
    user.save()
    client.force_login(user)
    response = client.get(reverse("admin:corpus_document_import"))
    assert response.status_code == 403


def test_project_admin_shows_members_and_schema_inline(admin_client_with_data, project):
    ThemeFactory(project=project, key="ARCTIC", name="Arctic")
    page = admin_client_with_data.get(reverse("admin:corpus_project_change", args=[project.pk])).content.decode()
    assert "Memberships" in page or "Membership" in page
    assert "ARCTIC" in page
    assert "Stance values" in page
