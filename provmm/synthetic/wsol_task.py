"""Generator of the built-in synthetic WSOL benchmark (plain numpy/OpenCV).

A CUB-like task with exactly known boxes: one object of a shape class per
64 px image, on a cluttered background whose domain (texture + hue)
correlates with the class at the configured rate in train/val and is
balanced (no correlation) in test. That is the situation the paper targets:
the background is an easier cue than the object, so CAMs leak to context.

A second, broad "source" task (12 other shapes, backgrounds of random
texture and hue, no correlation) pre-trains the backbone, as the paper
fine-tunes ImageNet backbones; a network trained from scratch on the biased
task learns only the background.

Everything is written in the wsolevaluation layout, so the loaders and
``tools/eval_wsol.py`` read it like real data::

    <root>/images/<split>/<class>/<split>_<index>.png
    <root>/metadata/<split>/{image_ids,class_labels,image_sizes,
                             localization,backgrounds}.txt
    <root>/synthetic_wsol.json      (the spec; written last = complete)

``backgrounds.txt`` (``<image_id>,<domain>``) is extra; the metadata reader
ignores it. Boxes are inclusive pixel indices of the object's pixels.
"""
import dataclasses
import json
import os
import os.path as osp
import shutil
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from .backgrounds import DOMAIN_NAMES, render_background
from .progress import announce
from .shapes import (MAX_ROTATION_DEG, SOURCE_SHAPES, TARGET_SHAPES,
                     rasterize_shape)

SPEC_FILE = 'synthetic_wsol.json'
FORMAT_VERSION = 1
TASKS = ('target', 'source')
_SPLIT_IDS = {'train': 0, 'val': 1, 'test': 2}


@dataclass(frozen=True)
class SyntheticWSOLSpec:
    """Everything that determines a generated task (the cache key).

    Args:
        task: ``'target'`` (8 shapes, class-correlated backgrounds) or
            ``'source'`` (12 other shapes, uncorrelated backgrounds).
        seed: generator seed; the same spec gives the same bytes.
        image_size: side of the square images in pixels.
        background_bias: fraction of train/val images of class ``c`` whose
            background is domain ``c`` (the rest spread evenly over the other
            domains). ``None`` balances every (class, domain) pair, which is
            always the case for test. Ignored by the source task.
        num_per_class: images per class for each split.
        object_size: range of the object's nominal side in pixels.
        clutter: clutter fragments per background.
        context_patches: rectangles of random domains per background, so a
            domain's texture is not exclusive to its class (a shortcut that
            is predictive but shared, like water behind many bird species).
        noise_std: std of the Gaussian pixel noise on the background.
    """
    task: str = 'target'
    seed: int = 0
    image_size: int = 64
    background_bias: Optional[float] = 0.9
    num_per_class: Dict[str, int] = field(
        default_factory=lambda: dict(train=100, val=25, test=64))
    object_size: Tuple[float, float] = (18.0, 30.0)
    clutter: int = 8
    context_patches: int = 2
    noise_std: float = 0.03

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f'task must be one of {TASKS}, got {self.task!r}')
        unknown = set(self.num_per_class) - set(_SPLIT_IDS)
        if unknown:
            raise ValueError(f'num_per_class has unknown split(s) '
                             f'{sorted(unknown)}; expected {list(_SPLIT_IDS)}')
        if self.background_bias is not None and not (
                0.0 <= self.background_bias <= 1.0):
            raise ValueError('background_bias must be in [0, 1] or None, got '
                             f'{self.background_bias}')
        lo, hi = self.object_size
        if not 4 <= lo <= hi <= self.image_size / 1.6:
            raise ValueError(f'object_size {self.object_size} must satisfy '
                             f'4 <= min <= max <= image_size / 1.6')

    @property
    def shapes(self):
        return TARGET_SHAPES if self.task == 'target' else SOURCE_SHAPES

    @property
    def classes(self) -> Tuple[str, ...]:
        return tuple(self.shapes)

    def to_json(self) -> dict:
        spec = dataclasses.asdict(self)
        spec['object_size'] = list(self.object_size)
        return dict(format_version=FORMAT_VERSION, spec=spec)

    @classmethod
    def from_json(cls, record: dict) -> 'SyntheticWSOLSpec':
        spec = dict(record['spec'])
        spec['object_size'] = tuple(spec['object_size'])
        return cls(**spec)


@dataclass
class SyntheticSample:
    """One rendered sample: ``image = where(mask, object_rgb, background)``.

    Attributes:
        image: uint8 RGB ``(S, S, 3)``.
        background: uint8 RGB ``(S, S, 3)`` before the object is pasted.
        object_rgb: uint8 RGB ``(S, S, 3)`` object colours (valid in mask).
        mask: bool ``(S, S)``, the pasted object pixels.
        box: ``(x0, y0, x1, y1)`` inclusive pixel indices of ``mask``.
        label: class index; domain: background domain index.
    """
    image: np.ndarray
    background: np.ndarray
    object_rgb: np.ndarray
    mask: np.ndarray
    box: Tuple[int, int, int, int]
    label: int
    domain: int


def mask_box(mask: np.ndarray) -> Tuple[int, int, int, int]:
    """Inclusive ``(x0, y0, x1, y1)`` of the True pixels of ``mask``."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        raise ValueError('the object mask is empty')
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def split_labels(spec: SyntheticWSOLSpec, split: str) -> np.ndarray:
    """Class of every image of ``split``, classes interleaved."""
    num_classes = len(spec.classes)
    return np.arange(spec.num_per_class[split] * num_classes) % num_classes


def assign_domains(labels: np.ndarray, num_domains: int,
                   bias: Optional[float],
                   rng: np.random.Generator) -> np.ndarray:
    """Background domain of every image.

    With ``bias`` b, exactly ``round(b * n_c)`` images of class ``c`` get
    domain ``c % num_domains``; the rest cycle over the other domains. With
    ``None`` every class cycles over all domains (balanced: no correlation
    when ``n_c`` is a multiple of ``num_domains``). Order is shuffled.
    """
    domains = np.empty_like(labels)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        own = c % num_domains
        if bias is None:
            cells = np.arange(len(idx)) % num_domains
        else:
            k = int(round(bias * len(idx)))
            others = [d for d in range(num_domains) if d != own]
            cells = np.concatenate([
                np.full(k, own),
                np.array(others)[np.arange(len(idx) - k) % len(others)]
            ]).astype(labels.dtype)
        domains[idx] = rng.permutation(cells)
    return domains


def _split_domains(spec, split):
    labels = split_labels(spec, split)
    rng = np.random.default_rng(
        [spec.seed, TASKS.index(spec.task), _SPLIT_IDS[split], 1])
    bias = (spec.background_bias
            if spec.task == 'target' and split != 'test' else None)
    return labels, assign_domains(labels, len(DOMAIN_NAMES), bias, rng)


def _render(spec, split, index, label, domain) -> SyntheticSample:
    rng = np.random.default_rng(
        [spec.seed, TASKS.index(spec.task), _SPLIT_IDS[split], 0, index])
    s = spec.image_size
    # The source task decorrelates the hue from the texture as well.
    hue = rng.uniform() if spec.task == 'source' else None
    background = render_background(domain, s, rng, hue=hue,
                                   clutter=spec.clutter,
                                   patches=spec.context_patches)
    background = background + rng.normal(0, spec.noise_std, background.shape)

    size = rng.uniform(*spec.object_size)
    aspect = rng.uniform(0.85, 1.15)
    angle = rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG)
    margin = size / 2 * max(aspect, 1.0) * np.sqrt(2) + 1
    center = tuple(rng.uniform(margin, s - 1 - margin, size=2))
    shape = spec.shapes[spec.classes[label]]
    mask = rasterize_shape(shape, s, center, size, angle, aspect)

    fill = np.array(
        [float(c) for c in cv2.cvtColor(
            np.array([[[rng.uniform(0, 180), rng.uniform(150, 255),
                        rng.uniform(140, 255)]]], np.uint8),
            cv2.COLOR_HSV2RGB_FULL)[0, 0]]) / 255.0
    object_rgb = fill + rng.normal(0, 0.02, (s, s, 3))
    # A dark 1 px outline keeps the silhouette visible on any background.
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8))
    object_rgb[mask & ~inner.astype(bool)] = 0.08

    to_u8 = lambda a: (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)  # noqa
    background, object_rgb = to_u8(background), to_u8(object_rgb)
    image = np.where(mask[..., None], object_rgb, background)
    return SyntheticSample(image, background, object_rgb, mask,
                           mask_box(mask), int(label), int(domain))


def render_split(spec: SyntheticWSOLSpec, split: str):
    """Yield ``(image_id, SyntheticSample)`` for every image of ``split``."""
    labels, domains = _split_domains(spec, split)
    for index, (label, domain) in enumerate(zip(labels, domains)):
        image_id = f'{split}/{spec.classes[label]}/{split}_{index:05d}.png'
        yield image_id, _render(spec, split, index, label, domain)


def _write_task(root: str, spec: SyntheticWSOLSpec, progress):
    for split in spec.num_per_class:
        meta_dir = osp.join(root, 'metadata', split)
        os.makedirs(meta_dir, exist_ok=True)
        rows: Dict[str, List[str]] = {
            k: []
            for k in ('image_ids', 'class_labels', 'image_sizes',
                      'localization', 'backgrounds')
        }
        for image_id, sample in render_split(spec, split):
            path = osp.join(root, 'images', image_id)
            os.makedirs(osp.dirname(path), exist_ok=True)
            if not cv2.imwrite(path, cv2.cvtColor(sample.image,
                                                  cv2.COLOR_RGB2BGR)):
                raise OSError(f'could not write {path}')
            h, w = sample.image.shape[:2]
            rows['image_ids'].append(image_id)
            rows['class_labels'].append(f'{image_id},{sample.label}')
            rows['image_sizes'].append(f'{image_id},{w},{h}')
            rows['localization'].append(
                image_id + ',' + ','.join(str(c) for c in sample.box))
            rows['backgrounds'].append(f'{image_id},{sample.domain}')
            progress.update()
        for name, lines in rows.items():
            with open(osp.join(meta_dir, f'{name}.txt'), 'w') as f:
                f.write('\n'.join(lines) + '\n')
    with open(osp.join(root, SPEC_FILE), 'w') as f:
        json.dump(spec.to_json(), f, indent=2, sort_keys=True)


def read_spec(root: str) -> Optional[SyntheticWSOLSpec]:
    """The spec a complete task under ``root`` was generated with."""
    path = osp.join(root, SPEC_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        record = json.load(f)
    if record.get('format_version') != FORMAT_VERSION:
        raise ValueError(f'{path}: synthetic WSOL format version '
                         f'{record.get("format_version")}, this provmm writes '
                         f'{FORMAT_VERSION}; delete {root} to regenerate it.')
    return SyntheticWSOLSpec.from_json(record)


def _check_cached(root, spec):
    cached = read_spec(root)
    if cached is None:
        raise FileExistsError(
            f'{root} exists but holds no complete synthetic WSOL task '
            f'({SPEC_FILE} missing); delete it to regenerate, or choose '
            'another data_root.')
    if cached != spec:
        diff = {k: (getattr(cached, k), getattr(spec, k))
                for k in spec.__dataclass_fields__
                if getattr(cached, k) != getattr(spec, k)}
        raise ValueError(
            f'{root} holds a synthetic WSOL task generated with other '
            f'settings (cached, requested): {diff}. Delete it to regenerate, '
            'or choose another data_root.')


def ensure_synthetic_wsol(root: str, spec: SyntheticWSOLSpec) -> str:
    """Generate the task under ``root`` unless it is already cached there.

    Generation writes to a temporary sibling folder that is renamed into
    place when complete, so an interrupted or concurrent run never leaves a
    half-written task behind.
    """
    if osp.exists(root):
        _check_cached(root, spec)
        return root
    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = f'{osp.abspath(root)}.partial-{os.getpid()}'
    shutil.rmtree(tmp, ignore_errors=True)
    total = sum(spec.num_per_class.values()) * len(spec.classes)
    what = 'benchmark' if spec.task == 'target' else 'source task'
    try:
        with announce(f'Generating the synthetic WSOL {what} under {root} '
                      f'(first use, {total:,} images)...', total) as progress:
            _write_task(tmp, spec, progress)
        os.rename(tmp, root)
    except OSError:
        if not osp.exists(root):
            raise
        _check_cached(root, spec)  # another process finished first
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root
