from collections import Counter

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from annotations.assignment import (
    AssignmentRefused,
    assignments_auto,
    assignments_rebalance,
    documents_assign,
    documents_unassign,
)
from annotations.models import Assignment
from corpus.models import Membership
from tests.factories import (
    AssignmentFactory,
    DocumentFactory,
    MembershipFactory,
    ProjectFactory,
    SpanFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def make_annotators(project, *names):
    return [
        MembershipFactory(project=project, role=Membership.Role.ANNOTATOR, user__username=name).user for name in names
    ]


def pairs(project):
    return set(
        Assignment.objects.filter(document__project=project).values_list("document__external_id", "annotator__username")
    )


def loads(project):
    return Counter(Assignment.objects.filter(document__project=project).values_list("annotator__username", flat=True))


def per_document(project):
    return Counter(Assignment.objects.filter(document__project=project).values_list("document_id", flat=True))


# By hand


def test_manager_assigns_documents_by_hand(project, annotator, teammate):
    docs = DocumentFactory.create_batch(2, project=project)

    report = documents_assign(documents=docs, annotators=[annotator, teammate])

    assert report.created == 4
    rows = Assignment.objects.filter(document__project=project)
    assert rows.count() == 4
    assert all(row.assigned and row.status == Assignment.Status.NOT_STARTED for row in rows)


def test_assigning_twice_adds_nothing(project, annotator, document):
    documents_assign(documents=[document], annotators=[annotator])

    report = documents_assign(documents=[document], annotators=[annotator])

    assert report.created == 0
    assert Assignment.objects.filter(document=document).count() == 1


def test_assigning_a_picked_up_document_puts_it_in_the_queue(annotator, document):
    row = AssignmentFactory(document=document, annotator=annotator, status=Assignment.Status.IN_PROGRESS)

    documents_assign(documents=[document], annotators=[annotator])

    row.refresh_from_db()
    assert row.assigned
    assert row.status == Assignment.Status.IN_PROGRESS


def test_documents_cannot_be_assigned_to_an_outsider(document, outsider):
    with pytest.raises(AssignmentRefused, match="charlie"):
        documents_assign(documents=[document], annotators=[outsider])

    assert not Assignment.objects.exists()


def test_unassigning_keeps_started_work(project, annotator):
    fresh, working, finished, with_spans = DocumentFactory.create_batch(4, project=project)
    documents_assign(documents=[fresh, working, finished, with_spans], annotators=[annotator])
    Assignment.objects.filter(document=working).update(status=Assignment.Status.IN_PROGRESS)
    Assignment.objects.filter(document=finished).update(status=Assignment.Status.DONE)
    SpanFactory(document=with_spans, annotator=annotator)

    report = documents_unassign(documents=[fresh, working, finished, with_spans], annotators=[annotator])

    assert (report.removed, report.kept_started) == (1, 3)
    assert set(Assignment.objects.values_list("document", flat=True)) == {working.pk, finished.pk, with_spans.pk}


# Automatic


def test_automatic_assignment_gives_each_document_k_annotators_in_balance(project):
    make_annotators(project, "ann", "ben", "cat")
    DocumentFactory.create_batch(10, project=project)
    project.annotators_per_document = 2

    report = assignments_auto(project=project)

    assert report.created == 20
    assert set(per_document(project).values()) == {2}
    assert sorted(loads(project).values()) == [6, 7, 7]


@pytest.mark.parametrize("n_annotators,n_documents,k", [(1, 5, 2), (2, 7, 1), (3, 11, 2), (4, 13, 3), (5, 17, 2)])
def test_automatic_loads_differ_by_at_most_one(project, n_annotators, n_documents, k):
    make_annotators(project, *[f"a{i}" for i in range(n_annotators)])
    DocumentFactory.create_batch(n_documents, project=project)

    assignments_auto(project=project, k=k)

    counts = loads(project)
    assert set(per_document(project).values()) == {min(k, n_annotators)}
    assert max(counts.values()) - min(counts.values()) <= 1
    assert len(counts) == n_annotators


def test_automatic_assignment_is_deterministic():
    layouts = []
    for _ in range(2):
        project = ProjectFactory()
        make_annotators(project, "ann", "ben", "cat", "dan")
        for n in range(9):
            DocumentFactory(project=project, external_id=f"d{n}")
        assignments_auto(project=project, k=3)
        layouts.append(pairs(project))

    assert layouts[0] == layouts[1]


def test_running_the_automatic_assignment_again_changes_nothing(project):
    make_annotators(project, "ann", "ben", "cat")
    DocumentFactory.create_batch(7, project=project)
    assignments_auto(project=project, k=2)
    before = pairs(project)

    report = assignments_auto(project=project, k=2)

    assert (report.created, report.removed) == (0, 0)
    assert pairs(project) == before


def test_lowering_k_trims_not_started_assignments_only(project):
    ann, ben, cat = make_annotators(project, "ann", "ben", "cat")
    docs = DocumentFactory.create_batch(3, project=project)
    assignments_auto(project=project, k=3)
    Assignment.objects.filter(document=docs[0], annotator=cat).update(status=Assignment.Status.DONE)

    assignments_auto(project=project, k=1)

    assert set(per_document(project).values()) == {1}
    assert Assignment.objects.filter(document=docs[0], annotator=cat, status=Assignment.Status.DONE).exists()


def test_automatic_assignment_reports_documents_it_cannot_fill(project):
    make_annotators(project, "ann", "ben")
    DocumentFactory.create_batch(3, project=project)

    report = assignments_auto(project=project, k=3)

    assert report.short == 3
    assert set(per_document(project).values()) == {2}


def test_automatic_assignment_gives_work_to_annotators_only(project, curator, manager):
    make_annotators(project, "ann")
    DocumentFactory.create_batch(2, project=project)

    assignments_auto(project=project, k=2)

    assert set(loads(project)) == {"ann"}


def test_started_work_counts_towards_k(project):
    ann, ben, cat = make_annotators(project, "ann", "ben", "cat")
    doc = DocumentFactory(project=project)
    SpanFactory(document=doc, annotator=cat)
    AssignmentFactory(document=doc, annotator=ben, status=Assignment.Status.DONE)

    report = assignments_auto(project=project, k=2)

    assert report.created == 0
    assert set(Assignment.objects.values_list("annotator__username", flat=True)) == {"ben"}


# Rebalancing on membership changes


@pytest.fixture
def balanced(project):
    """Twelve documents, three annotators, two each; ann has begun three of hers."""
    make_annotators(project, "ann", "ben", "cat")
    DocumentFactory.create_batch(12, project=project)
    assignments_auto(project=project, k=2)
    ann_rows = list(Assignment.objects.filter(annotator__username="ann").order_by("document_id"))
    Assignment.objects.filter(pk=ann_rows[0].pk).update(status=Assignment.Status.DONE)
    Assignment.objects.filter(pk=ann_rows[1].pk).update(status=Assignment.Status.IN_PROGRESS)
    SpanFactory(document=ann_rows[2].document, annotator=ann_rows[2].annotator)
    return project, {(row.document_id, row.annotator_id) for row in ann_rows[:3]}


def started(project):
    return {
        (row.document_id, row.annotator_id)
        for row in Assignment.objects.filter(document__project=project)
        if row.status != Assignment.Status.NOT_STARTED or row.document.spans.filter(annotator=row.annotator).exists()
    }


def test_a_new_annotator_gets_a_fair_share_without_taking_started_work(balanced, django_capture_on_commit_callbacks):
    project, begun = balanced

    with django_capture_on_commit_callbacks(execute=True):
        MembershipFactory(project=project, role=Membership.Role.ANNOTATOR, user__username="dan")

    assert begun <= started(project)
    assert set(per_document(project).values()) == {2}
    assert sorted(loads(project).values()) == [6, 6, 6, 6]


def test_a_leaving_annotator_hands_on_work_not_yet_started(balanced, django_capture_on_commit_callbacks):
    project, begun = balanced
    cat = Membership.objects.get(project=project, user__username="cat")

    with django_capture_on_commit_callbacks(execute=True):
        cat.delete()

    assert not Assignment.objects.filter(annotator__username="cat").exists()
    assert begun <= started(project)
    assert set(per_document(project).values()) == {2}
    assert sorted(loads(project).values()) == [12, 12]


def test_started_work_of_a_leaver_stays_on_the_document(project, django_capture_on_commit_callbacks):
    ann, ben, cat = make_annotators(project, "ann", "ben", "cat")
    doc = DocumentFactory(project=project)
    documents_assign(documents=[doc], annotators=[ann, ben])
    Assignment.objects.filter(annotator=ann).update(status=Assignment.Status.IN_PROGRESS)

    with django_capture_on_commit_callbacks(execute=True):
        Membership.objects.filter(user=ann).delete()

    assert set(Assignment.objects.values_list("annotator__username", "status")) == {
        ("ann", "in_progress"), ("ben", "not_started"),
    }


def test_becoming_a_curator_hands_on_work_not_yet_started(balanced, django_capture_on_commit_callbacks):
    project, begun = balanced
    cat = Membership.objects.get(project=project, user__username="cat")

    with django_capture_on_commit_callbacks(execute=True):
        cat.role = Membership.Role.CURATOR
        cat.save()

    assert not Assignment.objects.filter(annotator__username="cat").exists()
    assert set(per_document(project).values()) == {2}


def test_rebalancing_keeps_hand_made_counts(project):
    ann, ben, cat = make_annotators(project, "ann", "ben", "cat")
    one, three, untouched = DocumentFactory.create_batch(3, project=project)
    documents_assign(documents=[one], annotators=[ann])
    documents_assign(documents=[three], annotators=[ann, ben, cat])

    assignments_rebalance(project=project)

    assert per_document(project) == {one.pk: 1, three.pk: 3}


def test_rebalancing_twice_changes_nothing(balanced):
    project, _ = balanced
    assignments_rebalance(project=project)
    before = pairs(project)

    report = assignments_rebalance(project=project)

    assert (report.created, report.removed) == (0, 0)
    assert pairs(project) == before


def test_joining_a_project_nobody_assigns_in_assigns_nothing(project, document, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        MembershipFactory(project=project, role=Membership.Role.ANNOTATOR, user=UserFactory())

    assert not Assignment.objects.exists()


# The assignments page


def page_url(project):
    return reverse("annotations:assignments", args=[project.slug])


def test_manager_sees_documents_by_annotators(client, project, manager, annotator, teammate, document):
    documents_assign(documents=[document], annotators=[teammate])
    client.force_login(manager)

    response = client.get(page_url(project))

    assert response.status_code == 200
    page = response.content.decode()
    assert f'value="{document.pk}:{teammate.pk}" checked' in page
    assert f'value="{document.pk}:{annotator.pk}">' in page


def test_manager_assigns_and_unassigns_with_the_checkboxes(client, project, manager, annotator, teammate):
    kept, dropped = DocumentFactory.create_batch(2, project=project)
    documents_assign(documents=[dropped], annotators=[annotator])
    client.force_login(manager)

    response = client.post(
        page_url(project),
        {"action": "save", "doc": [kept.pk, dropped.pk], "pair": [f"{kept.pk}:{annotator.pk}", f"{kept.pk}:{teammate.pk}"]},
    )

    assert response.status_code == 302
    assert pairs(project) == {(kept.external_id, "alice"), (kept.external_id, "bob")}


def test_the_checkboxes_cannot_take_away_started_work(client, project, manager, annotator):
    doc = DocumentFactory(project=project)
    AssignmentFactory(document=doc, annotator=annotator, assigned=True, status=Assignment.Status.IN_PROGRESS)
    client.force_login(manager)

    page = client.get(page_url(project)).content.decode()
    client.post(page_url(project), {"action": "save", "doc": [doc.pk]})

    assert f'value="{doc.pk}:{annotator.pk}" checked disabled' in page
    assert Assignment.objects.filter(document=doc, annotator=annotator, assigned=True).exists()


def test_the_checkboxes_only_touch_documents_of_the_project(client, project, manager, annotator, outsider):
    elsewhere = DocumentFactory()
    client.force_login(manager)

    client.post(page_url(project), {"action": "save", "doc": [elsewhere.pk], "pair": [f"{elsewhere.pk}:{annotator.pk}"]})

    assert not Assignment.objects.exists()


def test_manager_changes_k_and_openness_then_assigns_automatically(client, project, manager):
    make_annotators(project, "ann", "ben", "cat")
    DocumentFactory.create_batch(4, project=project)
    client.force_login(manager)

    client.post(page_url(project), {"action": "settings", "annotators_per_document": 3})
    response = client.post(page_url(project), {"action": "auto"}, follow=True)

    project.refresh_from_db()
    assert (project.annotators_per_document, project.unassigned_open) == (3, False)
    assert set(per_document(project).values()) == {3}
    assert "12 assignment(s) added" in response.content.decode()


def test_k_must_be_at_least_one(client, project, manager):
    client.force_login(manager)

    response = client.post(page_url(project), {"action": "settings", "annotators_per_document": 0, "unassigned_open": "on"})

    assert response.status_code == 200
    project.refresh_from_db()
    assert project.annotators_per_document == 2


def test_the_rebalance_button_evens_out_queues(client, project, manager):
    ann, ben = make_annotators(project, "ann", "ben")
    docs = DocumentFactory.create_batch(4, project=project)
    documents_assign(documents=docs, annotators=[ann])
    client.force_login(manager)

    client.post(page_url(project), {"action": "rebalance"})

    assert sorted(loads(project).values()) == [2, 2]


@pytest.mark.parametrize("role", [Membership.Role.ANNOTATOR, Membership.Role.CURATOR])
def test_only_managers_may_assign(client, project, document, role):
    user = MembershipFactory(project=project, role=role).user
    client.force_login(user)

    assert client.get(page_url(project)).status_code == 403
    assert client.post(page_url(project), {"action": "auto"}).status_code == 403
    assert not Assignment.objects.exists()


def test_outsiders_do_not_find_the_assignments_page(client, project, outsider):
    client.force_login(outsider)

    assert client.post(page_url(project), {"action": "auto"}).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, project):
    response = client.get(page_url(project))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_superusers_may_assign_anywhere(client, project, superuser, annotator, document):
    client.force_login(superuser)

    client.post(page_url(project), {"action": "auto"})

    assert pairs(project) == {(document.external_id, "alice")}


# The Document admin action


def admin_post(client, data):
    return client.post(reverse("admin:corpus_document_changelist"), data)


@pytest.fixture
def staff_manager(manager):
    manager.is_staff = True
    manager.save()
    manager.user_permissions.add(Permission.objects.get(codename="change_document"))
    manager.user_permissions.add(Permission.objects.get(codename="view_document"))
    return manager


def test_admin_action_asks_for_annotators_then_assigns(client, project, staff_manager, annotator, teammate):
    docs = DocumentFactory.create_batch(2, project=project)
    client.force_login(staff_manager)
    selected = {"action": "assign_documents", "_selected_action": [d.pk for d in docs]}

    choose = admin_post(client, selected)
    done = admin_post(client, {**selected, "apply": "yes", "annotators": [teammate.pk]})

    assert choose.status_code == 200
    assert "Assign documents to annotators" in choose.content.decode()
    assert "bob" in choose.content.decode()
    assert done.status_code == 302
    assert pairs(project) == {(d.external_id, "bob") for d in docs}


def test_admin_action_refuses_documents_of_projects_one_does_not_manage(client, project, staff_manager, annotator):
    elsewhere = DocumentFactory()
    MembershipFactory(project=elsewhere.project, user=annotator)
    client.force_login(staff_manager)

    response = admin_post(
        client, {"action": "assign_documents", "_selected_action": [elsewhere.pk], "apply": "yes", "annotators": [annotator.pk]}
    )

    assert response.status_code == 302
    assert not Assignment.objects.exists()
