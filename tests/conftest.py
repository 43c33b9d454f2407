import pytest

from corpus.models import Membership

from .factories import DocumentFactory, MembershipFactory, ProjectFactory, UserFactory

# One registration of the Playwright fixtures: a second copy in another conftest would start
# a second Playwright session, which the sync API refuses inside the first one's loop.
pytest_plugins = ["tests.browser.fixtures"]


@pytest.fixture
def project(db):
    return ProjectFactory()


@pytest.fixture
def document(project):
    return DocumentFactory(project=project, text="Analysts say trade in yuan rose. Critics disagree.")


@pytest.fixture
def annotator(project):
    return MembershipFactory(project=project, role=Membership.Role.ANNOTATOR, user__username="alice").user


@pytest.fixture
def teammate(project):
    return MembershipFactory(project=project, role=Membership.Role.ANNOTATOR, user__username="bob").user


@pytest.fixture
def curator(project):
    return MembershipFactory(project=project, role=Membership.Role.CURATOR, user__username="carol").user


@pytest.fixture
def manager(project):
    return MembershipFactory(project=project, role=Membership.Role.MANAGER, user__username="maria").user


@pytest.fixture
def outsider(db):
    """A user of another project who must see nothing of `project`."""
    other = ProjectFactory(name="Other team")
    return MembershipFactory(project=other, role=Membership.Role.MANAGER, user__username="charlie").user


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2's deliberate slowness would dominate a suite that creates users in every test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
