import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotations.bulk import spans_bulk_create
from annotations.models import Span
from annotations.serializers import SpanSerializer
from corpus.models import Membership

from ..api_support import client_for, error_of, install_schema
from ..factories import DocumentFactory, MembershipFactory, ProjectFactory, SpanFactory, StanceValueFactory, ThemeFactory

QUOTE = "trade in yuan rose"  # document.text[13:31]


@pytest.fixture
def themes(project):
    return install_schema(project)


def payload(document, /, **overrides):
    data = {"document": document.pk, "start": 13, "end": 31, "text": QUOTE, "themes": ["FINANCE.currency"]}
    data.update(overrides)
    return data


@pytest.fixture
def span(document, annotator, themes):
    return SpanFactory(document=document, annotator=annotator, start=13, end=31, text=QUOTE,
                       themes=[themes["FINANCE.currency"]])


def test_annotator_creates_a_span_with_labels(document, annotator, themes):
    response = client_for(annotator).post("/api/spans/", payload(
        document, themes=["FINANCE.currency", "TRADE"], stance="NEUTRAL", source_reliability="F",
        info_credibility=2, attributed_source={"type": "ANONYMOUS", "name": "analysts"}, claim_type="FACTUAL",
        note="as reported",
    ), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    span = Span.objects.get(pk=body["id"])
    assert (span.document, span.annotator, span.start, span.end, span.text) == (document, annotator, 13, 31, QUOTE)
    assert sorted(t.code for t in span.themes.all()) == ["FINANCE.currency", "TRADE"]
    assert body["themes"] == ["TRADE", "FINANCE.currency"]  # in schema order, on every path
    assert body["stance"] == "NEUTRAL" and span.stance.key == "NEUTRAL"
    assert body["stance_target"] == document.project.stance_target
    assert body["attributed_source"] == {"type": "ANONYMOUS", "name": "analysts", "affiliation": "", "via": ""}
    assert body["admiralty"] == "F2"
    assert body["annotator"] == "alice"
    assert body["document_external_id"] == document.external_id
    assert body["prefix"] == "Analysts say " and body["suffix"] == ". Critics disagree."
    assert body["version"] == 1 and body["status"] == "draft"
    [record] = span.history.all()
    assert record.history_type == "+" and record.history_user == annotator
    assert sorted(record.themes.values_list("theme__code", flat=True)) == ["FINANCE.currency", "TRADE"]


def test_a_span_reads_back_with_exactly_the_declared_fields(span, annotator):
    body = client_for(annotator).get(f"/api/spans/{span.pk}/").json()

    assert list(body) == list(SpanSerializer.Meta.fields)


def test_retrieve_sends_the_version_as_etag(span, annotator):
    response = client_for(annotator).get(f"/api/spans/{span.pk}/")

    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    assert response.json()["text"] == QUOTE


def test_create_names_the_new_span_and_its_version_in_the_headers(document, annotator, themes):
    response = client_for(annotator).post("/api/spans/", payload(document, themes=["TRADE"]), format="json")

    assert response.status_code == 201
    body = response.json()
    assert response["Location"] == f"/api/spans/{body['id']}/"
    assert response["ETag"] == '"1"'
    follow = client_for(annotator).get(response["Location"])
    assert follow.status_code == 200 and follow.json()["id"] == body["id"]


# Who gets what for another person's span (alice's), by role.
MATRIX = [
    # (who, GET, PATCH, DELETE)
    ("anonymous", 401, 401, 401),
    ("outsider", 404, 404, 404),
    ("annotator", 200, 200, 204),
    ("teammate", 404, 404, 404),
    ("curator", 200, 403, 403),
    ("manager", 200, 403, 403),
]


@pytest.mark.parametrize(("who", "get", "patch", "delete"), MATRIX)
def test_permission_matrix_on_a_span(request, span, who, get, patch, delete):
    user = None if who == "anonymous" else request.getfixturevalue(who)
    client = client_for(user)
    url = f"/api/spans/{span.pk}/"

    assert client.get(url).status_code == get
    response = client.patch(url, {"note": "changed", "version": 1}, format="json")
    assert response.status_code == patch
    span.refresh_from_db()
    assert span.note == ("changed" if patch == 200 else "")
    response = client.delete(url, HTTP_IF_MATCH=f'"{span.version}"')
    assert response.status_code == delete
    assert Span.objects.filter(pk=span.pk).exists() is (delete != 204)
    if get != 200:
        error_of(response)


@pytest.mark.parametrize(("who", "sees"), [
    ("annotator", {"alice"}), ("teammate", {"bob"}), ("curator", {"alice", "bob"}),
    ("manager", {"alice", "bob"}), ("outsider", set()),
])
def test_span_list_shows_only_what_the_role_may_read(request, document, annotator, teammate, themes, who, sees):
    SpanFactory(document=document, annotator=annotator, themes=[themes["TRADE"]])
    SpanFactory(document=document, annotator=teammate, themes=[themes["TRADE"]])

    response = client_for(request.getfixturevalue(who)).get("/api/spans/")

    assert response.status_code == 200
    assert {item["annotator"] for item in response.json()["results"]} == sees


def test_anonymous_gets_401_with_a_token_challenge(span):
    response = APIClient().get("/api/spans/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert error_of(response)["code"] == "not_authenticated"


def test_anonymous_cannot_create(document, themes):
    response = APIClient().post("/api/spans/", payload(document), format="json")

    assert response.status_code == 401
    assert not Span.objects.exists()


@pytest.mark.parametrize(("overrides", "field"), [
    ({"start": 13, "end": 99, "text": QUOTE}, "end"),
    ({"start": 60, "end": 61, "text": "x"}, "start"),
    ({"start": -1, "end": 4, "text": "Anal"}, "start"),
    ({"start": 13, "end": 13, "text": ""}, "end"),
    ({"start": 20, "end": 13, "text": QUOTE}, "end"),
    ({"text": "trade in rubles rose"}, "text"),
    ({"themes": []}, "themes"),
    ({"themes": ["NOPE"]}, "themes"),
    ({"themes": ["FOREIGN"]}, "themes"),
    ({"stance": "AGAINST"}, "stance"),
    ({"source_reliability": "Z"}, "source_reliability"),
    ({"info_credibility": 9}, "info_credibility"),
    ({"status": "gold"}, "status"),
    ({"status": "submitted"}, "stance"),
    ({"attributed_source": {"type": "GOSSIP"}}, "attributed_source.type"),
])
def test_invalid_spans_are_refused_with_a_field_message(document, annotator, themes, overrides, field):
    other = ProjectFactory()
    ThemeFactory(project=other, key="FOREIGN")
    StanceValueFactory(project=other, key="AGAINST")

    response = client_for(annotator).post("/api/spans/", payload(document, **overrides), format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    assert all(isinstance(message, str) and message for message in error["fields"][field])
    assert not Span.objects.exists()


def test_a_document_of_a_project_i_am_not_in_is_refused(annotator, themes):
    elsewhere = DocumentFactory(project=ProjectFactory(), text="Analysts say trade in yuan rose.")

    response = client_for(annotator).post("/api/spans/", payload(elsewhere), format="json")

    assert response.status_code == 400
    assert "document" in error_of(response)["fields"]
    assert not Span.objects.exists()


def test_an_outsider_cannot_create_in_the_project(document, outsider, themes):
    response = client_for(outsider).post("/api/spans/", payload(document), format="json")

    assert response.status_code == 400
    assert "does not exist or is not in one of your projects" in error_of(response)["fields"]["document"][0]
    assert not Span.objects.exists()


def test_patch_changes_labels_and_bumps_the_version(span, annotator):
    response = client_for(annotator).patch(
        f"/api/spans/{span.pk}/", {"version": 1, "stance": "FAVOR", "themes": ["TRADE.volume"], "note": "n"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 2 and response["ETag"] == '"2"'
    span.refresh_from_db()
    assert (span.version, span.stance.key, span.note) == (2, "FAVOR", "n")
    assert [t.code for t in span.themes.all()] == ["TRADE.volume"]


def test_put_replaces_the_extent(span, annotator, document):
    response = client_for(annotator).put(
        f"/api/spans/{span.pk}/", payload(document, start=0, end=8, text="Analysts", version=1), format="json"
    )

    assert response.status_code == 200, response.json()
    span.refresh_from_db()
    assert (span.start, span.end, span.text, span.suffix[:4]) == (0, 8, "Analysts", " say")


def test_an_update_without_a_version_is_refused(span, annotator):
    response = client_for(annotator).patch(f"/api/spans/{span.pk}/", {"note": "x"}, format="json")

    assert response.status_code == 400
    assert "version" in error_of(response)["fields"]
    span.refresh_from_db()
    assert span.note == "" and span.version == 1


@pytest.mark.parametrize("how", ["field", "if-match"])
def test_a_stale_update_answers_409_and_changes_nothing(span, annotator, how):
    span.note = "changed elsewhere"
    span.version = 2
    span.save()
    client = client_for(annotator)
    if how == "field":
        response = client.patch(f"/api/spans/{span.pk}/", {"note": "mine", "version": 1}, format="json")
    else:
        response = client.patch(f"/api/spans/{span.pk}/", {"note": "mine"}, format="json", HTTP_IF_MATCH='"1"')

    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "stale" and error["current_version"] == 2
    span.refresh_from_db()
    assert (span.note, span.version) == ("changed elsewhere", 2)


def test_a_stale_delete_answers_409_and_keeps_the_span(span, annotator):
    response = client_for(annotator).delete(f"/api/spans/{span.pk}/?version=7")

    assert response.status_code == 409
    assert Span.objects.filter(pk=span.pk).exists()


def test_delete_keeps_the_span_in_history(span, annotator):
    response = client_for(annotator).delete(f"/api/spans/{span.pk}/?version=1")

    assert response.status_code == 204
    assert not Span.objects.filter(pk=span.pk).exists()
    assert Span.history.filter(id=span.pk, history_type="-").exists()


def test_an_invalid_update_changes_nothing(span, annotator):
    response = client_for(annotator).patch(
        f"/api/spans/{span.pk}/", {"version": 1, "start": 0, "note": "x"}, format="json"
    )

    assert response.status_code == 400
    assert "text" in error_of(response)["fields"]
    span.refresh_from_db()
    assert (span.start, span.note, span.version) == (13, "", 1)


@pytest.fixture
def labelled(document, annotator, teammate, themes):
    """Three spans: alice's TRADE.volume/FAVOR/B2 submitted, alice's FINANCE draft, bob's TRADE/NEUTRAL."""
    favor = StanceValueFactory(project=document.project, key="FAVOR")
    neutral = StanceValueFactory(project=document.project, key="NEUTRAL")
    first = SpanFactory(document=document, annotator=annotator, themes=[themes["TRADE.volume"]], stance=favor,
                        source_reliability="B", info_credibility=2, source_type="OFFICIAL", stance_target="ties",
                        status="submitted")
    second = SpanFactory(document=document, annotator=annotator, start=13, end=18, text="trade",
                         themes=[themes["FINANCE"]])
    third = SpanFactory(document=document, annotator=teammate, themes=[themes["TRADE"]], stance=neutral)
    return first, second, third


@pytest.mark.parametrize(("query", "expected"), [
    ("theme=TRADE", {0, 2}),
    ("theme=TRADE.volume", {0}),
    ("theme=FINANCE.currency", set()),
    ("stance=NEUTRAL", {2}),
    ("annotator=alice", {0, 1}),
    ("source_reliability=B", {0}),
    ("info_credibility=2", {0}),
    ("status=draft", {1, 2}),
    ("status=submitted&annotator=alice", {0}),
])
def test_span_filters(labelled, curator, query, expected):
    response = client_for(curator).get(f"/api/spans/?{query}")

    assert response.status_code == 200
    assert {item["id"] for item in response.json()["results"]} == {str(labelled[i].pk) for i in expected}


def test_span_filters_by_project_and_document(labelled, curator, document, project, themes):
    other = DocumentFactory(project=project)
    SpanFactory(document=other, annotator=labelled[0].annotator, themes=[themes["TRADE"]])
    client = client_for(curator)

    assert len(client.get(f"/api/spans/?document={document.pk}").json()["results"]) == 3
    assert len(client.get(f"/api/spans/?project={project.slug}").json()["results"]) == 4
    assert client.get("/api/spans/?project=elsewhere").json()["results"] == []


def test_a_bad_filter_value_is_a_400(curator, labelled):
    response = client_for(curator).get("/api/spans/?status=finished")

    assert response.status_code == 400
    assert "status" in error_of(response)["fields"]


def test_updated_since_returns_exactly_the_changed_spans(labelled, annotator, curator):
    since = timezone.now()
    first, second, _ = labelled
    client = client_for(annotator)
    for span in (first, second):
        assert client.patch(f"/api/spans/{span.pk}/", {"version": 1, "note": "edited"}, format="json").status_code == 200

    response = client_for(curator).get("/api/spans/", {"updated_since": since.isoformat()})

    assert {item["id"] for item in response.json()["results"]} == {str(first.pk), str(second.pk)}
    later = (timezone.now() + timedelta(seconds=1)).isoformat()
    assert client_for(curator).get("/api/spans/", {"updated_since": later}).json()["results"] == []


@pytest.mark.parametrize("one_document", [False, True], ids=["all spans", "one document's spans"])
def test_cursor_pages_neither_skip_nor_repeat_while_spans_are_added(document, annotator, themes, one_document):
    items = [payload(document, start=0, end=8, text="Analysts", themes=["TRADE"]) for _ in range(5)]
    originals = {str(span.pk) for span in spans_bulk_create(items=items, annotator=annotator)}
    client = client_for(annotator)
    query = f"document={document.pk}&" if one_document else ""

    page = client.get(f"/api/spans/?{query}page_size=2").json()
    seen = [item["id"] for item in page["results"]]
    added = client.post("/api/spans/", payload(document), format="json").json()["id"]
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [item["id"] for item in page["results"]]
    back = client.get(page["previous"]).json()

    assert len(seen) == len(set(seen))
    assert set(seen) == originals | {added}
    assert [item["id"] for item in back["results"]] == seen[-len(page["results"]) - 2:-len(page["results"])]


@pytest.mark.parametrize("value", ["abc", "1.5", "1e3"])
def test_a_document_filter_that_is_not_an_id_is_refused(annotator, themes, value):
    response = client_for(annotator).get("/api/spans/", {"document": value})

    assert response.status_code == 400
    assert "document" in error_of(response)["fields"]


def test_page_size_is_capped_at_1000(document, annotator, themes):
    items = [payload(document, start=0, end=8, text="Analysts", themes=["TRADE"]) for _ in range(1005)]
    spans_bulk_create(items=items, annotator=annotator)

    page = client_for(annotator).get("/api/spans/?page_size=5000").json()

    assert len(page["results"]) == 1000 and page["next"]


def test_listing_500_spans_of_a_document_takes_a_fixed_number_of_queries(
    document, annotator, curator, themes, django_assert_max_num_queries
):
    items = [payload(document, start=i % 40, end=i % 40 + 5, text=document.text[i % 40:i % 40 + 5],
                     themes=["TRADE", "FINANCE.currency"], stance="NEUTRAL") for i in range(500)]
    spans_bulk_create(items=items, annotator=annotator)
    client = client_for(curator)

    with django_assert_max_num_queries(2):
        response = client.get(f"/api/spans/?document={document.pk}&page_size=1000")

    results = response.json()["results"]
    assert len(results) == 500
    assert all(item["themes"] == ["TRADE", "FINANCE.currency"] and item["stance"] == "NEUTRAL" for item in results)
    assert list(results[0]) == list(SpanSerializer.Meta.fields)
    assert all(item["annotator"] == "alice" and item["document_external_id"] == document.external_id
               for item in results)


def test_creating_a_span_takes_few_queries(document, annotator, themes, django_assert_max_num_queries):
    token = Token.objects.create(user=annotator)
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")

    # Ten for the token, the checks and the writes; one for the rate throttle's count.
    with django_assert_max_num_queries(11):
        response = client.post("/api/spans/", payload(document, stance="NEUTRAL"), format="json")

    assert response.status_code == 201


def test_a_curator_may_annotate_too(document, curator, themes):
    response = client_for(curator).post("/api/spans/", payload(document), format="json")

    assert response.status_code == 201
    assert Span.objects.get().annotator == curator


def test_a_span_cannot_move_to_another_document(span, annotator, project):
    other = DocumentFactory(project=project, text="Analysts say trade in yuan rose. Others agree.")

    response = client_for(annotator).patch(
        f"/api/spans/{span.pk}/", {"version": 1, "document": other.pk}, format="json"
    )

    assert response.status_code == 400
    assert "document" in error_of(response)["fields"]
    span.refresh_from_db()
    assert span.document_id != other.pk


# Property: offsets are code points, exactly Python's slicing, astral characters included.
ASTRAL = ["🤝", "𠀀", "😀", "中", "俄", "é", "\u00a0", "\n", " "]
TEXTS = st.text(
    alphabet=st.one_of(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), st.sampled_from(ASTRAL)),
    min_size=1, max_size=40,
)
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _in_savepoint(project, text, check):
    """Run one example in a savepoint rolled back afterwards, so examples cannot see each other."""
    with transaction.atomic():
        document = DocumentFactory(project=project, text=text)
        check(document)
        transaction.set_rollback(True)


@PROPERTY
@given(data=st.data(), text=TEXTS)
def test_random_valid_spans_are_stored_at_python_offsets(project, annotator, themes, data, text):
    start = data.draw(st.integers(0, len(text) - 1), label="start")
    end = data.draw(st.integers(start + 1, len(text)), label="end")
    client = client_for(annotator)

    def check(document):
        response = client.post("/api/spans/", payload(document, start=start, end=end, text=text[start:end]),
                               format="json")
        assert response.status_code == 201, response.json()
        stored = Span.objects.get(pk=response.json()["id"])
        assert (stored.start, stored.end, stored.text) == (start, end, text[start:end])
        assert response.json()["text"] == text[start:end]
        assert stored.prefix == text[max(0, start - 32):start] and stored.suffix == text[end:end + 32]

    _in_savepoint(project, text, check)


@PROPERTY
@given(data=st.data(), text=TEXTS)
def test_random_invalid_spans_are_refused_and_nothing_is_stored(project, annotator, themes, data, text):
    bad_offsets = data.draw(st.booleans(), label="bad offsets")
    if bad_offsets:
        start = data.draw(st.integers(-3, len(text) + 3), label="start")
        end = data.draw(st.integers(-3, len(text) + 3).filter(
            lambda e: not (0 <= start < e <= len(text))), label="end")
        quote = text[max(start, 0):max(end, 0)]
    else:
        start = data.draw(st.integers(0, len(text) - 1), label="start")
        end = data.draw(st.integers(start + 1, len(text)), label="end")
        quote = data.draw(st.text(min_size=0, max_size=5).filter(lambda q: q != text[start:end]), label="quote")
    client = client_for(annotator)

    def check(document):
        response = client.post("/api/spans/", payload(document, start=start, end=end, text=quote), format="json")
        assert response.status_code == 400
        assert error_of(response)["fields"]
        assert not Span.objects.filter(document=document).exists()

    _in_savepoint(project, text, check)


def test_an_annotator_of_two_projects_sees_spans_of_both_but_only_their_own(annotator, themes, document):
    other = ProjectFactory()
    MembershipFactory(project=other, user=annotator, role=Membership.Role.ANNOTATOR)
    theme = ThemeFactory(project=other, key="TRADE")
    other_doc = DocumentFactory(project=other)
    mine = [SpanFactory(document=document, annotator=annotator, themes=[themes["TRADE"]]),
            SpanFactory(document=other_doc, annotator=annotator, themes=[theme])]
    SpanFactory(document=other_doc, themes=[theme])

    results = client_for(annotator).get("/api/spans/").json()["results"]

    assert {item["id"] for item in results} == {str(span.pk) for span in mine}


def test_a_span_reads_the_same_in_the_list_and_alone(span, annotator, curator):
    listed = client_for(curator).get(f"/api/spans/?document={span.document_id}").json()["results"]
    alone = client_for(annotator).get(f"/api/spans/{span.pk}/").json()

    assert listed == [alone]


def test_list_and_single_reads_agree_on_every_field(document, annotator, curator, themes):
    """The list's JSON comes from SQL, a single span's from Python: they must match."""
    StanceValueFactory(project=document.project, key="NEUTRAL")
    document.external_id = 'wire "7" at 100%s %'
    document.save()
    created = client_for(annotator).post("/api/spans/", payload(
        document, text=QUOTE, themes=["TRADE.volume", "FINANCE", "TRADE"], stance="NEUTRAL", source_reliability="B",
        info_credibility=3, attributed_source={"type": "OFFICIAL", "name": "Lavrov", "affiliation": "MFA",
                                               "via": "TASS"}, claim_type="EVALUATIVE",
        note='say "yes" \\ 🤝 up 50%, %s %% %d',
    ), format="json").json()
    bare = client_for(annotator).post("/api/spans/", payload(document, start=0, end=8, text="Analysts"),
                                      format="json").json()

    listed = client_for(curator).get(f"/api/spans/?document={document.pk}").json()["results"]

    assert listed == [created, bare]
    assert [client_for(annotator).get(f"/api/spans/{item['id']}/").json() for item in listed] == listed
    assert listed[0]["admiralty"] == "B3" and listed[1]["admiralty"] == ""
    assert listed[1]["stance"] is None and listed[1]["info_credibility"] is None


def test_the_list_follows_edits_of_the_span_and_of_what_it_names(document, annotator, curator, themes):
    """Part of a listed span's JSON is kept beside it by the database; none of it may go stale."""
    stance = StanceValueFactory(project=document.project, key="NEUTRAL")
    created = client_for(annotator).post("/api/spans/", payload(document, themes=["TRADE"], stance="NEUTRAL"),
                                         format="json").json()
    edited = client_for(annotator).patch(f"/api/spans/{created['id']}/", {
        "version": created["version"], "themes": ["FINANCE.currency", "TRADE.volume"], "note": "checked",
        "source_reliability": "A", "info_credibility": 1,
    }, format="json").json()
    themes["FINANCE.currency"].key = "rouble"
    themes["FINANCE.currency"].save()
    stance.key = "NEUTRAL_TONE"
    stance.save()
    document.external_id = "renamed"
    document.save()
    annotator.username = "alice-renamed"
    annotator.save()

    [listed] = client_for(curator).get(f"/api/spans/?document={document.pk}").json()["results"]

    assert listed["version"] == edited["version"] == created["version"] + 1
    assert (listed["themes"], listed["stance"], listed["document_external_id"], listed["annotator"]) == (
        ["TRADE.volume", "FINANCE.rouble"], "NEUTRAL_TONE", "renamed", "alice-renamed")
    assert (listed["note"], listed["admiralty"], listed["updated_at"]) == ("checked", "A1", edited["updated_at"])
    assert listed == client_for(annotator).get(f"/api/spans/{created['id']}/").json()


def test_a_nul_character_is_refused_with_the_fields_that_hold_it(annotator, themes, document):
    response = client_for(annotator).post("/api/spans/", payload(
        document, text="\x00", note="a\x00b", attributed_source={"type": "", "name": "x\x00"},
    ), format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert set(error["fields"]) == {"text", "note", "attributed_source"}
    assert "NUL" in error["fields"]["note"][0]
    assert not Span.objects.filter(document=document).exists()


def test_an_escaped_nul_in_the_json_body_is_refused_but_an_escaped_backslash_before_u0000_is_text(
        annotator, themes, document):
    client = client_for(annotator)
    escaped_nul = json.dumps(payload(document, note="NOTE")).replace("NOTE", "a\\u0000b")
    backslash_then_u0000 = json.dumps(payload(document, note="a\\u0000b"))

    refused = client.post("/api/spans/", escaped_nul, content_type="application/json")
    stored = client.post("/api/spans/", backslash_then_u0000, content_type="application/json")

    assert refused.status_code == 400 and error_of(refused)["fields"] == {"note": [error_of(refused)["message"]]}
    assert stored.status_code == 201, stored.content
    assert Span.objects.get(document=document).note == "a\\u0000b"
