"""Hard-cosine filtration of generated images (DiffCoRe-Mix Eq. 5).

A generated image ``G_i`` made for the real image ``I_i`` of class ``y`` is
kept iff

    cos(emb(I_i), emb(G_i)) > tau_y,

where ``tau_y`` is the mean cosine similarity of random pairs of *real*
images of class ``y``: a generated image must resemble its source more
than two real images of its class resemble each other on average.

"Random pairs" is taken as all distinct unordered pairs, whose mean is the
expectation of any uniform random-pair sample, computed exactly and in
O(n * d) rather than estimated: with unit vectors ``u_k``,

    sum_{k != l} u_k . u_l = ||sum_k u_k||^2 - n,
    tau_y = (||sum_k u_k||^2 - n) / (n (n - 1)).

A class needs two real images for a pair. Classes with fewer raise an error
unless ``fallback_tau`` is given, which is then used for them and reported.
(The DiffCoRe-Mix repository's code compares with a fixed ``>= 0.6``; this
implements the paper's automatic, strict threshold of Eq. 5.)
"""
from dataclasses import dataclass, field
from typing import Dict, Optional, Set

import numpy as np


@dataclass
class HardCosineFiltration:
    """Result of :func:`hard_cosine_filter` for N generated images.

    Attributes:
        keep: (N,) bool, generated image i passes Eq. 5.
        cosine: (N,) float64, cos(emb(I_i), emb(G_i)).
        labels: (N,) int, class of generated image i.
        tau: class -> threshold, for every class of a generated image.
        num_real: class -> number of real images behind its threshold.
        fallback_classes: classes whose threshold is ``fallback_tau``.
    """
    keep: np.ndarray
    cosine: np.ndarray
    labels: np.ndarray
    tau: Dict[int, float]
    num_real: Dict[int, int]
    fallback_classes: Set[int] = field(default_factory=set)


def unit_rows(embeddings: np.ndarray, name: str = 'embeddings') -> np.ndarray:
    """Rows of ``embeddings`` (N, D) scaled to unit L2 norm, in float64."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if embeddings.ndim != 2:
        raise ValueError(f'{name} must be (N, D), got shape '
                         f'{embeddings.shape}')
    if not np.isfinite(embeddings).all():
        rows = np.flatnonzero(~np.isfinite(embeddings).all(axis=1))
        raise ValueError(f'{name} rows {rows[:10].tolist()} are not finite')
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    if (norms == 0).any():
        rows = np.flatnonzero(norms[:, 0] == 0)
        raise ValueError(f'{name} rows {rows[:10].tolist()} are zero vectors: '
                         'their cosine similarity is undefined')
    return embeddings / norms


def mean_pairwise_cosine(embeddings: np.ndarray) -> float:
    """Mean cosine similarity over all distinct row pairs of (n >= 2, D)."""
    units = unit_rows(embeddings)
    n = len(units)
    if n < 2:
        raise ValueError(f'need at least 2 embeddings for a pair, got {n}')
    total = units.sum(axis=0)
    return float((total @ total - n) / (n * (n - 1)))


def class_thresholds(real_embeddings: np.ndarray,
                     real_labels: np.ndarray,
                     classes: Optional[np.ndarray] = None,
                     fallback_tau: Optional[float] = None):
    """Per-class ``tau_y`` of Eq. 5 from real images.

    Args:
        real_embeddings: (R, D) embeddings of distinct real images.
        real_labels: (R,) their classes.
        classes: the classes that need a threshold; all of ``real_labels``
            when None.
        fallback_tau: threshold for classes with fewer than 2 real images;
            None makes them an error.

    Returns:
        (tau, num_real, fallback_classes) dicts/set keyed by class.
    """
    real_labels = np.asarray(real_labels)
    if len(real_labels) != len(real_embeddings):
        raise ValueError(f'{len(real_embeddings)} real embeddings but '
                         f'{len(real_labels)} labels')
    if classes is None:
        classes = real_labels
    tau, num_real, fallback = {}, {}, set()
    too_few = []
    for label in sorted({int(c) for c in classes}):
        members = real_embeddings[real_labels == label]
        num_real[label] = len(members)
        if len(members) >= 2:
            tau[label] = mean_pairwise_cosine(members)
        elif fallback_tau is not None:
            tau[label] = float(fallback_tau)
            fallback.add(label)
        else:
            too_few.append(f'{label} ({len(members)} real)')
    if too_few:
        raise ValueError(
            'tau_y is the mean cosine of pairs of real images of class y, '
            'but these classes have fewer than 2 real images: '
            f'{", ".join(too_few)}. Add real images or give fallback_tau.')
    return tau, num_real, fallback


def hard_cosine_filter(real_embeddings: np.ndarray,
                       real_labels: np.ndarray,
                       generated_embeddings: np.ndarray,
                       source_index: np.ndarray,
                       fallback_tau: Optional[float] = None
                       ) -> HardCosineFiltration:
    """Keep generated images closer to their source than ``tau_y`` (Eq. 5).

    Args:
        real_embeddings: (R, D) embeddings of the distinct real images; all
            of them (not only the sources) enter ``tau_y``.
        real_labels: (R,) their classes.
        generated_embeddings: (N, D) embeddings of the generated images.
        source_index: (N,) row in ``real_embeddings`` of each generated
            image's source ``I_i``; the generated image has its class.
        fallback_tau: see :func:`class_thresholds`.
    """
    real_units = unit_rows(real_embeddings, 'real_embeddings')
    generated_units = unit_rows(generated_embeddings, 'generated_embeddings')
    real_labels = np.asarray(real_labels).astype(np.int64)
    source_index = np.asarray(source_index)
    if generated_units.shape[1] != real_units.shape[1]:
        raise ValueError(
            f'real embeddings have {real_units.shape[1]} dimensions, '
            f'generated ones {generated_units.shape[1]}')
    if source_index.shape != (len(generated_units), ):
        raise ValueError(f'source_index must be ({len(generated_units)},), '
                         f'got shape {source_index.shape}')
    if len(source_index) and not (
            np.issubdtype(source_index.dtype, np.integer)
            and 0 <= source_index.min() and
            source_index.max() < len(real_units)):
        raise ValueError('source_index must hold integer rows of '
                         f'real_embeddings (0..{len(real_units) - 1})')
    labels = real_labels[source_index]
    tau, num_real, fallback = class_thresholds(real_units, real_labels,
                                               labels, fallback_tau)
    cosine = np.einsum('nd,nd->n', real_units[source_index], generated_units)
    thresholds = np.array([tau[int(y)] for y in labels], dtype=np.float64)
    return HardCosineFiltration(
        keep=cosine > thresholds,
        cosine=cosine,
        labels=labels,
        tau=tau,
        num_real=num_real,
        fallback_classes=fallback)
