"""Frame-AP and video-AP of spatio-temporal action localization (STAL),
identical to the ACT detector's evaluation (Kalogeiton et al., ICCV 2017;
``protocol='act'``) or to mmaction2's MultiSports port (``protocol='voc'``),
and ACT's online linking of per-frame detections into tubes (K = 1).
Definitions: docs/metrics/stal.md; the literal ports they are tested against:
``act_reference.py`` and ``multisports_reference.py``.

Formats (ACT's):

- ground truth: the ``UCF101v2-GT.pkl`` dict: ``labels`` (names; a label is
  its 0-based position), ``gttubes`` ``{video: {label: [array (n, 5) rows
  frame (1-based), x1, y1, x2, y2]}}``, ``nframes`` ``{video: int}``,
  ``test_videos`` (a list of splits; element 0 is split 1);
- frame detections: ``(N, 8)`` rows ``video_index, frame, label, score, x1,
  y1, x2, y2`` (``video_index`` into the split's video list, frames 1-based,
  labels 0-based);
- tubes: ``{video: {label: [(tube, score)]}}``, ``tube`` ``(n, >=5)`` rows
  ``frame, x1, y1, x2, y2`` on consecutive frames.

Both protocols sort detections by decreasing score with a STABLE sort (ties
keep the input order: row order of the frame detections; for tubes the split
order of the videos, then the label, then the list order). ACT and mmaction2
use numpy's default quicksort, which is not stable: where a true and a false
positive tie in score their AP depends on the platform, and equality with
them holds for tie-free inputs. Everything is vectorised with numpy; the
only Python loops run over classes, over ranks inside a frame / video, and
over frames (linking).
"""
import os.path as osp
import pickle
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

PROTOCOLS = ('act', 'voc')
FRAME_DET_COLUMNS = ('video_index', 'frame', 'label', 'score', 'x1', 'y1',
                     'x2', 'y2')
GT_KEYS = ('labels', 'gttubes', 'nframes', 'test_videos')
# the labels mmaction2's port leaves out of MultiSports by name
MULTISPORTS_EXCLUDED_LABELS = ('aerobic kick jump', 'aerobic off axis jump',
                               'aerobic butterfly jump',
                               'aerobic balance turn', 'basketball save',
                               'basketball jump ball')
ACT_TUBE_NMS = 0.3  # ACT's videoAP runs nms3dt(tubes, 0.3) first
_CHUNK = 1 << 22  # rows per block of per-frame IoUs


def _check_protocol(protocol: str) -> bool:
    """True for ACT's '+1' conventions, False for VOC."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got "
                         f'{protocol!r}')
    return protocol == 'act'


# --------------------------------------------------------------------------
# IoUs
# --------------------------------------------------------------------------


def _box_iou(a: np.ndarray, b: np.ndarray, plus: bool) -> np.ndarray:
    """IoU of boxes ``a`` (..., 4) and ``b`` (..., 4), broadcast, written as
    the references write it (``overlap / (area(a) + area(b) - overlap)``,
    the same operations in the same dtypes) so that the values are
    bit-identical to theirs. ``plus``: ACT's +1 convention."""
    with np.errstate(divide='ignore', invalid='ignore'):
        if plus:
            xmin = np.maximum(a[..., 0], b[..., 0])
            ymin = np.maximum(a[..., 1], b[..., 1])
            xmax = np.minimum(a[..., 2] + 1, b[..., 2] + 1)
            ymax = np.minimum(a[..., 3] + 1, b[..., 3] + 1)
            area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
            area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
        else:
            xmin = np.maximum(a[..., 0], b[..., 0])
            ymin = np.maximum(a[..., 1], b[..., 1])
            xmax = np.minimum(a[..., 2], b[..., 2])
            ymax = np.minimum(a[..., 3], b[..., 3])
            area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
            area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
        overlap = np.maximum(0, xmax - xmin) * np.maximum(0, ymax - ymin)
        return overlap / (area_a + area_b - overlap)


def iou2d(boxes1, boxes2, protocol: str = 'act') -> np.ndarray:
    """Pairwise IoU of two sets of boxes.

    Args:
        boxes1: ``(n, 4)`` (or ``(4,)``) boxes ``x1, y1, x2, y2``.
        boxes2: ``(m, 4)`` (or ``(4,)``) boxes.
        protocol: ``'act'``: inclusive corners, area ``(x2 - x1 + 1)(y2 - y1
            + 1)``, overlap width ``max(0, min(x2) + 1 - max(x1))``;
            ``'voc'``: no ``+1``.

    Returns:
        ``(n, m)`` IoUs; column ``j`` is ACT's ``iou2d(boxes1, boxes2[j])``
        (NaN where both areas are 0).
    """
    plus = _check_protocol(protocol)
    a = np.atleast_2d(np.asarray(boxes1))
    b = np.atleast_2d(np.asarray(boxes2))
    if a.shape[-1] != 4 or b.shape[-1] != 4 or a.ndim != 2 or b.ndim != 2:
        raise ValueError(f'iou2d expects (n, 4) and (m, 4) boxes, got '
                         f'{np.shape(boxes1)} and {np.shape(boxes2)}')
    return _box_iou(a[:, None, :], b[None, :, :], plus)


class _Tubes:
    """Tubes on consecutive frames, stored flat: tube ``i`` has frames
    ``start[i] .. start[i] + length[i] - 1`` and its boxes in
    ``boxes[offset[i]:offset[i] + length[i]]`` (float64)."""

    def __init__(self, start, length, boxes):
        self.start = np.asarray(start, np.int64)
        self.length = np.asarray(length, np.int64)
        self.offset = np.concatenate([[0], np.cumsum(self.length)[:-1]]
                                     ).astype(np.int64)
        self.boxes = np.asarray(boxes, np.float64).reshape(-1, 4)

    def __len__(self):
        return len(self.start)


def _tube_pair_ious(a: _Tubes, ia: np.ndarray, b: _Tubes, ib: np.ndarray,
                    plus: bool, temporal: bool = True) -> np.ndarray:
    """ACT's ``iou3dt(a[ia[k]], b[ib[k]])`` for every k (float64): the mean
    over the common frames of the per-frame IoU, times the temporal IoU;
    0 without common frame (``temporal`` False: the mean only). VOC
    (``plus`` False): no ``+1`` in the areas nor
    in the temporal IoU (``(tmax - tmin) / (max end - min start)``, NaN for
    two tubes of the same single frame, as mmaction2's 0 / 0)."""
    ia = np.asarray(ia, np.int64)
    ib = np.asarray(ib, np.int64)
    sa, sb = a.start[ia], b.start[ib]
    ea, eb = sa + a.length[ia] - 1, sb + b.length[ib] - 1
    tmin, tmax = np.maximum(sa, sb), np.minimum(ea, eb)
    out = np.zeros(len(ia), np.float64)
    common = np.flatnonzero(tmax >= tmin)
    if len(common) == 0:
        return out
    lengths = (tmax - tmin + 1)[common]
    first_a = a.offset[ia[common]] + tmin[common] - sa[common]
    first_b = b.offset[ib[common]] + tmin[common] - sb[common]
    spatial = np.empty(len(common), np.float64)
    ends = np.cumsum(lengths)
    block = 0
    while block < len(common):
        # pairs [block, stop) hold at most _CHUNK frames (at least one pair)
        limit = (ends[block - 1] if block else 0) + _CHUNK
        stop = max(block + 1, int(np.searchsorted(ends, limit, 'right')))
        n = lengths[block:stop]
        total = int(n.sum())
        starts = np.cumsum(n) - n
        within = np.arange(total) - np.repeat(starts, n)
        rows_a = np.repeat(first_a[block:stop], n) + within
        rows_b = np.repeat(first_b[block:stop], n) + within
        per_frame = _box_iou(a.boxes[rows_a], b.boxes[rows_b], plus)
        spatial[block:stop] = np.add.reduceat(per_frame, starts) / n
        block = stop
    if not temporal:
        out[common] = spatial
        return out
    one = 1 if plus else 0
    inter = (tmax - tmin + one)[common].astype(np.float64)
    union = (np.maximum(ea, eb) - np.minimum(sa, sb) + one)[common]
    with np.errstate(divide='ignore', invalid='ignore'):
        out[common] = spatial * (inter / union)
    return out


def _as_tube(tube, what: str) -> np.ndarray:
    arr = np.asarray(tube, np.float64)
    if arr.ndim != 2 or arr.shape[1] < 5 or arr.shape[0] == 0:
        raise ValueError(f'{what}: expected an (n, 5) array with rows frame, '
                         f'x1, y1, x2, y2 (n >= 1), got shape {arr.shape}')
    if not np.isfinite(arr[:, :5]).all():
        raise ValueError(f'{what}: holds NaN or infinite values')
    frames = arr[:, 0]
    if (frames != np.round(frames)).any() or (np.diff(frames) != 1).any():
        raise ValueError(f'{what}: frames must be consecutive integers in '
                         f'increasing order (iou3dt reads the tube by frame '
                         f'offset), got {frames[:8].tolist()}...')
    return arr


def iou3dt(tube1, tube2, protocol: str = 'act',
           spatial_only: bool = False) -> float:
    """Spatio-temporal IoU of two tubes (ACT's ``iou3dt``).

    Args:
        tube1, tube2: ``(n, >=5)`` rows ``frame, x1, y1, x2, y2`` on
            consecutive, increasing frames.
        protocol: ``'act'``: ``mean_t IoU_t x (tmax - tmin + 1) / (max end -
            min start + 1)`` over the common frames ``t``, with the +1 box
            IoU; ``'voc'``: no ``+1`` anywhere.
        spatial_only: drop the temporal factor.

    Returns:
        The IoU (0 if the tubes share no frame).
    """
    plus = _check_protocol(protocol)
    tubes = [_as_tube(t, f'tube{i + 1}') for i, t in enumerate((tube1,
                                                               tube2))]
    a, b = (_Tubes([t[0, 0]], [len(t)], t[:, 1:5]) for t in tubes)
    return float(_tube_pair_ious(a, np.zeros(1, np.int64), b,
                                 np.zeros(1, np.int64), plus,
                                 not spatial_only)[0])


# --------------------------------------------------------------------------
# ranks, NMS, matching, AP
# --------------------------------------------------------------------------


def _ranks(group: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """For ``group`` sorted (equal values adjacent): the rank of each
    element inside its run and the start index of its run."""
    n = len(group)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    new = np.ones(n, bool)
    new[1:] = group[1:] != group[:-1]
    run_start = np.flatnonzero(new)
    start = np.repeat(run_start, np.diff(np.append(run_start, n)))
    return np.arange(n) - start, start


def _order_by_key_then_score(key: np.ndarray,
                             score: np.ndarray) -> np.ndarray:
    """``np.lexsort((-score, key))``: by ``key``, then decreasing score,
    then index (stable), with a radix sort for small keys."""
    by_score = np.argsort(-score, kind='stable')
    key = key[by_score]
    if len(key) and 0 <= key.min() and key.max() < 2 ** 15:
        key = key.astype(np.int16)
    return by_score[np.argsort(key, kind='stable')]


def _by_rank(rank: np.ndarray):
    """Yield ``(r, indices of the elements of rank r)`` for r = 0, 1, ..."""
    if len(rank) == 0:
        return
    top = int(rank.max())
    # small integer types sort by radix sort
    order = np.argsort(rank.astype(np.int16) if top < 2 ** 15 else rank,
                       kind='stable')
    bounds = np.searchsorted(rank[order], np.arange(top + 2))
    for r in range(len(bounds) - 1):
        yield r, order[bounds[r]:bounds[r + 1]]


def _nms_keep(tubes: _Tubes, group: np.ndarray, score: np.ndarray,
              overlap: float, plus: bool) -> np.ndarray:
    """Greedy tube NMS inside each ``group`` (ACT's ``nms3dt``): the best
    scored tube is kept and every tube whose ``iou3dt`` with it is not
    ``<= overlap`` (NaN included) is dropped; repeat. Returns a keep mask."""
    n = len(score)
    keep = np.ones(n, bool)
    if n < 2:
        return keep
    order = _order_by_key_then_score(group, score)  # ties by index
    rank, start = _ranks(group[order])
    # pairs (earlier i, later j) of one group, by position in ``order``
    later = np.repeat(np.arange(n), rank)
    earlier = np.repeat(start, rank) + (
        np.arange(len(later)) - np.repeat(np.cumsum(rank) - rank, rank))
    if len(later) == 0:
        return keep
    ious = _tube_pair_ious(tubes, order[earlier], tubes, order[later], plus)
    drops = ~(ious <= overlap)
    earlier, later = earlier[drops], later[drops]
    kept = np.ones(n, bool)  # by position in ``order``
    for _, edges in _by_rank(rank[later]):
        kept[later[edges][kept[earlier[edges]]]] = False
    keep[order] = kept
    return keep


def nms3dt(tubes: Sequence, overlap: float = ACT_TUBE_NMS,
           protocol: str = 'act') -> np.ndarray:
    """ACT's ``nms3dt`` of scored tubes, with a stable order.

    Args:
        tubes: ``[(tube, score)]``, ``tube`` ``(n, >=5)`` rows ``frame, x1,
            y1, x2, y2`` on consecutive frames.
        overlap: a tube is dropped when its ``iou3dt`` with a kept, better
            tube is not ``<= overlap``. ACT's function defaults to 0.5, its
            ``videoAP`` passes 0.3 (the default here).
        protocol: IoU convention (``iou3dt``).

    Returns:
        Indices of the kept tubes, best score first (ties: lower index
        first), as ACT returns them.
    """
    plus = _check_protocol(protocol)
    if len(tubes) == 0:
        return np.zeros(0, np.int64)
    arrays = [_as_tube(t[0], f'tubes[{i}]') for i, t in enumerate(tubes)]
    score = np.array([float(t[1]) for t in tubes])
    flat = _Tubes([t[0, 0] for t in arrays], [len(t) for t in arrays],
                  np.concatenate([t[:, 1:5] for t in arrays]))
    keep = _nms_keep(flat, np.zeros(len(score), np.int64), score, overlap,
                     plus)
    kept = np.flatnonzero(keep)
    return kept[np.argsort(-score[kept], kind='stable')]


def pr_to_ap(pr: np.ndarray, protocol: str = 'act') -> float:
    """AP of a precision/recall array.

    Args:
        pr: ``(n, 2)`` rows ``precision, recall`` in detection order.
        protocol: ``'act'``: the trapezoidal area ``sum_i (R_i - R_{i-1})
            (P_i + P_{i-1}) / 2`` over consecutive rows, no interpolation
            (ACT's ``pr`` starts with the row (P=1, R=0) and is float32);
            ``'voc'``: all-point interpolated AP: rows (P=0, R=0) and (P=0,
            R=1) added at the ends, precision made non-increasing from the
            right, ``sum (R_i - R_{i-1}) P_i`` where the recall changes.

    Returns:
        The AP as a fraction (in pr's float type for ACT).
    """
    plus = _check_protocol(protocol)
    pr = np.asarray(pr)
    if pr.ndim != 2 or pr.shape[1] != 2:
        raise ValueError(f'pr must be (n, 2) rows precision, recall, got '
                         f'shape {pr.shape}')
    if plus:
        return (np.sum((pr[1:, 1] - pr[:-1, 1]) * (pr[1:, 0] + pr[:-1, 0]) *
                       0.5))
    recall = np.concatenate([[0], pr[:, 1], [1]])
    precision = np.concatenate([[0], pr[:, 0], [0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    changes = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return np.sum((recall[changes] - recall[changes - 1]) *
                  precision[changes])


def _true_positives(order: np.ndarray, group: np.ndarray,
                    iou_row: np.ndarray, ious: np.ndarray, num_groups: int,
                    threshold: float, plus: bool) -> np.ndarray:
    """Greedy matching of detections to the ground truth of their group
    (a class in one frame, or a class in one video).

    Args:
        order: ``(n,)`` detection indices in processing order (by class,
            then decreasing score).
        group: ``(n,)`` ground-truth group of each detection, -1 if none.
        iou_row: ``(n,)`` row of ``ious`` of each detection with a group.
        ious: ``(m, G)`` IoU with the group's ground truth items in their
            order, ``-inf`` past the group's size.
        plus: ACT's matching: argmax over the ground truth not yet matched;
            a hit (``>= threshold``) removes it. Otherwise VOC: argmax over
            all; a hit on an item already matched is a false positive.

    Returns:
        ``(n,)`` bool: true positives.
    """
    n = len(group)
    tp = np.zeros(n, bool)
    with_gt = order[group[order] >= 0]
    if len(with_gt) == 0:
        return tp
    with_gt = with_gt[np.argsort(group[with_gt], kind='stable')]
    rank, _ = _ranks(group[with_gt])
    taken = np.zeros((num_groups, ious.shape[1]), bool)
    for _, idx in _by_rank(rank):
        det = with_gt[idx]
        g = group[det]
        row = ious[iou_row[det]]
        if plus:
            row = np.where(taken[g], -np.inf, row)
        best = np.argmax(row, axis=1)
        hit = row[np.arange(len(det)), best] >= threshold
        if not plus:
            hit &= ~taken[g, best]
        taken[g[hit], best[hit]] = True
        tp[det[hit]] = True
    return tp


def _average_precisions(label: np.ndarray, score: np.ndarray,
                        tp_of: np.ndarray, order: np.ndarray,
                        num_gt: np.ndarray, evaluated: np.ndarray,
                        plus: bool) -> np.ndarray:
    """AP per class from the true positives (NaN for classes not
    evaluated). ACT: ``pr`` float32 starting at (P=1, R=0), AP 0 for a class
    without ground truth (where ACT divides 0 by 0)."""
    num_labels = len(num_gt)
    ap = np.full(num_labels, np.nan)
    sorted_label = label[order]
    tp = tp_of[order]
    bounds = np.searchsorted(sorted_label, np.arange(num_labels + 1))
    for c in range(num_labels):
        if not evaluated[c]:
            continue
        hits = tp[bounds[c]:bounds[c + 1]]
        if num_gt[c] == 0:
            ap[c] = 0.0
            continue
        tps = np.cumsum(hits)
        precision = tps / np.arange(1, len(hits) + 1)
        recall = tps / float(num_gt[c])
        if plus:
            pr = np.empty((len(hits) + 1, 2), np.float32)
            pr[0] = (1.0, 0.0)
            pr[1:, 0] = precision
            pr[1:, 1] = recall
        else:
            pr = np.stack([precision, recall], axis=1)
        ap[c] = float(pr_to_ap(pr, 'act' if plus else 'voc'))
    return ap


def _summary(ap: np.ndarray, num_gt: np.ndarray, num_dets: np.ndarray,
             labels: Sequence[str], evaluated: np.ndarray,
             excluded: np.ndarray, protocol: str, iou: float) -> Dict:
    """The result dict of ``frame_ap`` / ``video_ap`` (see there)."""
    with_gt = evaluated & (num_gt > 0)
    mean_with_gt = float(np.mean(ap[with_gt])) if with_gt.any() else \
        float('nan')
    if protocol == 'act':
        mean = float(np.mean(ap[evaluated])) if evaluated.any() else \
            float('nan')
    else:
        mean = mean_with_gt
    per_class = {}
    for c, name in enumerate(labels):
        per_class[name] = None if np.isnan(ap[c]) else float(ap[c])
    return dict(
        protocol=protocol, iou=float(iou), mean=mean,
        mean_over_classes_with_gt=mean_with_gt, per_class=per_class,
        num_gt={name: int(num_gt[c]) for c, name in enumerate(labels)},
        num_detections={name: int(num_dets[c])
                        for c, name in enumerate(labels)},
        detections_without_gt=[name for c, name in enumerate(labels)
                               if not excluded[c] and num_gt[c] == 0 and
                               num_dets[c] > 0])


# --------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------


def check_stal_gt(gt, name: str = 'ground truth',
                  split_index: int = 0) -> List[str]:
    """Check the keys of an ACT ground-truth dict that the evaluation reads;
    returns the split's video list. Errors name ``name`` and the key."""
    if not isinstance(gt, dict):
        raise ValueError(f'{name}: expected a dict with keys {GT_KEYS}, got '
                         f'{type(gt).__name__}')
    missing = [k for k in GT_KEYS if k not in gt]
    if missing:
        raise ValueError(f'{name}: lacks key(s) {missing}; expected '
                         f'{list(GT_KEYS)}')
    splits = gt['test_videos']
    if not isinstance(splits, (list, tuple)) or not (
            0 <= split_index < len(splits)):
        raise ValueError(f"{name}: 'test_videos' must be a list of splits "
                         f'with an element {split_index}')
    videos = list(splits[split_index])
    if len(set(videos)) != len(videos):
        raise ValueError(f"{name}: test_videos[{split_index}] lists a video "
                         'twice')
    for key in ('gttubes', 'nframes'):
        if not isinstance(gt[key], dict):
            raise ValueError(f'{name}: {key!r} must be a dict by video')
        absent = [v for v in videos if v not in gt[key]]
        if absent:
            raise ValueError(f'{name}: {key!r} has no entry for {len(absent)}'
                             f' video(s) of test_videos[{split_index}], '
                             f'first {absent[0]!r}')
    return videos


class _GroundTruth:
    """The split's ground truth, flat: one row per (tube, frame)."""

    def __init__(self, gt, split_index: int, name: str):
        self.videos = check_stal_gt(gt, name, split_index)
        self.name = name
        self.labels = [str(x) for x in gt['labels']]
        num_labels = len(self.labels)
        self.nframes = np.zeros(len(self.videos), np.int64)
        video, label, arrays, where = [], [], [], []
        for v, vname in enumerate(self.videos):
            nframes = gt['nframes'][vname]
            if not (isinstance(nframes, (int, np.integer)) and nframes >= 1):
                raise ValueError(f'{name}: nframes[{vname!r}] must be a '
                                 f'positive integer, got {nframes!r}')
            self.nframes[v] = nframes
            tubes = gt['gttubes'][vname]
            if not isinstance(tubes, dict):
                raise ValueError(f'{name}: gttubes[{vname!r}] must be a dict '
                                 '{label: [tubes]}')
            for c in sorted(tubes):
                if not (isinstance(c, (int, np.integer)) and
                        0 <= c < num_labels):
                    raise ValueError(
                        f'{name}: gttubes[{vname!r}] has label {c!r}; '
                        f'expected 0..{num_labels - 1}')
                for i, tube in enumerate(tubes[c]):
                    arr = np.asarray(tube, np.float64)
                    what = f'{name}: gttubes[{vname!r}][{c}][{i}]'
                    if arr.ndim != 2 or arr.shape[1] < 5:
                        raise ValueError(f'{what} has shape {arr.shape}; '
                                         'expected (n, 5) rows frame, x1, '
                                         'y1, x2, y2')
                    if not np.isfinite(arr[:, :5]).all():
                        raise ValueError(f'{what} holds NaN or infinite '
                                         'values')
                    video.append(v)
                    label.append(int(c))
                    arrays.append(arr[:, :5])
                    where.append(what)
        self.tube_video = np.array(video, np.int64)
        self.tube_label = np.array(label, np.int64)
        self.tube_arrays = arrays
        self.tube_where = where
        self.tube_rows = np.array([len(a) for a in arrays], np.int64)
        rows = (np.concatenate(arrays) if arrays else np.zeros((0, 5)))
        # ACT keys a box by int(frame): truncation
        self.row_frame = np.trunc(rows[:, 0]).astype(np.int64)
        self.row_boxes = rows[:, 1:5]
        self.row_video = np.repeat(self.tube_video, self.tube_rows)
        self.row_label = np.repeat(self.tube_label, self.tube_rows)

    def tubes(self) -> _Tubes:
        """The tubes, after checking that iou3dt can read them."""
        for arr, what in zip(self.tube_arrays, self.tube_where):
            _as_tube(arr, what)
        starts = [a[0, 0] for a in self.tube_arrays]
        return _Tubes(starts, self.tube_rows, self.row_boxes)


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def check_frame_dets(frame_dets, videos: Sequence[str],
                     nframes: Optional[np.ndarray], num_labels: int,
                     name: str = 'frame detections'):
    """Check ``(N, 8)`` frame detections and split their columns.

    Args:
        frame_dets: rows ``video_index, frame, label, score, x1, y1, x2,
            y2``.
        videos: the split's video names (``video_index`` indexes them).
        nframes: ``(len(videos),)`` frame counts; frames must lie in
            ``1..nframes`` (``None``: frames >= 1).
        num_labels: labels must lie in ``0..num_labels - 1``.
        name: what to call the array in errors (file and key).

    Returns:
        ``video``, ``frame``, ``label`` (int64), ``score`` (float64) and
        ``boxes`` ``(N, 4)`` (the input's float type).
    """
    dets = np.asarray(frame_dets)
    if dets.ndim != 2 or dets.shape[1] != 8:
        raise ValueError(f'{name}: expected shape (N, 8) with columns '
                         f'{FRAME_DET_COLUMNS}, got {dets.shape}')
    if not np.issubdtype(dets.dtype, np.number):
        raise ValueError(f'{name}: expected a numeric array, got '
                         f'{dets.dtype}')
    if not np.issubdtype(dets.dtype, np.floating):
        dets = dets.astype(np.float64)
    finite = np.isfinite(dets).all(axis=1)
    if not finite.all():
        row = _first_bad(~finite)
        raise ValueError(f'{name}: row {row} holds NaN or infinite values: '
                         f'{dets[row].tolist()}')
    cols = {}
    for col, upper in ((0, len(videos) - 1), (2, num_labels - 1)):
        values = dets[:, col]
        bad = (values != np.round(values)) | (values < 0) | (values > upper)
        if bad.any():
            row = _first_bad(bad)
            what = ('an index into the split\'s video list' if col == 0 else
                    'a label')
            raise ValueError(
                f'{name}: column {col} ({FRAME_DET_COLUMNS[col]}) of row '
                f'{row} is {float(values[row]):g}; expected {what}, an '
                f'integer in '
                f'0..{upper}')
        cols[col] = values.astype(np.int64)
    frame = dets[:, 1]
    bad = (frame != np.round(frame)) | (frame < 1)
    if nframes is not None and len(dets):
        bad |= frame > np.asarray(nframes)[cols[0]]
    if bad.any():
        row = _first_bad(bad)
        video = int(cols[0][row])
        limit = ('' if nframes is None else
                 f'..{int(nframes[video])} (nframes of {videos[video]!r})')
        raise ValueError(f'{name}: column 1 (frame) of row {row} is '
                         f'{float(frame[row]):g}; expected an integer in '
                         f'1{limit}')
    return (cols[0], frame.astype(np.int64), cols[2],
            dets[:, 3].astype(np.float64), dets[:, 4:8])


def _evaluated(labels: Sequence[str], exclude_labels) -> np.ndarray:
    excluded = set(exclude_labels)
    return np.array([name not in excluded for name in labels], bool)


# --------------------------------------------------------------------------
# frame-AP and video-AP
# --------------------------------------------------------------------------


def frame_ap(gt: Dict, frame_dets: np.ndarray, iou: float = 0.5,
             protocol: str = 'act', split_index: int = 0,
             exclude_labels: Sequence[str] = (),
             name: str = 'frame detections',
             gt_name: str = 'ground truth') -> Dict:
    """Frame-AP per class (ACT's ``frameAP`` or mmaction2's VOC variant).

    For each class, the ground-truth boxes of every frame are pooled from
    all the tubes of that class; detections are taken by decreasing score
    (stable) and compared with the boxes of their frame:

    - ``'act'``: IoU with the +1 convention against the boxes not matched
      yet; the best one, if its IoU is ``>= iou``, is matched and removed
      (true positive), otherwise false positive. The PR curve starts at
      (R=0, P=1), is float32, and AP is its trapezoidal area
      (``pr_to_ap``). A class without test ground truth has AP 0 (ACT
      divides 0 by 0 when it has detections). ``mean`` is over all labels.
    - ``'voc'``: IoU without +1 against all boxes of the frame; the best
      one is a true positive if its IoU is ``>= iou`` and it was not
      matched before. All-point interpolated AP; classes without ground
      truth are skipped (``per_class`` None) and ``mean`` is over the
      others.

    Args:
        gt: the ACT ground-truth dict (``labels``, ``gttubes``, ``nframes``,
            ``test_videos``).
        frame_dets: ``(N, 8)`` rows ``video_index, frame, label, score, x1,
            y1, x2, y2``; ``video_index`` into
            ``gt['test_videos'][split_index]``, frames in ``1..nframes``.
        iou: IoU threshold.
        protocol: ``'act'`` or ``'voc'``.
        split_index: which test split (0 = split 1, as ACT).
        exclude_labels: label names left out of the evaluation (mmaction2
            leaves ``MULTISPORTS_EXCLUDED_LABELS`` out of MultiSports).
        name: what to call ``frame_dets`` in errors.
        gt_name: what to call ``gt`` in errors (e.g. its file).

    Returns:
        dict with ``per_class`` ``{label: AP or None}`` (fractions),
        ``mean`` (the protocol's mean: ACT over all labels, VOC over the
        classes with ground truth; excluded labels left out),
        ``mean_over_classes_with_gt``, ``num_gt`` and ``num_detections``
        ``{label: count}`` (every class), ``detections_without_gt`` (the
        classes with detections but no ground truth, where ACT raises
        ZeroDivisionError), ``protocol`` and ``iou``.
    """
    plus = _check_protocol(protocol)
    truth = _GroundTruth(gt, split_index, gt_name)
    num_labels = len(truth.labels)
    video, frame, label, score, boxes = check_frame_dets(
        frame_dets, truth.videos, truth.nframes, num_labels, name)
    evaluated = _evaluated(truth.labels, exclude_labels)
    if not plus:  # VOC skips the classes without ground truth
        evaluated &= np.bincount(truth.row_label, minlength=num_labels) > 0

    # ground-truth groups: (label, video, frame), boxes in ACT's order
    frames_bound = int(max(truth.nframes.max(initial=0), 0)) + 2
    num_videos = len(truth.videos)
    use = evaluated[truth.row_label]
    gt_frame = np.clip(truth.row_frame[use], 0, frames_bound - 1)
    gt_key = ((truth.row_label[use] * num_videos + truth.row_video[use]) *
              frames_bound + gt_frame)
    gt_boxes = truth.row_boxes[use]
    gt_order = np.argsort(gt_key, kind='stable')
    gt_key, gt_boxes = gt_key[gt_order], gt_boxes[gt_order]
    gt_rank, _ = _ranks(gt_key)
    keys, first = np.unique(gt_key, return_index=True)
    gt_group = np.repeat(np.arange(len(keys)),
                         np.diff(np.append(first, len(gt_key))))
    width = int(gt_rank.max()) + 1 if len(gt_rank) else 1
    padded = np.full((len(keys), width, 4), np.nan)
    padded[gt_group, gt_rank] = gt_boxes
    valid = np.zeros((len(keys), width), bool)
    valid[gt_group, gt_rank] = True
    num_gt = np.bincount(truth.row_label, minlength=num_labels)

    keep = evaluated[label]
    det_key = (label * num_videos + video) * frames_bound + frame
    group = np.full(len(label), -1, np.int64)
    if len(keys):
        pos = np.minimum(np.searchsorted(keys, det_key), len(keys) - 1)
        found = keep & (keys[pos] == det_key)
        group[found] = pos[found]
    rows = np.flatnonzero(group >= 0)
    iou_row = np.full(len(label), -1, np.int64)
    iou_row[rows] = np.arange(len(rows))
    ious = np.empty((len(rows), width))
    step = max(1, _CHUNK // width)
    for block in range(0, len(rows), step):
        r = rows[block:block + step]
        g = group[r]
        # ACT: iou2d(gt boxes of the frame, detection box)
        values = _box_iou(padded[g], boxes[r][:, None, :], plus)
        ious[block:block + step] = np.where(valid[g], values, -np.inf)
    order = _order_by_key_then_score(label, score)
    order = order[keep[order]]
    tp = _true_positives(order, group, iou_row, ious, len(keys), iou, plus)
    ap = _average_precisions(label, score, tp, order, num_gt, evaluated,
                             plus)
    num_dets = np.bincount(label, minlength=num_labels)
    return _summary(ap, num_gt, num_dets, truth.labels, evaluated,
                    ~_evaluated(truth.labels, exclude_labels), protocol, iou)


def _flatten_tubes(tubes: Dict, truth: _GroundTruth, name: str):
    """Check ``{video: {label: [(tube, score)]}}`` and flatten it (videos in
    split order, labels increasing, list order)."""
    if not isinstance(tubes, dict):
        raise ValueError(f'{name}: expected a dict {{video: {{label: '
                         f'[(tube, score)]}}}}, got {type(tubes).__name__}')
    index = {v: i for i, v in enumerate(truth.videos)}
    unknown = [v for v in tubes if v not in index]
    if unknown:
        raise ValueError(f'{name}: video {unknown[0]!r} is not in the test '
                         f'split of the ground truth ({len(unknown)} such '
                         'video(s))')
    num_labels = len(truth.labels)
    video, label, score, starts, lengths, arrays = [], [], [], [], [], []
    where = []
    for vname in truth.videos:
        per_label = tubes.get(vname)
        if per_label is None:
            continue
        if not isinstance(per_label, dict):
            raise ValueError(f'{name}[{vname!r}]: expected a dict {{label: '
                             f'[(tube, score)]}}, got '
                             f'{type(per_label).__name__}')
        for c in per_label:
            if not (isinstance(c, (int, np.integer)) and
                    0 <= c < num_labels):
                raise ValueError(f'{name}[{vname!r}] has label {c!r}; '
                                 f'expected an integer in 0..'
                                 f'{num_labels - 1}')
        for c in sorted(per_label):
            if not isinstance(per_label[c], (list, tuple)):
                raise ValueError(f'{name}[{vname!r}][{c}]: expected a list '
                                 'of (tube, score)')
            for i, item in enumerate(per_label[c]):
                what = f'{name}[{vname!r}][{c}][{i}]'
                if not (isinstance(item, (tuple, list)) and len(item) == 2):
                    raise ValueError(f'{what}: expected a pair (tube, '
                                     'score)')
                arr = np.asarray(item[0], np.float64)
                if arr.ndim != 2 or arr.shape[1] < 5 or arr.shape[0] == 0:
                    raise ValueError(f'{what}: expected a tube (n, 5) with '
                                     'rows frame, x1, y1, x2, y2 (n >= 1), '
                                     f'got shape {arr.shape}')
                video.append(index[vname])
                label.append(int(c))
                score.append(item[1])
                starts.append(arr[0, 0])
                lengths.append(len(arr))
                arrays.append(arr[:, :5])
                where.append(what)
    score = np.asarray(score, np.float64).reshape(-1)
    lengths = np.asarray(lengths, np.int64)
    if len(score) != len(lengths):
        raise ValueError(f'{name}: every tube score must be one number')
    rows = np.concatenate(arrays) if arrays else np.zeros((0, 5))
    tube_of_row = np.repeat(np.arange(len(lengths)), lengths)
    bad = ~np.isfinite(rows).all(axis=1)
    if bad.any() or not np.isfinite(score).all():
        t = (int(tube_of_row[_first_bad(bad)]) if bad.any() else
             _first_bad(~np.isfinite(score)))
        raise ValueError(f'{where[t]}: holds NaN or infinite values')
    frame = rows[:, 0]
    offsets = np.cumsum(lengths) - lengths
    expected = np.repeat(np.asarray(starts, np.float64), lengths) + (
        np.arange(len(frame)) - np.repeat(offsets, lengths))
    step = frame == expected
    bad = (frame != np.round(frame)) | ~step
    if bad.any():
        t = int(tube_of_row[_first_bad(bad)])
        raise ValueError(f'{where[t]}: frames must be consecutive integers '
                         'in increasing order, got '
                         f'{arrays[t][:8, 0].tolist()}...')
    video = np.asarray(video, np.int64)
    limit = truth.nframes[np.repeat(video, lengths)]
    bad = (frame < 1) | (frame > limit)
    if bad.any():
        row = _first_bad(bad)
        t = int(tube_of_row[row])
        raise ValueError(f'{where[t]}: frame {frame[row]:g} outside '
                         f'1..{int(limit[row])} (nframes of '
                         f'{truth.videos[video[t]]!r})')
    flat = _Tubes(np.asarray(starts, np.int64), lengths, rows[:, 1:5])
    return video, np.asarray(label, np.int64), score, flat


def video_ap(gt: Dict, tubes: Dict, iou: float = 0.5, protocol: str = 'act',
             split_index: int = 0, exclude_labels: Sequence[str] = (),
             nms: Optional[float] = None,
             name: str = 'tubes', gt_name: str = 'ground truth') -> Dict:
    """Video-AP per class (ACT's ``videoAP`` or mmaction2's VOC variant).

    ACT first runs ``nms3dt`` at 0.3 on the tubes of every (video, class)
    (``nms``; mmaction2 does not). Then, per class, tubes are taken by
    decreasing score (stable) and matched with the ground-truth tubes of
    their video by ``iou3dt`` with the same rules as ``frame_ap``: ACT
    matches the best remaining tube and removes it, VOC the best of all
    (false positive if already matched); same AP and means as
    ``frame_ap``. ST-IoUs are computed in float64.

    Args:
        gt: the ACT ground-truth dict.
        tubes: ``{video: {label: [(tube, score)]}}``, ``tube`` ``(n, >=5)``
            rows ``frame, x1, y1, x2, y2`` on consecutive frames inside
            ``1..nframes``; a video or label without entry has no tube.
        iou: ST-IoU threshold.
        protocol: ``'act'`` or ``'voc'``.
        split_index: which test split (0 = split 1).
        exclude_labels: label names left out of the evaluation.
        nms: tube NMS threshold; default: 0.3 for ``'act'``, none for
            ``'voc'``; ``False`` switches it off.
        name: what to call ``tubes`` in errors.
        gt_name: what to call ``gt`` in errors.

    Returns:
        The dict of ``frame_ap`` (``num_detections``: tubes after the NMS).
    """
    plus = _check_protocol(protocol)
    truth = _GroundTruth(gt, split_index, gt_name)
    num_labels = len(truth.labels)
    gt_tubes = truth.tubes()
    video, label, score, flat = _flatten_tubes(tubes, truth, name)
    evaluated = _evaluated(truth.labels, exclude_labels)
    if not plus:
        evaluated &= np.bincount(truth.tube_label, minlength=num_labels) > 0
    if nms is None:
        nms = ACT_TUBE_NMS if plus else False
    keep = evaluated[label]
    if nms is not False:
        pair = label * len(truth.videos) + video
        kept = np.flatnonzero(keep)
        sub = _Tubes(flat.start[kept], flat.length[kept],
                     _gather_rows(flat, kept))
        keep[kept] = _nms_keep(sub, pair[kept], score[kept], float(nms),
                               plus)

    use = evaluated[truth.tube_label]
    gt_idx = np.flatnonzero(use)
    gt_key = truth.tube_label[gt_idx] * len(truth.videos) + \
        truth.tube_video[gt_idx]
    order_gt = np.argsort(gt_key, kind='stable')
    gt_idx, gt_key = gt_idx[order_gt], gt_key[order_gt]
    gt_rank, _ = _ranks(gt_key)
    keys = np.unique(gt_key)
    width = int(gt_rank.max()) + 1 if len(gt_rank) else 1
    num_gt = np.bincount(truth.tube_label, minlength=num_labels)

    det_key = label * len(truth.videos) + video
    group = np.full(len(label), -1, np.int64)
    if len(keys):
        pos = np.minimum(np.searchsorted(keys, det_key), len(keys) - 1)
        found = keep & (keys[pos] == det_key)
        group[found] = pos[found]
    # pairs (detection, ground-truth tube of its group)
    first = np.searchsorted(gt_key, keys)
    size = np.diff(np.append(first, len(gt_key)))
    dets = np.flatnonzero(group >= 0)
    count = size[group[dets]]
    pair_det = np.repeat(dets, count)
    pair_col = np.arange(len(pair_det)) - np.repeat(np.cumsum(count) - count,
                                                    count)
    pair_gt = gt_idx[first[group[pair_det]] + pair_col]
    iou_row = np.full(len(label), -1, np.int64)
    iou_row[dets] = np.arange(len(dets))
    ious = np.full((len(dets), width), -np.inf)
    # ACT: iou3dt(ground truth, detection)
    ious[iou_row[pair_det], pair_col] = _tube_pair_ious(
        gt_tubes, pair_gt, flat, pair_det, plus)
    order = _order_by_key_then_score(label, score)
    order = order[keep[order]]
    tp = _true_positives(order, group, iou_row, ious, len(keys), iou, plus)
    ap = _average_precisions(label, score, tp, order, num_gt, evaluated,
                             plus)
    # tubes left by the NMS for the classes evaluated, all tubes otherwise
    num_dets = np.bincount(label[keep | ~evaluated[label]],
                           minlength=num_labels)
    return _summary(ap, num_gt, num_dets, truth.labels, evaluated,
                    ~_evaluated(truth.labels, exclude_labels), protocol, iou)


def _gather_rows(tubes: _Tubes, idx: np.ndarray) -> np.ndarray:
    """The boxes of tubes ``idx``, concatenated in that order."""
    n = tubes.length[idx]
    rows = np.repeat(tubes.offset[idx], n) + (
        np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n))
    return tubes.boxes[rows]


# --------------------------------------------------------------------------
# linking
# --------------------------------------------------------------------------


def _nms_iou(others: np.ndarray, best: np.ndarray) -> np.ndarray:
    """IoU as ACT's ``nms_tubelets`` (K = 1) writes it, of the remaining
    boxes ``others`` with the kept box ``best`` (broadcast)."""
    with np.errstate(divide='ignore', invalid='ignore'):
        xx1 = np.maximum(best[..., 0], others[..., 0])
        yy1 = np.maximum(best[..., 1], others[..., 1])
        xx2 = np.minimum(best[..., 2], others[..., 2])
        yy2 = np.minimum(best[..., 3], others[..., 3])
        w = np.maximum(0, xx2 - xx1 + 1)
        h = np.maximum(0, yy2 - yy1 + 1)
        inter = w * h
        area_o = (others[..., 2] - others[..., 0] + 1) * (
            others[..., 3] - others[..., 1] + 1)
        area_b = (best[..., 2] - best[..., 0] + 1) * (
            best[..., 3] - best[..., 1] + 1)
        return inter / (area_o + area_b - inter)


def _frame_nms(boxes: np.ndarray, group: np.ndarray, rank: np.ndarray,
               overlap: float, top_k: int) -> np.ndarray:
    """ACT's ``nms_tubelets`` (K = 1) in every group at once: rows sorted by
    group then decreasing score, ``rank`` inside the group. A box is kept
    if its IoU with every kept box of its group is ``<= overlap``, until
    ``top_k`` are kept. Returns the keep mask."""
    n = len(group)
    kept = np.zeros(n, bool)
    if n == 0 or top_k < 1:
        return kept
    new = np.ones(n, bool)
    new[1:] = group[1:] != group[:-1]
    group_id = np.cumsum(new) - 1
    width = min(top_k, int(rank.max()) + 1)
    slots = np.full((int(group_id.max()) + 1, width), -1, np.int64)
    count = np.zeros(len(slots), np.int64)
    for r, idx in _by_rank(rank):
        g = group_id[idx]
        idx, g = idx[count[g] < top_k], g[count[g] < top_k]
        if r > 0 and len(idx):
            prev = slots[g, :min(r, width)]  # at most r kept before
            values = _nms_iou(boxes[idx][:, None, :],
                              boxes[np.maximum(prev, 0)])
            drop = (~(values <= overlap) & (prev >= 0)).any(axis=1)
            idx, g = idx[~drop], g[~drop]
        kept[idx] = True
        slots[g, count[g]] = idx
        count[g] += 1
    return kept


def link_tubes(frame_dets: np.ndarray, videos: Sequence[str],
               num_labels: int, nms_iou: float = 0.3, top_k: int = 10,
               link_iou: float = 0.2, max_gap: int = 5,
               min_score: float = 0.01, min_length: int = 15,
               nframes: Optional[Sequence[int]] = None,
               name: str = 'frame detections') -> Dict:
    """Link per-frame detections into tubes with ACT's online linking
    (``BuildTubes``) for tubelets of K = 1 frame.

    For every (video, class) separately, frames are visited in order:

    1. the class's detections of the frame go through NMS (+1 IoU; a box is
       dropped if its IoU with a better kept box is not ``<= nms_iou``),
       keeping at most ``top_k``, best score first;
    2. the current tubes are sorted by their mean detection score
       (decreasing, stable: ties keep the order of the tube list); each in
       turn takes, among the remaining boxes whose +1 IoU with its last box
       is ``>= link_iou``, the one with the highest score (the first of
       equal scores), which is then removed;
    3. a tube that took no box and whose last box is ``max_gap`` or more
       frames old is finished; every remaining box starts a new tube
       (appended to the list in score order).

    Tubes whose mean detection score is below ``min_score`` or that span
    fewer than ``min_length`` frames (first to last box) are dropped. ACT's
    defaults: 0.3, 10, 0.2, 5, 0.01, 15. ACT links K-frame tubelets (K = 6
    on UCF101-24), so a tube never lacks a frame; with K = 1 a tube may skip
    up to ``max_gap - 1`` frames, where ACT's averaging would divide 0 by 0:
    here those frames get the box interpolated linearly between the boxes
    around the gap. The tube's score is the mean of its detections' scores,
    computed in float64 (ACT: ``np.mean`` in the detections' float type).

    Args:
        frame_dets: ``(N, 8)`` rows ``video_index, frame, label, score, x1,
            y1, x2, y2``.
        videos: names of the videos ``video_index`` refers to.
        num_labels: number of classes.
        nframes: optional frame counts of ``videos`` (checks the frames).
        name: what to call ``frame_dets`` in errors.

    Returns:
        ``{video: {label: [(tube, score)]}}`` for every video and label
        (empty lists included), tubes in the order they were started; each
        ``tube`` float32 ``(n, 5)`` rows ``frame, x1, y1, x2, y2`` (ACT's
        sixth column, the per-frame score, is not kept) and ``score`` a
        float.
    """
    video, frame, label, score, boxes = check_frame_dets(
        frame_dets, videos, None if nframes is None else
        np.asarray(nframes, np.int64), num_labels, name)
    if not (top_k >= 1 and max_gap >= 1 and min_length >= 1):
        raise ValueError('top_k, max_gap and min_length must be >= 1')
    out = {v: {c: [] for c in range(num_labels)} for v in videos}
    if len(video) == 0:
        return out
    stream = video * num_labels + label
    num_streams = int(stream.max()) + 1
    frames_bound = int(frame.max()) + 1
    # one cell per (frame, stream), visited by frame then stream; inside a
    # cell by decreasing score (stable)
    cell = frame * num_streams + stream
    order = _order_by_key_then_score(cell, score)
    rank, _ = _ranks(cell[order])
    kept = _frame_nms(boxes[order], cell[order], rank, nms_iou, top_k)
    order = order[kept]
    det_frame, det_stream = frame[order], stream[order]
    det_score, det_boxes = score[order], boxes[order]
    slot, _ = _ranks(cell[order])  # position in the frame's list

    capacity = len(order)  # a detection starts at most one tube
    t_stream = np.zeros(capacity, np.int64)
    t_first = np.zeros(capacity, np.int64)
    t_last = np.zeros(capacity, np.int64)
    t_sum = np.zeros(capacity, np.float64)
    t_count = np.zeros(capacity, np.int64)
    t_pos = np.zeros(capacity, np.int64)
    t_box = np.zeros((capacity, 4), det_boxes.dtype)
    det_tube = np.full(len(order), -1, np.int64)
    num_tubes = 0
    alive = np.zeros(0, np.int64)
    row_of = np.full(num_streams, -1, np.int64)
    frame_bounds = np.searchsorted(det_frame,
                                   np.arange(frames_bound + 1))
    for f in np.unique(det_frame):
        lo, hi = frame_bounds[f], frame_bounds[f + 1]
        first_of_cell = slot[lo:hi] == 0  # streams are sorted in the frame
        streams = det_stream[lo:hi][first_of_cell]
        row_of[streams] = np.arange(len(streams))
        width = int(slot[lo:hi].max()) + 1
        table = np.full((len(streams), width), -1, np.int64)
        table[np.cumsum(first_of_cell) - 1, slot[lo:hi]] = np.arange(lo, hi)
        free = table >= 0
        table_boxes = det_boxes[np.maximum(table, 0)]
        table_score = det_score[np.maximum(table, 0)]

        alive = alive[f - t_last[alive] <= max_gap]
        cur = alive[row_of[t_stream[alive]] >= 0]
        cur = cur[np.lexsort((t_pos[cur], -(t_sum[cur] / t_count[cur]),
                              t_stream[cur]))]
        c_rank, _ = _ranks(t_stream[cur])
        t_pos[cur] = c_rank
        for _, idx in _by_rank(c_rank):
            tubes = cur[idx]
            rows = row_of[t_stream[tubes]]
            # ACT: iou2d(boxes of the frame, last box of the tube)
            values = _box_iou(table_boxes[rows], t_box[tubes][:, None, :],
                              True)
            ok = (values >= link_iou) & free[rows]
            best = np.argmax(np.where(ok, table_score[rows], -np.inf),
                             axis=1)
            hit = ok[np.arange(len(tubes)), best]
            tubes, rows, best = tubes[hit], rows[hit], best[hit]
            det = table[rows, best]
            free[rows, best] = False
            det_tube[det] = tubes
            t_last[tubes] = f
            t_sum[tubes] += det_score[det]
            t_count[tubes] += 1
            t_box[tubes] = det_boxes[det]
        # new tubes from the boxes left, in score order
        new_rows, new_slots = np.nonzero(free)
        det = table[new_rows, new_slots]
        det = np.sort(det)  # frame list order: stream, then score
        n_new = len(det)
        ids = np.arange(num_tubes, num_tubes + n_new)
        t_stream[ids] = det_stream[det]
        t_first[ids] = f
        t_last[ids] = f
        t_sum[ids] = det_score[det]
        t_count[ids] = 1
        t_pos[ids] = len(cur) + slot[det]  # after every current tube
        t_box[ids] = det_boxes[det]
        det_tube[det] = ids
        num_tubes += n_new
        alive = np.concatenate([alive, ids])
        row_of[streams] = -1

    # build the tubes: each detection's box at its frame, gaps interpolated
    mean = t_sum[:num_tubes] / t_count[:num_tubes]
    length = t_last[:num_tubes] - t_first[:num_tubes] + 1
    good = (~(mean < min_score)) & (length >= min_length)
    ids = np.flatnonzero(good)
    if len(ids) == 0:
        return out
    n = length[ids]
    total = int(n.sum())
    out_offset = np.zeros(num_tubes, np.int64)
    out_offset[ids] = np.cumsum(n) - n
    d = np.flatnonzero(good[det_tube])
    tube = det_tube[d]
    at = out_offset[tube] + det_frame[d] - t_first[tube]
    arrays = np.empty((total, 5), np.float64)
    arrays[:, 0] = np.repeat(t_first[ids], n) + (
        np.arange(total) - np.repeat(out_offset[ids], n))
    arrays[at, 1:5] = det_boxes[d]
    covered = np.zeros(total, bool)
    covered[at] = True
    if not covered.all():  # a tube's first and last frames are covered
        index = np.arange(total)
        prev = np.maximum.accumulate(np.where(covered, index, 0))
        after = np.minimum.accumulate(
            np.where(covered, index, total)[::-1])[::-1]
        gap = np.flatnonzero(~covered)
        prev, after = prev[gap], after[gap]
        weight = ((arrays[gap, 0] - arrays[prev, 0]) /
                  (arrays[after, 0] - arrays[prev, 0]))
        arrays[gap, 1:5] = arrays[prev, 1:5] + (
            arrays[after, 1:5] - arrays[prev, 1:5]) * weight[:, None]
    arrays = arrays.astype(np.float32)
    pieces = np.split(arrays, np.cumsum(n)[:-1])
    for t, piece in zip(ids, pieces):
        s = int(t_stream[t])
        out[videos[s // num_labels]][s % num_labels].append(
            (piece, float(mean[t])))
    return out


# --------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------


def _load_pickle(path: str, what: str):
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path!r} does not exist')
    with open(path, 'rb') as f:
        try:
            # Python 2 pickles (ACT's) store numpy data as byte strings:
            # latin1 maps them back byte for byte.
            return pickle.load(f, encoding='latin1')
        except Exception as error:  # noqa: BLE001 - name the file
            raise ValueError(f'{path}: cannot read the {what} pickle: '
                             f'{error}') from error


def load_stal_gt(path: str, split_index: int = 0) -> Dict:
    """Read and check an ACT ground-truth pickle (``UCF101v2-GT.pkl``)."""
    gt = _load_pickle(path, 'ground truth')
    check_stal_gt(gt, path, split_index)
    return gt


def load_frame_dets(path: str, key: str = 'frame_dets') -> np.ndarray:
    """The ``(N, 8)`` array ``key`` of an ``.npz`` file (checked later
    against the ground truth by ``check_frame_dets``)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'frame detections {path!r} do not exist')
    try:
        with np.load(path, allow_pickle=False) as data:
            files = list(data.files)
            dets = data[key] if key in files else None
    except (OSError, ValueError, AttributeError, TypeError) as error:
        raise ValueError(f'{path}: not a readable .npz file of numeric '
                         f'arrays: {error}') from error
    if dets is None:
        raise ValueError(f'{path}: no array {key!r}; it holds '
                         f'{sorted(files)}')
    if dets.ndim != 2 or dets.shape[1] != 8:
        raise ValueError(f'{path}[{key!r}]: expected shape (N, 8) with '
                         f'columns {FRAME_DET_COLUMNS}, got {dets.shape}')
    return dets


def load_tubes(path: str) -> Dict:
    """A tubes pickle ``{video: {label: [(tube, score)]}}`` (checked by
    ``video_ap``)."""
    return _load_pickle(path, 'tubes')
