"""Score ranking, tube NMS, greedy matching and the PR-curve area (AP)."""
from typing import Dict, Sequence, Tuple

import numpy as np

from .iou import TubeSet, as_tube, check_protocol, tube_pair_ious

ACT_TUBE_NMS = 0.3  # ACT's videoAP runs nms3dt(tubes, 0.3) first


def ranks_in_groups(group: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
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


def order_by_key_then_score(key: np.ndarray,
                             score: np.ndarray) -> np.ndarray:
    """``np.lexsort((-score, key))``: by ``key``, then decreasing score,
    then index (stable), with a radix sort for small keys."""
    by_score = np.argsort(-score, kind='stable')
    key = key[by_score]
    if len(key) and 0 <= key.min() and key.max() < 2 ** 15:
        key = key.astype(np.int16)
    return by_score[np.argsort(key, kind='stable')]


def by_rank(rank: np.ndarray):
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


def nms_keep(tubes: TubeSet, group: np.ndarray, score: np.ndarray,
              overlap: float, plus: bool) -> np.ndarray:
    """Greedy tube NMS inside each ``group`` (ACT's ``nms3dt``): the best
    scored tube is kept and every tube whose ``iou3dt`` with it is not
    ``<= overlap`` (NaN included) is dropped; repeat. Returns a keep mask."""
    n = len(score)
    keep = np.ones(n, bool)
    if n < 2:
        return keep
    order = order_by_key_then_score(group, score)  # ties by index
    rank, start = ranks_in_groups(group[order])
    # pairs (earlier i, later j) of one group, by position in ``order``
    later = np.repeat(np.arange(n), rank)
    earlier = np.repeat(start, rank) + (
        np.arange(len(later)) - np.repeat(np.cumsum(rank) - rank, rank))
    if len(later) == 0:
        return keep
    ious = tube_pair_ious(tubes, order[earlier], tubes, order[later], plus)
    drops = ~(ious <= overlap)
    earlier, later = earlier[drops], later[drops]
    kept = np.ones(n, bool)  # by position in ``order``
    for _, edges in by_rank(rank[later]):
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
    plus = check_protocol(protocol)
    if len(tubes) == 0:
        return np.zeros(0, np.int64)
    arrays = [as_tube(t[0], f'tubes[{i}]') for i, t in enumerate(tubes)]
    score = np.array([float(t[1]) for t in tubes])
    flat = TubeSet([t[0, 0] for t in arrays], [len(t) for t in arrays],
                  np.concatenate([t[:, 1:5] for t in arrays]))
    keep = nms_keep(flat, np.zeros(len(score), np.int64), score, overlap,
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
    plus = check_protocol(protocol)
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


def true_positives(order: np.ndarray, group: np.ndarray,
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
    rank, _ = ranks_in_groups(group[with_gt])
    taken = np.zeros((num_groups, ious.shape[1]), bool)
    for _, idx in by_rank(rank):
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


def average_precisions(label: np.ndarray, score: np.ndarray,
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


def ap_summary(ap: np.ndarray, num_gt: np.ndarray, num_dets: np.ndarray,
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
