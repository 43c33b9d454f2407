"""Tests for annotations.agreement against the scheme's vectors and reference implementations.

The PyPI `krippendorff` package (GPL-3.0) is imported here only, as a test
oracle; the module under test never depends on it.
"""

import random
import warnings
from collections import Counter

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotations.agreement import (
    alpha_u,
    alpha_u_by_category,
    char_f1,
    cohen_kappa,
    fleiss_kappa,
    jaccard_distance,
    krippendorff_alpha,
    masi_distance,
    match_spans,
    span_f1,
)

FRACTION = 1e-6
FOUR_DECIMALS = 1e-4
ORACLE = 1e-9

STANCE_A = ["F", "F", "AG", "N", "N", "F"]
STANCE_B = ["F", "AG", "AG", "N", "F", "F"]
STANCE_C = ["F", "AG", "N", "N", "F", "F"]
AS_NUMBER = {"AG": 0, "N": 1, "F": 2}

THEMES_A = [{"TRADE"}, {"FINANCE"}, {"ORDER", "INSTITUTIONS"}, {"MILITARY"}]
THEMES_B = [{"TRADE", "FINANCE"}, {"FINANCE"}, {"ORDER"}, {"SOVEREIGNTY"}]

SPANS_A = [(0, 10), (12, 18)]
SPANS_B = [(0, 10), (13, 18), (30, 35)]


# --------------------------------------------------------------------------
# Scheme section 4 test vectors
# --------------------------------------------------------------------------


def test_stance_cohen_kappa_vector():
    assert cohen_kappa(STANCE_A, STANCE_B) == pytest.approx(11 / 23, abs=FRACTION)


def test_stance_alpha_nominal_vector():
    assert krippendorff_alpha([STANCE_A, STANCE_B]) == pytest.approx(23 / 45, abs=FRACTION)


def test_stance_alpha_interval_vector():
    data = [[AS_NUMBER[x] for x in STANCE_A], [AS_NUMBER[x] for x in STANCE_B]]
    assert krippendorff_alpha(data, level="interval") == pytest.approx(0.444444, abs=FRACTION)


def test_stance_three_raters_vectors():
    ratings = [STANCE_A, STANCE_B, STANCE_C]
    assert fleiss_kappa(ratings) == pytest.approx(47 / 101, abs=FRACTION)
    assert krippendorff_alpha(ratings) == pytest.approx(50 / 101, abs=FRACTION)


def test_masi_vectors_are_distances():
    # The scheme's 0.666667 and 0.888889 are distances (1 - J*m): the
    # similarities would be 1/3 and 1/9, and only the distances reproduce the
    # alpha_MASI of 4/11 below.
    assert masi_distance({"TRADE"}, {"TRADE", "FINANCE"}) == pytest.approx(2 / 3, abs=FRACTION)
    assert masi_distance({"TRADE", "FINANCE"}, {"TRADE", "MILITARY"}) == pytest.approx(
        8 / 9, abs=FRACTION
    )


def test_themes_alpha_masi_vector():
    alpha = krippendorff_alpha([THEMES_A, THEMES_B], distance=masi_distance)
    assert alpha == pytest.approx(4 / 11, abs=FRACTION)


def test_span_f1_vectors():
    assert span_f1(SPANS_A, SPANS_B, mode="exact")["f1"] == pytest.approx(0.4, abs=FRACTION)
    assert span_f1(SPANS_A, SPANS_B, mode="overlap")["f1"] == pytest.approx(0.8, abs=FRACTION)
    assert char_f1(SPANS_A, SPANS_B)["f1"] == pytest.approx(15 / 18, abs=FRACTION)


def test_alpha_u_vector():
    result = alpha_u(40, [SPANS_A, SPANS_B])
    assert result["alpha"] == pytest.approx(0.8189, abs=FOUR_DECIMALS)
    assert result["d_o"] == pytest.approx(0.01625, abs=FOUR_DECIMALS)
    assert result["d_e"] == pytest.approx(0.08974, abs=FOUR_DECIMALS)


def test_alpha_u_dkpro_unitizing_agreement_test():
    # r0: -11111111-
    # r1: --1-1-1---
    result = alpha_u(10, [[(1, 9)], [(2, 3), (4, 5), (6, 7)]])
    assert result["d_o"] == pytest.approx(0.9100, abs=FOUR_DECIMALS)
    assert result["d_e"] == pytest.approx(0.5352, abs=FOUR_DECIMALS)
    assert result["alpha"] == pytest.approx(-0.7003, abs=FOUR_DECIMALS)


# --------------------------------------------------------------------------
# More published values
# --------------------------------------------------------------------------

# Krippendorff (2011) "Computing Krippendorff's alpha-reliability", also the
# doctest of the krippendorff package.
WIKI = [
    [None, None, None, None, None, 3, 4, 1, 2, 1, 1, 3, 3, None, 3],
    [1, None, 2, 1, 3, 3, 4, 3, None, None, None, None, None, None, None],
    [None, None, 2, 1, 3, 4, 4, None, 2, 1, 1, 3, 3, None, 4],
]


def test_alpha_published_example():
    assert krippendorff_alpha(WIKI) == pytest.approx(0.691358, abs=FRACTION)
    assert krippendorff_alpha(WIKI, level="interval") == pytest.approx(0.810845, abs=FRACTION)


def test_alpha_ordinal_published_example():
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    assert krippendorff_alpha(data, level="ordinal") == pytest.approx(0.815, abs=5e-4)


def test_alpha_u_dkpro_krippendorff_2004():
    # DKPro Krippendorff2004Test, continuum [150, 450) shifted to start at 0.
    c = [[(75, 145), (220, 250)], [(70, 150), (205, 225), (250, 270)]]
    k = [[(30, 90), (150, 200)], [(30, 90), (150, 200)]]
    result = alpha_u_by_category(300, {"c": c, "k": k})
    assert result["categories"]["c"]["d_o"] == pytest.approx(0.0144, abs=FOUR_DECIMALS)
    assert result["categories"]["c"]["d_e"] == pytest.approx(0.0532, abs=FOUR_DECIMALS)
    assert result["categories"]["c"]["alpha"] == pytest.approx(0.7286, abs=FOUR_DECIMALS)
    assert result["categories"]["k"]["d_o"] == 0.0
    assert result["categories"]["k"]["d_e"] == pytest.approx(0.0490, abs=FOUR_DECIMALS)
    assert result["categories"]["k"]["alpha"] == 1.0
    assert result["alpha"] == pytest.approx(0.8591, abs=5e-4)
    assert result["alpha"] == pytest.approx(
        1 - (0.0144 + 0.0) / (0.0532 + 0.0490), abs=5e-4
    )


def _krippendorff_1995(stretch):
    # DKPro Krippendorff1995Test.createExample: (offset, length, rater, category).
    units = [
        (2, 8, 0, "A"), (14, 6, 0, "A"), (4, 4, 1, "A"), (15, 2, 1, "A"),
        (0, 18, 0, "B"), (0, 2, 1, "B"), (2, 1, 1, "B"), (3, 1, 1, "B"),
        (4, 1, 1, "B"), (5, 1, 1, "B"), (6, 3, 1, "B"), (9, 1, 1, "B"),
        (2, 6, 0, "C"), (10, 2, 0, "C"), (14, 4, 0, "C"), (20, 2, 0, "C"),
        (0, 2, 1, "C"), (4, 4, 1, "C"), (10, 4, 1, "C"), (16, 2, 1, "C"),
        (20, 2, 1, "C"),
        (0, 2, 0, "D"), (2, 8, 0, "D"), (10, 4, 0, "D"), (14, 6, 0, "D"),
        (20, 4, 0, "D"), (0, 4, 1, "D"), (4, 4, 1, "D"), (8, 7, 1, "D"),
        (15, 2, 1, "D"), (17, 7, 1, "D"),
    ]
    by_category = {}
    for offset, length, rater, category in units:
        raters = by_category.setdefault(category, [[], []])
        start = int(offset * stretch)
        raters[rater].append((start, start + int(length * stretch)))
    return int(24 * stretch), by_category


def test_alpha_u_dkpro_krippendorff_1995():
    length, by_category = _krippendorff_1995(1)
    result = alpha_u_by_category(length, by_category)["categories"]
    assert result["A"]["d_o"] == pytest.approx(0.03125, abs=1e-5)
    assert result["B"]["d_o"] == pytest.approx(2.26736, abs=1e-5)
    assert result["C"]["d_o"] == pytest.approx(0.02777, abs=1e-5)
    assert result["D"]["d_o"] == pytest.approx(0.38715, abs=1e-5)

    length, by_category = _krippendorff_1995(1200000 / 24)
    result = alpha_u_by_category(length, by_category)["categories"]
    for category, d_e, alpha in [
        ("A", 0.06990, 0.553),
        ("B", 1.17731, -0.926),
        ("C", 0.08642, 0.679),
        ("D", 0.41445, 0.066),
    ]:
        assert result[category]["d_e"] == pytest.approx(d_e, abs=5e-3)
        assert result[category]["alpha"] == pytest.approx(alpha, abs=2e-2)


# --------------------------------------------------------------------------
# Krippendorff's alpha against the krippendorff package
# --------------------------------------------------------------------------


def _oracle_alpha(data, level):
    """The krippendorff package's alpha, or None where it refuses or yields nan."""
    matrix = np.array(
        [[np.nan if v is None else float(v) for v in row] for row in data], dtype=float
    )
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)
        except ValueError:
            return None
    value = float(value)
    return None if np.isnan(value) or np.isinf(value) else value


def _random_matrix(rng, domain=None):
    raters = rng.randint(2, 6)
    units = rng.randint(1, 40)
    domain = domain or rng.sample(range(-3, 12), rng.randint(2, 6))
    missing = rng.choice([0.0, 0.1, 0.3, 0.6])
    return [
        [None if rng.random() < missing else rng.choice(domain) for _ in range(units)]
        for _ in range(raters)
    ]


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
@pytest.mark.parametrize("seed", range(60))
def test_alpha_matches_krippendorff_package_random(level, seed):
    rng = random.Random(f"{level}-{seed}")
    data = _random_matrix(rng)
    ours = krippendorff_alpha(data, level=level)
    expected = _oracle_alpha(data, level)
    if expected is None:
        assert ours is None
    else:
        assert ours == pytest.approx(expected, abs=ORACLE)


MATRICES = st.integers(2, 5).flatmap(
    lambda raters: st.integers(1, 25).flatmap(
        lambda units: st.lists(
            st.lists(st.one_of(st.none(), st.integers(0, 6)), min_size=units, max_size=units),
            min_size=raters,
            max_size=raters,
        )
    )
)


@settings(max_examples=150, deadline=None, database=None)
@given(data=MATRICES, level=st.sampled_from(["nominal", "ordinal", "interval"]))
def test_alpha_matches_krippendorff_package_hypothesis(data, level):
    ours = krippendorff_alpha(data, level=level)
    expected = _oracle_alpha(data, level)
    if expected is None:
        assert ours is None
    else:
        assert ours == pytest.approx(expected, abs=ORACLE)


@pytest.mark.parametrize("seed", range(20))
def test_alpha_masi_matches_krippendorff_package_with_callable(seed):
    rng = random.Random(seed)
    themes = ["TRADE", "FINANCE", "ORDER", "MILITARY"]
    raters, units = rng.randint(2, 4), rng.randint(2, 20)
    data = [
        [
            None if rng.random() < 0.2 else frozenset(rng.sample(themes, rng.randint(1, 3)))
            for _ in range(units)
        ]
        for _ in range(raters)
    ]
    ours = krippendorff_alpha(data, distance=masi_distance)

    codes = {}
    for row in data:
        for value in row:
            if value is not None:
                codes.setdefault(value, len(codes))
    sets = {code: value for value, code in codes.items()}
    numeric = [[None if v is None else codes[v] for v in row] for row in data]

    def metric(v1, v2, i1, i2, n_v, dtype=np.float64):
        pair = np.vectorize(lambda x, y: masi_distance(sets[int(x)], sets[int(y)]))
        return pair(v1, v2).astype(dtype)

    expected = _oracle_alpha(numeric, metric)
    if expected is None:
        assert ours is None
    else:
        assert ours == pytest.approx(expected, abs=ORACLE)


def test_alpha_accepts_sets_lists_and_frozensets_alike():
    as_lists = [[sorted(s) for s in THEMES_A], [sorted(s) for s in THEMES_B]]
    as_frozensets = [[frozenset(s) for s in THEMES_A], [frozenset(s) for s in THEMES_B]]
    expected = krippendorff_alpha([THEMES_A, THEMES_B], distance=masi_distance)
    assert krippendorff_alpha(as_lists, distance=masi_distance) == expected
    assert krippendorff_alpha(as_frozensets, distance=masi_distance) == expected


def test_alpha_ordinal_depends_on_marginals_not_rank_gaps():
    # Relabelling ranks monotonically leaves ordinal alpha unchanged.
    data = [[1, 2, 3, 3, None, 1], [1, 3, 3, 2, 2, 1], [2, 2, 3, None, 2, 1]]
    stretched = [[None if v is None else v * v * 10 for v in row] for row in data]
    assert krippendorff_alpha(data, level="ordinal") == pytest.approx(
        krippendorff_alpha(stretched, level="ordinal"), abs=1e-12
    )


def test_alpha_ignores_units_with_a_single_value():
    base = [["F", "AG", "N", "F"], ["F", "AG", "F", "F"]]
    padded = [row + ["N", None] for row in base]
    padded[1][-2] = None
    padded[0][-1] = "AG"
    assert krippendorff_alpha(padded) == krippendorff_alpha(base)


# --------------------------------------------------------------------------
# Kappa against hand-written references
# --------------------------------------------------------------------------


def _reference_cohen(a, b):
    pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
    n = len(pairs)
    if not n:
        return None
    p_o = sum(x == y for x, y in pairs) / n
    ca = Counter(x for x, _ in pairs)
    cb = Counter(y for _, y in pairs)
    p_e = sum((ca[k] / n) * (cb[k] / n) for k in set(ca) | set(cb))
    if p_e == 1:
        return None
    return (p_o - p_e) / (1 - p_e)


def _reference_fleiss(ratings):
    items = [item for item in zip(*ratings) if None not in item]
    if not items:
        return None
    n = len(ratings)
    categories = sorted({x for item in items for x in item})
    table = [[item.count(c) for c in categories] for item in items]
    big_n = len(items)
    p_j = [sum(row[j] for row in table) / (big_n * n) for j in range(len(categories))]
    p_i = [(sum(x * x for x in row) - n) / (n * (n - 1)) for row in table]
    p_bar = sum(p_i) / big_n
    p_e = sum(p * p for p in p_j)
    if p_e == 1:
        return None
    return (p_bar - p_e) / (1 - p_e)


@pytest.mark.parametrize("seed", range(50))
def test_cohen_kappa_matches_reference_random(seed):
    rng = random.Random(seed)
    labels = ["FAVOR", "AGAINST", "NEUTRAL", "NONE"][: rng.randint(2, 4)]
    length = rng.randint(1, 60)
    a = [None if rng.random() < 0.15 else rng.choice(labels) for _ in range(length)]
    b = [None if rng.random() < 0.15 else rng.choice(labels) for _ in range(length)]
    expected = _reference_cohen(a, b)
    if expected is None:
        assert cohen_kappa(a, b) is None
    else:
        assert cohen_kappa(a, b) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(50))
def test_fleiss_kappa_matches_reference_random(seed):
    rng = random.Random(seed)
    labels = list("ABCDE")[: rng.randint(2, 5)]
    raters, length = rng.randint(3, 6), rng.randint(1, 60)
    ratings = [
        [None if rng.random() < 0.05 else rng.choice(labels) for _ in range(length)]
        for _ in range(raters)
    ]
    expected = _reference_fleiss(ratings)
    if expected is None:
        assert fleiss_kappa(ratings) is None
    else:
        assert fleiss_kappa(ratings) == pytest.approx(expected, abs=1e-12)


def test_fleiss_kappa_uses_only_items_every_rater_labelled():
    full = [STANCE_A, STANCE_B, STANCE_C]
    holes = [row + [extra] for row, extra in zip(full, ["F", None, "AG"])]
    assert fleiss_kappa(holes) == fleiss_kappa(full)


def test_cohen_kappa_drops_items_missing_either_label():
    a = STANCE_A + [None, "F"]
    b = STANCE_B + ["AG", None]
    assert cohen_kappa(a, b) == cohen_kappa(STANCE_A, STANCE_B)


# --------------------------------------------------------------------------
# Perfect agreement and "not enough data"
# --------------------------------------------------------------------------


def test_identical_raters_agree_perfectly():
    assert cohen_kappa(STANCE_A, list(STANCE_A)) == 1.0
    assert fleiss_kappa([STANCE_A, STANCE_A, STANCE_A]) == 1.0
    for level in ("nominal", "ordinal", "interval"):
        rows = [[AS_NUMBER[x] for x in STANCE_A]] * 3
        assert krippendorff_alpha(rows, level=level) == 1.0
    assert krippendorff_alpha([THEMES_A, THEMES_A], distance=masi_distance) == 1.0
    assert krippendorff_alpha([THEMES_A, THEMES_A], distance=jaccard_distance) == 1.0
    assert alpha_u(40, [SPANS_B, SPANS_B])["alpha"] == 1.0
    assert span_f1(SPANS_B, SPANS_B)["f1"] == 1.0
    assert span_f1(SPANS_B, SPANS_B, mode="overlap")["f1"] == 1.0
    assert char_f1(SPANS_B, SPANS_B)["f1"] == 1.0


def test_cohen_kappa_not_enough_data():
    assert cohen_kappa([], []) is None
    assert cohen_kappa([None, "F"], ["AG", None]) is None
    # Expected agreement 1: one label used by both raters on every item.
    assert cohen_kappa(["F", "F", "F"], ["F", "F", "F"]) is None


def test_fleiss_kappa_not_enough_data():
    assert fleiss_kappa([]) is None
    assert fleiss_kappa([["F", "AG"]]) is None
    assert fleiss_kappa([["F", None], [None, "AG"], ["F", "AG"]]) is None
    assert fleiss_kappa([["N", "N"], ["N", "N"], ["N", "N"]]) is None


def test_alpha_not_enough_data():
    assert krippendorff_alpha([]) is None
    assert krippendorff_alpha([[], []]) is None
    # No unit has two values.
    assert krippendorff_alpha([["F", None], [None, "AG"]]) is None
    # A single rater.
    assert krippendorff_alpha([["F", "AG", "N"]]) is None
    # D_e == 0: every pairable value is the same.
    for level in ("nominal", "ordinal", "interval"):
        assert krippendorff_alpha([[1, 1, None], [1, 1, 2]], level=level) is None
    assert krippendorff_alpha([[{"TRADE"}], [{"TRADE"}]], distance=masi_distance) is None


def test_span_measures_not_enough_data():
    assert span_f1([], []) is None
    assert span_f1([], [], mode="overlap") is None
    assert char_f1([], []) is None
    assert match_spans([], SPANS_B) == []


def test_span_measures_with_one_side_empty():
    result = span_f1(SPANS_A, [])
    assert result["f1"] == 0.0
    assert result["recall"] == 0.0
    assert result["precision"] is None
    assert char_f1([], SPANS_B)["f1"] == 0.0


def test_alpha_u_not_enough_data():
    assert alpha_u(20, [[], [], []]) == {"alpha": None, "d_o": 0.0, "d_e": 0.0}
    assert alpha_u(20, [[(0, 5)]])["alpha"] is None
    result = alpha_u_by_category(20, {"TRADE": [[], []], "MILITARY": [[], []]})
    assert result["alpha"] is None
    assert result["categories"]["TRADE"]["alpha"] is None
    assert alpha_u_by_category(20, {})["alpha"] is None


def test_alpha_u_single_unit_dkpro():
    # DKPro testSingleAnnotationUnit: D_o == D_e, so alpha_U is 0.
    assert alpha_u(20, [[(0, 1)], [], []])["alpha"] == 0.0


def test_alpha_u_by_category_ignores_unused_categories_in_means():
    used = {"c": [SPANS_A, SPANS_B]}
    with_unused = {"c": [SPANS_A, SPANS_B], "unused": [[], []]}
    assert alpha_u_by_category(40, with_unused)["alpha"] == alpha_u_by_category(40, used)["alpha"]
    assert alpha_u_by_category(40, with_unused)["d_e"] == alpha_u_by_category(40, used)["d_e"]
    assert alpha_u_by_category(40, used)["alpha"] == alpha_u(40, [SPANS_A, SPANS_B])["alpha"]


def test_invalid_input_is_rejected():
    with pytest.raises(ValueError):
        cohen_kappa(["F"], ["F", "AG"])
    with pytest.raises(ValueError):
        krippendorff_alpha([[1, 2], [1]])
    with pytest.raises(ValueError):
        krippendorff_alpha([[1, 2], [1, 2]], level="ratio")
    with pytest.raises(ValueError):
        span_f1([(5, 5)], [(0, 1)])
    with pytest.raises(ValueError):
        span_f1(SPANS_A, SPANS_B, mode="fuzzy")
    with pytest.raises(ValueError):
        alpha_u(20, [[(0, 5), (3, 8)], []])
    with pytest.raises(ValueError):
        alpha_u(20, [[(15, 25)], []])
    with pytest.raises(ValueError):
        alpha_u_by_category(20, {"a": [[], []], "b": [[], [], []]})


# --------------------------------------------------------------------------
# Set distances
# --------------------------------------------------------------------------


def test_masi_and_jaccard_cases():
    assert masi_distance({"A"}, {"A"}) == 0.0
    assert masi_distance({"A"}, {"B"}) == 1.0
    assert masi_distance(set(), set()) == 0.0
    assert masi_distance(["A", "B", "C"], ["A", "D"]) == pytest.approx(1 - (1 / 4) / 3, abs=1e-12)
    assert masi_distance({"A", "B"}, {"A"}) == masi_distance({"A"}, {"A", "B"})
    assert jaccard_distance({"A"}, {"A", "B"}) == 0.5
    assert jaccard_distance(set(), set()) == 0.0
    assert jaccard_distance({"A"}, {"B"}) == 1.0


# --------------------------------------------------------------------------
# Span matching
# --------------------------------------------------------------------------


def _reference_match(a, b):
    candidates = []
    for i, (s1, e1) in enumerate(a):
        for j, (s2, e2) in enumerate(b):
            inter = min(e1, e2) - max(s1, s2)
            if inter > 0:
                union = (e1 - s1) + (e2 - s2) - inter
                candidates.append((-inter / union, i, j))
    candidates.sort()
    used_a, used_b, pairs = set(), set(), []
    for neg, i, j in candidates:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j, -neg))
    return sorted(pairs)


def _random_spans(rng, length, count):
    spans = []
    for _ in range(count):
        start = rng.randrange(0, length - 1)
        spans.append((start, rng.randint(start + 1, min(length, start + 30))))
    return spans


@pytest.mark.parametrize("seed", range(40))
def test_match_spans_matches_brute_force(seed):
    rng = random.Random(seed)
    length = rng.randint(20, 300)
    a = _random_spans(rng, length, rng.randint(0, 25))
    b = _random_spans(rng, length, rng.randint(0, 25))
    assert match_spans(a, b) == _reference_match(a, b)


def test_match_spans_is_greedy_by_iou_with_ties_to_lower_index():
    # b[0] overlaps both; the higher-IoU pair wins and the other is left unpaired.
    assert match_spans([(0, 10), (2, 6)], [(2, 7)]) == [(1, 0, pytest.approx(0.8))]
    # Exact tie: a[0] and a[1] are the same span; the lower index pairs.
    assert match_spans([(0, 4), (0, 4)], [(0, 4)]) == [(0, 0, 1.0)]
    assert match_spans([(0, 4)], [(0, 4), (0, 4)]) == [(0, 0, 1.0)]
    # Touching half-open intervals do not overlap.
    assert match_spans([(0, 4)], [(4, 8)]) == []


def test_match_spans_min_iou_equals_filtering_the_full_pairing():
    rng = random.Random(7)
    for _ in range(50):
        a = _random_spans(rng, 200, 20)
        b = _random_spans(rng, 200, 20)
        full = [p for p in match_spans(a, b) if p[2] >= 0.5]
        assert match_spans(a, b, min_iou=0.5) == full


def test_span_f1_exact_pairs_duplicates_one_to_one():
    result = span_f1([(0, 4), (0, 4)], [(0, 4)])
    assert result["matched"] == 1
    assert result["f1"] == pytest.approx(2 / 3)


def test_char_f1_counts_nested_and_overlapping_spans_once():
    assert char_f1([(0, 10), (2, 5)], [(0, 10)])["f1"] == 1.0
    assert char_f1([(0, 6), (4, 10)], [(5, 15)])["matched"] == 5


# --------------------------------------------------------------------------
# alpha_U against a literal port of DKPro's segment walk
# --------------------------------------------------------------------------


def _dkpro_distance(o1, l1, c1, o2, l2, c2):
    begin_diff, length_diff = o1 - o2, l1 - l2
    if c1 is not None and c2 is not None and -l1 < begin_diff < l2:
        return begin_diff**2 + (begin_diff + length_diff) ** 2
    if c1 is not None and c2 is None and -length_diff >= begin_diff >= 0:
        return l1 * l1
    if c1 is None and c2 is not None and -length_diff <= begin_diff <= 0:
        return l2 * l2
    return 0


def _dkpro_alpha_u(length, raters_units):
    """KrippendorffAlphaUnitizingAgreement, transcribed loop for loop, in floats."""
    raters = len(raters_units)
    units = [sorted((s, e - s) for s, e in r) for r in raters_units]

    observed = 0.0
    for r1 in range(raters):
        for r2 in range(r1 + 1, raters):
            it1, it2 = iter(units[r1]), iter(units[r2])
            next1, next2 = next(it1, None), next(it2, None)
            off1 = off2 = 0
            len1 = len2 = 0
            cat1 = cat2 = None
            pos = 0
            while pos < length and (next1 is not None or next2 is not None):
                if pos == off1 + len1:
                    if next1 is not None and pos == next1[0]:
                        len1, cat1 = next1[1], "X"
                        next1 = next(it1, None)
                    else:
                        len1 = (next1[0] if next1 is not None else length) - pos
                        cat1 = None
                    off1 = pos
                if pos == off2 + len2:
                    if next2 is not None and pos == next2[0]:
                        len2, cat2 = next2[1], "X"
                        next2 = next(it2, None)
                    else:
                        len2 = (next2[0] if next2 is not None else length) - pos
                        cat2 = None
                    off2 = pos
                observed += _dkpro_distance(off1, len1, cat1, off2, len2, cat2)
                pos = min(off1 + len1, off2 + len2)
    d_o = observed * 2.0 / (raters * (raters - 1) * length * length)

    all_units = [u for r in units for u in r]
    n_c = len(all_units)
    squared = sum(l * (l - 1) for _, l in all_units)
    gaps = []
    for r in units:
        it = iter(r)
        nxt = next(it, None)
        off, ln, pos = 0, 0, 0
        while pos < length:
            if pos == off + ln:
                if nxt is not None and pos == nxt[0]:
                    ln = nxt[1]
                    nxt = next(it, None)
                else:
                    ln = (nxt[0] if nxt is not None else length) - pos
                    gaps.append(ln)
                off = pos
            pos = off + ln
    gaps.sort(reverse=True)
    result = 0.0
    for _, l1 in all_units:
        sum1 = (n_c - 1.0) * (2.0 * l1**3 - 3.0 * l1**2 + l1) / 3
        sum2 = 0.0
        for gap in gaps:
            if gap >= l1:
                sum2 += gap - l1 + 1.0
            else:
                break
        result += sum1 + sum2 * l1 * l1
    result *= 2.0 / length
    d_e = result / (raters * length * (raters * length - 1) - squared)
    return d_o, d_e


def _random_unitization(rng, length, density):
    units, pos = [], rng.randint(0, 5)
    while pos < length:
        size = rng.randint(1, 12)
        if pos + size > length:
            break
        if rng.random() < density:
            units.append((pos, pos + size))
        pos += size + rng.choice([0, 0, 1, 3, 8])
    return units


@pytest.mark.parametrize("seed", range(60))
def test_alpha_u_matches_dkpro_port_random(seed):
    rng = random.Random(seed)
    length = rng.randint(5, 200)
    raters = rng.randint(2, 4)
    data = [_random_unitization(rng, length, rng.choice([0.0, 0.3, 0.7, 1.0])) for _ in range(raters)]
    ours = alpha_u(length, data)
    d_o, d_e = _dkpro_alpha_u(length, data)
    assert ours["d_o"] == pytest.approx(d_o, rel=1e-12, abs=1e-15)
    assert ours["d_e"] == pytest.approx(d_e, rel=1e-12, abs=1e-15)
    if d_e == 0:
        assert ours["alpha"] is None
    else:
        assert ours["alpha"] == pytest.approx(1 - d_o / d_e, rel=1e-9, abs=1e-9)


# --------------------------------------------------------------------------
# Speed: 1,000 documents x 3 annotators x 50 spans
# --------------------------------------------------------------------------
