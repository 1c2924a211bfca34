"""Frame-AP and video-AP (ACT protocol or mmaction2's MultiSports port)."""
from typing import Dict, Optional, Sequence

import numpy as np

from .inputs import (GroundTruth, check_frame_dets, evaluated_labels,
                     first_bad)
from .iou import IOU_CHUNK, TubeSet, check_protocol, pairwise_iou, tube_pair_ious
from .ranking import (ACT_TUBE_NMS, ap_summary, average_precisions, nms_keep,
                      order_by_key_then_score, ranks_in_groups,
                      true_positives)


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
    plus = check_protocol(protocol)
    truth = GroundTruth(gt, split_index, gt_name)
    num_labels = len(truth.labels)
    video, frame, label, score, boxes = check_frame_dets(
        frame_dets, truth.videos, truth.nframes, num_labels, name)
    evaluated = evaluated_labels(truth.labels, exclude_labels)
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
    gt_rank, _ = ranks_in_groups(gt_key)
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
    step = max(1, IOU_CHUNK // width)
    for block in range(0, len(rows), step):
        r = rows[block:block + step]
        g = group[r]
        # ACT: iou2d(gt boxes of the frame, detection box)
        values = pairwise_iou(padded[g], boxes[r][:, None, :], plus)
        ious[block:block + step] = np.where(valid[g], values, -np.inf)
    order = order_by_key_then_score(label, score)
    order = order[keep[order]]
    tp = true_positives(order, group, iou_row, ious, len(keys), iou, plus)
    ap = average_precisions(label, score, tp, order, num_gt, evaluated,
                             plus)
    num_dets = np.bincount(label, minlength=num_labels)
    return ap_summary(ap, num_gt, num_dets, truth.labels, evaluated,
                    ~evaluated_labels(truth.labels, exclude_labels), protocol, iou)


def _flatten_tubes(tubes: Dict, truth: GroundTruth, name: str):
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
        t = (int(tube_of_row[first_bad(bad)]) if bad.any() else
             first_bad(~np.isfinite(score)))
        raise ValueError(f'{where[t]}: holds NaN or infinite values')
    frame = rows[:, 0]
    offsets = np.cumsum(lengths) - lengths
    expected = np.repeat(np.asarray(starts, np.float64), lengths) + (
        np.arange(len(frame)) - np.repeat(offsets, lengths))
    step = frame == expected
    bad = (frame != np.round(frame)) | ~step
    if bad.any():
        t = int(tube_of_row[first_bad(bad)])
        raise ValueError(f'{where[t]}: frames must be consecutive integers '
                         'in increasing order, got '
                         f'{arrays[t][:8, 0].tolist()}...')
    video = np.asarray(video, np.int64)
    limit = truth.nframes[np.repeat(video, lengths)]
    bad = (frame < 1) | (frame > limit)
    if bad.any():
        row = first_bad(bad)
        t = int(tube_of_row[row])
        raise ValueError(f'{where[t]}: frame {frame[row]:g} outside '
                         f'1..{int(limit[row])} (nframes of '
                         f'{truth.videos[video[t]]!r})')
    flat = TubeSet(np.asarray(starts, np.int64), lengths, rows[:, 1:5])
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
    plus = check_protocol(protocol)
    truth = GroundTruth(gt, split_index, gt_name)
    num_labels = len(truth.labels)
    gt_tubes = truth.tubes()
    video, label, score, flat = _flatten_tubes(tubes, truth, name)
    evaluated = evaluated_labels(truth.labels, exclude_labels)
    if not plus:
        evaluated &= np.bincount(truth.tube_label, minlength=num_labels) > 0
    if nms is None:
        nms = ACT_TUBE_NMS if plus else False
    keep = evaluated[label]
    if nms is not False:
        pair = label * len(truth.videos) + video
        kept = np.flatnonzero(keep)
        sub = TubeSet(flat.start[kept], flat.length[kept],
                     _gather_rows(flat, kept))
        keep[kept] = nms_keep(sub, pair[kept], score[kept], float(nms),
                               plus)

    use = evaluated[truth.tube_label]
    gt_idx = np.flatnonzero(use)
    gt_key = truth.tube_label[gt_idx] * len(truth.videos) + \
        truth.tube_video[gt_idx]
    order_gt = np.argsort(gt_key, kind='stable')
    gt_idx, gt_key = gt_idx[order_gt], gt_key[order_gt]
    gt_rank, _ = ranks_in_groups(gt_key)
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
    ious[iou_row[pair_det], pair_col] = tube_pair_ious(
        gt_tubes, pair_gt, flat, pair_det, plus)
    order = order_by_key_then_score(label, score)
    order = order[keep[order]]
    tp = true_positives(order, group, iou_row, ious, len(keys), iou, plus)
    ap = average_precisions(label, score, tp, order, num_gt, evaluated,
                             plus)
    # tubes left by the NMS for the classes evaluated, all tubes otherwise
    num_dets = np.bincount(label[keep | ~evaluated[label]],
                           minlength=num_labels)
    return ap_summary(ap, num_gt, num_dets, truth.labels, evaluated,
                    ~evaluated_labels(truth.labels, exclude_labels), protocol, iou)


def _gather_rows(tubes: TubeSet, idx: np.ndarray) -> np.ndarray:
    """The boxes of tubes ``idx``, concatenated in that order."""
    n = tubes.length[idx]
    rows = np.repeat(tubes.offset[idx], n) + (
        np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n))
    return tubes.boxes[rows]
