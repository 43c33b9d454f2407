"""How agreement figures read on a page: three decimals, or "not enough data" with its reason."""
from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def figure(value, reason=None, digits=3):
    """A number to `digits` decimals, or "not enough data" whose tooltip gives the reason."""
    if value is None:
        return format_html(
            '<span class="no-data" title="{}">not enough data</span>', reason or "Nothing to compare."
        )
    return format_html('<span class="figure">{}</span>', f"{value:.{digits}f}")


@register.filter
def f1_of(figures):
    """The F1 of a span_f1-style dict, or None."""
    return figures["f1"] if figures else None


@register.filter
def get(mapping, key):
    """mapping[key] in a template, None when absent."""
    return mapping.get(key) if mapping else None
