"""Offset conversion between stored code points and browser UTF-16 units (scheme section 2)."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from annotations.offsets import codepoint_to_utf16, quote_selector, utf16_length, utf16_to_codepoint

MIXED = "😀 中俄 ﬁ café naïve\u00a0\tend \U00020000 done"


def units(text):
    return len(text.encode("utf-16-le")) // 2


def test_scheme_example_counts_brics_at_six_code_points_and_seven_units():
    text = "中俄🤝合作 BRICS"
    assert text.index("BRICS") == 6
    assert codepoint_to_utf16(text, 6) == 7
    assert utf16_to_codepoint(text, 7) == 6
    assert len(text[:6].encode("utf-8")) == 17


def test_bmp_cjk_takes_one_unit_and_extension_b_takes_two():
    assert utf16_length("中") == 1
    assert utf16_length("\U00020000") == 2


def test_combining_accent_is_its_own_code_point():
    text = "cafe\u0301 au lait"
    start, end = quote_selector(text, "e\u0301")
    assert (start, end) == (3, 5)
    assert codepoint_to_utf16(text, end) == 5


def test_offset_inside_a_surrogate_pair_is_refused():
    with pytest.raises(ValueError, match="surrogate pair"):
        utf16_to_codepoint("a😀b", 2)


def test_offsets_outside_the_text_are_refused():
    with pytest.raises(ValueError):
        codepoint_to_utf16("abc", 4)
    with pytest.raises(ValueError):
        utf16_to_codepoint("abc", -1)


def test_tabs_and_non_breaking_spaces_count_one_each():
    text = "a\tb\u00a0c"
    assert utf16_length(text) == len(text) == 5
    assert quote_selector(text, "b\u00a0c") == (2, 5)


def test_quote_selector_finds_later_occurrences():
    assert quote_selector("ab ab ab", "ab", occurrence=2) == (6, 8)


def test_every_code_point_offset_round_trips_in_a_mixed_text():
    for cp in range(len(MIXED) + 1):
        u16 = codepoint_to_utf16(MIXED, cp)
        assert u16 == units(MIXED[:cp])
        assert utf16_to_codepoint(MIXED, u16) == cp


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40), st.data())
def test_round_trip_holds_for_any_text(text, data):
    cp = data.draw(st.integers(min_value=0, max_value=len(text)))
    u16 = codepoint_to_utf16(text, cp)
    assert u16 == units(text[:cp])
    assert utf16_to_codepoint(text, u16) == cp
