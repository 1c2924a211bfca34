"""The all-contour level sweep equals the reference definition (one
cv2.findContours per threshold) on varied maps, and the contour facts it
rests on hold for the installed OpenCV."""
import cv2
import numpy as np
import pytest

from provmm.evaluation.functional import (cam_thresholds, cam_to_scoremap,
                                          correct_per_level,
                                          correct_per_level_batch,
                                          count_correct_per_threshold,
                                          iou_fractions,
                                          largest_contour_correct_per_level,
                                          normalize_scoremap)
from provmm.evaluation.functional.wsol_reference import reference_counts

IOUS = [30, 50, 70]


def _labels(mask, connectivity):
    count, labels = cv2.connectedComponents(mask.astype(np.uint8),
                                            connectivity=connectivity)
    return [np.argwhere(labels == i) for i in range(1, count)]


def _component_rects(binary):
    """boundingRects predicted by the sweep's rule: 8-connected foreground
    components, plus 4-connected background components off the border
    grown by one pixel."""
    height, width = binary.shape
    rects = []
    for pts in _labels(binary, 8):
        (y0, x0), (y1, x1) = pts.min(0), pts.max(0)
        rects.append((x0, y0, x1 - x0 + 1, y1 - y0 + 1))
    for pts in _labels(~binary, 4):
        (y0, x0), (y1, x1) = pts.min(0), pts.max(0)
        if min(x0, y0) == 0 or x1 == width - 1 or y1 == height - 1:
            continue
        rects.append((x0 - 1, y0 - 1, x1 - x0 + 3, y1 - y0 + 3))
    return sorted(rects)


def _opencv_rects(binary):
    contours = cv2.findContours(binary.astype(np.uint8) * 255, cv2.RETR_TREE,
                                cv2.CHAIN_APPROX_SIMPLE)[0]
    return sorted(cv2.boundingRect(c) for c in contours)


def test_opencv_contours_are_components_and_holes_grown_by_one():
    rng = np.random.default_rng(0)
    for trial in range(300):
        height, width = rng.integers(1, 24, 2)
        if trial % 2:
            binary = rng.random((height, width)) < rng.uniform(0.2, 0.8)
        else:  # smooth blobs, often touching the border
            small = rng.random((max(1, height // 4), max(1, width // 4)))
            binary = cv2.resize(small, (int(width), int(height)),
                                interpolation=cv2.INTER_CUBIC) > 0.5
        assert _component_rects(binary) == _opencv_rects(binary), binary


def _ring(size, outer, inner, value=1.0):
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    return ((r < outer) & (r >= inner)) * value


def _varied_maps(rng, size=40):
    """~50 maps: CAM-like, noise, rings and holes, blobs cut by the border,
    constant and NaN maps (normalised like the reference, so all zeros)."""
    maps = []
    for i in range(12):
        maps.append(cam_to_scoremap(rng.standard_normal((4, 4)),
                                    (size, size)))
        maps.append(rng.random((size, size)))
    for i in range(8):
        ring = _ring(size, rng.uniform(8, 19), rng.uniform(2, 8))
        ring += _ring(size, 3, 0, rng.uniform(0.2, 0.9))  # island in hole
        maps.append(normalize_scoremap(ring + 0.1 * rng.random(ring.shape)))
    for i in range(8):  # blobs centred on the border and corners
        yy, xx = np.mgrid[:size, :size]
        cy, cx = rng.choice([0, size - 1], 2)
        blob = np.exp(-((yy - cy)**2 + (xx - cx)**2) / rng.uniform(20, 200))
        maps.append(normalize_scoremap(blob + 0.3 * (xx > size / 2)))
    for i in range(4):  # binary patterns: few levels, plateaus
        maps.append((rng.random((size, size)) < 0.5) * rng.uniform(0.1, 1))
    maps.append(normalize_scoremap(np.full((size, size), 0.3)))
    maps.append(normalize_scoremap(np.where(np.eye(size) > 0, np.nan, 1.0)))
    maps.append(np.ones((size, size)))
    return maps


def _random_boxes(rng, size):
    boxes = []
    for _ in range(rng.integers(1, 4)):
        x0, y0 = rng.integers(0, size, 2)
        boxes.append([x0, y0, rng.integers(x0, size), rng.integers(y0, size)])
    return np.array(boxes)


@pytest.fixture(scope='module')
def varied():
    rng = np.random.default_rng(1)
    maps = _varied_maps(rng)
    boxes = [_random_boxes(rng, 40) for _ in maps]
    boxes[-1] = np.array([[0, 0, 0, 0]])  # the no-contour box hits it
    return maps, boxes


def test_all_contour_counts_equal_the_reference_on_varied_maps(varied):
    maps, boxes = varied
    thresholds = cam_thresholds(0.004)
    max_levels, tables = correct_per_level_batch(
        np.stack(maps), boxes, iou_fractions(IOUS), workers=2)
    got = count_correct_per_threshold(max_levels, tables, thresholds)
    expected = reference_counts(maps, boxes, thresholds, IOUS)
    np.testing.assert_array_equal(got, expected)
    assert expected[:, 0].min() < len(maps)  # not trivially all correct


def test_largest_contour_counts_equal_the_reference_v1(varied):
    maps, boxes = varied
    thresholds = cam_thresholds(0.01)
    results = [largest_contour_correct_per_level(m, b, iou_fractions(IOUS),
                                                 thresholds)
               for m, b in zip(maps, boxes)]
    got = count_correct_per_threshold([r[0] for r in results],
                                      np.stack([r[1] for r in results]),
                                      thresholds)
    expected = reference_counts(maps, boxes, thresholds, IOUS,
                                multi_contour=False)
    np.testing.assert_array_equal(got, expected)


def test_full_size_cam_maps_at_the_paper_grid_equal_the_reference():
    rng = np.random.default_rng(2)
    maps = [cam_to_scoremap(rng.standard_normal((14, 14)), (224, 224))
            for _ in range(2)]
    boxes = [np.array([[20, 30, 150, 200]]),
             np.array([[0, 0, 100, 80], [120, 100, 223, 223]])]
    thresholds = cam_thresholds(0.001)
    max_levels, tables = correct_per_level_batch(np.stack(maps), boxes,
                                                 iou_fractions(IOUS))
    got = count_correct_per_threshold(max_levels, tables, thresholds)
    np.testing.assert_array_equal(
        got, reference_counts(maps, boxes, thresholds, IOUS))


def test_single_map_call_matches_the_batch(varied):
    maps, boxes = varied
    level, table = correct_per_level(maps[0], boxes[0], iou_fractions(IOUS))
    levels, tables = correct_per_level_batch(np.stack(maps[:1]), boxes[:1],
                                             iou_fractions(IOUS))
    assert level == levels[0]
    np.testing.assert_array_equal(table, tables[0])


def test_unsorted_iou_thresholds_keep_their_column_order(varied):
    maps, boxes = varied
    _, ascending = correct_per_level_batch(np.stack(maps), boxes,
                                           iou_fractions([30, 50, 70]))
    _, shuffled = correct_per_level_batch(np.stack(maps), boxes,
                                          iou_fractions([70, 30, 50]))
    np.testing.assert_array_equal(shuffled, ascending[..., [2, 0, 1]])


@pytest.mark.parametrize('bad', [np.nan, -0.1, 1.5])
def test_invalid_values_are_refused_with_the_map_index(bad):
    maps = np.zeros((3, 8, 8))
    maps[2, 4, 4] = bad
    with pytest.raises(ValueError, match='score map 2'):
        correct_per_level_batch(maps, [np.array([[0, 0, 1, 1]])] * 3,
                                iou_fractions(IOUS))


def test_a_map_without_gt_box_is_refused():
    with pytest.raises(ValueError, match='map 1 has no GT box'):
        correct_per_level_batch(np.zeros((2, 8, 8)),
                                [np.array([[0, 0, 1, 1]]), np.zeros((0, 4))],
                                iou_fractions(IOUS))


def _mask(*ring_positions):
    # ring order NW, N, NE, E, SE, S, SW, W = bits 0..7
    return sum(1 << i for i in ring_positions)


@pytest.mark.parametrize('positions, runs8, runs4', [
    ((1, ), 1, 1),           # N alone
    ((2, ), 1, 0),           # NE alone: not 4-adjacent
    ((1, 2, 3), 1, 1),       # N, NE, E: one run, N and E 4-joined via NE
    ((1, 3), 2, 2),          # N and E without NE: two runs
    ((1, 3, 5, 7), 4, 4),    # the four edges alone
    (tuple(range(8)), 1, 1),  # all eight
])
def test_ring_run_tables(positions, runs8, runs4):
    from provmm.evaluation.functional.contour_sweep import RUNS_4, RUNS_8
    assert RUNS_8[_mask(*positions)] == runs8
    assert RUNS_4[_mask(*positions)] == runs4
