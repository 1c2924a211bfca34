"""ACT's online linking of per-frame detections into tubes (K = 1)."""
from typing import Dict, Optional, Sequence

import numpy as np

from .inputs import check_frame_dets
from .iou import pairwise_iou
from .ranking import by_rank, order_by_key_then_score, ranks_in_groups


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
    for r, idx in by_rank(rank):
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
    order = order_by_key_then_score(cell, score)
    rank, _ = ranks_in_groups(cell[order])
    kept = _frame_nms(boxes[order], cell[order], rank, nms_iou, top_k)
    order = order[kept]
    det_frame, det_stream = frame[order], stream[order]
    det_score, det_boxes = score[order], boxes[order]
    slot, _ = ranks_in_groups(cell[order])  # position in the frame's list

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
        c_rank, _ = ranks_in_groups(t_stream[cur])
        t_pos[cur] = c_rank
        for _, idx in by_rank(c_rank):
            tubes = cur[idx]
            rows = row_of[t_stream[tubes]]
            # ACT: iou2d(boxes of the frame, last box of the tube)
            values = pairwise_iou(table_boxes[rows], t_box[tubes][:, None, :],
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
