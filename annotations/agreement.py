"""Inter-annotator agreement metrics (annotation scheme v1.0, section 4).

Standard library only: the same code serves request handlers and batch reports,
and the reference implementations it is checked against in the tests (the
`krippendorff` package, DKPro Agreement) stay out of the runtime dependencies.

Conventions shared by every function:

* Missing labels are ``None``.
* "Not enough data" is reported as ``None``, never as 0.0 or 1.0, so that
  "the raters disagree" and "the raters agree" stay distinguishable from
  "there was nothing to compare".
* Spans are ``(start, end)`` pairs over code points, half-open ``[start, end)``
  with ``start < end``.

When each function answers None:

* ``cohen_kappa``: no item labelled by both raters, or expected agreement 1
  (both used one single label), where kappa would be 0/0.
* ``fleiss_kappa``: fewer than 2 raters, no item labelled by every rater, or
  expected agreement 1.
* ``krippendorff_alpha``: no unit with 2 or more values, or D_e == 0 (all
  pairable values equal, or at distance 0 from each other).
* ``span_f1`` / ``char_f1``: both sides empty (the whole result is None);
  otherwise only an undefined precision (b empty) or recall (a empty) is None.
* ``alpha_u``: fewer than 2 raters (every field None), or no unit at all
  (alpha None, with d_o and d_e both 0.0).
* ``alpha_u_by_category``: overall fields None when no category has a unit.
"""

from bisect import bisect_left
from collections import Counter
from fractions import Fraction

__all__ = [
    "alpha_u",
    "alpha_u_by_category",
    "char_f1",
    "cohen_kappa",
    "fleiss_kappa",
    "jaccard_distance",
    "krippendorff_alpha",
    "masi_distance",
    "match_spans",
    "span_f1",
]

LEVELS = ("nominal", "ordinal", "interval")


# --------------------------------------------------------------------------
# Kappa
# --------------------------------------------------------------------------


def cohen_kappa(a, b):
    """Cohen's kappa of two raters' nominal labels, or None when it is undefined."""
    if len(a) != len(b):
        raise ValueError("both raters must label the same items")
    n = agree = 0
    count_a = Counter()
    count_b = Counter()
    for x, y in zip(a, b):
        if x is None or y is None:
            continue
        n += 1
        count_a[x] += 1
        count_b[y] += 1
        if x == y:
            agree += 1
    if n == 0:
        return None
    # Integer form of (p_o - p_e) / (1 - p_e), scaled by n**2, keeps the
    # published fractions exact and makes "p_e == 1" an exact test.
    chance = sum(c * count_b[label] for label, c in count_a.items() if label in count_b)
    denominator = n * n - chance
    if denominator == 0:
        # Both raters used one and the same label throughout: p_e = p_o = 1 and
        # kappa is 0/0, which says nothing about their reliability.
        return None
    return (n * agree - chance) / denominator


def fleiss_kappa(ratings):
    """Fleiss' kappa over the items labelled by every rater, or None when it is undefined."""
    ratings = list(ratings)
    if len(ratings) < 2:
        return None
    n_items = len(ratings[0])
    if any(len(row) != n_items for row in ratings):
        raise ValueError("every rater must have a label slot for every item")
    raters = len(ratings)
    complete = 0
    squares = 0
    totals = Counter()
    for item in zip(*ratings):
        # Fleiss assumes a constant number of ratings per item; partially
        # labelled items would bias P_i, so they are left out entirely.
        if any(label is None for label in item):
            continue
        complete += 1
        counts = Counter(item)
        squares += sum(c * c for c in counts.values())
        totals.update(counts)
    if complete == 0:
        return None
    total = complete * raters
    chance = sum(t * t for t in totals.values())
    denominator = (raters - 1) * (total * total - chance)
    if denominator == 0:
        # Everyone used a single label: P_e = 1 and kappa is 0/0.
        return None
    return (total * (squares - total) - (raters - 1) * chance) / denominator


# --------------------------------------------------------------------------
# Krippendorff's alpha (classic, raters x units)
# --------------------------------------------------------------------------


def _key(value):
    # Set-valued labels (themes) arrive as set or list; they need a hashable,
    # order-free form to be counted as one value.
    if isinstance(value, (set, list)):
        return frozenset(value)
    return value


def krippendorff_alpha(data, level="nominal", distance=None):
    """Krippendorff's alpha over a raters x units matrix (None = missing), or None when undefined."""
    if distance is None:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, or pass distance=")
    elif level != "nominal":
        raise ValueError("pass either a level or a distance, not both")
    rows = data if isinstance(data, (list, tuple)) else list(data)
    if not rows:
        return None
    n_units = len(rows[0])
    if any(len(row) != n_units for row in rows):
        raise ValueError("every rater row must have one slot per unit")

    index = {}
    values = []
    # Units grouped by their number of pairable values m, because each unit's
    # coincidences are weighted by 1 / (m - 1): summing per m first and
    # dividing once per group keeps the sums exact for integer distances.
    units_by_m = {}
    for column in zip(*rows):
        present = [v for v in column if v is not None]
        m = len(present)
        if m < 2:
            continue
        counts = {}
        for v in present:
            k = _key(v)
            i = index.get(k)
            if i is None:
                i = index[k] = len(values)
                values.append(k)
            counts[i] = counts.get(i, 0) + 1
        units_by_m.setdefault(m, []).append(counts)
    if not units_by_m:
        return None

    n_v = [0] * len(values)
    for units in units_by_m.values():
        for counts in units:
            for i, c in counts.items():
                n_v[i] += c
    n = sum(n_v)

    if distance is None and level == "nominal":
        observed = 0
        for m, units in units_by_m.items():
            group = 0
            for counts in units:
                group += m * m - sum(c * c for c in counts.values())
            observed += Fraction(group, m - 1)
        expected = n * n - sum(c * c for c in n_v)
        if expected == 0:
            return None
        return float(1 - (n - 1) * observed / expected)

    d, diagonal = _distance_matrix(values, n_v, level, distance)
    observed = 0.0
    for m, units in units_by_m.items():
        group = 0.0
        for counts in units:
            items = list(counts.items())
            for x, (i, ci) in enumerate(items):
                if diagonal:
                    group += ci * (ci - 1) * d[i][i]
                row = d[i]
                for j, cj in items[x + 1:]:
                    group += 2 * ci * cj * row[j]
        observed += group / (m - 1)
    expected = 0.0
    size = len(values)
    for i in range(size):
        ni = n_v[i]
        row = d[i]
        if diagonal:
            expected += ni * (ni - 1) * row[i]
        for j in range(i + 1, size):
            expected += 2 * ni * n_v[j] * row[j]
    if expected == 0:
        return None
    return 1.0 - (n - 1) * observed / expected


def _distance_matrix(values, n_v, level, distance):
    """Symmetric distance matrix over the observed values, plus whether its diagonal matters."""
    size = len(values)
    d = [[0.0] * size for _ in range(size)]
    if distance is not None:
        diagonal = False
        for i in range(size):
            row = d[i]
            same = distance(values[i], values[i])
            if same:
                diagonal = True
                row[i] = same
            for j in range(i + 1, size):
                row[j] = d[j][i] = distance(values[i], values[j])
        return d, diagonal
    if level == "interval":
        for i in range(size):
            vi = values[i]
            row = d[i]
            for j in range(i + 1, size):
                diff = vi - values[j]
                row[j] = d[j][i] = diff * diff
        return d, False
    # Ordinal (Krippendorff 2011): the distance between ranks g < h is
    # (sum of n_k for g <= k <= h  -  (n_g + n_h) / 2) ** 2, so it follows how
    # the pairable values are actually distributed, not the rank difference.
    order = sorted(range(size), key=values.__getitem__)
    cumulative = [0]
    for i in order:
        cumulative.append(cumulative[-1] + n_v[i])
    for a in range(size):
        i = order[a]
        row = d[i]
        for b in range(a + 1, size):
            j = order[b]
            span = cumulative[b + 1] - cumulative[a] - (n_v[i] + n_v[j]) / 2
            row[j] = d[j][i] = span * span
    return d, False


# --------------------------------------------------------------------------
# Set distances
# --------------------------------------------------------------------------


def jaccard_distance(a, b):
    """Jaccard distance 1 - |a & b| / |a | b| of two label sets (0.0 for two empty sets)."""
    a = a if isinstance(a, (set, frozenset)) else set(a)
    b = b if isinstance(b, (set, frozenset)) else set(b)
    union = len(a | b)
    if union == 0:
        return 0.0
    return (union - len(a & b)) / union


def masi_distance(a, b):
    """MASI distance 1 - J * m of two label sets (Passonneau 2006), with m = 1, 2/3, 1/3 or 0."""
    # NLTK's masi_distance uses m = 0.67 and 0.33; the scheme fixes the exact
    # fractions 2/3 and 1/3, so results differ from NLTK's by up to 0.0017.
    # The scheme's MASI values 0.666667 and 0.888889 are these distances; only
    # distances (not the similarities 1/3, 1/9) reproduce its alpha_MASI = 4/11.
    a = a if isinstance(a, (set, frozenset)) else set(a)
    b = b if isinstance(b, (set, frozenset)) else set(b)
    union = len(a | b)
    if union == 0:
        return 0.0
    common = len(a & b)
    if common == len(a) == len(b):
        weight = 3
    elif common == min(len(a), len(b)):
        weight = 2
    elif common:
        weight = 1
    else:
        weight = 0
    # 1 - (common / union) * (weight / 3), in integers so 2/3 and 8/9 come out
    # correctly rounded.
    return (3 * union - common * weight) / (3 * union)


# --------------------------------------------------------------------------
# Span matching and span-level F1
# --------------------------------------------------------------------------


def _checked_spans(spans):
    out = []
    for span in spans:
        start, end = span[0], span[1]
        if not start < end:
            raise ValueError(f"span {span!r} must satisfy start < end")
        out.append((start, end))
    return out


def match_spans(a, b, min_iou=0.0):
    """Greedy one-to-one pairing of overlapping spans by IoU; list of (i, j, iou) sorted by i."""
    a = _checked_spans(a)
    b = _checked_spans(b)
    if not a or not b:
        return []
    order = sorted(range(len(b)), key=lambda j: b[j])
    starts = [b[j][0] for j in order]
    ends = [b[j][1] for j in order]
    # Running maximum of ends lets the backwards scan stop at the first
    # position where no earlier span can still reach the current one, even
    # when one rater's spans nest.
    reach = []
    furthest = None
    for end in ends:
        furthest = end if furthest is None or end > furthest else furthest
        reach.append(furthest)

    candidates = []
    for i, (s1, e1) in enumerate(a):
        k = bisect_left(starts, e1) - 1
        while k >= 0 and reach[k] > s1:
            e2 = ends[k]
            if e2 > s1:
                s2 = starts[k]
                inter = (e1 if e1 < e2 else e2) - (s1 if s1 > s2 else s2)
                iou = inter / ((e1 - s1) + (e2 - s2) - inter)
                if iou >= min_iou:
                    candidates.append((-iou, i, order[k]))
            k -= 1
    # Ties go to the lower index in a, then in b, so repeated runs agree.
    candidates.sort()
    used_a = bytearray(len(a))
    used_b = bytearray(len(b))
    pairs = []
    for neg_iou, i, j in candidates:
        if used_a[i] or used_b[j]:
            continue
        used_a[i] = used_b[j] = 1
        pairs.append((i, j, -neg_iou))
    pairs.sort()
    return pairs


def _f1(matched, n_a, n_b):
    # Precision is measured against b and recall against a; for a rater pair
    # the F1 value is symmetric, which is what the agreement report uses.
    return {
        "precision": matched / n_b if n_b else None,
        "recall": matched / n_a if n_a else None,
        "f1": 2 * matched / (n_a + n_b),
        "matched": matched,
        "n_a": n_a,
        "n_b": n_b,
    }


def span_f1(a, b, mode="exact"):
    """Span F1 = 2 * matched / (|A| + |B|) for mode "exact" or "overlap"; None when both are empty."""
    if mode == "exact":
        a = _checked_spans(a)
        b = _checked_spans(b)
        # A multiset intersection pairs duplicates one-to-one.
        matched = sum((Counter(a) & Counter(b)).values())
    elif mode == "overlap":
        a = _checked_spans(a)
        b = _checked_spans(b)
        matched = len(match_spans(a, b))
    else:
        raise ValueError('mode must be "exact" or "overlap"')
    if not a and not b:
        return None
    return _f1(matched, len(a), len(b))


def _merged(spans):
    merged = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1][1] = end
        else:
            merged.append([start, end])
    return merged


def char_f1(a, b):
    """Character-level F1 of the code points covered by a and by b; None when neither covers any."""
    ma = _merged(_checked_spans(a))
    mb = _merged(_checked_spans(b))
    covered_a = sum(e - s for s, e in ma)
    covered_b = sum(e - s for s, e in mb)
    if covered_a == 0 and covered_b == 0:
        return None
    common = 0
    i = j = 0
    while i < len(ma) and j < len(mb):
        s1, e1 = ma[i]
        s2, e2 = mb[j]
        lo = s1 if s1 > s2 else s2
        hi = e1 if e1 < e2 else e2
        if hi > lo:
            common += hi - lo
        if e1 <= e2:
            i += 1
        else:
            j += 1
    return _f1(common, covered_a, covered_b)


# --------------------------------------------------------------------------
# Krippendorff's unitizing alpha (alpha_U)
# --------------------------------------------------------------------------


def _unitizing_sums(length, raters_units):
    """Integer sums behind D_o and D_e of one category, as in DKPro Agreement."""
    raters = len(raters_units)
    prepared = []
    gaps = []
    lengths = Counter()
    squared_lengths = 0
    for units in raters_units:
        units = sorted(_checked_spans(units))
        previous_end = 0
        for start, end in units:
            if start < 0 or end > length:
                raise ValueError(f"unit {(start, end)!r} lies outside [0, {length})")
            if start < previous_end:
                raise ValueError("one rater's units of a category must not overlap")
            if start > previous_end:
                gaps.append(start - previous_end)
            size = end - start
            lengths[size] += 1
            squared_lengths += size * (size - 1)
            previous_end = end
        if previous_end < length:
            gaps.append(length - previous_end)
        prepared.append(units)

    observed = 0
    for r1 in range(raters):
        for r2 in range(r1 + 1, raters):
            observed += _pair_observed(prepared[r1], prepared[r2])

    # DKPro's expected disagreement: for each unit of length l,
    #   (N_c - 1) * (2l^3 - 3l^2 + l) / 3  +  l^2 * sum over gaps g >= l of (g - l + 1).
    # Sorted gaps with suffix sums turn the inner sum into one bisection.
    unit_count = sum(lengths.values())
    expected = 0
    if unit_count:
        gaps.sort()
        suffix = [0] * (len(gaps) + 1)
        for k in range(len(gaps) - 1, -1, -1):
            suffix[k] = suffix[k + 1] + gaps[k]
        for size, count in lengths.items():
            k = bisect_left(gaps, size)
            fitting = suffix[k] - (len(gaps) - k) * (size - 1)
            # l(l-1)(2l-1) is six times a sum of squares, so // 3 is exact.
            within = (unit_count - 1) * (size * (size - 1) * (2 * size - 1) // 3)
            expected += count * (within + size * size * fitting)
    return observed, expected, squared_lengths


def _pair_observed(a, b):
    """Sum of DKPro's segment distances between two raters' sorted, non-overlapping units."""
    # DKPro walks both raters' continua as alternating unit and gap segments
    # and adds a distance for every overlapping pair of segments. Gap-gap pairs
    # cost nothing, and a unit costs l^2 against a gap only when that gap
    # contains it, i.e. when the other rater has no unit overlapping it. So it
    # suffices to visit overlapping unit pairs and then charge every unit no
    # unit of the other rater touched.
    total = 0
    hit_a = bytearray(len(a))
    hit_b = bytearray(len(b))
    i = j = 0
    while i < len(a) and j < len(b):
        s1, e1 = a[i]
        s2, e2 = b[j]
        if s1 < e2 and s2 < e1:
            total += (s1 - s2) ** 2 + (e1 - e2) ** 2
            hit_a[i] = hit_b[j] = 1
        if e1 < e2:
            i += 1
        elif e2 < e1:
            j += 1
        else:
            i += 1
            j += 1
    for k, (s, e) in enumerate(a):
        if not hit_a[k]:
            total += (e - s) ** 2
    for k, (s, e) in enumerate(b):
        if not hit_b[k]:
            total += (e - s) ** 2
    return total


def _unitizing_result(length, raters, observed, expected, squared_lengths):
    # DKPro's normalisations, kept as exact fractions so that D_o == D_e gives
    # alpha 0.0 exactly (as DKPro special-cases) and long continua lose nothing.
    # D_o = 2 obs / (R L^2);  D_e = 2 exp / (L (R L (R L - 1) - sum l(l-1))).
    pairs = raters * (raters - 1)
    rest = raters * length * (raters * length - 1) - squared_lengths
    d_o = Fraction(2 * observed, pairs * length * length)
    d_e = Fraction(2 * expected, length * rest)
    return d_o, d_e


def alpha_u(continuum_length, raters_units):
    """DKPro-compatible alpha_U of one category from per-rater (start, end) units: {alpha, d_o, d_e}."""
    if continuum_length <= 0:
        raise ValueError("continuum_length must be positive")
    raters_units = list(raters_units)
    if len(raters_units) < 2:
        return {"alpha": None, "d_o": None, "d_e": None}
    observed, expected, squared = _unitizing_sums(continuum_length, raters_units)
    d_o, d_e = _unitizing_result(continuum_length, len(raters_units), observed, expected, squared)
    # D_e is 0 exactly when nobody marked a unit; DKPro returns 0.0 or NaN there.
    alpha = float(1 - d_o / d_e) if d_e else None
    return {"alpha": alpha, "d_o": float(d_o), "d_e": float(d_e)}


def alpha_u_by_category(continuum_length, raters_units_by_category):
    """alpha_U of {category: per-rater units} per category and overall, 1 - mean(D_o) / mean(D_e)."""
    if continuum_length <= 0:
        raise ValueError("continuum_length must be positive")
    categories = {}
    sum_o = Fraction(0)
    sum_e = Fraction(0)
    used = 0
    raters = None
    for category, raters_units in raters_units_by_category.items():
        raters_units = list(raters_units)
        if raters is None:
            raters = len(raters_units)
        elif len(raters_units) != raters:
            raise ValueError("every category needs one unit list per rater")
        if raters < 2:
            categories[category] = {"alpha": None, "d_o": None, "d_e": None}
            continue
        observed, expected, squared = _unitizing_sums(continuum_length, raters_units)
        d_o, d_e = _unitizing_result(continuum_length, raters, observed, expected, squared)
        categories[category] = {
            "alpha": float(1 - d_o / d_e) if d_e else None,
            "d_o": float(d_o),
            "d_e": float(d_e),
        }
        # DKPro averages over the categories that occur in the study; one
        # nobody used would only dilute both means.
        if d_e:
            used += 1
            sum_o += d_o
            sum_e += d_e
    if not used:
        return {"alpha": None, "d_o": None, "d_e": None, "categories": categories}
    return {
        "alpha": float(1 - sum_o / sum_e),
        "d_o": float(sum_o / used),
        "d_e": float(sum_e / used),
        "categories": categories,
    }
