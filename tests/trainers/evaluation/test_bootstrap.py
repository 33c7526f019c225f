"""Paired bootstrap intervals against cases whose answer is known: identical arms, a constructed 10-point win, an
exactly enumerable bootstrap distribution, the normal approximation, pooling over seeds, clusters, and the chance level
of R@k against a simulation with random scores."""

import itertools
import math

import numpy as np
import pytest
import torch

from babelclip.trainers.evaluation.bootstrap import (
    bootstrap_mean_differences,
    chance_recall,
    chance_recall_at_k,
    outside_interval,
    paired_bootstrap_interval,
    paired_recall_interval,
    per_query_differences,
    stratified_recall_interval,
)
from babelclip.trainers.evaluation.recall import IMAGE_TO_TEXT, TEXT_TO_IMAGE, QueryRanks, per_query_ranks


def half_hits(n_queries=1000, seed=0):
    rng = np.random.default_rng(seed)
    hits = np.zeros(n_queries, dtype=bool)
    hits[rng.permutation(n_queries)[: n_queries // 2]] = True
    return hits


def test_identical_arms_give_a_zero_interval():
    hits = half_hits()
    interval = paired_bootstrap_interval(hits, hits)
    assert interval["difference"] == interval["low"] == interval["high"] == 0.0
    assert not interval["excludes_zero"] and not outside_interval(interval)
    assert interval["mean_a"] == interval["mean_b"] == 50.0


def test_equally_good_arms_give_a_symmetric_interval_around_zero():
    # Same R@1 (50), different queries hit: a large per-query spread, no true difference.
    a, b = half_hits(seed=0), half_hits(seed=1)
    interval = paired_bootstrap_interval(a, b)
    assert interval["difference"] == 0.0
    assert interval["low"] < 0 < interval["high"]
    assert not interval["excludes_zero"]
    width = interval["high"] - interval["low"]
    assert abs(interval["low"] + interval["high"]) < 0.05 * width


def test_a_constructed_ten_point_win_is_found():
    a = half_hits()
    b = a.copy()
    b[np.flatnonzero(~a)[:100]] = True  # B hits everything A hits, plus 100 of the 1000 queries: +10 points
    interval = paired_bootstrap_interval(a, b)
    assert interval["difference"] == pytest.approx(10.0)
    assert interval["low"] > 0 and interval["low"] < 10 < interval["high"]
    assert interval["excludes_zero"] and outside_interval(interval)
    assert not outside_interval(interval, 10.0)
    # The other way round it is a 10-point loss, just as clearly.
    reverse = paired_bootstrap_interval(b, a)
    assert reverse["difference"] == pytest.approx(-10.0) and reverse["high"] < 0


def test_a_mixed_ten_point_win_is_found():
    # B wins 150 queries and loses 50: the same net +10, a wider interval than a clean win.
    a = half_hits()
    b = a.copy()
    b[np.flatnonzero(~a)[:150]] = True
    b[np.flatnonzero(a)[:50]] = False
    clean = a.copy()
    clean[np.flatnonzero(~a)[:100]] = True
    mixed, clean = paired_bootstrap_interval(a, b), paired_bootstrap_interval(a, clean)
    assert mixed["difference"] == pytest.approx(10.0)
    assert 0 < mixed["low"] < 10 < mixed["high"]
    assert mixed["high"] - mixed["low"] > clean["high"] - clean["low"]


def test_interval_matches_the_normal_approximation():
    # Reference: the mean of n i.i.d. differences has standard error sd / sqrt(n) (sd with ddof=0, as the
    # bootstrap resamples the empirical distribution); the 95 % interval is about +-1.96 of it.
    rng = np.random.default_rng(3)
    a, b = rng.random((2, 2000)) < np.array([[0.4], [0.45]])
    interval = paired_bootstrap_interval(a, b, n_resamples=20_000)
    differences = 100.0 * (b.astype(float) - a.astype(float))
    standard_error = differences.std() / math.sqrt(differences.size)
    assert interval["standard_error"] == pytest.approx(standard_error, rel=0.03)
    assert interval["high"] - interval["low"] == pytest.approx(2 * 1.96 * standard_error, rel=0.05)
    assert (interval["low"] + interval["high"]) / 2 == pytest.approx(differences.mean(), abs=0.1 * standard_error)


def exact_bootstrap_quantile(differences, probability):
    # Enumerates all n**n equally likely resamples; the quantile is the inverse of the exact CDF.
    means = sorted(sum(draw) / len(draw) for draw in itertools.product(differences, repeat=len(differences)))
    return means[math.ceil(probability * len(means)) - 1], means


@pytest.mark.parametrize("confidence", [0.5, 0.8, 0.95])
def test_three_queries_match_the_enumerated_bootstrap(confidence):
    # Per-query scores (not 0/1) so the 27 resample means take 10 distinct values.
    a = np.array([0.0, 0.0, 0.0])
    b = np.array([0.0, 0.3, 1.0])
    low_probability, high_probability = (1 - confidence) / 2, (1 + confidence) / 2
    # Away from the exact CDF's jumps (multiples of 1/27) by 9 standard errors of a 200k-resample CDF, so the
    # sampled quantile lands on the exact one.
    for probability in (low_probability, high_probability):
        assert min(abs(probability * 27 - j) for j in range(28)) >= 0.25
    low, _ = exact_bootstrap_quantile(b - a, low_probability)
    high, _ = exact_bootstrap_quantile(b - a, high_probability)
    interval = paired_bootstrap_interval(a, b, n_resamples=200_000, confidence=confidence, scale=1.0)
    assert interval["low"] == pytest.approx(low, abs=1e-12)
    assert interval["high"] == pytest.approx(high, abs=1e-12)
    assert interval["difference"] == pytest.approx(1.3 / 3)


def test_three_queries_distribution_matches_the_enumeration():
    differences = np.array([0.0, 0.3, 1.0])
    _, means = exact_bootstrap_quantile(differences, 0.5)
    values, counts = np.unique(np.round(means, 12), return_counts=True)
    distribution = np.round(bootstrap_mean_differences(np.zeros(3), differences, n_resamples=200_000), 12)
    for value, count in zip(values, counts, strict=True):
        probability = count / 27
        observed = np.mean(distribution == value)
        assert observed == pytest.approx(probability, abs=4 * math.sqrt(probability * (1 - probability) / 200_000))
    assert set(np.unique(distribution)) <= set(values)


def test_seeds_are_averaged_per_query_not_resampled_as_cells():
    # Arms whose seeds agree query by query: four copies of a seed hold no more test-set information than one, so the
    # interval must not shrink (resampling seed x query cells would halve its width).
    rng = np.random.default_rng(5)
    a, b = rng.random((2, 800)) < np.array([[0.5], [0.56]])
    one_seed = paired_bootstrap_interval(a, b)
    four_seeds = paired_bootstrap_interval(np.tile(a, (4, 1)), np.tile(b, (4, 1)))
    for key in ("difference", "low", "high", "standard_error"):
        assert four_seeds[key] == pytest.approx(one_seed[key])
    assert (four_seeds["n_seeds_a"], four_seeds["n_seeds_b"]) == (4, 4)


def test_pooled_difference_is_the_difference_of_seed_means():
    # Arm A: 3 seeds, arm B: 2 seeds, on 4 queries; hand-computed per-query averages.
    a = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0]])  # R@1 per seed 50, 25, 75 -> mean 50
    b = np.array([[1, 1, 1, 0], [0, 1, 1, 1]])  # 75, 75 -> mean 75
    assert per_query_differences(a, b).tolist() == pytest.approx([0.5 - 1, 1 - 2 / 3, 1 - 1 / 3, 0.5])
    interval = paired_bootstrap_interval(a, b)
    assert interval["difference"] == pytest.approx(25.0)
    assert (interval["mean_a"], interval["mean_b"]) == (pytest.approx(50.0), pytest.approx(75.0))
    # Pooling is exactly "average each query over seeds, then bootstrap the queries".
    averaged = paired_bootstrap_interval(a.mean(0), b.mean(0))
    assert (interval["low"], interval["high"]) == (averaged["low"], averaged["high"])


def test_seed_noise_that_cancels_per_query_is_not_counted():
    # B's two seeds hit complementary halves; A hits every query half the time too, so every query averages 0.5 in
    # both arms. The interval is about test-set noise given these seeds, so it is exactly zero.
    a = np.array([[1, 0] * 50, [0, 1] * 50])
    b = np.array([[1] * 50 + [0] * 50, [0] * 50 + [1] * 50])
    interval = paired_bootstrap_interval(a, b)
    assert interval["low"] == interval["high"] == interval["difference"] == 0.0


def test_groups_of_one_change_nothing_and_correlated_groups_widen_the_interval():
    rng = np.random.default_rng(9)
    per_image_a, per_image_b = rng.random((2, 300)) < np.array([[0.5], [0.55]])
    single = paired_bootstrap_interval(per_image_a, per_image_b, groups=np.arange(300))
    plain = paired_bootstrap_interval(per_image_a, per_image_b)
    assert single["low"] == pytest.approx(plain["low"]) and single["high"] == pytest.approx(plain["high"])
    # Five captions per image with the same outcome: 1500 queries but only 300 independent ones.
    a, b, images = np.repeat(per_image_a, 5), np.repeat(per_image_b, 5), np.repeat(np.arange(300), 5)
    naive = paired_bootstrap_interval(a, b)
    clustered = paired_bootstrap_interval(a, b, groups=images)
    assert clustered["difference"] == pytest.approx(naive["difference"])
    assert clustered["n_groups"] == 300 and naive["n_groups"] == 1500
    assert clustered["standard_error"] / naive["standard_error"] == pytest.approx(math.sqrt(5), rel=0.1)
    assert clustered["standard_error"] == pytest.approx(plain["standard_error"], rel=0.05)


def test_the_seed_makes_it_deterministic():
    a, b = half_hits(seed=2), half_hits(seed=3)
    first, again = bootstrap_mean_differences(a, b, seed=4), bootstrap_mean_differences(a, b, seed=4)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, bootstrap_mean_differences(a, b, seed=5))
    assert paired_bootstrap_interval(a, b, seed=4) == paired_bootstrap_interval(a, b, seed=4)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"outcomes_b": np.ones(5)}, "different numbers of queries"),
        ({"outcomes_a": np.ones((2, 2, 3))}, r"\(n_seeds, n_queries\)"),
        ({"outcomes_a": np.ones((0, 3))}, "empty"),
        ({"outcomes_a": np.array([1.0, np.nan, 0.0])}, "NaN"),
        ({"outcomes_a": np.array(["1", "0", "1"])}, "must hold numbers"),
        ({"n_resamples": 0}, "positive integer"),
        ({"n_resamples": True}, "positive integer"),
        ({"n_resamples": 10.0}, "positive integer"),
        ({"confidence": 1.0}, "strictly between 0 and 1"),
        ({"confidence": 0}, "strictly between 0 and 1"),
        ({"confidence": 95}, "strictly between 0 and 1"),
        ({"seed": 1.5}, "`seed` must be an integer"),
        ({"groups": np.arange(4)}, "one group"),
    ],
)
def test_input_errors(arguments, message):
    values = {"outcomes_a": np.array([1, 0, 1]), "outcomes_b": np.array([1, 1, 1]), **arguments}
    with pytest.raises(ValueError, match=message):
        paired_bootstrap_interval(**values)


def test_outside_interval():
    interval = {"low": -1.0, "high": 2.0}
    assert not outside_interval(interval) and not outside_interval(interval, 2.0)
    assert outside_interval(interval, 2.5) and outside_interval(interval, -1.5)
    with pytest.raises(ValueError, match="no 'high'"):
        outside_interval({"low": 0.0})


def test_chance_with_one_correct_item_is_k_over_gallery():
    assert chance_recall_at_k(np.ones(7, dtype=int), 100, 5) == pytest.approx(5.0)
    assert chance_recall_at_k(1, 3, 10) == pytest.approx(100.0)  # k beyond the gallery: every query hits


def test_chance_with_several_correct_items_matches_enumeration():
    # All orderings of 6 items, 2 of them correct: hit at 2 if a correct one is in the first 2 places.
    orders = list(itertools.permutations(range(6)))
    exact = 100 * sum(min(order.index(0), order.index(1)) < 2 for order in orders) / len(orders)
    assert chance_recall_at_k(2, 6, 2) == pytest.approx(exact)
    assert exact == pytest.approx(100 * (1 - 6 / 15))
    # Per-query counts and gallery sizes are averaged over queries.
    assert chance_recall_at_k([1, 2], np.array([6, 6]), 2) == pytest.approx((100 * 2 / 6 + exact) / 2)
    assert chance_recall_at_k(5, 6, 2) == pytest.approx(100.0)  # only one incorrect item: it cannot fill 2 places


def test_chance_matches_a_simulation_with_random_scores():
    # Random Gaussian embeddings: a query's gallery is i.i.d., so its order is uniformly random. Several captions
    # per image make image->text chance well above k / gallery size.
    hits = {TEXT_TO_IMAGE: [], IMAGE_TO_TEXT: []}
    chance = {TEXT_TO_IMAGE: [], IMAGE_TO_TEXT: []}
    for trial in range(150):
        generator = torch.Generator().manual_seed(trial)
        caption_to_image = torch.randint(0, 20, (60,), generator=generator)
        ranks = per_query_ranks(
            torch.randn(20, 8, generator=generator),
            torch.randn(60, 8, generator=generator),
            caption_to_image,
            ["en"] * 60,
        )["en"]
        for direction, record in ranks.items():
            hits[direction].append(record.hits(5))
            chance[direction].append(chance_recall(record, ks=(5,))["R@5"] * record.n_queries)
    for direction in (TEXT_TO_IMAGE, IMAGE_TO_TEXT):
        observed = np.concatenate(hits[direction])
        expected = sum(chance[direction]) / observed.size
        standard_error = 100 * math.sqrt(expected / 100 * (1 - expected / 100) / observed.size)
        assert 100 * observed.mean() == pytest.approx(expected, abs=4 * standard_error)
    assert expected > 2 * 100 * 5 / 60  # image->text: far above k / gallery size


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((1, 10, 0), "positive integer"),
        ((0, 10, 1), "between 1 and `gallery_size`"),
        ((11, 10, 1), "between 1 and `gallery_size`"),
        ((np.ones((2, 2), dtype=int), 10, 1), "one count per query"),
    ],
)
def test_chance_errors(arguments, message):
    with pytest.raises(ValueError, match=message):
        chance_recall_at_k(*arguments)


def arm_ranks(seed, shift):
    # One arm's ranks on a fixed test set (images and captions fixed by seed 0); `shift` makes it better or worse.
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(30, 6, generator=generator)
    caption_to_image = torch.arange(30).repeat_interleave(2)
    noise = torch.randn(60, 6, generator=torch.Generator().manual_seed(seed))
    return per_query_ranks(images, shift * images[caption_to_image] + noise, caption_to_image, ["en"] * 60)["en"]


def test_paired_recall_interval_from_query_ranks():
    baseline = [arm_ranks(seed, 0.5)[TEXT_TO_IMAGE] for seed in (1, 2)]
    better = [arm_ranks(seed, 3.0)[TEXT_TO_IMAGE] for seed in (3, 4, 5)]
    interval = paired_recall_interval(baseline, better, k=1)
    direct = paired_bootstrap_interval(np.stack([r.hits(1) for r in baseline]), np.stack([r.hits(1) for r in better]))
    assert {key: interval[key] for key in direct} == direct
    assert interval["k"] == 1 and interval["chance"] == pytest.approx(100 / 30)
    assert interval["excludes_zero"]
    by_image = paired_recall_interval(baseline, better, resample="images")
    assert by_image["n_groups"] == 30 and by_image["difference"] == interval["difference"]


def test_paired_recall_interval_checks_the_queries():
    t2i = arm_ranks(1, 1.0)[TEXT_TO_IMAGE]
    i2t = arm_ranks(1, 1.0)[IMAGE_TO_TEXT]
    with pytest.raises(ValueError, match=r"`records_b\[0\]` ranks other queries"):
        paired_recall_interval([t2i], [i2t])
    with pytest.raises(ValueError, match="`records_a` is empty"):
        paired_recall_interval([], [t2i])
    with pytest.raises(ValueError, match="`resample`"):
        paired_recall_interval([t2i], [t2i], resample="cells")
    empty = QueryRanks(query_ids=[], query_images=[], ranks=[], n_positives=[], gallery_size=3, n_skipped=3)
    with pytest.raises(ValueError, match="no queries"):
        paired_recall_interval([empty], [empty])
    with pytest.raises(ValueError, match="no queries"):
        chance_recall(empty)


def _constant_ranks(hits: np.ndarray) -> QueryRanks:
    n = len(hits)
    return QueryRanks(np.arange(n), np.arange(n), np.where(hits, 0, 5), np.ones(n, dtype=np.int64), gallery_size=40)


def test_one_stratum_is_the_paired_interval_and_strata_average_unweighted():
    baseline = [arm_ranks(seed, 0.5)[TEXT_TO_IMAGE] for seed in (1, 2)]
    better = [arm_ranks(seed, 3.0)[TEXT_TO_IMAGE] for seed in (3, 4)]
    single = stratified_recall_interval([(baseline, better)], n_resamples=2000)
    paired = paired_recall_interval(baseline, better, n_resamples=2000)
    assert {key: single[key] for key in ("difference", "low", "high")} == {
        key: paired[key] for key in ("difference", "low", "high")
    }
    # A stratum of 200 queries 10 points better and one of 50 queries with no difference: the unweighted mean is 5.
    base = np.zeros(200, dtype=bool)
    win = base.copy()
    win[:20] = True
    tie = np.random.default_rng(0).random(50) < 0.5
    group = stratified_recall_interval(
        [([_constant_ranks(base)], [_constant_ranks(win)]), ([_constant_ranks(tie)], [_constant_ranks(tie)])],
        n_resamples=4000,
    )
    assert group["difference"] == pytest.approx(5.0) and group["n_strata"] == 2 and group["n_queries"] == 250
    assert 0 < group["low"] < 5 < group["high"] < 10 and group["excludes_zero"]
    with pytest.raises(ValueError, match="strata"):
        stratified_recall_interval([])
