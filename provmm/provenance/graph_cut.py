"""Multi-label graph cut on a 4-connected grid by alpha-beta swap moves
(Boykov, Veksler & Zabih, PAMI 2001), the algorithm PuzzleMix runs through
the GCO library (``gco.cut_grid_graph(..., algorithm='swap')``).

The energy of a labelling ``l`` of an ``(H, W)`` grid is

    E(l) = sum_p D[p, l_p] + sum_{(p, q)} w_pq V[l_p, l_q]

with integer unary costs ``D``, non-negative integer edge weights ``w``
(vertical and horizontal neighbours) and an integer semi-metric ``V``
(``V[a, a] = 0``, ``V[a, b] = V[b, a] >= 0``). Starting from label 0
everywhere, a cycle tries the swap move of every label pair ``a < b`` in
order: the sites labelled ``a`` or ``b`` may exchange these two labels, and
the best such exchange is one s-t minimum cut (exact: the move's binary
energy is submodular because ``w >= 0`` and ``V >= 0``). A move is kept only
if it lowers the energy; cycles repeat until one changes nothing. The result
is a local minimum with respect to every swap move (the global minimum for
two labels).

The minimum cut takes the sites still reachable from the source in the
residual graph of a maximum flow (Edmonds-Karp, BFS augmenting paths): that
source set is the same for every maximum flow, so the result does not depend
on the order in which flow was pushed. GCO uses the Boykov-Kolmogorov
max-flow and may visit label pairs in another order; both return a
swap-local minimum, which need not be the same one when several exist.
Integer arithmetic keeps the energies exact.
"""
import numpy as np
from numba import njit

MAX_CYCLES = 50  # a safety stop; grids of PuzzleMix converge in a few cycles
INF = 2**62


def grid_swap(unary: np.ndarray, weight_v: np.ndarray, weight_h: np.ndarray,
              smooth: np.ndarray) -> np.ndarray:
    """Swap-move minimum of the grid energy in the module docstring.

    Args:
        unary (ndarray): ``(H, W, L)`` integer costs ``D``.
        weight_v (ndarray): ``(H - 1, W)`` integer weights between ``(i, j)``
            and ``(i + 1, j)``, non-negative.
        weight_h (ndarray): ``(H, W - 1)`` integer weights between ``(i, j)``
            and ``(i, j + 1)``, non-negative.
        smooth (ndarray): ``(L, L)`` integer semi-metric ``V``.

    Returns:
        ndarray: ``(H, W)`` int64 labels in ``[0, L)``.
    """
    unary, weight_v, weight_h, smooth = _check_grid(unary, weight_v,
                                                    weight_h, smooth)
    return _swap(unary, weight_v, weight_h, smooth)


def grid_energy(labels: np.ndarray, unary: np.ndarray, weight_v: np.ndarray,
                weight_h: np.ndarray, smooth: np.ndarray) -> int:
    """``E(labels)`` of the module docstring (exact, int)."""
    labels = np.asarray(labels, np.int64)
    unary, weight_v, weight_h, smooth = _check_grid(unary, weight_v,
                                                    weight_h, smooth)
    if labels.shape != unary.shape[:2]:
        raise ValueError(f'labels must be {unary.shape[:2]}, got '
                         f'{labels.shape}')
    return int(_energy(labels, unary, weight_v, weight_h, smooth))


def _check_grid(unary, weight_v, weight_h, smooth):
    unary, weight_v, weight_h, smooth = (
        np.ascontiguousarray(array, np.int64)
        for array in (unary, weight_v, weight_h, smooth))
    if unary.ndim != 3:
        raise ValueError(f'unary must be (H, W, L), got {unary.shape}')
    height, width, num_labels = unary.shape
    for name, array, shape in (
            ('weight_v', weight_v, (height - 1, width)),
            ('weight_h', weight_h, (height, width - 1)),
            ('smooth', smooth, (num_labels, num_labels))):
        if array.shape != shape:
            raise ValueError(f'{name} must be {shape}, got {array.shape}')
    if (weight_v < 0).any() or (weight_h < 0).any():
        raise ValueError('weight_v and weight_h must be non-negative')
    if (np.diag(smooth) != 0).any() or (smooth < 0).any() or (
            smooth != smooth.T).any():
        raise ValueError('smooth must be a semi-metric: zero diagonal, '
                         'symmetric, non-negative')
    return unary, weight_v, weight_h, smooth


@njit(cache=True)
def _energy(labels, unary, weight_v, weight_h, smooth):
    height, width = labels.shape
    total = 0
    for i in range(height):
        for j in range(width):
            total += unary[i, j, labels[i, j]]
            if i + 1 < height:
                total += weight_v[i, j] * smooth[labels[i, j],
                                                 labels[i + 1, j]]
            if j + 1 < width:
                total += weight_h[i, j] * smooth[labels[i, j],
                                                 labels[i, j + 1]]
    return total


@njit(cache=True)
def _swap(unary, weight_v, weight_h, smooth):
    height, width, num_labels = unary.shape
    labels = np.zeros((height, width), np.int64)
    energy = _energy(labels, unary, weight_v, weight_h, smooth)
    for _ in range(MAX_CYCLES):
        changed = False
        for label_a in range(num_labels):
            for label_b in range(label_a + 1, num_labels):
                moved = _swap_move(labels, label_a, label_b, unary,
                                   weight_v, weight_h, smooth)
                moved_energy = _energy(moved, unary, weight_v, weight_h,
                                       smooth)
                if moved_energy < energy:
                    labels, energy, changed = moved, moved_energy, True
        if not changed:
            break
    return labels


@njit(cache=True)
def _add_edge(head, cap, nxt, first, count, u, v, cap_uv, cap_vu):
    # edges 2k and 2k + 1 are each other's reverse
    head[count], cap[count], nxt[count] = v, cap_uv, first[u]
    first[u] = count
    head[count + 1], cap[count + 1], nxt[count + 1] = u, cap_vu, first[v]
    first[v] = count + 1
    return count + 2


@njit(cache=True)
def _swap_move(labels, label_a, label_b, unary, weight_v, weight_h, smooth):
    """Best relabelling of the ``label_a``/``label_b`` sites between these two
    labels: one minimum cut. Source side = ``label_a``."""
    height, width = labels.shape
    node = -np.ones((height, width), np.int64)
    num = 0
    for i in range(height):
        for j in range(width):
            if labels[i, j] == label_a or labels[i, j] == label_b:
                node[i, j] = num
                num += 1
    moved = labels.copy()
    if num == 0:
        return moved
    source, sink = num, num + 1
    # per site: two neighbour edges (down, right) and two terminal edges
    max_edges = 8 * num
    head = np.empty(max_edges, np.int64)
    cap = np.empty(max_edges, np.int64)
    nxt = np.empty(max_edges, np.int64)
    first = -np.ones(num + 2, np.int64)
    count = 0
    between = smooth[label_a, label_b]
    for i in range(height):
        for j in range(width):
            p = node[i, j]
            if p < 0:
                continue
            cost_a, cost_b = unary[i, j, label_a], unary[i, j, label_b]
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                qi, qj = i + di, j + dj
                if qi < 0 or qi >= height or qj < 0 or qj >= width:
                    continue
                if di != 0:
                    weight = weight_v[min(i, qi), j]
                else:
                    weight = weight_h[i, min(j, qj)]
                if node[qi, qj] < 0:  # fixed neighbour: a unary term
                    cost_a += weight * smooth[label_a, labels[qi, qj]]
                    cost_b += weight * smooth[label_b, labels[qi, qj]]
                elif (di > 0 or dj > 0) and weight * between > 0:
                    count = _add_edge(head, cap, nxt, first, count, p,
                                      node[qi, qj], weight * between,
                                      weight * between)
            # source side pays cost_a through p -> sink, sink side cost_b
            low = min(cost_a, cost_b)
            if cost_b - low > 0:
                count = _add_edge(head, cap, nxt, first, count, source, p,
                                  cost_b - low, 0)
            if cost_a - low > 0:
                count = _add_edge(head, cap, nxt, first, count, p, sink,
                                  cost_a - low, 0)
    reach = _max_flow_source_set(head, cap, nxt, first, source, sink)
    for i in range(height):
        for j in range(width):
            if node[i, j] >= 0:
                moved[i, j] = label_a if reach[node[i, j]] else label_b
    return moved


@njit(cache=True)
def _max_flow_source_set(head, cap, nxt, first, source, sink):
    """Edmonds-Karp maximum flow (modifies ``cap`` into the residual
    capacities); returns the sites reachable from the source afterwards."""
    num_nodes = first.shape[0]
    parent_edge = np.empty(num_nodes, np.int64)
    queue = np.empty(num_nodes, np.int64)
    while True:
        parent_edge[:] = -1
        seen = np.zeros(num_nodes, np.bool_)
        seen[source] = True
        queue[0], start, end = source, 0, 1
        while start < end and not seen[sink]:
            u = queue[start]
            start += 1
            edge = first[u]
            while edge >= 0:
                v = head[edge]
                if cap[edge] > 0 and not seen[v]:
                    seen[v] = True
                    parent_edge[v] = edge
                    queue[end] = v
                    end += 1
                edge = nxt[edge]
        if not seen[sink]:
            return seen
        bottleneck = INF
        v = sink
        while v != source:
            edge = parent_edge[v]
            bottleneck = min(bottleneck, cap[edge])
            v = head[edge ^ 1]
        v = sink
        while v != source:
            edge = parent_edge[v]
            cap[edge] -= bottleneck
            cap[edge ^ 1] += bottleneck
            v = head[edge ^ 1]
