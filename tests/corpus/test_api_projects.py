import pytest

from corpus.models import Membership

from ..api_support import client_for, error_of, install_schema
from ..factories import ProjectFactory, UserFactory


def test_projects_lists_only_mine_with_my_role(project, annotator, outsider):
    ProjectFactory(name="Unrelated")

    response = client_for(annotator).get("/api/projects/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert [(p["slug"], p["my_role"]) for p in body["results"]] == [(project.slug, "annotator")]


def test_a_project_answers_404_to_outsiders_and_401_to_anonymous(project, annotator, outsider):
    url = f"/api/projects/{project.slug}/"

    assert client_for(annotator).get(url).json()["stance_target"] == project.stance_target
    assert client_for(outsider).get(url).status_code == 404
    assert error_of(client_for(outsider).get(url))["code"] == "not_found"
    assert client_for().get(url).status_code == 401
    assert client_for(annotator).get("/api/projects/no-such-project/").status_code == 404


def test_schema_lists_themes_stances_and_grades(project, annotator):
    install_schema(project)

    response = client_for(annotator).get(f"/api/projects/{project.slug}/schema/")

    assert response.status_code == 200
    body = response.json()
    assert [(t["code"], t["parent"]) for t in body["themes"]] == [
        ("TRADE", None), ("TRADE.volume", "TRADE"), ("FINANCE", None), ("FINANCE.currency", "FINANCE"),
    ]
    assert set(body["themes"][0]) == {"code", "key", "name", "colour", "shortcut", "parent", "position"}
    assert [s["key"] for s in body["stances"]] == ["FAVOR", "NEUTRAL"]
    assert body["stance_target"] == project.stance_target
    assert [g["value"] for g in body["source_reliability"]] == list("ABCDEF")
    assert [g["value"] for g in body["info_credibility"]] == [1, 2, 3, 4, 5, 6]
    assert "ANONYMOUS" in [t["value"] for t in body["source_types"]]
    assert [t["value"] for t in body["claim_types"]] == ["FACTUAL", "EVALUATIVE", "PREDICTIVE"]


def test_schema_of_another_project_is_404(project, outsider):
    assert client_for(outsider).get(f"/api/projects/{project.slug}/schema/").status_code == 404


def test_members_and_roles(project, annotator, curator, manager):
    response = client_for(annotator).get(f"/api/projects/{project.slug}/members/")

    assert response.status_code == 200
    assert [(m["username"], m["role"]) for m in response.json()] == [
        ("alice", "annotator"), ("carol", "curator"), ("maria", "manager"),
    ]


def test_a_manager_adds_changes_and_removes_members(project, manager):
    newcomer = UserFactory(username="dora")
    client = client_for(manager)
    url = f"/api/projects/{project.slug}/members/"

    assert client.post(url, {"username": "dora", "role": "annotator"}, format="json").status_code == 201
    assert Membership.objects.get(project=project, user=newcomer).role == "annotator"
    assert client.post(url, {"username": "dora", "role": "curator"}, format="json").status_code == 200
    assert client.patch(f"{url}dora/", {"role": "manager"}, format="json").json()["role"] == "manager"
    assert Membership.objects.get(project=project, user=newcomer).role == "manager"
    assert client.delete(f"{url}dora/").status_code == 204
    assert not Membership.objects.filter(project=project, user=newcomer).exists()


@pytest.mark.parametrize("who", ["annotator", "curator"])
def test_only_managers_manage_members(request, project, manager, who):
    UserFactory(username="dora")
    client = client_for(request.getfixturevalue(who))
    url = f"/api/projects/{project.slug}/members/"

    assert client.post(url, {"username": "dora", "role": "manager"}, format="json").status_code == 403
    assert client.delete(f"{url}maria/").status_code == 403
    assert client.patch(f"{url}maria/", {"role": "annotator"}, format="json").status_code == 403
    assert Membership.objects.filter(project=project).count() == 2


def test_outsiders_cannot_see_or_manage_members(project, manager, outsider):
    client = client_for(outsider)
    url = f"/api/projects/{project.slug}/members/"

    assert client.get(url).status_code == 404
    assert client.post(url, {"username": "charlie", "role": "manager"}, format="json").status_code == 404
    assert client.delete(f"{url}maria/").status_code == 404
    assert not Membership.objects.filter(project=project, user=outsider).exists()


def test_the_last_manager_cannot_leave_or_step_down(project, manager):
    client = client_for(manager)
    url = f"/api/projects/{project.slug}/members/maria/"

    assert client.delete(url).status_code == 400
    response = client.patch(url, {"role": "annotator"}, format="json")
    assert response.status_code == 400
    assert "role" in error_of(response)["fields"]
    assert Membership.objects.get(project=project, user=manager).role == "manager"


def test_adding_an_unknown_user_is_a_field_error(project, manager):
    response = client_for(manager).post(
        f"/api/projects/{project.slug}/members/", {"username": "ghost", "role": "annotator"}, format="json"
    )

    assert response.status_code == 400
    assert "username" in error_of(response)["fields"]
