"""Agreement of a project, one document or one pair of annotators, from the spans in the database.

Turns annotator-layer spans into the inputs of `annotations.agreement` and assembles one
JSON-ready report (annotation scheme section 4), shared by the pages and the API.

Choices the figures depend on:

* Annotator layers only: gold spans and rejected decisions (the curators' layer) never count.
* The annotators of a document are the users with spans in it plus those who marked it done
  without marking any span: "nothing to mark here" is an answer another annotator can
  disagree with. A document with fewer than two annotators, or with no spans at all, is
  "not enough data": its figures are null with a reason, never 0 or 1.
* Span figures (exact and overlap F1) are pooled over documents per pair: matched and
  marked spans are summed before dividing, so long documents weigh more than short ones.
* alpha_U: one unit per (span, theme); a rater's overlapping spans of one theme count as
  their union, since the measure forbids a rater overlapping units of one category. The
  corpus continuum is its documents joined end to end (see `_joined_alpha_u`): for a pair,
  the documents both annotated; for everyone, the documents with the most common number
  of annotators.
* Label figures use the spans paired greedily one-to-one by IoU with IoU >= 0.5
  (`MIN_LABEL_IOU`); see `label_units` for how units of three or more annotators are built.
  Reliability F and credibility 6 ("cannot be judged") are missing on the ordinal scales
  but are values of their own in the nominal Admiralty grade.
"""
import gc
from collections import Counter, defaultdict, namedtuple
from contextlib import contextmanager
from fractions import Fraction
from itertools import combinations
from math import comb
from operator import attrgetter

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import CharField
from django.db.models.functions import Cast, Length

from corpus.models import Document

from .agreement import (
    alpha_u_by_category, cohen_kappa, fleiss_kappa, krippendorff_alpha, masi_distance, match_spans,
)
from .models import Assignment, Span, Theme

NOT_ANNOTATOR_LAYER = (Span.Status.GOLD, Span.Status.REJECTED)
MIN_LABEL_IOU = 0.5
NOT_ENOUGH_DATA = "not enough data"
NOT_COMPUTED = object()

# One annotator's span as the metrics see it: stance and themes as ids (themes a frozenset),
# and None wherever the label is missing for that measure.
Unit = namedtuple(
    "Unit", "start end stance source_type admiralty source_reliability info_credibility themes"
)
DocumentInfo = namedtuple("DocumentInfo", "id external_id title length")

# (key, name, how the values are compared).
LABELS = (
    ("stance", "Stance", "nominal"),
    ("source_type", "Source type", "nominal"),
    ("admiralty", "Admiralty grade (nominal)", "nominal"),
    ("source_reliability", "Source reliability A–E (ordinal)", "ordinal"),
    ("info_credibility", "Information credibility 1–5 (ordinal)", "ordinal"),
    ("themes", "Themes (MASI)", "masi"),
)
# Cohen's kappa per pair for the nominal labels; Fleiss' kappa for the two the scheme names.
KAPPA_LABELS = ("stance", "source_type", "admiralty")
FLEISS_LABELS = ("stance", "source_type")
LABEL_NAMES = {key: name for key, name, _ in LABELS}

REASON_NO_SPANS = "No annotator has marked a span here."
REASON_NO_DOCUMENT = "No document has spans from two or more annotators."
REASON_NO_PAIRED_LABEL = "No spans of two annotators were paired (IoU >= 0.5) with this label given by both."
REASON_SINGLE_VALUE = "Every paired value is the same, so agreement beyond chance is undefined."
REASON_FLEISS_RATERS = "Fleiss' kappa needs spans labelled by every one of three or more annotators of a document."
REASON_NO_THEME_UNITS = "Nobody marked a span with this theme."


class UnknownPair(ValueError):
    """The pair named in a request is not two distinct members of the project."""


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


class Layers:
    """Annotator-layer spans of a project's documents, grouped by document and annotator.

    Loaded with a fixed number of queries (documents, spans, their themes, done assignments,
    names) whatever the number of documents.
    """

    def __init__(self, project, *, document=None, annotator_ids=None):
        documents = Document.objects.filter(project=project)
        spans = Span.objects.filter(document__project=project).exclude(status__in=NOT_ANNOTATOR_LAYER)
        done = Assignment.objects.filter(document__project=project, status=Assignment.Status.DONE)
        if document is not None:
            documents = documents.filter(pk=document.pk)
            spans = spans.filter(document=document)
            done = done.filter(document=document)
        if annotator_ids is not None:
            spans = spans.filter(annotator_id__in=annotator_ids)
            done = done.filter(annotator_id__in=annotator_ids)

        self.documents = {
            row[0]: DocumentInfo(*row)
            for row in documents.order_by("external_id", "pk").annotate(length=Length("text"))
            .values_list("pk", "external_id", "title", "length")
        }
        self.theme_codes = dict(Theme.objects.filter(project=project).values_list("pk", "code"))
        # Span ids as text: turning 10^5 keys into UUID objects only to match two lists costs
        # more than the metrics themselves. Themes are selected through their project, not
        # by joining spans and documents, which SQLite plans far more slowly; rows of spans
        # outside the annotator layers are simply never looked up.
        through = Span.themes.through.objects.filter(theme__project=project)
        if document is not None:
            through = through.filter(span__document=document)
        themes = defaultdict(list)
        through = through.annotate(sid=Cast("span_id", CharField())).values_list("sid", "theme_id")
        for sid, theme_id in _raw_rows(through):
            themes[sid].append(theme_id)

        self.spans = defaultdict(lambda: defaultdict(list))
        rows = _raw_rows(spans.order_by().annotate(sid=Cast("pk", CharField())).values_list(
            "sid", "document_id", "annotator_id", "start", "end", "stance_id", "source_type",
            "source_reliability", "info_credibility",
        ))
        no_themes = ()
        for sid, doc_id, annotator_id, start, end, stance_id, source_type, reliability, credibility in rows:
            codes = themes.get(sid, no_themes)
            self.spans[doc_id][annotator_id].append(Unit(
                start, end,
                stance_id,
                source_type or None,
                f"{reliability}{credibility}" if reliability and credibility is not None else None,
                reliability if reliability and reliability != "F" else None,
                credibility if credibility is not None and credibility != 6 else None,
                frozenset(codes) if codes else None,
            ))
        extent = attrgetter("start", "end")
        for by_annotator in self.spans.values():
            for units in by_annotator.values():
                units.sort(key=extent)

        self.annotators = defaultdict(set)
        for doc_id, by_annotator in self.spans.items():
            self.annotators[doc_id].update(by_annotator)
        for doc_id, annotator_id in done.values_list("document_id", "annotator_id"):
            self.annotators[doc_id].add(annotator_id)
        ids = set().union(*self.annotators.values()) if self.annotators else set()
        self.usernames = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))

    def annotators_of(self, doc_id):
        """The document's annotators, ordered by username so pairs always read the same way."""
        return sorted(self.annotators.get(doc_id, ()), key=lambda pk: self.usernames[pk])

    def units(self, doc_id, annotator_id):
        return self.spans.get(doc_id, {}).get(annotator_id, [])


def _raw_rows(queryset):
    """The rows of a values_list() queryset as the database driver returns them."""
    # values_list() passes every value through Python-level converters; these columns
    # (integers, text) need none, and skipping them halves the time to read 10^5 rows.
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def theme_units(units, at=0):
    """{theme: [(start, end), ...]} of one annotator, overlapping spans of a theme merged, shifted by `at`."""
    by_theme = defaultdict(list)
    for unit in units:
        for code in unit.themes or ():
            by_theme[code].append((unit.start + at, unit.end + at))
    merged = {}
    for code, extents in by_theme.items():
        extents.sort()
        out = [list(extents[0])]
        for start, end in extents[1:]:
            if start < out[-1][1]:
                out[-1][1] = max(out[-1][1], end)
            else:
                out.append([start, end])
        merged[code] = [tuple(e) for e in out]
    return merged


# --------------------------------------------------------------------------
# Units for the label measures
# --------------------------------------------------------------------------


def label_units(units_by_annotator):
    """Group the spans of several annotators into label units, one span per annotator at most.

    Annotators are taken in order; each one's spans are paired greedily one-to-one by IoU
    (`match_spans`, IoU >= 0.5) with the units built so far, compared by the extent of
    the span that opened each unit (its anchor). A paired span joins that unit; an unpaired
    span opens a new one. Anchors never move, so a unit cannot drift along a chain of
    successively overlapping spans, and with two annotators the units are exactly the pairs
    the pairwise measures use. A span nobody shares stays a unit of one value, which the
    alpha and kappa functions leave out as unpairable.
    """
    anchors = []
    groups = []
    for annotator, units in units_by_annotator:
        extents = [(u.start, u.end) for u in units]
        joined = set()
        if anchors and extents:
            for i, j, iou in match_spans(extents, anchors):
                if iou >= MIN_LABEL_IOU:
                    groups[j].append(units[i])
                    joined.add(i)
        for i, unit in enumerate(units):
            if i not in joined:
                anchors.append(extents[i])
                groups.append([unit])
    return groups


class LabelTally:
    """The label units of every compared document, as per-label value columns for alpha and Fleiss."""

    def __init__(self):
        self.columns = {key: [] for key, _, _ in LABELS}
        self.complete = {key: defaultdict(list) for key in FLEISS_LABELS}

    def add(self, groups, raters):
        """Add one document's label units; `raters` is its number of annotators."""
        fields = [(self.columns[key], Unit._fields.index(key), self.complete.get(key)) for key, _, _ in LABELS]
        for group in groups:
            # A span nobody else marked has no value to be compared with.
            if len(group) < 2:
                continue
            by_field = list(zip(*group))
            for columns, index, complete in fields:
                values = by_field[index]
                present = [v for v in values if v is not None] if None in values else list(values)
                if len(present) >= 2:
                    columns.append(present)
                    if complete is not None and raters >= 3 and len(present) == raters:
                        complete[raters].append(present)

    def alpha(self, key, how):
        """Krippendorff's alpha of one label, the number of pairable units, and a reason when None."""
        columns = self.columns[key]
        if not columns:
            return None, 0, REASON_NO_PAIRED_LABEL
        if how == "masi":
            value = masi_alpha(columns)
        else:
            # Alpha reads only the values within each unit, not who gave them, so rater
            # slots stand in for annotators: rotating annotators need no sparse matrix.
            width = max(len(c) for c in columns)
            rows = [[None] * len(columns) for _ in range(width)]
            for x, values in enumerate(columns):
                for slot, value in enumerate(values):
                    rows[slot][x] = value
            value = krippendorff_alpha(rows, level=how)
        return value, len(columns), None if value is not None else REASON_SINGLE_VALUE

    def fleiss(self, key):
        """Fleiss' kappa of one label over the units labelled by all k >= 3 annotators of their document."""
        by_size = self.complete[key]
        if not by_size:
            return None, REASON_FLEISS_RATERS
        # Fleiss needs the same number of ratings per item: documents with the most common
        # number of annotators keep the most items.
        k = max(by_size, key=lambda size: (len(by_size[size]), size))
        value = fleiss_kappa([list(slot) for slot in zip(*by_size[k])])
        if value is None:
            return None, REASON_SINGLE_VALUE
        return value, None


def masi_alpha(columns):
    """Krippendorff's alpha with MASI distance over units given as lists of label sets; None when undefined.

    Equal to krippendorff_alpha(rows, distance=masi_distance), which builds a distance
    matrix over every pair of distinct sets: quadratic in their number, and a corpus of
    50,000 spans over 60 themes holds over 10,000 distinct sets. Here the expected
    disagreement comes from counts instead. MASI similarity J * m depends only on the two
    sizes a, b and the size i of the intersection, so it suffices to know, for each (a, b, i),
    how many pairs of values have it. Summing over every subset t of each set gives
    S_j = sum over pairs of C(i, j) for each j, and binomial inversion turns those into the
    exact counts: linear in the number of values times 2^(set size).
    """
    columns = [[frozenset(v) for v in values] for values in columns if len(values) >= 2]
    if not columns:
        return None
    counts = Counter(value for values in columns for value in values)
    n = sum(counts.values())

    observed = 0.0
    for values in columns:
        m = len(values)
        unit = 0.0
        for x in range(m):
            for y in range(x + 1, m):
                if values[x] != values[y]:
                    unit += masi_distance(values[x], values[y])
        observed += 2 * unit / (m - 1)

    # containing[t][a]: how many values of size a contain the subset t.
    containing = defaultdict(Counter)
    for value, count in counts.items():
        members = sorted(value)
        size = len(members)
        for j in range(size + 1):
            for subset in combinations(members, j):
                containing[subset][size] += count
    sums = defaultdict(int)  # (a, b, j) -> S_j
    for subset, by_size in containing.items():
        j = len(subset)
        for a, ca in by_size.items():
            for b, cb in by_size.items():
                sums[(a, b, j)] += ca * cb
    similarity = Fraction(0)
    for (a, b, i) in {(a, b, i) for (a, b, j) in sums for i in range(1, j + 1)}:
        exact = sum(
            (-1) ** (j - i) * comb(j, i) * sums.get((a, b, j), 0) for j in range(i, min(a, b) + 1)
        )
        if not exact:
            continue
        if i == a == b:
            weight = 3
        elif i == min(a, b):
            weight = 2
        else:
            weight = 1
        similarity += Fraction(exact * i * weight, 3 * (a + b - i))
    # Every ordered pair of pairable values, minus the similar part; a value paired with
    # itself (similarity 1) contributes nothing to the disagreement.
    expected = n * n - similarity
    if expected == 0:
        return None
    return 1.0 - (n - 1) * observed / float(expected)


# --------------------------------------------------------------------------
# Accumulators
# --------------------------------------------------------------------------


class PairTally:
    """Everything one pair of annotators contributes, summed over the documents both annotated."""

    def __init__(self, a, b):
        self.a, self.b = a, b
        self.documents = 0
        self.exact = 0
        self.overlap = 0
        self.n_a = 0
        self.n_b = 0
        self.labels = {key: ([], []) for key in KAPPA_LABELS}
        self.paired = 0
        self.continuum = []  # alpha_U chunks: (length, at, [theme units of a, of b]) per document
        self.alpha_u = NOT_COMPUTED

    def add(self, length, at, a, b):
        """Add one document; a and b are each (units, extents, theme units) of one annotator."""
        units_a, extents_a, themes_a = a
        units_b, extents_b, themes_b = b
        self.documents += 1
        self.n_a += len(extents_a)
        self.n_b += len(extents_b)
        matched = overlap = 0
        if extents_a and extents_b:
            set_a, set_b = set(extents_a), set(extents_b)
            if len(set_a) == len(extents_a) and len(set_b) == len(extents_b):
                matched = len(set_a & set_b)
            else:
                # Duplicated extents pair one-to-one, as a multiset intersection.
                matched = sum((Counter(extents_a) & Counter(extents_b)).values())
            # Greedy pairing takes the highest IoU first, so the pairs at IoU >= 0.5 are
            # the same whether or not lower-IoU pairs are allowed: one call serves both.
            pairs = match_spans(extents_a, extents_b)
            overlap = len(pairs)
            labels = [(self.labels[key], Unit._fields.index(key)) for key in KAPPA_LABELS]
            for i, j, iou in pairs:
                if iou >= MIN_LABEL_IOU:
                    self.paired += 1
                    ua, ub = units_a[i], units_b[j]
                    for (values_a, values_b), index in labels:
                        values_a.append(ua[index])
                        values_b.append(ub[index])
        self.exact += matched
        self.overlap += overlap
        self.continuum.append((length, at, [themes_a, themes_b]))
        return matched, overlap, len(extents_a) + len(extents_b)

    def f1(self, mode):
        matched = self.exact if mode == "exact" else self.overlap
        return f1_figures(matched, self.n_a, self.n_b)


def f1_figures(matched, n_a, n_b):
    """Span F1 as span_f1 reports it, from counts already summed over documents."""
    if n_a + n_b == 0:
        return None
    return {
        "precision": matched / n_b if n_b else None,
        "recall": matched / n_a if n_a else None,
        "f1": 2 * matched / (n_a + n_b),
        "matched": matched,
        "n_a": n_a,
        "n_b": n_b,
    }


def _kappa(a, b):
    value = cohen_kappa(a, b)
    if value is not None:
        return None, value
    if not any(x is not None and y is not None for x, y in zip(a, b)):
        return REASON_NO_PAIRED_LABEL, None
    return REASON_SINGLE_VALUE, None


def _joined_alpha_u(chunks):
    """alpha_U over documents joined end to end; each chunk (length, at, [per-rater theme units]).

    `at` is where the chunk's units already begin (they are built shifted to the document's
    place among all compared documents), so the usual continuum needs no second copy.
    Every chunk must have the same number of raters. Raters are slots: alpha_U sums its
    observed disagreement over all rater pairs and pools every unit for the expected one,
    so it does not matter which annotator fills slot i of each document, and documents
    annotated by different people can share one continuum.
    """
    if not chunks:
        return None
    raters = len(chunks[0][2])
    offset = 0
    categories = defaultdict(lambda: [[] for _ in range(raters)])
    for length, at, per_rater in chunks:
        shift = offset - at
        for slot, by_theme in enumerate(per_rater):
            for code, extents in by_theme.items():
                if shift:
                    extents = [(s + shift, e + shift) for s, e in extents]
                categories[code][slot] += extents
        offset += length
    if not categories:
        return {"alpha": None, "d_o": None, "d_e": None, "categories": {}}
    return alpha_u_by_category(offset, categories)


def _alpha_u_figures(result, documents, raters, theme_codes):
    if result is None or result["alpha"] is None:
        return {
            "alpha": None, "d_o": None, "d_e": None, "documents": documents, "annotators_per_document": raters,
            "reason": REASON_NO_SPANS if documents else REASON_NO_DOCUMENT, "themes": [],
        }
    themes = []
    for theme_id, figures in sorted(result["categories"].items(), key=lambda item: theme_codes[item[0]]):
        themes.append({
            "theme": theme_codes[theme_id], "alpha": figures["alpha"], "d_o": figures["d_o"], "d_e": figures["d_e"],
            "reason": None if figures["alpha"] is not None else REASON_NO_THEME_UNITS,
        })
    return {
        "alpha": result["alpha"], "d_o": result["d_o"], "d_e": result["d_e"], "documents": documents,
        "annotators_per_document": raters, "reason": None, "themes": themes,
    }


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------


def resolve_pair(project, pair):
    """Two member user ids from "u1,u2" or a (u1, u2) pair of usernames; UnknownPair otherwise."""
    names = [n.strip() for n in (pair.split(",") if isinstance(pair, str) else pair) if n.strip()]
    if len(names) != 2 or names[0] == names[1]:
        raise UnknownPair("pair must name two different annotators, as pair=alice,bob.")
    found = dict(project.memberships.filter(user__username__in=names).values_list("user__username", "user_id"))
    missing = [n for n in names if n not in found]
    if missing:
        raise UnknownPair(f"Not a member of this project: {', '.join(missing)}.")
    return names, [found[n] for n in names]


@contextmanager
def _collection_paused():
    # A corpus report allocates millions of small tuples and lists and frees none of them
    # until it returns; the cyclic collector would rescan them again and again (a third
    # of the run time on 150,000 spans) and find no garbage.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def agreement_report(project, *, document=None, pair=None):
    """Agreement figures of a project (or one of its documents, or one pair of annotators) as a dict.

    `pair` is "u1,u2" or two usernames; UnknownPair when they are not two members.
    """
    with _collection_paused():
        return _report(project, document=document, pair=pair)


def _report(project, *, document, pair):
    pair_names = pair_ids = None
    if pair:
        pair_names, pair_ids = resolve_pair(project, pair)
    layers = Layers(project, document=document, annotator_ids=pair_ids)

    pairs = {}
    doc_rows = []
    chunks_by_size = defaultdict(list)   # raters -> alpha_U chunks of documents with that many annotators
    labels = LabelTally()
    compared = 0
    at = 0  # where the next compared document begins on the joined continuum
    for doc in layers.documents.values():
        annotators = layers.annotators_of(doc.id)
        if pair_ids is not None and len(annotators) == 2:
            annotators = sorted(annotators, key=pair_ids.index)
        units = {a: layers.units(doc.id, a) for a in annotators}
        span_count = sum(len(u) for u in units.values())
        row = {
            "id": doc.id, "external_id": doc.external_id, "title": doc.title, "length": doc.length,
            "annotators": [layers.usernames[a] for a in annotators], "spans": span_count,
            "status": "ok", "reason": None, "exact_f1": None, "overlap_f1": None,
        }
        doc_rows.append(row)
        if span_count == 0:
            row.update(status=NOT_ENOUGH_DATA, reason=REASON_NO_SPANS)
            continue
        if len(annotators) < 2:
            row.update(
                status=NOT_ENOUGH_DATA,
                reason=f"Only {row['annotators'][0]} has annotated this document; agreement needs two annotators.",
            )
            continue
        compared += 1
        layer = {
            a: (units[a], [(u.start, u.end) for u in units[a]], theme_units(units[a], at)) for a in annotators
        }

        doc_exact = doc_overlap = doc_marked = 0
        for a, b in combinations(annotators, 2):
            tally = pairs.get((a, b))
            if tally is None:
                tally = pairs[(a, b)] = PairTally(a, b)
            exact, overlap, marked = tally.add(doc.length, at, layer[a], layer[b])
            doc_exact += exact
            doc_overlap += overlap
            doc_marked += marked
        if doc_marked:
            row["exact_f1"] = 2 * doc_exact / doc_marked
            row["overlap_f1"] = 2 * doc_overlap / doc_marked

        chunks_by_size[len(annotators)].append((doc.length, at, [layer[a][2] for a in annotators]))
        at += doc.length
        labels.add(label_units([(a, units[a]) for a in annotators]), len(annotators))

    report = {
        "project": project.slug,
        "scope": "document" if document is not None else "project",
        "document": None,
        "pair": pair_names,
        "annotators": sorted({name for row in doc_rows for name in row["annotators"]}),
        "documents": {
            "total": len(doc_rows), "compared": compared, "not_enough_data": len(doc_rows) - compared,
        },
        "status": "ok" if compared else NOT_ENOUGH_DATA,
        "reason": None,
        "min_label_iou": MIN_LABEL_IOU,
    }
    if document is not None:
        row = doc_rows[0]
        report["document"] = {k: row[k] for k in ("id", "external_id", "title", "length", "spans")}
        report["reason"] = row["reason"]
    elif not compared:
        report["reason"] = REASON_NO_DOCUMENT if doc_rows else "The project has no documents."

    tallies = [pairs[key] for key in sorted(pairs, key=lambda k: (layers.usernames[k[0]], layers.usernames[k[1]]))]
    report["spans"] = _pooled_span_figures(tallies, report["reason"])
    report["alpha_u"] = _corpus_alpha_u(chunks_by_size, layers.theme_codes)
    report["labels"] = _label_figures(labels)
    corpus_alpha = report["alpha_u"]
    if len(tallies) == 1 and corpus_alpha["annotators_per_document"] == 2 and corpus_alpha["documents"] == compared:
        # One pair over every compared document: its continuum is the corpus one.
        tallies[0].alpha_u = corpus_alpha["alpha"]
    report["pairs"] = [_pair_figures(tally, layers.usernames) for tally in tallies]
    if document is None:
        report["per_document"] = doc_rows
    return report


def _pooled_span_figures(tallies, reason):
    exact = sum(t.exact for t in tallies)
    overlap = sum(t.overlap for t in tallies)
    n_a = sum(t.n_a for t in tallies)
    n_b = sum(t.n_b for t in tallies)
    figures = {
        "pairs": len(tallies),
        "exact": f1_figures(exact, n_a, n_b),
        "overlap": f1_figures(overlap, n_a, n_b),
    }
    figures["reason"] = None if figures["exact"] is not None else (reason or REASON_NO_DOCUMENT)
    return figures


def _corpus_alpha_u(chunks_by_size, theme_codes):
    if not chunks_by_size:
        return _alpha_u_figures(None, 0, None, theme_codes)
    # Only documents with the same number of annotators can share one continuum (a missing
    # rater would read as "marked nothing"); the most common number keeps the most text.
    raters = max(chunks_by_size, key=lambda size: (len(chunks_by_size[size]), size))
    chunks = chunks_by_size[raters]
    return _alpha_u_figures(_joined_alpha_u(chunks), len(chunks), raters, theme_codes)


def _label_figures(labels):
    figures = []
    for key, name, how in LABELS:
        alpha, units, reason = labels.alpha(key, how)
        entry = {
            "label": key, "name": name, "level": how if how != "masi" else "MASI distance",
            "alpha": alpha, "units": units, "reason": reason, "fleiss_kappa": None, "fleiss_reason": None,
        }
        if key in FLEISS_LABELS:
            entry["fleiss_kappa"], entry["fleiss_reason"] = labels.fleiss(key)
        figures.append(entry)
    return figures


def _pair_figures(tally, usernames):
    alpha_u = tally.alpha_u
    if alpha_u is NOT_COMPUTED:
        alpha_u = (_joined_alpha_u(tally.continuum) or {"alpha": None})["alpha"]
    kappa = {}
    reasons = {}
    for key in KAPPA_LABELS:
        reasons[key], kappa[key] = _kappa(*tally.labels[key])
    exact = tally.f1("exact")
    return {
        "annotators": [usernames[tally.a], usernames[tally.b]],
        "documents": tally.documents,
        "exact": exact,
        "overlap": tally.f1("overlap"),
        "reason": None if exact is not None else REASON_NO_SPANS,
        "alpha_u": alpha_u,
        "alpha_u_reason": None if alpha_u is not None else REASON_NO_SPANS,
        "paired_for_labels": tally.paired,
        "kappa": kappa,
        "kappa_reasons": reasons,
    }
