from django.core.exceptions import ValidationError
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from .models import Span, Theme


@receiver(m2m_changed, sender=Span.themes.through)
def refuse_foreign_themes(sender, instance, action, reverse, pk_set, **kwargs):
    """Themes from another project's schema never reach a span, whatever path adds them."""
    if action != "pre_add" or not pk_set:
        return
    if reverse:
        spans = Span.objects.filter(pk__in=pk_set).exclude(document__project_id=instance.project_id)
        if spans.exists():
            raise ValidationError({"themes": f"Theme {instance.code} belongs to another project's schema."})
        return
    foreign = Theme.objects.filter(pk__in=pk_set).exclude(project_id=instance.document.project_id)
    codes = sorted(foreign.values_list("code", flat=True))
    if codes:
        raise ValidationError({"themes": f"Theme(s) {', '.join(codes)} belong to another project's schema."})
