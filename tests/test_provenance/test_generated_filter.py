import itertools
import math

import numpy as np
import pytest

from provmm.provenance.generated_filter import (class_thresholds,
                                                hard_cosine_filter,
                                                mean_pairwise_cosine)

# class 0: a, b, c; class 1: d, e
REAL = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 2], [0, 3, 4]],
                dtype=np.float32)
REAL_LABELS = np.array([0, 0, 0, 1, 1])
# cos(a, b) = 0, cos(a, c) = cos(b, c) = 1/sqrt(2); cos(d, e) = 8 / 10
TAU_0 = (0 + 2 / math.sqrt(2)) / 3
TAU_1 = 0.8

GENERATED = np.array([
    [1, 1, 0],    # from a: cos 0.707 > tau_0 -> kept
    [1, 0.2, 0],  # from b: cos 0.196 -> dropped
    [0, 1, 1],    # from d: cos 0.707 < tau_1 -> dropped
    [0, 3, 4.1],  # from e: cos 0.9999 -> kept
    [-1, 0, 0],   # from a: cos -1 -> dropped
])
SOURCE = np.array([0, 1, 3, 4, 0])


def test_mean_pairwise_cosine_equals_the_mean_over_all_distinct_pairs():
    embeddings = np.random.default_rng(0).normal(size=(7, 5))
    units = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    pairs = [units[i] @ units[j]
             for i, j in itertools.combinations(range(7), 2)]
    assert mean_pairwise_cosine(embeddings) == pytest.approx(np.mean(pairs))


def test_tau_per_class_equals_the_hand_computed_mean_cosine():
    tau, num_real, fallback = class_thresholds(REAL, REAL_LABELS)
    assert tau[0] == pytest.approx(TAU_0)
    assert tau[1] == pytest.approx(TAU_1)
    assert num_real == {0: 3, 1: 2}
    assert fallback == set()


def test_kept_list_is_exactly_the_pairs_above_their_class_tau():
    result = hard_cosine_filter(REAL, REAL_LABELS, GENERATED, SOURCE)
    assert result.keep.tolist() == [True, False, False, True, False]
    assert result.labels.tolist() == [0, 0, 1, 1, 0]
    assert result.cosine[0] == pytest.approx(1 / math.sqrt(2))
    assert result.cosine[4] == pytest.approx(-1)
    assert result.tau == pytest.approx({0: TAU_0, 1: TAU_1})


def test_real_images_without_counterparts_still_enter_tau():
    real = np.vstack([REAL, [[0, 1, 0]]])  # a third class-1 image
    labels = np.append(REAL_LABELS, 1)
    result = hard_cosine_filter(real, labels, GENERATED, SOURCE)
    # pairs d-e 0.8, d-f 0, e-f 0.6
    assert result.tau[1] == pytest.approx((0.8 + 0 + 0.6) / 3)
    assert result.num_real[1] == 3
    assert result.keep.tolist() == [True, False, True, True, False]


def test_single_real_image_class_is_an_error_naming_the_class():
    with pytest.raises(ValueError, match=r'fewer than 2 real images: 1 '
                       r'\(1 real\)'):
        hard_cosine_filter(REAL[:4], REAL_LABELS[:4], GENERATED[:3],
                           SOURCE[:3])


def test_fallback_tau_applies_to_single_image_classes_and_is_strict():
    real = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [1, 0, 0]])
    labels = np.array([0, 0, 0, 1])
    generated = np.array([[3, 4, 0], [3, 4.01, 0], [3, 3.99, 0]])
    result = hard_cosine_filter(real, labels, generated,
                                np.array([3, 3, 3]), fallback_tau=0.6)
    assert result.fallback_classes == {1}
    assert result.tau == {1: 0.6}
    assert result.cosine[0] == 0.6  # exactly 3/5: equal is not above
    assert result.keep.tolist() == [False, False, True]


def test_zero_embeddings_and_bad_indices_are_refused():
    real = REAL.copy()
    real[2] = 0
    with pytest.raises(ValueError, match=r'rows \[2\] are zero vectors'):
        hard_cosine_filter(real, REAL_LABELS, GENERATED, SOURCE)
    with pytest.raises(ValueError, match='source_index'):
        hard_cosine_filter(REAL, REAL_LABELS, GENERATED, SOURCE + 1)
    with pytest.raises(ValueError, match='dimensions'):
        hard_cosine_filter(REAL, REAL_LABELS, GENERATED[:, :2], SOURCE)
