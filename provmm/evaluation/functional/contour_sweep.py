"""Every binarisation level of a score map at once: which levels give a
contour box that matches a GT box (the all-contour MaxBoxAccV2 rule).

The reference binarises the uint8 map ``q`` with ``q > k`` and takes the
``boundingRect`` of every contour of ``cv2.findContours(RETR_TREE)``. Those
contours are exactly

* one outer contour per 8-connected foreground component; its
  ``boundingRect`` is the component's bounding box, and
* one hole contour per 4-connected background component that does not touch
  the image border; its ``boundingRect`` is the hole's bounding box grown by
  one pixel on each side (the hole border runs over the surrounding pixels),

(checked against OpenCV in ``tests/test_evaluation/test_contour_sweep.py``).
Foreground components only grow and merge as ``k`` decreases and background
components only as ``k`` increases, so two union-find sweeps over the pixels
sorted by level cover all 256 levels. After each level, only the components
that changed are compared with the GT boxes, and a count of components
reaching each IoU threshold is kept up to date. A hole lies inside the box
of its enclosing component, so the hole sweep stops after the last level at
which no outer box passes but one is large enough to hold a passing hole.

Speed (the target is ~1 ms per 224 x 224 map on one core): a pixel's
neighbours in the other sweep direction are found from the small uint8 level
grid and a lookup table of neighbour runs, so the common case reads one
component label; indices are unsigned so that numba drops its negative-index
code; per-component fields share one array.
"""
from concurrent.futures import ThreadPoolExecutor
from typing import List, Sequence, Tuple

import numpy as np
from numba import njit

from .boxes import _as_boxes
from .scoremap import check_scoremap

NUM_LEVELS = 256  # levels of the uint8-quantised score map


# Per-component fields, rows of one int32 array (one base pointer keeps the
# hot loops in registers). Components are numbered in order of creation.
PARENT, X0, Y0, X1, Y1, CATEGORY, POTENTIAL, STAMP, BORDER = range(9)
NUM_FIELDS = 9

# Indices are np.uint64 in the kernels: numba then drops the negative-index
# wrap-around code, which otherwise adds a third of the instructions.


def _ring_runs(edges_only: bool):
    """Lookup tables over the 8 neighbours of a pixel in ring order NW, N,
    NE, E, SE, S, SW, W, whose consecutive members touch each other (share
    an edge), so a run of member neighbours lies in one component.

    For each 8-bit mask of member neighbours: the number of runs that join
    the pixel and one neighbour of each run. 8-connectivity joins every run;
    4-connectivity (``edges_only``) only runs holding an edge neighbour
    (N, E, S, W), represented by one.
    """
    num_runs = np.zeros(256, np.uint64)
    members = np.zeros((256, 4), np.uint64)
    for mask in range(1, 256):
        bits = [(mask >> i) & 1 for i in range(8)]
        runs = []
        for first in range(8):
            if bits[first] and not bits[first - 1]:
                run = [first]
                while bits[(run[-1] + 1) % 8] and len(run) < 8:
                    run.append((run[-1] + 1) % 8)
                runs.append(run)
        if not runs:  # all eight
            runs = [list(range(8))]
        if edges_only:
            runs = [[i for i in run if i % 2 == 1] for run in runs]
            runs = [run for run in runs if run]
        num_runs[mask] = len(runs)
        members[mask, :len(runs)] = [run[0] for run in runs]
    return num_runs, members


RUNS_8, RUN_MEMBER_8 = _ring_runs(edges_only=False)
RUNS_4, RUN_MEMBER_4 = _ring_runs(edges_only=True)


@njit(cache=True, nogil=True, inline='always')
def _find(comp, c):
    """Root of component ``c`` (with path compression)."""
    root = c
    while np.uint64(comp[PARENT, root]) != root:
        root = np.uint64(comp[PARENT, root])
    while np.uint64(comp[PARENT, c]) != root:
        nxt = np.uint64(comp[PARENT, c])
        comp[PARENT, c] = root
        c = nxt
    return root


@njit(cache=True, nogil=True, inline='always')
def _recount(passing, old_category, new_category):
    """Move one component from ``old_category`` to ``new_category`` in the
    per-IoU-threshold counts of passing components."""
    for j in range(old_category):
        passing[j] -= 1
    for j in range(new_category):
        passing[j] += 1


@njit(cache=True, nogil=True)
def _box_categories(x0, y0, x1, y1, gt, fractions):
    """``(c, u)``: how many of the ascending IoU ``fractions`` the best "+1"
    IoU of box ``(x0, y0, x1, y1)`` over the GT boxes ``gt`` reaches (``c``),
    and how many the best ``|box & g| / |g|`` reaches (``u``); the latter
    bounds the IoU of every box inside this one, so of every hole contour of
    a component with this box."""
    best = 0.0
    bound = 0.0
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    for g in range(gt.shape[0]):
        inter_w = min(x1, gt[g, 2]) - max(x0, gt[g, 0]) + 1
        inter_h = min(y1, gt[g, 3]) - max(y0, gt[g, 1]) + 1
        inter = 0
        if inter_w > 0 and inter_h > 0:
            inter = inter_w * inter_h
        gt_area = (gt[g, 2] - gt[g, 0] + 1) * (gt[g, 3] - gt[g, 1] + 1)
        union = area + gt_area - inter
        if union > 0 and inter / union > best:
            best = inter / union
        if inter / gt_area > bound:
            bound = inter / gt_area
    category = 0
    potential = 0
    for j in range(fractions.shape[0]):
        if best >= fractions[j]:
            category += 1
        if bound >= fractions[j]:
            potential += 1
    return category, potential


@njit(cache=True, nogil=True)
def _allocate(num_pixels, num_cells):
    """Scratch arrays of one worker, reused for every map it evaluates."""
    return (np.zeros(num_cells, np.uint8),        # quantised, padded
            np.empty(num_pixels, np.uint32),      # pixels sorted by level
            np.empty(num_pixels, np.int32),       # their x
            np.empty(num_pixels, np.int32),       # their y
            np.empty(num_cells, np.uint32),       # component of each pixel
            np.empty((NUM_FIELDS, num_pixels), np.int32),  # components
            np.empty(num_pixels, np.uint32))      # components touched


@njit(cache=True, nogil=True)
def _sort_by_level(scoremap, quantized, order, xs, ys, start):
    """Quantise like ``(map * 255).astype(uint8)`` into the padded grid
    ``quantized`` and counting-sort the pixels by level (raster order within
    a level). Returns the maximum level, or -1 if a value is NaN or outside
    [0, 1]."""
    height, width = scoremap.shape
    stride = np.uint64(width + 2)
    start[:] = 0
    max_level = 0
    for y in range(np.uint64(height)):
        row = (y + np.uint64(1)) * stride + np.uint64(1)
        for x in range(np.uint64(width)):
            v = scoremap[y, x]
            if not (v >= 0.0 and v <= 1.0):
                return -1
            level = np.uint64(v * 255)
            quantized[row + x] = level
            start[level + np.uint64(1)] += 1
            max_level = max(max_level, np.int64(level))
    for v in range(NUM_LEVELS):
        start[v + 1] += start[v]
    fill = start[:NUM_LEVELS].copy()
    for y in range(np.uint64(height)):
        row = (y + np.uint64(1)) * stride + np.uint64(1)
        for x in range(np.uint64(width)):
            level = quantized[row + x]
            f = np.uint64(fill[level])
            order[f] = row + x
            xs[f] = x
            ys[f] = y
            fill[level] = f + np.uint64(1)
    return max_level


@njit(cache=True, nogil=True)
def _ring_offsets(width):
    """Padded-grid offsets of the ring NW, N, NE, E, SE, S, SW, W (unsigned:
    adding one wraps around to a subtraction)."""
    return np.array([-width - 3, -width - 2, -width - 1, 1, width + 3,
                     width + 2, width + 1, -1]).astype(np.uint64)


@njit(cache=True, nogil=True, inline='always')
def _new_component(comp, c, x, y):
    comp[PARENT, c] = c
    comp[X0, c] = comp[X1, c] = x
    comp[Y0, c] = comp[Y1, c] = y
    comp[CATEGORY, c] = comp[POTENTIAL, c] = comp[BORDER, c] = 0
    comp[STAMP, c] = -1


@njit(cache=True, nogil=True, inline='always')
def _grow(comp, root, x, y):
    """Add pixel ``(x, y)`` to the box of ``root`` (rarely a store)."""
    if x < comp[X0, root]:
        comp[X0, root] = x
    elif x > comp[X1, root]:
        comp[X1, root] = x
    if y < comp[Y0, root]:
        comp[Y0, root] = y
    elif y > comp[Y1, root]:
        comp[Y1, root] = y


@njit(cache=True, nogil=True, inline='always')
def _union(comp, a, b, passing, could_pass):
    """Merge roots ``a`` and ``b``; the one with the larger box stays root
    (a size proxy). Returns the new root."""
    if (comp[X1, b] - comp[X0, b] + comp[Y1, b] - comp[Y0, b] >
            comp[X1, a] - comp[X0, a] + comp[Y1, a] - comp[Y0, a]):
        a, b = b, a
    comp[PARENT, b] = a
    comp[X0, a] = min(comp[X0, a], comp[X0, b])
    comp[Y0, a] = min(comp[Y0, a], comp[Y0, b])
    comp[X1, a] = max(comp[X1, a], comp[X1, b])
    comp[Y1, a] = max(comp[Y1, a], comp[Y1, b])
    _recount(passing, comp[CATEGORY, b], 0)
    _recount(could_pass, comp[POTENTIAL, b], 0)
    comp[CATEGORY, b] = comp[POTENTIAL, b] = 0
    if comp[BORDER, b]:
        comp[BORDER, a] = 1
    return a


@njit(cache=True, nogil=True)
def _sweep_foreground(quantized, order, xs, ys, start, height, width, gt,
                      fractions, label, comp, touched, any_out, passing_out,
                      potential_out):
    """Levels 254..0: 8-connected components of ``q > k``; fills
    ``any_out[k]`` (some component exists), ``passing_out[k, j]``
    (components whose box reaches ``fractions[j]``) and
    ``potential_out[k, j]`` (components inside whose box a hole could)."""
    one = np.uint64(1)
    stride = np.uint64(width + 2)
    ring = _ring_offsets(width)
    passing = np.zeros(fractions.shape[0], np.int64)
    could_pass = np.zeros(fractions.shape[0], np.int64)
    num_components = 0
    num_labels = np.uint64(0)
    for level in range(NUM_LEVELS - 1, 0, -1):  # q == level joins at level-1
        lv = np.uint8(level)
        num_touched = np.uint64(0)
        previous = np.uint64(-1)
        for i in range(np.uint64(start[level]), np.uint64(start[level + 1])):
            p = np.uint64(order[i])
            up = p - stride
            down = p + stride
            # foreground neighbours, read from the small (L1-resident) level
            # grid: pixels of this level count once added (before p in
            # raster order); the zero padding never counts
            mask = (np.uint64(quantized[up - one] >= lv)
                    | np.uint64(quantized[up] >= lv) << np.uint64(1)
                    | np.uint64(quantized[up + one] >= lv) << np.uint64(2)
                    | np.uint64(quantized[p + one] > lv) << np.uint64(3)
                    | np.uint64(quantized[down + one] > lv) << np.uint64(4)
                    | np.uint64(quantized[down] > lv) << np.uint64(5)
                    | np.uint64(quantized[down - one] > lv) << np.uint64(6)
                    | np.uint64(quantized[p - one] >= lv) << np.uint64(7))
            num_runs = RUNS_8[mask]
            x = xs[i]
            y = ys[i]
            if num_runs == 0:
                root = num_labels
                num_labels += one
                _new_component(comp, root, x, y)
                num_components += 1
            else:
                # one component per run of ring neighbours
                root = _find(comp, np.uint64(
                    label[p + ring[RUN_MEMBER_8[mask, 0]]]))
                for run in range(one, num_runs):
                    other = _find(comp, np.uint64(
                        label[p + ring[RUN_MEMBER_8[mask, run]]]))
                    if other != root:
                        root = _union(comp, root, other, passing,
                                      could_pass)
                        num_components -= 1
                _grow(comp, root, x, y)
            label[p] = root
            touched[num_touched] = root  # kept when the component changes
            num_touched += np.uint64(root != previous)
            previous = root
        for i in range(num_touched):
            r = _find(comp, np.uint64(touched[i]))
            if comp[STAMP, r] == level:  # already re-evaluated
                continue
            comp[STAMP, r] = level
            # boundingRect (x, y, w, h) -> (x, y, x + w, y + h), clipped
            new, bound = _box_categories(
                np.int64(comp[X0, r]), np.int64(comp[Y0, r]),
                min(comp[X1, r] + 1, width - 1),
                min(comp[Y1, r] + 1, height - 1), gt, fractions)
            _recount(passing, comp[CATEGORY, r], new)
            _recount(could_pass, comp[POTENTIAL, r], bound)
            comp[CATEGORY, r] = new
            comp[POTENTIAL, r] = bound
        any_out[level - 1] = num_components > 0
        for j in range(fractions.shape[0]):
            passing_out[level - 1, j] = passing[j]
            potential_out[level - 1, j] = could_pass[j]


@njit(cache=True, nogil=True)
def _set_padding(quantized, height, width, value):
    stride = width + 2
    for x in range(stride):
        quantized[x] = value
        quantized[(height + 1) * stride + x] = value
    for y in range(1, height + 1):
        quantized[y * stride] = value
        quantized[y * stride + width + 1] = value


@njit(cache=True, nogil=True)
def _sweep_holes(quantized, order, xs, ys, start, height, width, gt,
                 fractions, label, comp, touched, last_level, passing_out):
    """Levels 0..last_level (< 255): 4-connected components of ``q <= k``;
    those off the border are holes of ``q > k``. Fills
    ``passing_out[k, j]`` (holes whose contour box reaches
    ``fractions[j]``); components on the border count 0."""
    one = np.uint64(1)
    stride = np.uint64(width + 2)
    _set_padding(quantized, height, width, 255)  # above every swept level
    ring = _ring_offsets(width)
    passing = np.zeros(fractions.shape[0], np.int64)
    unused = np.zeros(fractions.shape[0], np.int64)
    num_labels = np.uint64(0)
    for level in range(last_level + 1):
        lv = np.uint8(level)
        num_touched = np.uint64(0)
        previous = np.uint64(-1)
        for i in range(np.uint64(start[level]), np.uint64(start[level + 1])):
            p = np.uint64(order[i])
            up = p - stride
            down = p + stride
            x = xs[i]
            y = ys[i]
            border = (x == 0) | (y == 0) | (x == width - 1) | (y == height - 1)
            # background neighbours, as in the foreground sweep: pixels of
            # this level count once added; the 255 padding never counts
            mask = (np.uint64(quantized[up - one] <= lv)
                    | np.uint64(quantized[up] <= lv) << np.uint64(1)
                    | np.uint64(quantized[up + one] <= lv) << np.uint64(2)
                    | np.uint64(quantized[p + one] < lv) << np.uint64(3)
                    | np.uint64(quantized[down + one] < lv) << np.uint64(4)
                    | np.uint64(quantized[down] < lv) << np.uint64(5)
                    | np.uint64(quantized[down - one] < lv) << np.uint64(6)
                    | np.uint64(quantized[p - one] <= lv) << np.uint64(7))
            num_runs = RUNS_4[mask]
            found = num_runs > 0
            root = np.uint64(0)
            if found:
                root = _find(comp, np.uint64(
                    label[p + ring[RUN_MEMBER_4[mask, 0]]]))
                for run in range(one, num_runs):
                    other = _find(comp, np.uint64(
                        label[p + ring[RUN_MEMBER_4[mask, run]]]))
                    if other != root:
                        root = _union(comp, root, other, passing, unused)
                        if comp[BORDER, root]:  # no hole (any more)
                            _recount(passing, comp[CATEGORY, root], 0)
                            comp[CATEGORY, root] = 0
            if not found:
                root = num_labels
                num_labels += one
                _new_component(comp, root, x, y)
                comp[BORDER, root] = border
            else:
                _grow(comp, root, x, y)
                if border and not comp[BORDER, root]:
                    comp[BORDER, root] = 1
                    _recount(passing, comp[CATEGORY, root], 0)
                    comp[CATEGORY, root] = 0
            label[p] = root
            touched[num_touched] = root  # kept when the component changes
            num_touched += np.uint64(root != previous)
            previous = root
        for i in range(num_touched):
            r = _find(comp, np.uint64(touched[i]))
            if comp[STAMP, r] == level or comp[BORDER, r]:
                continue
            comp[STAMP, r] = level
            # hole box grown by one pixel -> (x, y, x + w, y + h), clipped
            new, _ = _box_categories(
                comp[X0, r] - 1, comp[Y0, r] - 1,
                min(comp[X1, r] + 2, width - 1),
                min(comp[Y1, r] + 2, height - 1), gt, fractions)
            _recount(passing, comp[CATEGORY, r], new)
            comp[CATEGORY, r] = new
        for j in range(fractions.shape[0]):
            passing_out[level, j] = passing[j]
    _set_padding(quantized, height, width, 0)


@njit(cache=True, nogil=True)
def _correct_per_level(scoremap, gt, fractions, scratch, out):
    """Fill ``out`` (``(256, n)`` bool) for one map; return its maximum
    level, or -1 for an invalid map."""
    quantized, order, xs, ys, label, comp, touched = scratch
    height, width = scoremap.shape
    num_fractions = fractions.shape[0]
    start = np.empty(NUM_LEVELS + 1, np.int64)
    max_level = _sort_by_level(scoremap, quantized, order, xs, ys, start)
    if max_level < 0:
        return -1
    fg_any = np.zeros(NUM_LEVELS, np.bool_)
    fg_passing = np.zeros((NUM_LEVELS, num_fractions), np.int64)
    fg_potential = np.zeros((NUM_LEVELS, num_fractions), np.int64)
    hole_passing = np.zeros((NUM_LEVELS, num_fractions), np.int64)
    _sweep_foreground(quantized, order, xs, ys, start, height, width, gt,
                      fractions, label, comp, touched, fg_any, fg_passing,
                      fg_potential)
    # Holes only matter where no outer box passes but one could hold a
    # passing hole; the (ascending) hole sweep stops after the last such level
    last_needed = -1
    for k in range(NUM_LEVELS):
        for j in range(num_fractions):
            if fg_any[k] and fg_passing[k, j] == 0 and fg_potential[k, j] > 0:
                last_needed = k
    if last_needed >= 0:
        _sweep_holes(quantized, order, xs, ys, start, height, width, gt,
                     fractions, label, comp, touched, last_needed,
                     hole_passing)
    no_contour = _box_categories(0, 0, 0, 0, gt, fractions)[0]  # (0,0,0,0)
    for k in range(NUM_LEVELS):
        for j in range(num_fractions):
            if fg_any[k]:
                out[k, j] = fg_passing[k, j] + hole_passing[k, j] > 0
            else:
                out[k, j] = no_contour > j
    return max_level


@njit(cache=True, nogil=True)
def _correct_per_level_strided(scoremaps, gt_flat, gt_offsets, fractions,
                               first, step, max_levels, out):
    """Maps ``first, first + step, ...`` of the stack (one worker thread;
    the GIL is released)."""
    num_maps, height, width = scoremaps.shape
    scratch = _allocate(height * width, (height + 2) * (width + 2))
    for i in range(first, num_maps, step):
        max_levels[i] = _correct_per_level(
            scoremaps[i], gt_flat[gt_offsets[i]:gt_offsets[i + 1]],
            fractions, scratch, out[i])


def correct_per_level_batch(scoremaps: np.ndarray, gt_boxes: List,
                            fractions: Sequence[float],
                            workers: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """Per-level correctness of a stack of score maps, all contours.

    Args:
        scoremaps: ``(N, H, W)`` float score maps in [0, 1] (quantised here
            exactly like ``(map * 255).astype(np.uint8)``).
        gt_boxes: N arrays ``(n_i, 4)`` of inclusive GT boxes in the maps'
            frame, at least one per map.
        fractions: IoU thresholds as fractions (``iou_fractions``).
        workers: threads to spread the maps over.

    Returns:
        ``max_levels`` ``(N,)`` int64, the uint8 maximum of each map, and
        ``correct`` ``(N, 256, len(fractions))`` bool: ``[i, k, j]`` says
        whether some contour box of ``q_i > k`` has IoU >= ``fractions[j]``
        with a GT box of map ``i`` (levels ``k >= max_levels[i]`` have no
        contour and use the box (0, 0, 0, 0), as the reference).
    """
    scoremaps = np.ascontiguousarray(scoremaps, dtype=np.float64)
    if scoremaps.ndim != 3:
        raise ValueError('expected a stack (N, H, W) of score maps, got shape '
                         f'{scoremaps.shape}')
    if len(gt_boxes) != scoremaps.shape[0]:
        raise ValueError(f'got {scoremaps.shape[0]} score maps but '
                         f'{len(gt_boxes)} lists of GT boxes')
    fractions = np.asarray(fractions, np.float64)
    order = np.argsort(fractions, kind='stable')
    boxes = [_as_boxes(b, f'GT boxes of map {i}').astype(np.int64)
             for i, b in enumerate(gt_boxes)]
    empty = [i for i, b in enumerate(boxes) if len(b) == 0]
    if empty:
        raise ValueError(f'map {empty[0]} has no GT box; every map needs one')
    offsets = np.zeros(len(boxes) + 1, np.int64)
    offsets[1:] = np.cumsum([len(b) for b in boxes])
    gt_flat = (np.concatenate(boxes, axis=0) if boxes else
               np.zeros((0, 4), np.int64))
    num_maps = scoremaps.shape[0]
    max_levels = np.zeros(num_maps, np.int64)
    out = np.zeros((num_maps, NUM_LEVELS, len(order)), np.bool_)
    workers = max(1, min(int(workers), num_maps))
    args = (scoremaps, gt_flat, offsets, fractions[order])
    if workers == 1:
        _correct_per_level_strided(*args, 0, 1, max_levels, out)
    elif num_maps:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(
                lambda first: _correct_per_level_strided(
                    *args, first, workers, max_levels, out), range(workers)))
    invalid = np.flatnonzero(max_levels < 0)
    if len(invalid):  # the kernels only flag a bad map: say what is wrong
        check_scoremap(scoremaps[invalid[0]], name=f'score map {invalid[0]}')
    correct = np.empty_like(out)
    correct[..., order] = out
    return max_levels, correct


def correct_per_level(scoremap: np.ndarray, gt_boxes,
                      fractions: Sequence[float]) -> Tuple[int, np.ndarray]:
    """``correct_per_level_batch`` for one ``(H, W)`` map: returns its
    maximum level and the ``(256, len(fractions))`` table."""
    scoremap = np.asarray(scoremap)
    if scoremap.ndim != 2:
        raise ValueError(f'expected one (H, W) score map, got shape '
                         f'{scoremap.shape}')
    max_levels, correct = correct_per_level_batch(scoremap[None], [gt_boxes],
                                                  fractions, workers=1)
    return int(max_levels[0]), correct[0]
