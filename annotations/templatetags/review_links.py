from django import template

from corpus.models import Membership, Project

register = template.Library()


@register.inclusion_tag("annotations/review/nav_links.html", takes_context=True)
def review_nav(context, project=None):
    """Dashboard and assignment links for the project on the page, shown to those allowed in."""
    user = context.get("user")
    if not isinstance(project, Project) or user is None or not user.is_authenticated:
        return {"show": False}
    role = "manager" if user.is_superuser else project.role_of(user)
    return {
        "show": role in (Membership.Role.MANAGER, Membership.Role.CURATOR),
        "project": project,
        "is_manager": role == Membership.Role.MANAGER,
    }
