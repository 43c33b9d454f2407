"""Pages for reviewing agreement and curating documents into gold; managers and curators only."""
from collections import Counter, defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from corpus.models import Project

from .agreement_report import UnknownPair, agreement_report
from .curation import (
    COPIED_LABELS, DECISIONS, CurationRefused, curation_complete, curation_reopen, curation_state, gold_accept,
    gold_accept_agreed, gold_edit, gold_reject, gold_update, gold_withdraw, merged_extent,
)
from .forms_curation import GoldForm
from .models import Curation, Span
from .views_review import REVIEWERS, project_for_review

DOCUMENTS_PER_PAGE = 100


def _pair_choices(report):
    names = report["annotators"]
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


def _report_for(project, request, document=None):
    """The report for ?pair=u1,u2 (everyone without it), and why the pair was refused, if it was."""
    pair = request.GET.get("pair", "").strip() or None
    try:
        return agreement_report(project, document=document, pair=pair), None
    except UnknownPair as exc:
        return agreement_report(project, document=document), str(exc)


@login_required
def agreement_project(request, slug):
    """Corpus-level agreement figures, a table per annotator pair and one per document."""
    project = project_for_review(request.user, slug, REVIEWERS)
    report, pair_error = _report_for(project, request)
    page = Paginator(report["per_document"], DOCUMENTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "project": project, "report": report, "page": page, "pair_error": pair_error,
        "pair_choices": _pair_choices(report) if not report["pair"] else [],
        "pair_query": f"pair={','.join(report['pair'])}&" if report["pair"] else "",
    }
    return render(request, "annotations/agreement.html", context)


@login_required
def agreement_document(request, slug, pk):
    """Agreement figures of one document."""
    project = project_for_review(request.user, slug, REVIEWERS)
    document = get_object_or_404(project.documents.defer("text"), pk=pk)
    report, pair_error = _report_for(project, request, document)
    context = {"project": project, "document": document, "report": report, "pair_error": pair_error}
    return render(request, "annotations/agreement_document.html", context)



# --------------------------------------------------------------------------
# Curation
# --------------------------------------------------------------------------


def project_for_curation(user, slug):
    """The project if the user curates or manages it as a member (gold spans need a member); 404/403 otherwise."""
    project = get_object_or_404(Project.objects.for_user(user), slug=slug)
    if project.role_of(user) not in REVIEWERS:
        raise PermissionDenied("Only the project's curators and managers curate documents.")
    return project


CURATION_FILTERS = {"not_curated": "Not curated", "in_progress": "In progress", "curated": "Curated"}


@login_required
def curation_documents(request, slug):
    """Documents that two or more annotators marked spans in, with their curation status."""
    project = project_for_curation(request.user, slug)
    layers = (
        Span.objects.filter(document__project=project).exclude(status__in=DECISIONS)
        .order_by().values("document").annotate(annotators=Count("annotator", distinct=True), spans=Count("pk"))
        .filter(annotators__gte=2)
    )
    figures = {row["document"]: row for row in layers}
    decisions = (
        Span.objects.filter(document__project=project, status__in=DECISIONS)
        .order_by().values_list("document", "status").annotate(n=Count("pk"))
    )
    counts = {}
    for doc_id, status, n in decisions:
        counts.setdefault(doc_id, {})[status] = n
    curations = {
        c.document_id: c for c in Curation.objects.filter(document__project=project).select_related("curator")
    }
    rows = []
    for document in project.documents.filter(pk__in=figures).defer("text", "metadata").order_by("external_id", "pk"):
        curation = curations.get(document.pk)
        status = "not_curated" if curation is None else curation.status
        if status == Curation.Status.IN_PROGRESS:
            status = "in_progress"
        rows.append({
            "document": document, "annotators": figures[document.pk]["annotators"],
            "spans": figures[document.pk]["spans"], "status": status, "status_label": CURATION_FILTERS[status],
            "curation": curation, "gold": counts.get(document.pk, {}).get(Span.Status.GOLD, 0),
            "rejected": counts.get(document.pk, {}).get(Span.Status.REJECTED, 0),
        })
    totals = {key: sum(1 for r in rows if r["status"] == key) for key in CURATION_FILTERS}
    wanted = request.GET.get("status", "")
    if wanted in CURATION_FILTERS:
        rows = [r for r in rows if r["status"] == wanted]
    page = Paginator(rows, DOCUMENTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "project": project, "page": page, "wanted": wanted,
        "filters": [(key, label, totals[key]) for key, label in CURATION_FILTERS.items()],
    }
    return render(request, "annotations/curation_documents.html", context)


def _document_for_curation(request, slug, pk):
    """The project and one of its documents, for a member who curates or manages it."""
    project = project_for_curation(request.user, slug)
    document = get_object_or_404(project.documents.select_related("project"), pk=pk)
    return project, document


def _span_in(document, span_id, statuses=None):
    """A span of this document by id, or None for a missing or malformed id."""
    spans = Span.objects.filter(document=document)
    if statuses is not None:
        spans = spans.filter(status__in=statuses)
    try:
        return spans.select_related("document__project").get(pk=span_id)
    except (Span.DoesNotExist, ValidationError, ValueError):
        return None


def _spans_in(document, ids):
    ids = [i for i in (ids or []) if i]
    found = [_span_in(document, i) for i in ids]
    if any(span is None for span in found):
        return None
    return found


def text_parts(text, state):
    """The document text as HTML: each candidate a link to its row, each piece marked with who covers it.

    Built here rather than in the template so that the container holds exactly the text's
    characters: the page script maps selections back to code points through them.
    """
    spans = state["spans"]
    golds = [d for d in state["decisions"] if d.status == Span.Status.GOLD]
    bounds = {0, len(text)}
    for span in [*spans, *golds]:
        bounds.update((span.start, span.end))
    for candidate in state["candidates"]:
        bounds.update((candidate.start, candidate.end))
    bounds = sorted(bounds)
    annotators = state["annotators"]
    owner = {candidate.start: candidate for candidate in state["candidates"]}
    # A sweep over the boundaries keeps who covers the current piece, so a long document
    # with thousands of spans costs one pass rather than pieces x spans.
    opening, closing = defaultdict(list), defaultdict(list)
    for span in spans:
        opening[span.start].append(span.annotator.username)
        closing[span.end].append(span.annotator.username)
    for gold in golds:
        opening[gold.start].append(None)
        closing[gold.end].append(None)
    covering = Counter()
    html = []
    current = None
    for start, end in zip(bounds, bounds[1:]):
        covering.update(opening.get(start, ()))
        covering.subtract(closing.get(start, ()))
        if current is not None and start >= current.end:
            html.append("</a>")
            current = None
        if current is None and start in owner:
            current = owner[start]
            html.append(format_html(
                '<a class="cand cand-{}" href="#cand-{}" data-candidate="{}" id="text-cand-{}">',
                current.state, current.number, current.number, current.number,
            ))
        who = sorted(name for name, n in covering.items() if n > 0 and name is not None)
        gold = covering[None] > 0
        if not who and not gold:
            html.append(escape(text[start:end]))
            continue
        classes = [f"cov-{min(len(who), 3)}"] if who else []
        if who and len(who) == len(annotators):
            classes.append("cov-all")
        if gold:
            classes.append("in-gold")
        title = ", ".join(who) + (" · gold" if gold else "")
        html.append(format_html(
            '<span class="{}" data-annotators="{}" title="{}">{}</span>',
            " ".join(classes), " ".join(who), title, text[start:end],
        ))
    if current is not None:
        html.append("</a>")
    return mark_safe("".join(html))  # noqa: S308 - every piece above is escaped by format_html/escape


def _majority(values, fallback):
    counts = Counter(values)
    if not counts:
        return fallback
    best = max(counts.values())
    return next(v for v in values if counts[v] == best)


def _prefill(document, sources, gold=None):
    """Initial editor values: a gold span's own, one source's, or the most common among several."""
    base = gold or (sources[0] if sources else None)
    if base is None:
        return {"stance_target": document.project.stance_target}
    initial = {name: getattr(base, name) for name in COPIED_LABELS if name != "stance"}
    initial["stance"] = base.stance.key if base.stance else ""
    initial["themes"] = [t.code for t in base.themes.all()]
    initial["start"], initial["end"] = base.start, base.end
    if gold is None and len(sources) > 1:
        for name in COPIED_LABELS:
            if name == "stance":
                initial["stance"] = _majority([s.stance.key if s.stance else "" for s in sources], initial["stance"])
            else:
                initial[name] = _majority([getattr(s, name) for s in sources], initial[name])
        votes = Counter(t.code for s in sources for t in s.themes.all())
        chosen = [code for code, n in votes.items() if 2 * n >= len(sources)]
        initial["themes"] = sorted(chosen) or initial["themes"]
        initial["start"], initial["end"] = merged_extent(sources) if _contiguous(sources) else (base.start, base.end)
        initial["extent"] = "union" if _contiguous(sources) else str(base.pk)
    return initial


def _contiguous(sources):
    try:
        merged_extent(sources)
    except CurationRefused:
        return False
    return True


def _editor(request, document, form=None):
    """The gold editor for ?edit=<span>, ?merge=<span>,<span>..., ?gold=<gold span> or ?new=1; None otherwise."""
    params = request.POST if form is not None else request.GET
    gold = sources = None
    if form is not None:
        mode = params.get("mode", "new")
        gold = _span_in(document, params.get("gold"), [Span.Status.GOLD]) if mode == "update" else None
        # A source deleted since the editor opened refuses the save rather than quietly dropping out.
        sources = _spans_in(document, params.get("sources", "").split(","))
    elif params.get("gold"):
        mode = "update"
        gold = _span_in(document, params["gold"], [Span.Status.GOLD])
        if gold is None:
            return None
        sources = list(gold.sources.all())
    elif params.get("edit"):
        mode = "edit"
        sources = _spans_in(document, [params["edit"]])
    elif params.get("merge"):
        mode = "merge"
        sources = _spans_in(document, params["merge"].split(","))
    elif params.get("new"):
        mode, sources = "new", []
    else:
        return None
    if sources is None:
        return None
    if form is None:
        form = GoldForm(document.project, initial={
            **_prefill(document, sources, gold), "mode": mode, "gold": gold.pk if gold else "",
            "sources": ",".join(str(s.pk) for s in sources),
        })
    titles = {"new": "Add a gold span", "edit": "Accept with changes", "merge": "Merge into one gold span",
              "update": "Edit a gold span"}
    return {"form": form, "mode": mode, "title": titles.get(mode, titles["new"]), "sources": sources, "gold": gold}


@login_required
def curation_document(request, slug, pk):
    """Every annotator's spans on the text, the candidates they form, and the curator's decisions."""
    project, document = _document_for_curation(request, slug, pk)
    return _render_document(request, project, document)


def _render_document(request, project, document, editor=None, status=200):
    state = curation_state(document)
    if editor is None:
        editor = _editor(request, document)
    agreed_open = sum(1 for c in state["candidates"] if c.state == "agreed" and not c.decided)
    context = {
        "project": project, "document": document, **state, "text_html": text_parts(document.text, state),
        "editor": editor, "agreed_open": agreed_open,
        "curated": state["curation"] is not None and state["curation"].status == Curation.Status.CURATED,
        "states": Counter(c.state for c in state["candidates"]),
    }
    return render(request, "annotations/curation_document.html", context, status=status)


def _back(document, anchor=""):
    url = reverse("curation:document", args=[document.project.slug, document.pk])
    return redirect(url + (f"#{anchor}" if anchor else ""))


def _refused(request, exc):
    """Tell the curator why a decision was refused (a CurationRefused or the span's ValidationError)."""
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        reasons = [" ".join(errors) for errors in exc.message_dict.values()]
    elif isinstance(exc, ValidationError):
        reasons = exc.messages
    else:
        reasons = [str(exc)]
    messages.error(request, "Refused: " + " ".join(reasons))


@login_required
@require_POST
def curation_accept(request, slug, pk):
    project, document = _document_for_curation(request, slug, pk)
    span = _span_in(document, request.POST.get("span"))
    if span is None:
        messages.error(request, "That span is no longer there.")
        return _back(document)
    try:
        gold, created = gold_accept(span=span, curator=request.user)
    except (CurationRefused, ValidationError) as exc:
        _refused(request, exc)
        return _back(document)
    if created:
        messages.success(request, f"Accepted {span.annotator.username}'s span “{span.text[:60]}” as gold.")
    else:
        messages.info(request, f"Already accepted: gold span [{gold.start}, {gold.end}) has these labels.")
    return _back(document, "candidates")


@login_required
@require_POST
def curation_reject(request, slug, pk):
    project, document = _document_for_curation(request, slug, pk)
    span = _span_in(document, request.POST.get("span"))
    if span is None:
        messages.error(request, "That span is no longer there.")
        return _back(document)
    try:
        _, created = gold_reject(span=span, curator=request.user)
    except (CurationRefused, ValidationError) as exc:
        _refused(request, exc)
        return _back(document)
    if created:
        messages.success(request, f"Rejected {span.annotator.username}'s span “{span.text[:60]}”.")
    else:
        messages.info(request, "Already rejected.")
    return _back(document, "candidates")


@login_required
@require_POST
def curation_gold(request, slug, pk):
    """Create a gold span from the editor (edit, merge or new) or change one (update)."""
    project, document = _document_for_curation(request, slug, pk)
    form = GoldForm(project, request.POST)
    editor = _editor(request, document, form)
    if editor is None:
        messages.error(request, "Those spans are no longer there.")
        return _back(document)
    if form.is_valid():
        data = form.cleaned_data
        mode, sources = data["mode"], editor["sources"]
        labels = {name: data[name] for name in COPIED_LABELS}
        try:
            if mode == "merge" and data["extent"] not in ("", "custom"):
                start, end = merged_extent(sources, data["extent"])
            else:
                start, end = data["start"], data["end"]
                if start is None or end is None:
                    raise ValidationError({"start": "Give a start and an end, or choose an extent."})
            if mode == "update":
                if editor["gold"] is None:
                    raise CurationRefused("That gold span is no longer there.")
                gold_update(span=editor["gold"], curator=request.user, start=start, end=end,
                            themes=list(data["themes"]), **labels)
                messages.success(request, f"Gold span [{start}, {end}) changed.")
            else:
                gold, created = gold_edit(
                    document=document, curator=request.user, sources=sources if mode != "new" else [],
                    start=start, end=end, themes=list(data["themes"]), **labels,
                )
                messages.success(request, f"Gold span [{start}, {end}) saved." if created
                                 else "Already accepted: a gold span with this extent and these labels exists.")
            return _back(document, "gold")
        except ValidationError as exc:
            _form_errors(form, exc)
        except CurationRefused as exc:
            form.add_error(None, str(exc))
    return _render_document(request, project, document, editor=editor, status=400)


def _form_errors(form, exc):
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@login_required
@require_POST
def curation_accept_agreed(request, slug, pk):
    project, document = _document_for_curation(request, slug, pk)
    try:
        created = gold_accept_agreed(document=document, curator=request.user)
    except (CurationRefused, ValidationError) as exc:
        _refused(request, exc)
        return _back(document)
    messages.success(request, f"Accepted {len(created)} span(s) every annotator marked the same way."
                     if created else "No agreed span was left to accept.")
    return _back(document, "gold")


@login_required
@require_POST
def curation_withdraw(request, slug, pk):
    project, document = _document_for_curation(request, slug, pk)
    span = _span_in(document, request.POST.get("span"), DECISIONS)
    if span is None:
        messages.error(request, "That decision is no longer there.")
        return _back(document)
    try:
        gold_withdraw(span=span, curator=request.user)
    except (CurationRefused, ValidationError) as exc:
        _refused(request, exc)
        return _back(document)
    what = "gold span" if span.status == Span.Status.GOLD else "rejection"
    messages.success(request, f"Withdrew the {what} [{span.start}, {span.end}).")
    return _back(document, "gold")


@login_required
@require_POST
def curation_status(request, slug, pk):
    """Mark the document curated, or reopen it."""
    project, document = _document_for_curation(request, slug, pk)
    action = request.POST.get("action")
    if action == "curated":
        curation_complete(document=document, curator=request.user)
        messages.success(request, f"{document} is marked curated.")
    elif action == "reopen":
        curation_reopen(document=document, curator=request.user)
        messages.success(request, f"{document} is open for curation again.")
    else:
        messages.error(request, "Unknown action.")
    return _back(document)
