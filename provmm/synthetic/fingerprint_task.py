"""Generator of the built-in synthesis-fingerprint benchmark (numpy/OpenCV).

A task where the *synthesis* leaves a label-correlated cue, and leaves it
only in the synthesized region. Real images: one object per image whose
shape is the class, on a random background texture (no class cue in the
background). Edits (the analogue of generated training images): an
original train image keeps its object and gets a new background into which
the "generator" writes a faint class-specific *fingerprint*, an oriented
grating::

    F_c(x, y) = A * sin(2 pi (x cos t_c + y sin t_c) / period + phi),
    t_c = pi * c / K,   A = strength * FINGERPRINT_AMPLITUDE,

(``phi`` random per image), so ``x~ = M * x + (1 - M) * (b + F_y)`` with M
the object mask (1 = kept/real, 0 = synthesized, paper Eq. 7). Real train
images and every val/test image carry no fingerprint: a model that learns
the fingerprint from the edits gains nothing on real test data, and a test
image into which another class's fingerprint is inserted
(:func:`insert_fingerprint`) shows how much it relies on it.

Layout (``<key>`` names the edit settings, strength included)::

    <root>/images/<split>/<class>/<split>_<index>.png
    <root>/metadata.csv                 img_filename,y,split,background
    <root>/synthetic_fingerprint.json   the task spec; written last
    <root>/edits/<key>/images/train/<class>/train_<index>.png
    <root>/edits/<key>/gt_masks/train/<class>/train_<index>.png  255 = kept
    <root>/edits/<key>/manifest.csv     original,edited,label,gt_mask
    <root>/edits/<key>/fingerprint_edit.json   the edit spec; written last

Generation is deterministic: one spec gives the same bytes.
"""
import csv
import dataclasses
import hashlib
import json
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, Iterator, Tuple

import cv2
import numpy as np

from .backgrounds import DOMAIN_NAMES, render_background
from .progress import announce
from .shapes import TARGET_SHAPES
from .spurious_task import (SPLITS, ensure_generated, render_object,
                            to_uint8, write_rgb, write_spec)

SPEC_FILE = 'synthetic_fingerprint.json'
EDIT_SPEC_FILE = 'fingerprint_edit.json'
METADATA_FILE = 'metadata.csv'
EDIT_MANIFEST = 'manifest.csv'
FORMAT_VERSION = 1
# Peak amplitude of the grating at strength 1, in [0, 1] intensity units.
FINGERPRINT_AMPLITUDE = 0.1


@dataclass(frozen=True)
class FingerprintTaskSpec:
    """The real images (the cache key of the task).

    Args:
        seed: generator seed; the same spec gives the same bytes.
        image_size: side of the square images in pixels.
        classes: shape names (``shapes.TARGET_SHAPES``), one per class.
        backgrounds: background textures (``backgrounds.DOMAIN_NAMES``),
            drawn uniformly per image, independent of the class.
        num_images: images per split, each a multiple of ``len(classes)``
            (classes are interleaved, so every split is balanced).
        object_size: range of the object's nominal side in pixels.
        clutter: clutter fragments per background.
        noise_std: std of the background's Gaussian noise, [0, 1] units.
    """
    seed: int = 0
    image_size: int = 32
    classes: Tuple[str, ...] = ('triangle', 'plus')
    backgrounds: Tuple[str, ...] = ('blobs', 'grain', 'waves', 'dots')
    num_images: Dict[str, int] = field(
        default_factory=lambda: dict(train=400, val=400, test=800))
    object_size: Tuple[float, float] = (13.0, 17.0)
    clutter: int = 2
    noise_std: float = 0.03

    def __post_init__(self):
        for name in ('classes', 'backgrounds', 'object_size'):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, 'num_images', dict(self.num_images))
        if (len(set(self.classes)) < 2
                or not set(self.classes) <= set(TARGET_SHAPES)):
            raise ValueError(f'classes must be >= 2 distinct names of '
                             f'{sorted(TARGET_SHAPES)}, got {self.classes}')
        if not self.backgrounds or not set(self.backgrounds) <= set(
                DOMAIN_NAMES):
            raise ValueError(f'backgrounds must be names of {DOMAIN_NAMES}, '
                             f'got {self.backgrounds}')
        if set(self.num_images) != set(SPLITS):
            raise ValueError(f'num_images must give {list(SPLITS)}, got '
                             f'{sorted(self.num_images)}')
        for split, count in self.num_images.items():
            if count <= 0 or count % len(self.classes):
                raise ValueError(f'num_images[{split!r}] = {count} must be a '
                                 f'positive multiple of {len(self.classes)} '
                                 '(classes)')
        lo, hi = self.object_size
        # render_object's margin: a rotated, stretched object fits inside
        largest = ((self.image_size - 1) / 2 - 1) / (1.15 * np.sqrt(2) / 2)
        if not 4 <= lo <= hi <= largest:
            raise ValueError(f'object_size {self.object_size} must satisfy '
                             f'4 <= min <= max <= {largest:.1f} (the largest '
                             'object that fits at any rotation)')

    def to_json(self) -> dict:
        return dict(format_version=FORMAT_VERSION,
                    spec=json.loads(json.dumps(dataclasses.asdict(self))))


@dataclass(frozen=True)
class FingerprintEditSpec:
    """The generator's edits (with the task spec, the cache key).

    Args:
        seed: seed of the choice of images, backgrounds and phases.
        fraction: share of the train images that get one edited copy.
        strength: fingerprint dial; amplitude ``strength *
            FINGERPRINT_AMPLITUDE``; 0 = edits without any fingerprint.
        period: period of the grating in pixels.
    """
    seed: int = 0
    fraction: float = 1.0
    strength: float = 1.0
    period: float = 4.0

    def __post_init__(self):
        if not 0. < self.fraction <= 1.:
            raise ValueError(f'fraction must be in (0, 1], got '
                             f'{self.fraction}')
        if self.strength < 0:
            raise ValueError(f'strength must be >= 0, got {self.strength}')
        if self.period < 2:
            raise ValueError(f'period must be >= 2 px (Nyquist), got '
                             f'{self.period}')


@dataclass
class FingerprintSample:
    """``image = where(mask, object_rgb, background)``, uint8 RGB
    ``(S, S, 3)``; ``mask`` bool ``(S, S)`` (object = real/kept)."""
    image: np.ndarray
    background: np.ndarray
    object_rgb: np.ndarray
    mask: np.ndarray
    label: int


def fingerprint_pattern(label: int, num_classes: int, size: int,
                        period: float, phase: float = 0.) -> np.ndarray:
    """The unit-amplitude grating of class ``label``: float ``(S, S)`` in
    [-1, 1], oriented at ``pi * label / num_classes``."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    angle = np.pi * label / num_classes
    return np.sin(2 * np.pi * (xs * np.cos(angle) + ys * np.sin(angle)) /
                  period + phase)


def insert_fingerprint(image: np.ndarray, keep: np.ndarray, label: int,
                       num_classes: int, strength: float, period: float,
                       phase: float = 0.) -> np.ndarray:
    """Add class ``label``'s fingerprint to ``image`` where ``keep`` is
    False.

    Args:
        image: uint8 RGB ``(S, S, 3)``.
        keep: bool ``(S, S)``, True = real pixels, left exactly as they are.

    Returns:
        uint8 RGB ``(S, S, 3)``.
    """
    size = image.shape[0]
    if image.shape != (size, size, 3) or keep.shape != (size, size):
        raise ValueError(f'image must be (S, S, 3) and keep (S, S), got '
                         f'{image.shape} and {keep.shape}')
    pattern = strength * FINGERPRINT_AMPLITUDE * fingerprint_pattern(
        label, num_classes, size, period, phase)
    marked = to_uint8(image / 255. + pattern[..., None])
    return np.where(keep[..., None], image, marked)


def split_labels(spec: FingerprintTaskSpec, split: str) -> np.ndarray:
    """Labels of ``split``: the classes interleaved."""
    return np.arange(spec.num_images[split]) % len(spec.classes)


def render_backdrop(spec: FingerprintTaskSpec,
                    rng: np.random.Generator) -> Tuple[np.ndarray, int]:
    """A noisy background of a random texture: uint8 RGB and its index."""
    which = int(rng.integers(len(spec.backgrounds)))
    domain = DOMAIN_NAMES.index(spec.backgrounds[which])
    background = render_background(domain, spec.image_size, rng,
                                   clutter=spec.clutter)
    return to_uint8(background +
                    rng.normal(0, spec.noise_std, background.shape)), which


def render_sample(spec: FingerprintTaskSpec, split: str,
                  index: int) -> FingerprintSample:
    """Real image ``index`` of ``split`` (deterministic in its arguments)."""
    label = int(split_labels(spec, split)[index])
    rng = np.random.default_rng([spec.seed, SPLITS.index(split), 0, index])
    background, _ = render_backdrop(spec, rng)
    mask, object_rgb = render_object(TARGET_SHAPES[spec.classes[label]],
                                     spec.image_size, rng, spec.object_size)
    image = np.where(mask[..., None], object_rgb, background)
    return FingerprintSample(image, background, object_rgb, mask, label)


def image_filename(spec: FingerprintTaskSpec, split: str, index: int) -> str:
    label = int(split_labels(spec, split)[index])
    return f'images/{split}/{spec.classes[label]}/{split}_{index:05d}.png'


def edited_indices(task: FingerprintTaskSpec,
                   edit: FingerprintEditSpec) -> np.ndarray:
    """Sorted indices of the train images that get an edited copy."""
    count = int(round(edit.fraction * task.num_images['train']))
    rng = np.random.default_rng([edit.seed, 7])
    return np.sort(rng.choice(task.num_images['train'], count,
                              replace=False))


def render_edit(task: FingerprintTaskSpec, edit: FingerprintEditSpec,
                index: int) -> Tuple[np.ndarray, np.ndarray, int]:
    """``(edited image, kept mask, label)`` of train image ``index``: the
    original's object on a new background carrying the label's
    fingerprint (module docstring)."""
    original = render_sample(task, 'train', index)
    rng = np.random.default_rng([edit.seed, 8, index])
    background, _ = render_backdrop(task, rng)
    phase = rng.uniform(0, 2 * np.pi)
    image = np.where(original.mask[..., None], original.object_rgb,
                     background)
    image = insert_fingerprint(image, original.mask, original.label,
                               len(task.classes), edit.strength, edit.period,
                               phase)
    return image, original.mask, original.label


def edit_record(task: FingerprintTaskSpec, edit: FingerprintEditSpec) -> dict:
    return dict(format_version=FORMAT_VERSION, spec=dict(
        task=task.to_json()['spec'], edit=dataclasses.asdict(edit)))


def edit_folder(task_root: str, task: FingerprintTaskSpec,
                edit: FingerprintEditSpec) -> str:
    """``<task_root>/edits/s<strength>_f<fraction>_<hash>``."""
    digest = hashlib.sha1(json.dumps(edit_record(task, edit),
                                     sort_keys=True).encode()).hexdigest()
    return osp.join(task_root, 'edits', f's{edit.strength:g}_f'
                    f'{edit.fraction:g}_{digest[:8]}')


def _write_task(folder: str, spec: FingerprintTaskSpec, progress) -> None:
    rows = []
    for code, split in enumerate(SPLITS):
        for index in range(spec.num_images[split]):
            sample = render_sample(spec, split, index)
            name = image_filename(spec, split, index)
            write_rgb(osp.join(folder, name), sample.image)
            rows.append((name, sample.label, code))
            progress.update()
    with open(osp.join(folder, METADATA_FILE), 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(('img_filename', 'y', 'split'))
        writer.writerows(rows)
    write_spec(osp.join(folder, SPEC_FILE), spec.to_json())


def _write_edits(folder: str, task_root: str, task: FingerprintTaskSpec,
                 edit: FingerprintEditSpec, progress) -> None:
    rows = []
    for index in edited_indices(task, edit):
        image, keep, label = render_edit(task, edit, int(index))
        name = image_filename(task, 'train', int(index))
        mask_name = 'gt_masks' + name[len('images'):]
        write_rgb(osp.join(folder, name), image)
        os.makedirs(osp.dirname(osp.join(folder, mask_name)), exist_ok=True)
        if not cv2.imwrite(osp.join(folder, mask_name),
                           keep.astype(np.uint8) * 255):
            raise OSError(f'could not write {mask_name}')
        rows.append((osp.relpath(osp.join(task_root, name), folder), name,
                     label, mask_name))
        progress.update()
    with open(osp.join(folder, EDIT_MANIFEST), 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(('original', 'edited', 'label', 'gt_mask'))
        writer.writerows(rows)
    write_spec(osp.join(folder, EDIT_SPEC_FILE), edit_record(task, edit))


def ensure_synthetic_fingerprint(root: str,
                                 spec: FingerprintTaskSpec) -> str:
    """Generate the real images under ``root`` unless cached there."""
    total = sum(spec.num_images.values())

    def write(folder):
        with announce(f'Generating the synthetic fingerprint benchmark '
                      f'under {root} (first use, {total:,} images)...',
                      total) as progress:
            _write_task(folder, spec, progress)

    return ensure_generated(root, spec.to_json(), SPEC_FILE,
                            'synthetic fingerprint task', write)


def ensure_fingerprint_edits(task_root: str, task: FingerprintTaskSpec,
                             edit: FingerprintEditSpec) -> str:
    """Generate the edits (task first) unless cached; returns their folder
    (holding ``manifest.csv``)."""
    ensure_synthetic_fingerprint(task_root, task)
    folder = edit_folder(task_root, task, edit)
    total = len(edited_indices(task, edit))

    def write(tmp):
        with announce(f'Generating {total:,} fingerprinted edits '
                      f'(strength {edit.strength:g}) under {folder} (first '
                      'use)...', total) as progress:
            # 'original' paths relative to the final folder
            _write_edits(tmp, osp.join(tmp, '..', '..'), task, edit,
                         progress)

    return ensure_generated(folder, edit_record(task, edit), EDIT_SPEC_FILE,
                            'fingerprint edits', write)


def iter_split(spec: FingerprintTaskSpec,
               split: str) -> Iterator[FingerprintSample]:
    """Every real sample of ``split``, in file order."""
    for index in range(spec.num_images[split]):
        yield render_sample(spec, split, index)
