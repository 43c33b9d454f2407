from django.urls import reverse

from tests.factories import PASSWORD, ProjectFactory


def test_anonymous_visitors_are_sent_to_the_login_page(client, db):
    response = client.get(reverse("corpus:project-list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_form_leads_to_the_users_projects_only(client, project, annotator):
    ProjectFactory(name="Secret other project")
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD}, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert project.name in page
    assert "Secret other project" not in page


def test_a_wrong_password_is_refused_with_a_message(client, annotator):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "did not match" in response.content.decode()


def test_someone_elses_project_answers_404(client, project, outsider):
    client.force_login(outsider)
    assert client.get(project.get_absolute_url()).status_code == 404
