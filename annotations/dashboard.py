"""A project's progress figures and charts, aggregated in the database and drawn as SVG on the server.

Annotator-layer figures leave out gold spans (the curator's layer) and rejected spans;
gold spans are counted on their own. Every chart is a table first (its CSV rows) and a
picture second, so the numbers a manager downloads are the numbers drawn.
"""
import datetime
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from itertools import combinations

from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import CharField, Count, Max, Q
from django.db.models.functions import Cast, Substr
from django.template.loader import render_to_string
from django.utils.dateparse import parse_datetime

from corpus.models import Document, Membership

from .models import Assignment, Curation, InfoCredibility, SourceReliability, Span, Theme

NOT_ANNOTATOR_LAYER = (Span.Status.GOLD, Span.Status.REJECTED)
DOCUMENTS_PER_PAGE = 50
# Covering indexes of the span table (Span.Meta.indexes; the one on theme codes is made by
# migration 0005). The grouped passes read them instead of the span rows, which carry the
# quote, its context and its export line.
COUNTS_INDEX = "span_dashboard_counts"
LAYER_INDEX = "span_dashboard_layer"
THEME_CODES_INDEX = "span_dashboard_theme_codes"
MAX_OUTLETS_DRAWN = 15
MAX_DAYS_DRAWN = 120
NO_STANCE = "(no stance)"
NO_OUTLET = "(no outlet)"
# Spreadsheets run cells starting with these as formulas (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# One fill pattern per series, so stacked bars stay apart without colour.
PATTERNS = ("diagonal", "dots", "crosshatch", "horizontal", "vertical", "backslash", "grid", "solid")
CREDIBILITY_SHORT = {1: "confirmed", 2: "probable", 3: "possible", 4: "doubtful", 5: "improbable", 6: "unknown"}
CHART_SLUGS = ("themes", "stance-by-theme", "admiralty", "stance-by-outlet", "progress")


def csv_safe(value):
    """A CSV cell a spreadsheet shows as text: strings that would start a formula get a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def overlap_f1(a, b):
    """Overlap F1 of two annotators' (start, end) spans, or None when there is nothing to compare."""
    from . import agreement

    result = agreement.span_f1(a, b, mode="overlap")
    if result is None:
        return None
    return result["f1"] if isinstance(result, dict) else float(result)


def mean_pairwise_f1(spans_by_annotator):
    """Mean overlap F1 over annotator pairs; None for fewer than two annotators with spans."""
    layers = [spans for _, spans in sorted(spans_by_annotator.items()) if spans]
    scores = [overlap_f1(a, b) for a, b in combinations(layers, 2)]
    scores = [s for s in scores if s is not None]
    if not scores:
        return None
    return sum(scores) / len(scores)


def _table(model):
    return connection.ops.quote_name(model._meta.db_table)


def _in_project():
    """The condition that span `s` belongs to the project given as the next parameter."""
    return f"s.document_id IN (SELECT d.id FROM {_table(Document)} d WHERE d.project_id = %s)"


def _indexed_by(name):
    """Name the index to read on SQLite, whose planner, without statistics, would reach each span
    through the document index and read its whole row; PostgreSQL's planner weighs them itself."""
    return f" INDEXED BY {name}" if connection.vendor == "sqlite" else ""


def _fetch(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _as_datetime(value):
    """A timestamp read by raw SQL: SQLite hands back its UTC text, PostgreSQL an aware datetime."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value


def _as_date(value):
    return value if isinstance(value, datetime.date) else datetime.date.fromisoformat(value)


def utc_day(field_name):
    """The UTC calendar day of a datetime column as "YYYY-MM-DD".

    TruncDate would follow the current time zone, but on SQLite it runs a Python
    function per row, which triples the cost of the scan; the leading ten
    characters of the stored UTC timestamp are the same day for a UTC site.
    """
    return Substr(Cast(field_name, output_field=CharField()), 1, 10)


def shorten(text, limit):
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt(number):
    """A coordinate for SVG markup: no locale, no trailing zeros."""
    return f"{number:.1f}".rstrip("0").rstrip(".")


@dataclass
class Chart:
    """One chart: its table (CSV header and rows) and what its SVG template needs."""

    slug: str
    title: str
    summary: str
    header: list
    rows: list
    template: str
    context: dict = field(default_factory=dict)

    def records(self):
        return [dict(zip(self.header, row)) for row in self.rows]

    def svg(self):
        return render_to_string(
            self.template, {"id": f"chart-{self.slug}", "title": self.title, "summary": self.summary, **self.context}
        )


class Dashboard:
    """The figures of one project; each query runs once, when first needed.

    Nothing is kept between requests: every figure is computed from the rows as they
    are, so a page is right after any write, whichever path made it (form, API, bulk
    import, admin, raw SQL). The span figures come from three grouped passes that
    read covering indexes of the span table rather than its wide rows.
    """

    def __init__(self, project):
        self.project = project

    # -- queries ------------------------------------------------------------

    def layer(self):
        return Span.objects.filter(document__project=self.project).exclude(status__in=NOT_ANNOTATOR_LAYER)

    @cached_property
    def span_counts(self):
        """[(annotator id, status, reliability, credibility, spans, newest updated_at)] over every span of the project.

        The grouping follows the order of the index read, so SQLite groups as it scans
        instead of sorting every span first.
        """
        rows = _fetch(
            "SELECT s.annotator_id, s.status, s.source_reliability, s.info_credibility, COUNT(*), MAX(s.updated_at)"
            f" FROM {_table(Span)} s{_indexed_by(COUNTS_INDEX)}"
            f" WHERE {_in_project()}"
            " GROUP BY s.annotator_id, s.status, s.source_reliability, s.info_credibility",
            [self.project.pk],
        )
        return [(annotator, status, rel, cred, n, _as_datetime(last)) for annotator, status, rel, cred, n, last in rows]

    @cached_property
    def layer_by_document_day(self):
        """[(document id, stance id or None, UTC day of creation, spans)] of the annotators' layer."""
        if connection.vendor == "sqlite":
            # SQLite stores the UTC timestamp as text: its first ten characters are the day.
            day = "substr(s.created_at, 1, 10)"
        else:
            day = "(s.created_at AT TIME ZONE 'UTC')::date"
        rows = _fetch(
            f"SELECT s.document_id, s.stance_id, {day}, COUNT(*)"
            f" FROM {_table(Span)} s{_indexed_by(LAYER_INDEX)}"
            f" WHERE {_in_project()} AND s.status NOT IN (%s, %s)"
            f" GROUP BY s.document_id, s.stance_id, {day}",
            [self.project.pk, *NOT_ANNOTATOR_LAYER],
        )
        return [(document, stance, _as_date(created), n) for document, stance, created, n in rows]

    @cached_property
    def theme_stance_counts(self):
        """{(top-level theme id, stance id or None): spans}; a span counts once per top-level theme.

        The spans are grouped by stance and by the codes of their themes, which the database
        keeps on each span (annotations.export_template), so no span is joined to its theme
        links; each group's codes then name its top-level themes.
        """
        rows = _fetch(
            "SELECT s.stance_id, s.theme_codes, COUNT(*)"
            f" FROM {_table(Span)} s{_indexed_by(THEME_CODES_INDEX)}"
            f" WHERE {_in_project()} AND s.status NOT IN (%s, %s)"
            " GROUP BY s.stance_id, s.theme_codes",
            [self.project.pk, *NOT_ANNOTATOR_LAYER],
        )
        top_of = {theme.code: theme.parent_id or theme.pk for theme in Theme.objects.filter(project=self.project)}
        tops = {}
        counts = Counter()
        for stance, codes, n in rows:
            if codes not in tops:
                tops[codes] = {top_of[code] for code in json.loads(codes) if code in top_of}
            for top in tops[codes]:
                counts[(top, stance)] += n
        return dict(counts)

    @cached_property
    def summary(self):
        project = self.project
        by_status = Counter()
        for _, status, _, _, n, _ in self.span_counts:
            by_status[status] += n
        work = Assignment.objects.filter(document__project=project).aggregate(
            assigned=Count("pk", filter=Q(assigned=True)),
            done=Count("pk", filter=Q(status=Assignment.Status.DONE)),
            in_progress=Count("pk", filter=Q(status=Assignment.Status.IN_PROGRESS)),
            documents_done=Count("document", filter=Q(status=Assignment.Status.DONE), distinct=True),
        )
        return {
            "documents": project.documents.count(),
            "documents_done": work["documents_done"],
            "documents_curated": Curation.objects.filter(
                document__project=project, status=Curation.Status.CURATED
            ).count(),
            "assignments": work["assigned"],
            "assignments_done": work["done"],
            "assignments_in_progress": work["in_progress"],
            "annotators": project.memberships.filter(role=Membership.Role.ANNOTATOR).count(),
            "spans": sum(n for status, n in by_status.items() if status not in NOT_ANNOTATOR_LAYER),
            "gold_spans": by_status[Span.Status.GOLD],
            "rejected_spans": by_status[Span.Status.REJECTED],
        }

    @cached_property
    def annotators(self):
        """Per annotator: assigned, done, in progress, spans made, last activity."""
        project = self.project
        work = {
            row["annotator"]: row
            for row in Assignment.objects.filter(document__project=project)
            .values("annotator")
            .annotate(
                assigned=Count("pk", filter=Q(assigned=True)),
                done=Count("pk", filter=Q(status=Assignment.Status.DONE)),
                in_progress=Count("pk", filter=Q(status=Assignment.Status.IN_PROGRESS)),
                last=Max("updated_at"),
            )
        }
        spans = defaultdict(lambda: {"spans": 0, "last": None})
        for annotator_id, status, _, _, n, last in self.span_counts:
            if status == Span.Status.GOLD:
                # The curator's layer: their gold spans are no annotation work.
                continue
            row = spans[annotator_id]
            if status != Span.Status.REJECTED:
                row["spans"] += n
            if row["last"] is None or last > row["last"]:
                row["last"] = last
        roles = dict(project.memberships.values_list("user_id", "role"))
        ids = {pk for pk, role in roles.items() if role == Membership.Role.ANNOTATOR} | set(work) | set(spans)
        names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
        rows = []
        for pk in ids:
            w = work.get(pk, {})
            s = spans.get(pk, {})
            lasts = [t for t in (w.get("last"), s.get("last")) if t is not None]
            rows.append(
                {
                    "username": names[pk],
                    "role": roles.get(pk, ""),
                    "assigned": w.get("assigned", 0),
                    "done": w.get("done", 0),
                    "in_progress": w.get("in_progress", 0),
                    "spans": s.get("spans", 0),
                    "last_activity": max(lasts) if lasts else None,
                }
            )
        return sorted(rows, key=lambda row: row["username"])

    def documents(self, page_number=1):
        """One page of documents: who is assigned, who is done, agreement, curation, gold spans."""
        paginator = Paginator(
            self.project.documents.order_by("external_id", "pk").only("pk", "project", "external_id", "title"),
            DOCUMENTS_PER_PAGE,
        )
        page = paginator.get_page(page_number)
        ids = [doc.pk for doc in page]
        work = defaultdict(list)
        for doc_id, username, status, assigned in (
            Assignment.objects.filter(document_id__in=ids)
            .order_by("annotator__username")
            .values_list("document_id", "annotator__username", "status", "assigned")
        ):
            work[doc_id].append({"username": username, "status": status, "assigned": assigned})
        # One query of bare offsets for the whole page keeps the agreement column cheap.
        layers = defaultdict(lambda: defaultdict(list))
        for doc_id, annotator_id, start, end in (
            self.layer().filter(document_id__in=ids).order_by().values_list("document_id", "annotator_id", "start", "end")
        ):
            layers[doc_id][annotator_id].append((start, end))
        gold = dict(
            Span.objects.filter(document_id__in=ids, status=Span.Status.GOLD)
            .order_by()
            .values("document_id")
            .annotate(n=Count("pk"))
            .values_list("document_id", "n")
        )
        curated = set(
            Curation.objects.filter(document_id__in=ids, status=Curation.Status.CURATED).values_list(
                "document_id", flat=True
            )
        )
        rows = []
        for doc in page:
            entries = work.get(doc.pk, [])
            rows.append(
                {
                    "id": doc.pk,
                    "external_id": doc.external_id,
                    "title": doc.title,
                    "assigned_to": [e["username"] for e in entries if e["assigned"]],
                    "in_progress": [e["username"] for e in entries if e["status"] == Assignment.Status.IN_PROGRESS],
                    "done_by": [e["username"] for e in entries if e["status"] == Assignment.Status.DONE],
                    "annotators_with_spans": len(layers[doc.pk]),
                    "agreement": mean_pairwise_f1(layers[doc.pk]),
                    "curated": doc.pk in curated,
                    "gold_spans": gold.get(doc.pk, 0),
                }
            )
        return page, rows

    @cached_property
    def top_themes(self):
        return list(Theme.objects.filter(project=self.project, parent=None).order_by("position", "code"))

    @cached_property
    def stances(self):
        return list(self.project.stances.order_by("position", "key"))

    # -- charts ---------------------------------------------------------------

    def chart(self, slug):
        return {
            "themes": self.chart_themes,
            "stance-by-theme": self.chart_stance_by_theme,
            "admiralty": self.chart_admiralty,
            "stance-by-outlet": self.chart_stance_by_outlet,
            "progress": self.chart_progress,
        }[slug]()

    def charts(self):
        return [self.chart(slug) for slug in CHART_SLUGS]

    def chart_themes(self):
        per_theme = Counter()
        for (top, _), n in self.theme_stance_counts.items():
            per_theme[top] += n
        rows = [[t.code, t.name, per_theme[t.pk]] for t in self.top_themes]
        total = sum(r[2] for r in rows)
        return Chart(
            slug="themes",
            title="Spans per theme",
            summary=(
                f"Horizontal bars: spans per top-level theme, {len(rows)} themes. "
                + "; ".join(f"{code}: {n}" for code, _, n in rows)
                if total
                else "No spans yet."
            ),
            header=["theme_code", "theme_name", "spans"],
            rows=rows,
            template="annotations/charts/bars.svg",
            context=bar_geometry([(f"{name} ({code})", n) for code, name, n in rows]),
        )

    def _series(self):
        series = [(s.pk, s.key, s.name) for s in self.stances]
        if any(stance is None for _, stance in self.theme_stance_counts):
            series.append((None, NO_STANCE, "No stance given yet"))
        return series

    def chart_stance_by_theme(self):
        counts = self.theme_stance_counts
        series = self._series()
        rows = []
        for theme in self.top_themes:
            values = [counts.get((theme.pk, pk), 0) for pk, _, _ in series]
            rows.append([theme.code, theme.name, *values, sum(values)])
        keys = [key for _, key, _ in series]
        return Chart(
            slug="stance-by-theme",
            title="Stance per theme",
            summary=stacked_summary("theme", [(r[1], r[2:-1], r[-1]) for r in rows], keys),
            header=["theme_code", "theme_name", *keys, "total"],
            rows=rows,
            template="annotations/charts/stacked.svg",
            context=stacked_geometry(
                "chart-stance-by-theme", [(f"{r[1]} ({r[0]})", r[2:-1]) for r in rows], self._series_legend(series)
            ),
        )

    def _series_legend(self, series):
        colours = {s.pk: s.colour for s in self.stances}
        return [(key, name, colours.get(pk, "#ffffff")) for pk, key, name in series]

    def chart_admiralty(self):
        grid = Counter()
        ungraded = 0
        for _, status, reliability, credibility, n, _ in self.span_counts:
            if status in NOT_ANNOTATOR_LAYER:
                continue
            if reliability and credibility:
                grid[(reliability, credibility)] += n
            else:
                ungraded += n
        letters = [choice.value for choice in SourceReliability]
        digits = [choice.value for choice in InfoCredibility]
        rows = [[letter, *[grid[(letter, digit)] for digit in digits]] for letter in letters]
        graded = sum(grid.values())
        common = grid.most_common(1)
        return Chart(
            slug="admiralty",
            title="Source reliability × information credibility",
            summary=(
                f"Heat map, 6 by 6: spans per Admiralty grade; {graded} graded, {ungraded} not fully graded."
                + (f" Most common: {common[0][0][0]}{common[0][0][1]} with {common[0][1]}." if common else "")
            ),
            header=["source_reliability", *[str(d) for d in digits]],
            rows=rows,
            template="annotations/charts/heatmap.svg",
            context=heatmap_geometry(grid, letters, digits, ungraded),
        )

    def chart_stance_by_outlet(self):
        series = [(s.pk, s.key, s.name) for s in self.stances]
        outlets = dict(self.project.documents.values_list("pk", "outlet"))
        counts = defaultdict(Counter)
        for document, stance, _, n in self.layer_by_document_day:
            counts[outlets[document] or NO_OUTLET][stance] += n
        if any(None in by_stance for by_stance in counts.values()):
            series.append((None, NO_STANCE, "No stance given yet"))
        ordered = sorted(counts, key=lambda o: (-sum(counts[o].values()), o))
        rows = []
        for outlet in ordered:
            values = [counts[outlet].get(pk, 0) for pk, _, _ in series]
            rows.append([outlet, *values, sum(values)])
        drawn = [(r[0], r[1:-1]) for r in rows[:MAX_OUTLETS_DRAWN]]
        rest = rows[MAX_OUTLETS_DRAWN:]
        if rest:
            drawn.append(
                (f"Other outlets ({len(rest)})", [sum(r[1 + i] for r in rest) for i in range(len(series))])
            )
        keys = [key for _, key, _ in series]
        return Chart(
            slug="stance-by-outlet",
            title="Stance by outlet",
            summary=stacked_summary("outlet", [(r[0], r[1:-1], r[-1]) for r in rows], keys),
            header=["outlet", *keys, "total"],
            rows=rows,
            template="annotations/charts/stacked.svg",
            context=stacked_geometry("chart-stance-by-outlet", drawn, self._series_legend(series)),
        )

    def chart_progress(self):
        done = {
            datetime.date.fromisoformat(day): n
            for day, n in Assignment.objects.filter(
                document__project=self.project, status=Assignment.Status.DONE, done_at__isnull=False
            )
            .annotate(day=utc_day("done_at"))
            .values_list("day")
            .annotate(n=Count("pk"))
            .order_by()
        }
        created = Counter()
        for _, _, day, n in self.layer_by_document_day:
            created[day] += n
        days = sorted(set(done) | set(created))
        rows = []
        if days:
            cumulative = 0
            day = days[0]
            while day <= days[-1]:
                cumulative += done.get(day, 0)
                rows.append([day.isoformat(), done.get(day, 0), cumulative, created.get(day, 0)])
                day += datetime.timedelta(days=1)
        return Chart(
            slug="progress",
            title="Progress over time",
            summary=(
                f"Two panels over {len(rows)} days from {rows[0][0]} to {rows[-1][0]}: documents marked done, "
                f"cumulative (now {rows[-1][2]}), and spans created per day (most on one day: {max(r[3] for r in rows)})."
                if rows
                else "Nothing done yet."
            ),
            header=["date", "documents_done", "documents_done_cumulative", "spans_created"],
            rows=rows,
            template="annotations/charts/progress.svg",
            context=progress_geometry(rows),
        )


# -- geometry -----------------------------------------------------------------
# Layout is computed here and drawn by templates, so every label that reaches
# the SVG passes through template autoescaping.

WIDTH = 640
LABEL_WIDTH = 200
ROW_HEIGHT = 26
BAR_HEIGHT = 18


def bar_geometry(items):
    """Horizontal bars with the label left of the bar and the count right of it."""
    top = 8
    plot = WIDTH - LABEL_WIDTH - 70
    biggest = max((n for _, n in items), default=0) or 1
    bars = []
    for i, (label, n) in enumerate(items):
        y = top + i * ROW_HEIGHT
        length = plot * n / biggest
        bars.append(
            {
                "label": label,
                "short": shorten(label, 30),
                "value": n,
                "y": fmt(y),
                "text_y": fmt(y + BAR_HEIGHT / 2 + 4),
                "width": fmt(length),
                "value_x": fmt(LABEL_WIDTH + 8 + length + 6),
            }
        )
    return {
        "width": WIDTH,
        "height": top * 2 + max(len(items), 1) * ROW_HEIGHT,
        "bars": bars,
        "bar_x": LABEL_WIDTH + 8,
        "label_x": LABEL_WIDTH,
        "bar_height": BAR_HEIGHT,
        "empty": not any(n for _, n in items),
    }


def stacked_summary(kind, rows, keys):
    if not any(total for _, _, total in rows):
        return "No spans yet."
    parts = []
    for label, values, total in rows:
        if total:
            parts.append(f"{label}: " + ", ".join(f"{k} {v}" for k, v in zip(keys, values) if v))
    return f"Stacked bars of spans per stance for each {kind}. " + "; ".join(parts)


def stacked_geometry(chart_id, items, legend):
    """Stacked horizontal bars, one fill pattern per series, counts inside segments that have room."""
    series = []
    x = 0
    legend_y = 0
    for i, (key, name, colour) in enumerate(legend):
        label = key if key == NO_STANCE else f"{key} – {name}"
        advance = 14 + 6 + 7 * len(label) + 18
        if x and x + advance > WIDTH:
            x = 0
            legend_y += 20
        series.append(
            {
                "key": key,
                "name": name,
                "label": label,
                "colour": colour,
                "pattern": "none" if key == NO_STANCE else PATTERNS[i % len(PATTERNS)],
                "pattern_id": f"{chart_id}-p{i}",
                "x": fmt(x),
                "y": fmt(legend_y),
                "text_x": fmt(x + 20),
                "text_y": fmt(legend_y + 11),
            }
        )
        x += advance
    top = legend_y + 30
    plot = WIDTH - LABEL_WIDTH - 70
    biggest = max((sum(values) for _, values in items), default=0) or 1
    bars = []
    for row, (label, values) in enumerate(items):
        y = top + row * ROW_HEIGHT
        total = sum(values)
        offset = LABEL_WIDTH + 8
        segments = []
        for s, value in zip(series, values):
            if not value:
                continue
            length = plot * value / biggest
            segments.append(
                {
                    "series": s,
                    "value": value,
                    "share": f"{100 * value / total:.0f}",
                    "x": fmt(offset),
                    "width": fmt(length),
                    "text_x": fmt(offset + length / 2),
                    "labelled": length >= 8 * len(str(value)) + 6,
                }
            )
            offset += length
        bars.append(
            {
                "label": label,
                "short": shorten(label, 30),
                "total": total,
                "segments": segments,
                "y": fmt(y),
                "text_y": fmt(y + BAR_HEIGHT / 2 + 4),
                "total_x": fmt(offset + 6),
            }
        )
    return {
        "width": WIDTH,
        "height": top + max(len(items), 1) * ROW_HEIGHT + 8,
        "series": series,
        "bars": bars,
        "label_x": LABEL_WIDTH,
        "bar_height": BAR_HEIGHT,
        "empty": not any(sum(values) for _, values in items),
        "empty_y": top + 16,
    }


def heatmap_geometry(grid, letters, digits, ungraded):
    """A 6 x 6 grid, darker for more spans, the count written in every cell."""
    cell_w, cell_h = 62, 34
    left, top = 200, 54
    biggest = max(grid.values(), default=0) or 1
    reliability = dict(SourceReliability.choices)
    cells = []
    for r, letter in enumerate(letters):
        for c, digit in enumerate(digits):
            n = grid[(letter, digit)]
            lightness = 97 - 67 * (n / biggest)
            cells.append(
                {
                    "code": f"{letter}{digit}",
                    "value": n,
                    "x": fmt(left + c * cell_w),
                    "y": fmt(top + r * cell_h),
                    "text_x": fmt(left + c * cell_w + cell_w / 2),
                    "text_y": fmt(top + r * cell_h + cell_h / 2 + 5),
                    "fill": f"hsl(215, 30%, {lightness:.0f}%)",
                    "ink": "#ffffff" if lightness < 58 else "#1d2330",
                }
            )
    return {
        "width": left + cell_w * len(digits) + 10,
        "height": top + cell_h * len(letters) + 44,
        "cells": cells,
        "cell_w": cell_w,
        "cell_h": cell_h,
        "rows": [
            {"label": reliability[letter], "y": fmt(top + r * cell_h + cell_h / 2 + 5)} for r, letter in enumerate(letters)
        ],
        "columns": [
            {"digit": digit, "word": CREDIBILITY_SHORT[digit], "x": fmt(left + c * cell_w + cell_w / 2)}
            for c, digit in enumerate(digits)
        ],
        "label_x": left - 8,
        "axis_x": fmt(left + cell_w * len(digits) / 2),
        "footer_y": top + cell_h * len(letters) + 22,
        "ungraded": ungraded,
    }


def progress_geometry(rows):
    """Cumulative documents done (line with markers) above spans created per day (bars)."""
    drawn = rows[-MAX_DAYS_DRAWN:]
    left, right = 56, 16
    plot_w = WIDTH - left - right
    panel_h = 120
    top1, top2 = 30, 30 + panel_h + 64
    n = len(drawn)
    step = plot_w / max(n, 1)
    max_cum = max((r[2] for r in drawn), default=0) or 1
    max_spans = max((r[3] for r in drawn), default=0) or 1
    points = []
    bars = []
    ticks = []
    every = max(1, -(-n // 6))
    for i, (day, done, cumulative, spans) in enumerate(drawn):
        cx = left + step * i + step / 2
        cy = top1 + panel_h - panel_h * cumulative / max_cum
        points.append(
            {"day": day, "done": done, "cumulative": cumulative, "x": fmt(cx), "y": fmt(cy), "label_y": fmt(cy - 8)}
        )
        height = panel_h * spans / max_spans
        bars.append(
            {
                "day": day,
                "value": spans,
                "x": fmt(left + step * i + step * 0.15),
                "y": fmt(top2 + panel_h - height),
                "width": fmt(max(step * 0.7, 1)),
                "height": fmt(height),
                "text_x": fmt(cx),
                "text_y": fmt(top2 + panel_h - height - 4),
            }
        )
        if i % every == 0 or i == n - 1:
            ticks.append({"label": day[5:], "x": fmt(cx)})
    return {
        "width": WIDTH,
        "height": top2 + panel_h + 40,
        "points": points,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
        "bars": bars,
        "ticks": ticks,
        "left": left,
        "plot_right": left + plot_w,
        "top1": top1,
        "base1": top1 + panel_h,
        "top2": top2,
        "base2": top2 + panel_h,
        "tick_y1": top1 + panel_h + 16,
        "tick_y2": top2 + panel_h + 16,
        "max_cum": max_cum if drawn else 0,
        "max_spans": max_spans if drawn else 0,
        "mark_points": n <= 60,
        # A count is written over its bar only where every count fits its slot.
        "label_bars": step >= 6.5 * len(str(max((r[3] for r in drawn), default=0))) + 2,
        "truncated": len(rows) - n,
        "empty": not rows,
    }
