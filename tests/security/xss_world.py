"""One project whose every user- or file-controlled field holds script payloads, for the XSS tests.

Documents come in through `documents_import` from a JSONL file, as an uploaded corpus would;
spans, themes, stances, names, notes and the project's own texts are filled the way the pages and
the API would fill them. Every payload sits in every field at least once: alone where the field
is wide enough, otherwise packed with others into several objects (see payloads.packed).
"""
import json
from dataclasses import dataclass
from itertools import zip_longest

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.test import override_settings
from rest_framework.authtoken.models import Token

from annotations.assignment import documents_assign
from annotations.curation import curation_complete, gold_accept, gold_reject
from annotations.models import Span, StanceValue, Theme
from annotations.progress import assignment_set_status
from annotations.services import span_create, span_delete
from corpus.models import Document, Membership, Project
from corpus.services import documents_import

from ..factories import MembershipFactory, ProjectFactory, UserFactory
from .payloads import PAYLOADS, every, packed, payload

N = len(PAYLOADS)
# A payload without white space, so that it passes as the query of a valid URL.
URL_PAYLOAD = next(i for i, p in enumerate(PAYLOADS) if " " not in p and "<" in p)
FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Usernames may hold only letters, digits and @.+-_; these use every one of those signs.
USERNAMES = {"annotator": "ann@lectern+1", "teammate": "ann.two-2", "curator": "cur_ator", "manager": "man@x+y"}


@dataclass
class XssWorld:
    project: Project
    users: dict
    sink: Document  # one document holding every payload in its text, metadata and spans
    documents: list  # one document per payload
    own_span: Span  # the annotator's first span on the sink document
    merge_ids: str  # two overlapping spans of different annotators, for the curation editor
    import_project: Project


def _valid_url(value):
    try:
        URLValidator()(value)
    except ValidationError:
        return False
    return True


def _record(index):
    """An imported record whose every field is payload `index` (or payloads packed to fit)."""
    record = {
        "external_id": payload(index, "extid")[:200],
        "title": payload(index, "title"),
        "text": f"Document {index}. {payload(index, 'text')} and then {payload(index, 'quote')}. The end.",
        "outlet": payload(index, "outlet")[:200],
        "author": payload(index, "author")[:200],
        "genre": payload(index, "genre")[:100],
        "language": f"<xss-canary-l{index}>"[:16],
        "metadata": {payload(index, "mkey"): payload(index, "mval")},
    }
    url = f"https://example.org/{index}?" + payload(index, "url")
    if _valid_url(url):
        record["url"] = url
    return record


def _sink_record():
    text = "\n".join(
        f"Passage {i}: {payload(i, 'text')} then {payload(i, 'quote')} and {payload(i, 'deleted')} end."
        for i in range(N)
    )
    return {
        "external_id": "sink",
        "title": packed("title", 500)[0],
        "text": text,
        "outlet": packed("outlet", 200)[0],
        "author": packed("author", 200)[0],
        "genre": packed("genre", 100)[0],
        "language": "<xss-canary-ls>",
        "url": "https://example.org/?" + payload(URL_PAYLOAD, "surl"),
        "metadata": {payload(i, "mkey"): payload(i, "mval") for i in range(N)},
    }


def _mark(document, user, quote, themes, **labels):
    start = document.text.index(quote)
    return span_create(document=document, annotator=user, start=start, end=start + len(quote), text=quote,
                       themes=themes, **labels)


def _labels(index, stances, field_suffix=""):
    return {
        "stance": stances[index],
        "stance_target": payload(index, "starget")[:200],
        "source_type": "OFFICIAL",
        "source_reliability": "B",
        "info_credibility": 2,
        "source_name": payload(index, "sname" + field_suffix)[:200],
        "source_affiliation": payload(index, "saff" + field_suffix)[:200],
        "source_via": payload(index, "svia" + field_suffix)[:200],
        "claim_type": "FACTUAL",
        "note": payload(index, "note" + field_suffix),
    }


@override_settings(PASSWORD_HASHERS=FAST_HASHER)
def build_xss_world():
    """Build the payload project; returns an XssWorld."""
    names = iter(zip_longest(packed("first", 150), packed("last", 150), fillvalue=""))
    users = {}
    for role, username in USERNAMES.items():
        first, last = next(names, ("", ""))
        users[role] = UserFactory(username=username, first_name=first, last_name=last)
    users["superuser"] = UserFactory(username="root", is_staff=True, is_superuser=True)
    for n, (first, last) in enumerate(names):
        UserFactory(username=f"holder{n}", first_name=first, last_name=last)

    project_names = packed("pname", 200)
    project = ProjectFactory(
        name=project_names[0], slug="xss", description=" ".join(every("pdesc")),
        guidelines=" ".join(every("guide")), stance_target=packed("ptarget", 200)[0],
    )
    for role in ("annotator", "teammate", "curator", "manager"):
        Membership.objects.create(project=project, user=users[role],
                                  role="annotator" if role == "teammate" else role)
    descriptions = packed("xdesc", 2000)
    targets = packed("ptarget", 200)
    for k, name in enumerate(project_names[1:], start=1):
        extra = ProjectFactory(name=name, slug=f"xss-{k}", description=descriptions[k % len(descriptions)],
                               stance_target=targets[k % len(targets)])
        MembershipFactory(project=extra, user=users["annotator"], role="annotator")

    themes = []
    for i in range(N):
        top = Theme.objects.create(project=project, key=f"T{i:02d}", name=payload(i, "theme"), position=2 * i)
        Theme.objects.create(project=project, key="sub", parent=top, name=payload(i, "subtheme"), position=2 * i + 1)
        themes.append(top)
    stances = [
        StanceValue.objects.create(project=project, key=f"S{i:02d}", name=payload(i, "stance"), position=i)
        for i in range(N)
    ]

    lines = [json.dumps(_sink_record())] + [json.dumps(_record(i)) for i in range(N)]
    report = documents_import(project=project, files=[("corpus.jsonl", "\n".join(lines).encode())])
    assert report.imported == N + 1, [(r.name, r.reason) for r in report.results if r.status != "imported"]
    sink = Document.objects.get(project=project, external_id="sink")
    documents = list(project.documents.exclude(pk=sink.pk).order_by("pk"))

    annotator, teammate, curator = users["annotator"], users["teammate"], users["curator"]
    documents_assign(documents=[sink, *documents], annotators=[annotator, teammate])
    own = [_mark(sink, annotator, payload(i, "quote"), [themes[i]], **_labels(i, stances)) for i in range(N)]
    theirs = [
        _mark(sink, teammate, payload(i, "quote"), [themes[(i + 1) % N]], **_labels(i, stances, "2"))
        for i in range(N)
    ]
    for i, document in enumerate(documents):
        for user in (annotator, teammate):
            _mark(document, user, payload(i, "quote"), [themes[i]], **{**_labels(i, stances), "note": ""})
        span_delete(span=_mark(document, annotator, payload(i, "text"), [themes[i]], note=payload(i, "dnote")))
    for i in range(N):
        span_delete(span=_mark(sink, annotator, payload(i, "deleted"), [themes[i]]))
    for i in range(0, N, 3):
        gold_accept(span=own[i], curator=curator)
        gold_reject(span=theirs[i + 1 if i + 1 < N else 0], curator=curator)
    curation_complete(document=documents[0], curator=curator)
    for document in documents[: N // 2]:
        assignment_set_status(document=document, annotator=annotator, status="done")

    superuser = users["superuser"]
    content_type = ContentType.objects.get_for_model(Document)
    for i in range(N):
        LogEntry.objects.create(
            user=superuser, content_type=content_type, object_id=str(documents[i].pk),
            object_repr=payload(i, "logrepr")[:200], action_flag=CHANGE, change_message=payload(i, "logmsg"),
        )
    Token.objects.create(user=annotator)

    import_project = ProjectFactory(name="Import target", slug="imports")
    MembershipFactory(project=import_project, user=users["manager"], role="manager")
    return XssWorld(
        project=project, users=users, sink=sink, documents=documents, own_span=own[0],
        merge_ids=f"{own[1].pk},{theirs[1].pk}", import_project=import_project,
    )
