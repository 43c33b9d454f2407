"""A small world of two projects and every role, and a fingerprint of what the database holds."""
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from annotations.curation import gold_accept
from annotations.exports import export_spans, export_stream
from annotations.models import Assignment, Curation, Span, StanceValue, Theme
from annotations.services import span_create
from corpus.models import Document, Membership, Project

from ..api_support import install_schema
from ..factories import DocumentFactory, MembershipFactory, ProjectFactory, UserFactory

# Words that must only ever reach those allowed to read them.
P_SECRET = "pelican-secret"  # in project P's name, documents and spans: outsiders never see it
Q_SECRET = "quokka-secret"  # the same for project Q: P's members never see it
ALICE_SECRET = "alice-private-note"  # in the first annotator's notes: her teammate never sees it
BOB_SECRET = "bob-private-note"  # in the second annotator's notes: the first never sees it

TEXT = f"Analysts say trade in yuan rose sharply. Critics disagree. Officials hailed the deal. {P_SECRET}."

# Roles as the matrix names them: members of P, a superuser who is no member, members of Q, nobody.
P_ROLES = ("annotator", "teammate", "curator", "manager")
Q_ROLES = ("q_annotator", "q_curator", "q_manager")
ROLES = ("anonymous", *P_ROLES, "superuser", *Q_ROLES)


@dataclass
class World:
    p: Project
    q: Project
    users: dict
    tokens: dict
    document: Document
    other_document: Document
    span: Span  # the annotator's, in `document`
    team_span: Span  # the teammate's, overlapping it
    gold: Span
    q_document: Document
    q_span: Span
    newcomer: object
    extra: dict = field(default_factory=dict)


def mark(document, user, quote, themes, **labels):
    start = document.text.index(quote)
    return span_create(document=document, annotator=user, start=start, end=start + len(quote), text=quote,
                       themes=themes, **labels)


def build_world():
    """Projects P and Q with annotators, a curator and a manager each; spans by both of P's annotators."""
    p = ProjectFactory(name=f"Pelican {P_SECRET}", slug="pelican", description=f"About {P_SECRET}")
    q = ProjectFactory(name=f"Quokka {Q_SECRET}", slug="quokka", description=f"About {Q_SECRET}")
    install_schema(p)
    install_schema(q)
    users = {}
    for project, prefix, roles in ((p, "", P_ROLES), (q, "q_", ("annotator", "curator", "manager"))):
        for role in roles:
            name = prefix + role
            membership_role = "annotator" if role == "teammate" else role
            users[name] = MembershipFactory(project=project, role=membership_role, user__username=name).user
    users["superuser"] = UserFactory(username="root", is_staff=True, is_superuser=True)
    tokens = {name: Token.objects.create(user=user).key for name, user in users.items()}

    document = DocumentFactory(project=p, external_id="p-1", title=f"P document {P_SECRET}", text=TEXT)
    other_document = DocumentFactory(project=p, external_id="p-2", title="P second",
                                     text=f"Nothing happened today. {P_SECRET}")
    favor = StanceValue.objects.get(project=p, key="FAVOR")
    span = mark(document, users["annotator"], "trade in yuan rose sharply", ["TRADE"], stance=favor,
                note=ALICE_SECRET, source_name="analysts")
    team_span = mark(document, users["teammate"], "yuan rose sharply", ["TRADE.volume"], stance=favor,
                     note=BOB_SECRET)
    mark(document, users["teammate"], "Critics disagree.", ["FINANCE"], note=BOB_SECRET)
    mark(document, users["annotator"], "Critics disagree.", ["FINANCE"])  # agreed: same extent and labels
    gold, _ = gold_accept(span=mark(document, users["annotator"], "Officials hailed the deal.", ["FINANCE"]),
                          curator=users["curator"])
    for user in (users["annotator"], users["teammate"]):
        Assignment.objects.create(document=document, annotator=user, assigned=True,
                                  status=Assignment.Status.IN_PROGRESS)

    q_document = DocumentFactory(project=q, external_id="q-1", title=f"Q document {Q_SECRET}",
                                 text=f"Quokkas smile. {Q_SECRET}.")
    q_span = mark(q_document, users["q_annotator"], "Quokkas smile.", ["TRADE"], note=Q_SECRET)
    newcomer = UserFactory(username="newcomer")
    return World(p=p, q=q, users=users, tokens=tokens, document=document, other_document=other_document,
                 span=span, team_span=team_span, gold=gold, q_document=q_document, q_span=q_span,
                 newcomer=newcomer)


def fingerprint():
    """Everything a request could change that matters here, as comparable rows."""
    user_model = get_user_model()
    return {
        "projects": sorted(Project.objects.values_list(
            "id", "slug", "name", "description", "guidelines", "annotators_per_document", "unassigned_open")),
        "memberships": sorted(Membership.objects.values_list("project_id", "user_id", "role")),
        "documents": sorted(Document.objects.values_list("id", "project_id", "external_id", "title", "text_sha256")),
        "spans": sorted(
            (str(row[0]), *row[1:]) for row in
            Span.objects.values_list("id", "document_id", "annotator_id", "start", "end", "status", "version", "note")
        ),
        "span_themes": sorted((str(s), t) for s, t in Span.themes.through.objects.values_list("span_id", "theme_id")),
        "themes": sorted(Theme.objects.values_list("id", "project_id", "code", "name")),
        "stances": sorted(StanceValue.objects.values_list("id", "project_id", "key", "name")),
        "assignments": sorted(Assignment.objects.values_list("document_id", "annotator_id", "status", "assigned")),
        "curations": sorted(Curation.objects.values_list("document_id", "curator_id", "status")),
        "tokens": sorted(Token.objects.values_list("user_id", "key")),
        "users": sorted(user_model.objects.values_list(
            "id", "username", "password", "first_name", "last_name", "is_staff", "is_superuser", "is_active")),
    }


def changed(before, after):
    """The names of the parts of two fingerprints that differ."""
    return sorted(name for name in before if before[name] != after[name])


def jsonl_export(project):
    """The project's spans as the canonical JSONL export, which import-spans reads back."""
    return b"".join(export_stream(project, "jsonl", spans=export_spans(project)))
