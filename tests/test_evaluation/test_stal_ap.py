"""Frame-AP, video-AP and tube linking (provmm/evaluation/functional/
stal/): hand-computed cases, closed forms, and equality with the
literal ports of ACT's and mmaction2's evaluation code on random tie-free
cases; the FrameAP / VideoAP metrics end to end."""
import os.path as osp
import pickle

import numpy as np
import pytest
from mmengine.evaluator import Evaluator

from provmm.evaluation.functional.stal import act_reference as act
from provmm.evaluation.functional.stal import multisports_reference as voc
from provmm.evaluation.functional import stal
from provmm.evaluation.functional.stal import (frame_ap, iou2d, iou3dt,
                                               link_tubes, nms3dt, pr_to_ap,
                                               video_ap)
from provmm.evaluation.metrics import FrameAP, VideoAP
from provmm.registry import METRICS

SQUARE = (0, 0, 9, 9)  # +1 area 100, VOC area 81


def make_gt(gttubes, nframes, labels=('a', 'b', 'c', 'd')):
    videos = list(nframes)
    return dict(labels=list(labels), gttubes=gttubes, nframes=dict(nframes),
                resolution={v: (240, 320) for v in videos},
                train_videos=[[]], test_videos=[videos])


def const_tube(first, last, box):
    frames = np.arange(first, last + 1, dtype=np.float64)
    return np.concatenate([frames[:, None],
                           np.tile(np.asarray(box, np.float64),
                                   (len(frames), 1))], axis=1)


def det(video, frame, label, score, box):
    return [video, frame, label, score, *box]


# --------------------------------------------------------------------------
# hand-computed frame-AP
# --------------------------------------------------------------------------


def _hand_case():
    gt = make_gt({'v0': {0: [const_tube(1, 3, SQUARE)],
                         1: [const_tube(2, 3, SQUARE)]},
                  'v1': {}},  # a video without ground truth
                 {'v0': 10, 'v1': 5})
    dets = np.array([
        det(0, 1, 0, 0.9, SQUARE),  # TP
        det(0, 1, 0, 0.8, SQUARE),  # duplicate: its box is taken -> FP
        det(0, 5, 0, 0.7, SQUARE),  # frame outside the tube -> FP
        det(1, 2, 0, 0.6, SQUARE),  # video without ground truth -> FP
        det(0, 2, 0, 0.5, (0, 0, 9, 4)),  # +1 IoU 50/100: TP; VOC 36/81
        det(0, 4, 2, 0.3, SQUARE),  # class 'c': detections, no GT
    ])
    return gt, dets


def test_frame_ap_act_by_hand():
    gt, dets = _hand_case()
    result = frame_ap(gt, dets)
    # TP FP FP FP TP with 3 GT boxes: trapezoids from (R=0, P=1):
    # 1/3 * (1 + 1) / 2 + 1/3 * (2/5 + 1/4) / 2 = 53/120
    assert result['per_class']['a'] == pytest.approx(53 / 120, abs=1e-7)
    assert result['per_class']['b'] == 0  # GT, no detection
    assert result['per_class']['c'] == 0  # ACT: ZeroDivisionError
    assert result['per_class']['d'] == 0  # no GT, no detection
    assert result['mean'] == pytest.approx(53 / 480, abs=1e-7)
    assert result['mean_over_classes_with_gt'] == pytest.approx(
        53 / 240, abs=1e-7)
    assert result['detections_without_gt'] == ['c']
    assert result['num_gt'] == {'a': 3, 'b': 2, 'c': 0, 'd': 0}
    assert result['num_detections'] == {'a': 5, 'b': 0, 'c': 1, 'd': 0}
    with pytest.raises(ZeroDivisionError):
        act.frame_ap(gt, dets)
    _, ref = act.frame_ap(gt, dets[dets[:, 2] != 2])
    assert ref[0] == pytest.approx(result['per_class']['a'], abs=0)


def test_frame_ap_voc_by_hand():
    gt, dets = _hand_case()
    result = frame_ap(gt, dets, protocol='voc')
    # TP FP FP FP FP (the half box has IoU 36/81 < 0.5): envelope 1 up to
    # recall 1/3
    assert result['per_class'] == {'a': pytest.approx(1 / 3), 'b': 0,
                                   'c': None, 'd': None}
    assert result['mean'] == pytest.approx(1 / 6)
    assert result['mean_over_classes_with_gt'] == result['mean']
    assert result['num_detections'] == {'a': 5, 'b': 0, 'c': 1, 'd': 0}
    assert result['detections_without_gt'] == ['c']
    classes, mean = voc.frame_ap(gt, dets, 0.5)
    assert classes == {'a': pytest.approx(1 / 3), 'b': 0}
    assert mean == pytest.approx(result['mean'])


def test_act_removes_the_matched_box_voc_does_not():
    g1, g2 = SQUARE, (4, 0, 13, 9)
    gt = make_gt({'v0': {0: [const_tube(1, 1, g1), const_tube(1, 1, g2)]}},
                 {'v0': 1}, labels=('a',))
    # the second box is closer to g1 (+1 IoU 90/110) than to g2 (70/130)
    dets = np.array([det(0, 1, 0, 0.9, g1), det(0, 1, 0, 0.8, (1, 0, 10, 9))])
    assert frame_ap(gt, dets)['per_class']['a'] == 1.0  # g2 remains
    # VOC: argmax over both boxes is g1, already matched -> FP
    assert frame_ap(gt, dets, protocol='voc')['per_class']['a'] == 0.5
    assert act.frame_ap(gt, dets)[1][0] == 1.0
    assert voc.frame_ap(gt, dets, 0.5)[0]['a'] == 0.5


def test_score_ties_keep_the_input_order():
    gt = make_gt({'v0': {0: [const_tube(1, 1, SQUARE)]}}, {'v0': 1},
                 labels=('a',))
    fp = det(0, 1, 0, 0.5, (50, 50, 59, 59))
    tp = det(0, 1, 0, 0.5, SQUARE)
    # FP first: (1,0) (0,0) (1/2,1) -> 1/4; TP first: (1,0) (1,1) -> 1
    assert frame_ap(gt, np.array([fp, tp]))['per_class']['a'] == 0.25
    assert frame_ap(gt, np.array([tp, fp]))['per_class']['a'] == 1.0


def test_no_detection_at_all():
    gt, _ = _hand_case()
    result = frame_ap(gt, np.zeros((0, 8)))
    assert result['per_class'] == {'a': 0, 'b': 0, 'c': 0, 'd': 0}
    assert result['mean'] == 0
    result = frame_ap(gt, np.zeros((0, 8)), protocol='voc')
    assert result['per_class'] == {'a': 0, 'b': 0, 'c': None, 'd': None}


def test_exclude_labels():
    gt, dets = _hand_case()
    result = frame_ap(gt, dets, exclude_labels=('b', 'd'))
    assert result['per_class']['b'] is None
    assert result['mean'] == pytest.approx(53 / 120 / 2, abs=1e-7)
    assert result['mean_over_classes_with_gt'] == pytest.approx(53 / 120,
                                                                abs=1e-7)


# --------------------------------------------------------------------------
# IoUs, NMS, AP
# --------------------------------------------------------------------------


def test_iou2d_conventions():
    assert iou2d(SQUARE, (0, 0, 9, 4))[0, 0] == 0.5
    assert iou2d(SQUARE, (0, 0, 9, 4), 'voc')[0, 0] == pytest.approx(36 / 81)
    ious = iou2d([SQUARE, (20, 20, 29, 29)], [SQUARE, (5, 0, 14, 9)])
    np.testing.assert_allclose(ious, [[1, 50 / 150], [0, 0]])
    for box in ([0, 0, 9, 4], [3.5, 2.25, 20.5, 7.75]):
        assert iou2d(SQUARE, box)[0, 0] == act.iou2d(
            np.array([SQUARE], float), np.array(box, float))[0]


def test_iou3dt_closed_forms():
    a = const_tube(1, 10, SQUARE)
    b = const_tube(6, 15, (0, 0, 9, 4))
    # per-frame IoU 1/2 on 5 common frames of a 15-frame union
    assert iou3dt(a, b) == pytest.approx(0.5 * 5 / 15)
    assert iou3dt(a, b, spatial_only=True) == pytest.approx(0.5)
    # VOC: 36/81 x (10 - 6) / (15 - 1)
    assert iou3dt(a, b, 'voc') == pytest.approx(36 / 81 * 4 / 14)
    assert iou3dt(a, const_tube(11, 20, SQUARE)) == 0.0
    assert iou3dt(a, a) == 1.0
    # the spatial part is the mean over the common frames
    c = a.copy()
    c[5:, 1:5] = (0, 0, 9, 4)  # frames 6..10 at IoU 1/2
    assert iou3dt(a, c) == pytest.approx(0.75)
    rng = np.random.default_rng(3)
    for _ in range(20):
        t1 = _random_tube(rng, 40)
        t2 = _random_tube(rng, 40)
        assert iou3dt(t1, t2) == pytest.approx(act.iou3dt(t1, t2), abs=1e-12)
        assert iou3dt(t1, t2, 'voc') == pytest.approx(
            voc.iou3dt_voc(t1, t2), abs=1e-12)


def test_iou3dt_refuses_tubes_with_holes():
    tube = const_tube(1, 5, SQUARE)[[0, 1, 3, 4]]
    with pytest.raises(ValueError, match='consecutive'):
        iou3dt(tube, tube)


def test_nms3dt_closed_form():
    base = const_tube(1, 10, SQUARE)
    overlapping = const_tube(1, 10, (0, 0, 9, 4))  # iou3dt 1/2 > 0.3
    # per-frame 1/2 on 6 of 10 frames: 0.3 exactly, kept (<= 0.3)
    border = const_tube(5, 10, (0, 0, 9, 4))
    far = const_tube(1, 10, (50, 50, 59, 59))
    tubes = [(overlapping, 0.8), (base, 0.9), (far, 0.1), (border, 0.5)]
    assert iou3dt(base, border) == 0.3
    np.testing.assert_array_equal(nms3dt(tubes), [1, 3, 2])
    np.testing.assert_array_equal(act.nms3dt(tubes, 0.3), [1, 3, 2])
    np.testing.assert_array_equal(nms3dt(tubes, 0.6), [1, 0, 3, 2])
    assert len(nms3dt([])) == 0


def test_pr_to_ap():
    pr = np.array([[1, 0], [1, 0.5], [0.5, 0.5], [2 / 3, 1]], np.float32)
    assert pr_to_ap(pr) == pytest.approx(0.5 + 0.5 * (0.5 + 2 / 3) / 2)
    assert pr_to_ap(pr) == act.pr_to_ap(pr)
    vpr = pr[1:].astype(np.float64)
    # envelope: 1 up to recall 1/2, then 2/3
    assert pr_to_ap(vpr, 'voc') == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert pr_to_ap(vpr, 'voc') == voc.pr_to_ap_voc(vpr.copy())
    with pytest.raises(ValueError, match='protocol'):
        pr_to_ap(pr, 'coco')


# --------------------------------------------------------------------------
# video-AP by hand
# --------------------------------------------------------------------------


def test_video_ap_by_hand():
    gt = make_gt({'v0': {0: [const_tube(1, 10, SQUARE)]}, 'v1': {},
                  'v2': {0: [const_tube(5, 15, SQUARE)]}},
                 {'v0': 20, 'v1': 20, 'v2': 20}, labels=('a', 'b'))
    tubes = {'v0': {0: [(const_tube(1, 10, SQUARE), 0.9),       # TP
                        (const_tube(1, 10, SQUARE), 0.8),       # duplicate
                        (const_tube(1, 10, (50, 50, 59, 59)), 0.95)]},
             'v1': {0: [(const_tube(1, 20, SQUARE), 0.1)],  # no GT here
                    1: [(const_tube(3, 8, SQUARE), 0.5)]},  # no GT class
             'v2': {0: [(const_tube(5, 15, (0, 0, 9, 8)), 0.5)]}}  # TP
    result = video_ap(gt, tubes)
    # ACT: NMS drops the duplicate; FP TP TP FP of 2 tubes:
    # (1,0) (0,0) (1/2,1/2) (2/3,1) (1/2,1) -> 1/8 + (1/2 + 2/3) / 4 = 5/12
    assert result['per_class']['a'] == pytest.approx(5 / 12, abs=1e-7)
    assert result['per_class']['b'] == 0.0
    assert result['mean'] == pytest.approx(5 / 24, abs=1e-7)
    assert result['mean_over_classes_with_gt'] == pytest.approx(5 / 12,
                                                                abs=1e-7)
    assert result['detections_without_gt'] == ['b']
    # without tube NMS the duplicate is a FP: (1,0) (0,0) (1/2,1/2)
    # (1/3,1/2) (1/2,1) (2/5,1) -> 1/8 + (1/3 + 1/2) / 4 = 1/3
    result = video_ap(gt, tubes, nms=False)
    assert result['per_class']['a'] == pytest.approx(1 / 3, abs=1e-7)
    # VOC (no NMS): envelope 1/2 up to recall 1 -> 1/2
    result = video_ap(gt, tubes, protocol='voc')
    assert result['per_class'] == {'a': 0.5, 'b': None}
    assert voc.video_ap(gt, tubes, 0.5) == ({'a': 0.5}, 0.5)
    with pytest.raises(ZeroDivisionError):
        act.video_ap(gt, tubes)
    del tubes['v1'][1]
    assert act.video_ap(gt, tubes)[1][0] == pytest.approx(5 / 12, abs=1e-7)
    # ACT deletes matched tubes from its copy, not from the ground truth
    assert len(gt['gttubes']['v0'][0]) == 1


def test_video_ap_threshold_on_temporal_overlap():
    gt = make_gt({'v0': {0: [const_tube(1, 20, SQUARE)]}}, {'v0': 40},
                 labels=('a',))
    for last, expected in ((30, 1.0), (31, 0.0)):
        # 20 common frames over a union of `last` frames: 20/30 vs 20/31
        tubes = {'v0': {0: [(const_tube(1, last, SQUARE), 0.5)]}}
        assert video_ap(gt, tubes, iou=2 / 3)['per_class']['a'] == expected


# --------------------------------------------------------------------------
# random tie-free cases against the literal ports
# --------------------------------------------------------------------------


def _random_tube(rng, nframes):
    first = int(rng.integers(1, nframes))
    last = int(rng.integers(first, nframes + 1))
    n = last - first + 1
    x = rng.uniform(0, 150) + np.cumsum(rng.normal(0, 2, n))
    y = rng.uniform(0, 150) + np.cumsum(rng.normal(0, 2, n))
    w, h = rng.uniform(20, 60, 2)
    return np.stack([np.arange(first, last + 1), x, y, x + w, y + h], 1)


def random_gt(rng, num_videos=5, num_labels=4, max_frames=40):
    videos = [f'c{i % 3}/v_{i:02d}' for i in range(num_videos)]
    nframes = {v: int(rng.integers(20, max_frames)) for v in videos}
    gttubes = {v: {} for v in videos}
    for v in videos[:-1]:  # the last video has no ground truth
        for c in range(num_labels - 1):  # the last class neither
            if rng.random() < 0.6:
                gttubes[v][c] = [np.round(_random_tube(rng, nframes[v]), 1)
                                 for _ in range(int(rng.integers(1, 3)))]
    return make_gt(gttubes, nframes,
                   labels=[f'class {c}' for c in range(num_labels)])


def random_frame_dets(rng, gt, clutter=3):
    rows = []
    for iv, v in enumerate(gt['test_videos'][0]):
        for c, tubes in gt['gttubes'][v].items():
            for tube in tubes:
                for r in tube[rng.random(len(tube)) < 0.7]:
                    rows.append(det(iv, r[0], c, rng.random(),
                                    r[1:5] + rng.normal(0, 5, 4)))
        for _ in range(gt['nframes'][v] * clutter):
            x, y = rng.uniform(0, 150, 2)
            w, h = rng.uniform(20, 60, 2)
            rows.append(det(iv, rng.integers(1, gt['nframes'][v] + 1),
                            rng.integers(len(gt['labels'])), rng.random(),
                            (x, y, x + w, y + h)))
    return np.array(rows)


def random_tubes(rng, gt):
    tubes = {}
    for v in gt['test_videos'][0]:
        nf = gt['nframes'][v]
        tubes[v] = {}
        for c in range(len(gt['labels']) - 1):  # no tube of the last class
            items = []
            for g in gt['gttubes'][v].get(c, []):
                for _ in range(int(rng.integers(0, 4))):
                    first = int(np.clip(g[0, 0] + rng.integers(-5, 6), 1, nf))
                    last = int(np.clip(g[-1, 0] + rng.integers(-5, 6), first,
                                       nf))
                    frames = np.arange(first, last + 1)
                    rows = np.clip(frames - int(g[0, 0]), 0, len(g) - 1)
                    boxes = g[rows, 1:5] + rng.normal(0, 4, (len(frames), 4))
                    items.append((np.concatenate([frames[:, None], boxes],
                                                 1), rng.random()))
            items += [(_random_tube(rng, nf), rng.random())
                      for _ in range(int(rng.integers(0, 3)))]
            tubes[v][c] = items
    return tubes


def _act_safe(gt):
    """ACT divides by zero for a class without ground truth that has
    detections: give every class one ground-truth box in the last video."""
    gt = pickle.loads(pickle.dumps(gt))
    last = gt['test_videos'][0][-1]
    gt['gttubes'][last] = {c: [const_tube(1, 3, (300, 300, 320, 330))]
                           for c in range(len(gt['labels']))}
    return gt


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('dtype', [np.float64, np.float32])
def test_frame_ap_equals_the_references(seed, dtype):
    rng = np.random.default_rng(seed)
    gt = random_gt(rng)
    dets = random_frame_dets(rng, gt).astype(dtype)
    assert len(np.unique(dets[:, 3])) == len(dets)  # tie-free
    for iou in (0.3, 0.5):
        fast = frame_ap(gt, dets, iou)
        with pytest.raises(ZeroDivisionError):
            act.frame_ap(gt, dets, iou)
        safe = _act_safe(gt)
        _, ref = act.frame_ap(safe, dets, iou)
        fast_safe = frame_ap(safe, dets, iou)
        np.testing.assert_array_equal(
            [fast_safe['per_class'][n] for n in gt['labels']], ref)
        assert fast_safe['mean'] == pytest.approx(float(np.mean(ref)),
                                                  abs=1e-7)
        # the classes with ground truth have the same AP either way
        for name in gt['labels']:
            if fast['num_gt'][name]:
                assert fast['per_class'][name] == fast_safe['per_class'][
                    name] or fast_safe['num_gt'][name] != fast['num_gt'][
                        name]
        fast_voc = frame_ap(gt, dets, iou, 'voc')
        classes, mean = voc.frame_ap(gt, dets, iou)
        assert {k: v for k, v in fast_voc['per_class'].items()
                if v is not None} == pytest.approx(classes, abs=1e-12)
        assert fast_voc['mean'] == pytest.approx(mean, abs=1e-12)


@pytest.mark.parametrize('seed', range(4))
def test_video_ap_equals_the_references(seed):
    rng = np.random.default_rng(10 + seed)
    gt = random_gt(rng, num_videos=7)
    tubes = random_tubes(rng, gt)
    for iou in (0.2, 0.5):
        _, ref = act.video_ap(gt, tubes, iou)
        fast = video_ap(gt, tubes, iou)
        np.testing.assert_allclose(
            [fast['per_class'][n] for n in gt['labels']], ref, rtol=0,
            atol=1e-7)
        assert fast['mean'] == pytest.approx(float(np.mean(ref)), abs=1e-7)
        with np.errstate(invalid='ignore'):
            classes, mean = voc.video_ap(gt, tubes, iou)
        fast_voc = video_ap(gt, tubes, iou, 'voc')
        assert {k: v for k, v in fast_voc['per_class'].items()
                if v is not None} == pytest.approx(classes, abs=1e-12)
        assert fast_voc['mean'] == pytest.approx(mean, abs=1e-12)


# --------------------------------------------------------------------------
# linking
# --------------------------------------------------------------------------


def _track(video, label, frames, score, box, step=(0, 0)):
    rows = []
    for f in frames:
        shift = np.array([step[0], step[1], step[0], step[1]]) * f
        rows.append(det(video, f, label, score, np.asarray(box) + shift))
    return rows


def test_link_tubes_by_hand():
    rows = []
    rows += _track(0, 0, range(1, 21), 0.9, SQUARE)  # one tube 1..20
    # moving person, frames 8-9 missing: one tube, gap interpolated
    rows += _track(0, 0, [f for f in range(1, 21) if f not in (8, 9)], 0.4,
                   (100, 100, 109, 109), step=(1, 0.5))
    rows += _track(0, 0, range(1, 11), 0.8, (200, 0, 209, 9))  # 10 frames
    rows += _track(0, 0, range(1, 21), 0.005, (0, 200, 9, 209))  # low score
    # five frames apart (16 -> 21): still linked
    rows += _track(0, 1, [*range(1, 17), *range(21, 31)], 0.7, SQUARE)
    # six frames apart (16 -> 22): two tubes
    rows += _track(1, 1, [*range(1, 17), *range(22, 41)], 0.7, SQUARE)
    dets = np.array(rows)
    tubes = link_tubes(dets, ['v0', 'v1'], 2)
    assert set(tubes) == {'v0', 'v1'}
    assert set(tubes['v0']) == {0, 1}
    (t1, s1), (t2, s2) = tubes['v0'][0]
    assert (s1, s2) == (pytest.approx(0.9), pytest.approx(0.4))
    np.testing.assert_array_equal(t1, const_tube(1, 20, SQUARE))
    assert t1.dtype == np.float32
    expected = np.array([[f, 100 + f, 100 + f / 2, 109 + f, 109 + f / 2]
                         for f in range(1, 21)], np.float32)
    np.testing.assert_allclose(t2, expected, rtol=0, atol=1e-4)
    [(t3, _)] = tubes['v0'][1]
    assert (t3[0, 0], t3[-1, 0], len(t3)) == (1, 30, 30)
    assert [(t[0, 0], t[-1, 0]) for t, _ in tubes['v1'][1]] == [(1, 16),
                                                                (22, 40)]
    assert tubes['v1'][0] == []
    # ACT's BuildTubes: same tubes (NaN where ACT divides 0 by 0)
    gt = make_gt({'v0': {}, 'v1': {}}, {'v0': 40, 'v1': 40}, ('a', 'b'))
    ref = act.build_tubes(gt, dets)
    assert _same_tubes(ref, tubes) == 0
    [moving] = [t for t, score in ref['v0'][0] if abs(score - 0.4) < 1e-6]
    gaps = np.isnan(moving[:, 1])
    np.testing.assert_array_equal(np.flatnonzero(gaps), [7, 8])


def test_link_tubes_nms_and_top_k():
    # two boxes of +1 IoU 1/2 > 0.3 in every frame: one is suppressed
    rows = _track(0, 0, range(1, 16), 0.9, SQUARE)
    rows += _track(0, 0, range(1, 16), 0.8, (0, 0, 9, 4))
    tubes = link_tubes(np.array(rows), ['v0'], 1)
    assert [s for _, s in tubes['v0'][0]] == [pytest.approx(0.9)]
    tubes = link_tubes(np.array(rows), ['v0'], 1, nms_iou=0.6)
    assert len(tubes['v0'][0]) == 2
    tubes = link_tubes(np.array(rows), ['v0'], 1, nms_iou=0.6, top_k=1)
    assert len(tubes['v0'][0]) == 1


def _same_tubes(ref, fast):
    """How many tubes of ``fast`` have no identical tube in ``ref``
    (ACT's rows without box ignored), plus count mismatches."""
    bad = 0
    for v in ref:
        for c in ref[v]:
            left = list(ref[v][c])
            if len(left) != len(fast[v][c]):
                bad += 1
                continue
            for tube, score in fast[v][c]:
                found = [i for i, (r, s) in enumerate(left)
                         if r.shape[0] == tube.shape[0] and
                         abs(s - score) < 1e-6 and np.array_equal(
                             r[~np.isnan(r[:, 1]), :5],
                             tube[~np.isnan(r[:, 1])])]
                if len(found) != 1:
                    bad += 1
                else:
                    left.pop(found[0])
    return bad


@pytest.mark.parametrize('seed', range(3))
def test_link_tubes_equals_act(seed):
    rng = np.random.default_rng(seed)
    gt = random_gt(rng, num_videos=3, num_labels=3, max_frames=50)
    rows = []
    for iv, v in enumerate(gt['test_videos'][0]):
        nf = gt['nframes'][v]
        for _ in range(3):  # persons, 15 % missing frames
            track = _random_tube(rng, 2)[:1]
            x = track[0, 1] + np.cumsum(rng.normal(0, 3, nf))
            y = track[0, 2] + np.cumsum(rng.normal(0, 3, nf))
            base = rng.random(3)
            for f in np.flatnonzero(rng.random(nf) >= 0.15):
                for c in range(3):
                    score = 1 / (1 + np.exp(-(4 * base[c] - 2 +
                                              rng.normal(0, 0.4))))
                    rows.append(det(iv, f + 1, c, score,
                                    (x[f], y[f], x[f] + 40, y[f] + 60)))
        for _ in range(2 * nf):  # clutter
            x, y = rng.uniform(0, 150, 2)
            rows.append(det(iv, rng.integers(1, nf + 1), rng.integers(3),
                            rng.random() / 2, (x, y, x + 30, y + 30)))
    dets = np.array(rows)
    assert len(np.unique(dets[:, 3])) == len(dets)
    fast = link_tubes(dets, gt['test_videos'][0], 3)
    assert sum(len(t) for per in fast.values() for t in per.values()) > 10
    assert _same_tubes(act.build_tubes(gt, dets), fast) == 0


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


@pytest.mark.parametrize('column,value,message', [
    (0, 2, r'column 0 \(video_index\) of row 1 is 2; expected .* 0\.\.1'),
    (0, 0.5, r'column 0 \(video_index\)'),
    (1, 11, r"column 1 \(frame\) of row 1 is 11; expected an integer in "
            r"1\.\.10 \(nframes of 'v0'\)"),
    (1, 0, r'column 1 \(frame\) of row 1'),
    (2, 4, r'column 2 \(label\) of row 1 is 4; expected a label'),
    (4, np.nan, r'row 1 holds NaN'),
])
def test_frame_dets_errors(column, value, message):
    gt, dets = _hand_case()
    dets[1, column] = value
    with pytest.raises(ValueError, match=message):
        frame_ap(gt, dets, name='dets.npz')
    with pytest.raises(ValueError, match='dets.npz: expected shape'):
        frame_ap(gt, dets[:, :7], name='dets.npz')


def test_ground_truth_and_tube_errors():
    gt, dets = _hand_case()
    bad = dict(gt)
    del bad['nframes']
    with pytest.raises(ValueError, match=r"lacks key\(s\) \['nframes'\]"):
        frame_ap(bad, dets)
    bad = dict(gt, test_videos=[['v0', 'v1', 'v2']])
    with pytest.raises(ValueError, match="no entry for 1 video.*'v2'"):
        frame_ap(bad, dets)
    tube = const_tube(1, 5, SQUARE)
    cases = [
        ({'v9': {0: [(tube, 1.0)]}}, r"video 'v9' is not in the test split"),
        ({'v0': {7: [(tube, 1.0)]}}, r"tubes\['v0'\] has label 7"),
        ({'v0': {0: [tube]}}, r'expected a pair \(tube, score\)'),
        ({'v0': {0: [(tube[:, :3], 1.0)]}}, r"\[0\]\[0\]: expected a tube"),
        ({'v0': {0: [(tube[[0, 2, 3]], 1.0)]}}, 'consecutive'),
        ({'v0': {0: [(const_tube(8, 12, SQUARE), 1.0)]}},
         r"frame 11 outside 1\.\.10 \(nframes of 'v0'\)"),
        ({'v0': {0: [(tube, np.nan)]}}, 'NaN'),
    ]
    for tubes, message in cases:
        with pytest.raises(ValueError, match=message):
            video_ap(gt, tubes)
    with pytest.raises(ValueError, match='protocol'):
        frame_ap(gt, dets, protocol='coco')


# --------------------------------------------------------------------------
# the mmengine metrics
# --------------------------------------------------------------------------


def metric_gt(rng, num_videos=4, num_labels=3):
    """One ground-truth tube over each whole video, of class v % L."""
    videos = [f'v{v}' for v in range(num_videos)]
    nframes = {v: int(rng.integers(25, 40)) for v in videos}
    gttubes = {}
    for i, v in enumerate(videos):
        x, y = np.round(rng.uniform(0, 150, 2), 1)
        tube = const_tube(1, nframes[v], (x, y, x + 40, y + 60))
        gttubes[v] = {i % num_labels: [tube]}
    return make_gt(gttubes, nframes,
                   labels=[f'class {c}' for c in range(num_labels)])


def _samples(rng, gt, clip=None):
    """Per-video predictions: person 0 on the GT tube with a high score for
    its class, person 1 elsewhere (missing every 7th frame), person 2
    padded; split into clips of ``clip`` frames."""
    samples = []
    num_labels = len(gt['labels'])
    for v in gt['test_videos'][0]:
        nf = gt['nframes'][v]
        boxes = np.full((3, nf, 4), np.nan, np.float32)
        boxes[1] = [200, 30, 240, 90]
        scores = rng.random((3, nf, num_labels)).astype(np.float32)
        for label, tubes in gt['gttubes'][v].items():
            boxes[0] = tubes[0][:, 1:5]
            scores[0, :, label] += 1
        valid = np.ones((3, nf), bool)
        valid[2] = False
        valid[1, ::7] = False
        for start in range(0, nf, clip or nf):
            t = slice(start, start + (clip or nf))
            samples.append(dict(
                video_name=v, frame_inds=np.arange(nf)[t] + 1,
                pred_boxes=boxes[:, t], pred_scores=scores[:, t],
                person_valid=valid[:, t]))
    return samples


def _expected_dets(samples, gt, topk=None):
    rows = []
    videos = gt['test_videos'][0]
    for s in samples:
        for p, t in zip(*np.nonzero(s['person_valid'] &
                                    np.isfinite(s['pred_boxes']).all(-1))):
            scores = s['pred_scores'][p, t]
            classes = (np.argsort(-scores, kind='stable')[:topk] if topk else
                       range(len(scores)))
            for c in classes:
                rows.append(det(videos.index(s['video_name']),
                                s['frame_inds'][t], c, scores[c],
                                s['pred_boxes'][p, t]))
    return np.array(rows)


def _gt_file(tmp_path, gt):
    path = tmp_path / 'gt.pkl'
    path.write_bytes(pickle.dumps(gt, protocol=2))
    return str(path)


def test_metrics_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    gt = metric_gt(rng)
    samples = _samples(rng, gt, clip=16)
    out_dir = tmp_path / 'out'
    evaluator = Evaluator([METRICS.build(cfg) for cfg in (
        dict(type='FrameAP', gt_file=_gt_file(tmp_path, gt),
             out_dir=str(out_dir), classwise=True),
        dict(type='VideoAP', gt_file=_gt_file(tmp_path, gt),
             out_dir=str(out_dir)),
        dict(type='FrameAP', gt_file=_gt_file(tmp_path, gt), protocol='voc',
             topk_classes=1, prefix='frame_ap_voc_top1'))])
    evaluator.process(samples[:3])
    evaluator.process(samples[3:])
    metrics = evaluator.evaluate(len(samples))
    dets = _expected_dets(samples, gt)
    saved = np.load(out_dir / 'frame_dets.npz')['frame_dets']
    np.testing.assert_array_equal(saved[np.lexsort(saved.T[::-1])],
                                  dets[np.lexsort(dets.T[::-1])])
    expected = frame_ap(gt, saved)
    assert metrics['stal/frame_mAP'] == expected['mean']
    assert metrics['stal/frame_mAP_classes_with_gt'] == \
        expected['mean_over_classes_with_gt']
    assert metrics['stal/frame_AP_class 0'] == expected['per_class']['class 0']
    with open(out_dir / 'tubes.pkl', 'rb') as f:
        tubes = pickle.load(f)
    assert tubes.keys() == set(gt['test_videos'][0])
    linked = link_tubes(saved, gt['test_videos'][0], 3)
    assert metrics['stal/video_mAP'] == video_ap(gt, linked)['mean']
    assert metrics['stal/video_mAP'] == video_ap(gt, tubes)['mean']
    assert metrics['stal/video_mAP'] == 1.0  # person 0 follows the GT
    assert metrics['stal/frame_mAP'] == 1.0
    top1 = _expected_dets(samples, gt, topk=1)
    assert metrics['frame_ap_voc_top1/frame_mAP'] == pytest.approx(
        frame_ap(gt, top1, protocol='voc')['mean'], abs=1e-12)


def test_metric_ground_truth_from_dataset_meta(tmp_path):
    rng = np.random.default_rng(1)
    gt = metric_gt(rng, num_videos=2)
    samples = _samples(rng, gt)
    for meta in ({'stal_gt': gt}, {'gt_file': _gt_file(tmp_path, gt),
                                   'classes': gt['labels']}):
        metric = METRICS.build(dict(type='FrameAP'))
        metric.dataset_meta = meta
        metric.process(None, samples)
        assert metric.evaluate(len(samples))['stal/frame_mAP'] == frame_ap(
            gt, _expected_dets(samples, gt))['mean']
    metric = FrameAP()
    metric.process(None, samples)
    with pytest.raises(ValueError, match='no ground truth; pass gt_file'):
        metric.evaluate(len(samples))


def test_metric_errors(tmp_path):
    rng = np.random.default_rng(2)
    gt = metric_gt(rng, num_videos=2)
    gt_file = _gt_file(tmp_path, gt)
    samples = _samples(rng, gt)
    metric = VideoAP(gt_file=gt_file)
    metric.process(None, samples + samples[:1])
    with pytest.raises(ValueError, match='predicted by two data samples'):
        metric.evaluate(3)
    metric = FrameAP(gt_file=gt_file)
    metric.process(None, [dict(samples[0], video_name='unknown')])
    with pytest.raises(ValueError, match="video 'unknown' is not in"):
        metric.evaluate(1)
    with pytest.raises(KeyError, match='lacks'):
        FrameAP().process(None, [{'video_name': 'x'}])
    with pytest.raises(ValueError, match='pred_boxes'):
        FrameAP().process(None, [dict(samples[0], pred_boxes=np.zeros(3))])
    scores = samples[0]['pred_scores'].copy()
    scores[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        FrameAP().process(None, [dict(samples[0], pred_scores=scores)])
    metric = FrameAP(gt_file=gt_file)
    two_classes = samples[0]['pred_scores'][..., :2]
    metric.process(None, [dict(samples[0], pred_scores=two_classes)])
    with pytest.raises(ValueError, match='2 classes, the ground truth 3'):
        metric.evaluate(1)
    with pytest.raises(ValueError, match='link_cfg'):
        VideoAP(link_cfg=dict(k=3))
    with pytest.raises(ValueError, match='protocol'):
        FrameAP(protocol='coco')


def test_stal_modules_import_only_numpy_and_the_standard_library():
    import ast
    import glob
    for path in glob.glob(osp.join(osp.dirname(stal.__file__), '*.py')):
        tree = ast.parse(open(path).read())
        names = {alias.name.split('.')[0] for node in ast.walk(tree)
                 if isinstance(node, ast.Import) for alias in node.names}
        names |= {node.module.split('.')[0] for node in ast.walk(tree)
                  if isinstance(node, ast.ImportFrom) and node.level == 0}
        assert names <= {'os', 'pickle', 'typing', 'numpy'}, (path, names)
