"""Template filters shared by Lectern's pages."""
import bleach
from django import template
from django.utils.safestring import mark_safe

register = template.Library()

GUIDELINE_TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "h3", "h4", "a", "code", "blockquote"}
GUIDELINE_ATTRIBUTES = {"a": ["href", "title"]}
GUIDELINE_PROTOCOLS = {"http", "https", "mailto"}


@register.filter
def guidelines_html(value):
    """Project guidelines as HTML reduced to a few formatting tags; anything else is escaped."""
    cleaned = bleach.clean(
        value or "", tags=GUIDELINE_TAGS, attributes=GUIDELINE_ATTRIBUTES, protocols=GUIDELINE_PROTOCOLS,
        strip=False,
    )
    return mark_safe(cleaned)  # noqa: S308 - bleach has reduced it to the allowlist above
