import factory
from django.contrib.auth import get_user_model
from factory.django import DjangoModelFactory

from annotations.models import Assignment, Span, StanceValue, Theme
from corpus.models import Document, Membership, Project

PASSWORD = "correct-horse-battery"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password(PASSWORD)


class ProjectFactory(DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.ANNOTATOR


class DocumentFactory(DjangoModelFactory):
    class Meta:
        model = Document

    project = factory.SubFactory(ProjectFactory)
    external_id = factory.Sequence(lambda n: f"doc-{n:04d}")
    title = factory.Sequence(lambda n: f"Document {n}")
    text = factory.Sequence(lambda n: f"Document {n} says that trade in yuan rose. Critics disagree.")
    language = "en"


class ThemeFactory(DjangoModelFactory):
    class Meta:
        model = Theme

    project = factory.SubFactory(ProjectFactory)
    key = factory.Sequence(lambda n: f"THEME{n}")
    name = factory.LazyAttribute(lambda t: t.key.title())


class StanceValueFactory(DjangoModelFactory):
    class Meta:
        model = StanceValue
        django_get_or_create = ("project", "key")

    project = factory.SubFactory(ProjectFactory)
    key = "NEUTRAL"
    name = "Neutral"


class SpanFactory(DjangoModelFactory):
    """A valid span: the first word of its document, by a member of the document's project."""

    class Meta:
        model = Span
        skip_postgeneration_save = True

    document = factory.SubFactory(DocumentFactory)
    annotator = factory.LazyAttribute(
        lambda s: MembershipFactory(project=s.document.project).user
    )
    start = 0
    end = factory.LazyAttribute(lambda s: len(s.document.text.split(" ")[0]) + s.start)
    text = factory.LazyAttribute(lambda s: s.document.text[s.start:s.end])

    @factory.post_generation
    def themes(self, create, extracted, **kwargs):
        if not create:
            return
        themes = extracted if extracted is not None else [ThemeFactory(project=self.document.project)]
        self.themes.set(themes)


class AssignmentFactory(DjangoModelFactory):
    class Meta:
        model = Assignment

    document = factory.SubFactory(DocumentFactory)
    annotator = factory.LazyAttribute(lambda a: MembershipFactory(project=a.document.project).user)
