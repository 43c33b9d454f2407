"""Conversions between the code-point offsets spans store and the UTF-16 offsets browsers count.

Mirrors static/annotations/js/offsets.js so that server code and tests can state what the page
must send: `utf16_to_codepoint(text, u16)` is JavaScript's `Array.from(t.slice(0, u16)).length`.
"""


def _is_high_surrogate_unit(char):
    # A non-BMP character takes two UTF-16 units; its first unit is the high surrogate.
    return ord(char) > 0xFFFF


def utf16_length(text):
    """The length JavaScript reports for text (`text.length`)."""
    return len(text) + sum(1 for char in text if _is_high_surrogate_unit(char))


def codepoint_to_utf16(text, cp):
    """The UTF-16 offset of code point offset cp in text (0 <= cp <= len(text))."""
    if not 0 <= cp <= len(text):
        raise ValueError(f"Code point offset {cp} is outside the text (length {len(text)}).")
    return utf16_length(text[:cp])


def utf16_to_codepoint(text, u16):
    """The code point offset of UTF-16 offset u16; refuse an offset inside a surrogate pair."""
    total = utf16_length(text)
    if not 0 <= u16 <= total:
        raise ValueError(f"UTF-16 offset {u16} is outside the text (length {total}).")
    units = 0
    for cp, char in enumerate(text):
        if units == u16:
            return cp
        units += 2 if _is_high_surrogate_unit(char) else 1
        if units > u16:
            raise ValueError(f"UTF-16 offset {u16} falls inside the surrogate pair of {char!r} at code point {cp}.")
    return len(text)


def quote_selector(text, quote, occurrence=0):
    """The [start, end) code points of the occurrence-th exact match of quote, as text.index finds it."""
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(quote, start + 1)
    return start, start + len(quote)
