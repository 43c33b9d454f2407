import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from annotations.models import Span
from annotations.services import span_create, span_delete, span_restore, span_update
from tests.factories import DocumentFactory, StanceValueFactory, ThemeFactory, UserFactory

QUOTE = "trade in yuan rose"


@pytest.fixture
def theme(project):
    return ThemeFactory(project=project, key="FINANCE")


def create(document, annotator, theme, **overrides):
    start = document.text.index(QUOTE)
    fields = {"start": start, "end": start + len(QUOTE), "text": QUOTE, "themes": [theme]}
    fields.update(overrides)
    return span_create(document=document, annotator=annotator, **fields)


def test_a_valid_span_keeps_its_quote_and_context(document, annotator, theme):
    span = create(document, annotator, theme)
    span.refresh_from_db()
    assert (span.start, span.end) == (13, 31)
    assert document.text[span.start:span.end] == span.text == QUOTE
    assert span.prefix == "Analysts say "
    assert span.suffix == ". Critics disagree."
    assert [t.code for t in span.themes.all()] == ["FINANCE"]
    assert span.stance_target == document.project.stance_target
    assert span.version == 1


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"start": -1, "end": 4, "text": "Anal"}, "start", "negative"),
        ({"start": 60, "end": 70, "text": "x"}, "start", "outside the text"),
        ({"start": 40, "end": 999, "text": "x"}, "end", "outside the text"),
        ({"start": 13, "end": 13, "text": ""}, "end", "cannot be empty"),
        ({"start": 20, "end": 13, "text": ""}, "end", "cannot be empty"),
        ({"text": "trade in euro rose"}, "text", "is not the text at"),
    ],
)
def test_bad_anchors_are_refused_and_nothing_is_stored(document, annotator, theme, overrides, field, message):
    with pytest.raises(ValidationError) as excinfo:
        create(document, annotator, theme, **overrides)
    assert message in " ".join(excinfo.value.message_dict[field])
    assert Span.objects.count() == 0


def test_a_theme_from_another_projects_schema_is_refused(document, annotator):
    foreign = ThemeFactory(key="TRADE")
    with pytest.raises(ValidationError) as excinfo:
        create(document, annotator, foreign)
    assert "TRADE" in " ".join(excinfo.value.message_dict["themes"])
    assert Span.objects.count() == 0


def test_adding_a_foreign_theme_to_an_existing_span_is_refused(document, annotator, theme):
    span = create(document, annotator, theme)
    foreign = ThemeFactory(key="MILITARY")
    with pytest.raises(ValidationError, match="another project"), transaction.atomic():
        span.themes.add(foreign)
    assert [t.code for t in span.themes.all()] == ["FINANCE"]


def test_an_unknown_theme_code_is_refused(document, annotator, theme):
    with pytest.raises(ValidationError, match="NOPE"):
        create(document, annotator, theme, themes=["NOPE"])
    assert Span.objects.count() == 0


def test_a_span_needs_a_theme(document, annotator, theme):
    with pytest.raises(ValidationError, match="at least one theme"):
        create(document, annotator, theme, themes=[])
    assert Span.objects.count() == 0


def test_a_stance_from_another_projects_schema_is_refused(document, annotator, theme):
    foreign = StanceValueFactory(key="FAVOR")
    with pytest.raises(ValidationError) as excinfo:
        create(document, annotator, theme, stance=foreign)
    assert "another project" in " ".join(excinfo.value.message_dict["stance"])
    assert Span.objects.count() == 0


def test_an_annotator_who_is_not_a_member_is_refused(document, theme, outsider):
    with pytest.raises(ValidationError) as excinfo:
        create(document, outsider, theme)
    assert "not a member" in " ".join(excinfo.value.message_dict["annotator"])
    assert Span.objects.count() == 0


def test_the_model_itself_refuses_a_bad_quote_whatever_the_caller(document, annotator):
    with pytest.raises(ValidationError):
        Span.objects.create(document=document, annotator=annotator, start=0, end=8, text="Analysis")
    assert Span.objects.count() == 0


def test_a_submitted_span_needs_its_grades(document, annotator, theme):
    with pytest.raises(ValidationError) as excinfo:
        create(document, annotator, theme, status=Span.Status.SUBMITTED)
    assert {"stance", "source_reliability", "info_credibility", "source_type"} <= set(excinfo.value.message_dict)
    assert Span.objects.count() == 0


def test_offsets_count_code_points_not_utf16_units(project, annotator, theme):
    document = DocumentFactory(project=project, text="中俄🤝合作 BRICS and more")
    span = span_create(document=document, annotator=annotator, start=6, end=11, text="BRICS", themes=[theme])
    assert document.text.index("BRICS") == 6
    assert span.text == "BRICS"


def test_editing_a_span_bumps_its_version_and_keeps_history(document, annotator, theme, project):
    span = create(document, annotator, theme)
    other = ThemeFactory(project=project, key="TRADE")
    span_update(span=span, expected_version=1, themes=[other], note="checked")
    span.refresh_from_db()
    assert span.version == 2
    assert span.note == "checked"
    records = list(span.history.order_by("history_date", "history_id"))
    assert records[0].history_type == "+"
    assert records[-1].note == "checked"
    assert [h.theme.code for h in records[-1].themes.select_related("theme")] == ["TRADE"]


def test_a_deleted_span_can_be_restored_with_its_themes(document, annotator, theme):
    span = create(document, annotator, theme, note="keep me")
    span_id = span.pk
    span_delete(span=span, expected_version=1)
    assert not Span.objects.filter(pk=span_id).exists()
    deletion = Span.history.get(id=span_id, history_type="-")
    restored = span_restore(historical_span=deletion)
    assert restored.pk == span_id
    restored.refresh_from_db()
    assert restored.note == "keep me"
    assert (restored.start, restored.end, restored.text) == (13, 31, QUOTE)
    assert [t.code for t in restored.themes.all()] == ["FINANCE"]


def test_overlaps_uses_half_open_ranges():
    a, b, c = Span(start=0, end=5), Span(start=5, end=8), Span(start=4, end=6)
    assert not a.overlaps(b)
    assert a.overlaps(c) and c.overlaps(b)


def test_admiralty_is_derived_from_both_grades():
    span = Span(source_reliability="B", info_credibility=2)
    assert span.admiralty == "B2"
    assert Span(source_reliability="B").admiralty == ""


def test_spans_of_one_user_are_not_visible_to_a_teammate(document, annotator, teammate, curator, theme):
    span = create(document, annotator, theme)
    assert list(Span.objects.visible_to(annotator)) == [span]
    assert list(Span.objects.visible_to(teammate)) == []
    assert list(Span.objects.visible_to(curator)) == [span]
    assert list(Span.objects.visible_to(UserFactory())) == []
