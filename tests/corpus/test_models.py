import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from corpus.models import Document, text_sha256
from tests.factories import DocumentFactory, SpanFactory


def test_document_stores_the_hash_of_its_text(document):
    assert document.text_sha256 == text_sha256(document.text)
    assert len(document.text_sha256) == 64


def test_text_can_change_while_no_span_points_into_it(document):
    document.text = "A corrected text."
    document.save()
    document.refresh_from_db()
    assert document.text == "A corrected text."
    assert document.text_sha256 == text_sha256("A corrected text.")


def test_text_cannot_change_once_a_span_points_into_it(document):
    SpanFactory(document=document)
    original = document.text
    document.text = "Someone rewrote the text."
    with pytest.raises(ValidationError) as excinfo:
        document.save()
    assert "cannot change" in " ".join(excinfo.value.message_dict["text"])
    assert "1 span" in " ".join(excinfo.value.message_dict["text"])
    document.refresh_from_db()
    assert document.text == original


def test_other_fields_of_an_annotated_document_can_still_change(document):
    SpanFactory(document=document)
    document.title = "Better title"
    document.save()
    document.refresh_from_db()
    assert document.title == "Better title"


def test_external_id_is_unique_within_a_project(document):
    with pytest.raises(IntegrityError):
        DocumentFactory(project=document.project, external_id=document.external_id, text="Other text")


def test_same_external_id_is_fine_in_another_project(document):
    other = DocumentFactory(external_id=document.external_id, text=document.text)
    assert other.project != document.project
    assert Document.objects.filter(external_id=document.external_id).count() == 2


def test_history_keeps_who_changed_a_document(document, manager):
    document._history_user = manager
    document.title = "Edited"
    document.save()
    latest = document.history.first()
    assert latest.history_type == "~"
    assert latest.history_user == manager
    assert latest.title == "Edited"
    assert document.history.last().history_type == "+"
