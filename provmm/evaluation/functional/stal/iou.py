"""Box IoU and spatio-temporal tube IoU in ACT's (+1) and VOC conventions."""
import numpy as np

PROTOCOLS = ('act', 'voc')
IOU_CHUNK = 1 << 22  # rows per block of per-frame IoUs


def check_protocol(protocol: str) -> bool:
    """True for ACT's '+1' conventions, False for VOC."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got "
                         f'{protocol!r}')
    return protocol == 'act'


def pairwise_iou(a: np.ndarray, b: np.ndarray, plus: bool) -> np.ndarray:
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
    plus = check_protocol(protocol)
    a = np.atleast_2d(np.asarray(boxes1))
    b = np.atleast_2d(np.asarray(boxes2))
    if a.shape[-1] != 4 or b.shape[-1] != 4 or a.ndim != 2 or b.ndim != 2:
        raise ValueError(f'iou2d expects (n, 4) and (m, 4) boxes, got '
                         f'{np.shape(boxes1)} and {np.shape(boxes2)}')
    return pairwise_iou(a[:, None, :], b[None, :, :], plus)


class TubeSet:
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


def tube_pair_ious(a: TubeSet, ia: np.ndarray, b: TubeSet, ib: np.ndarray,
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
        # pairs [block, stop) hold at most IOU_CHUNK frames (at least one pair)
        limit = (ends[block - 1] if block else 0) + IOU_CHUNK
        stop = max(block + 1, int(np.searchsorted(ends, limit, 'right')))
        n = lengths[block:stop]
        total = int(n.sum())
        starts = np.cumsum(n) - n
        within = np.arange(total) - np.repeat(starts, n)
        rows_a = np.repeat(first_a[block:stop], n) + within
        rows_b = np.repeat(first_b[block:stop], n) + within
        per_frame = pairwise_iou(a.boxes[rows_a], b.boxes[rows_b], plus)
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


def as_tube(tube, what: str) -> np.ndarray:
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
    plus = check_protocol(protocol)
    tubes = [as_tube(t, f'tube{i + 1}') for i, t in enumerate((tube1,
                                                               tube2))]
    a, b = (TubeSet([t[0, 0]], [len(t)], t[:, 1:5]) for t in tubes)
    return float(tube_pair_ious(a, np.zeros(1, np.int64), b,
                                 np.zeros(1, np.int64), plus,
                                 not spatial_only)[0])
