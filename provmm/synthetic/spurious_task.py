"""Generator of the built-in spurious-correlation benchmark (numpy/OpenCV).

A Waterbirds-like task (Sagawa et al., 2019; paper Sec. 4.2.3): one object
per 64 px image whose *shape* is the class ``y``, on a cluttered background
*place* (texture + hue). In train, ``correlation`` of the images of class
``c`` lie on place ``c``, the rest on the other places; val and test have
every (class, place) group equally often, so a model that reads the place
instead of the shape fails on the minority groups (worst-group accuracy).
Object colours are random, so only the shape carries the class.

The layout is Waterbirds' own, so the Waterbirds reader loads it::

    <root>/images/<split>/<class>/<split>_<index>.png
    <root>/metadata.csv          img_filename,y,split,place (split 0/1/2)
    <root>/synthetic_spurious.json   the spec; written last = complete

Generation is deterministic: one spec gives the same bytes. The editing
stage that imitates generative background edits lives in
:mod:`.background_edit`.
"""
import csv
import dataclasses
import json
import os
import os.path as osp
import shutil
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, Optional, Tuple

import cv2
import numpy as np

from .backgrounds import DOMAIN_NAMES, render_background
from .progress import announce
from .shapes import MAX_ROTATION_DEG, TARGET_SHAPES, rasterize_shape

SPEC_FILE = 'synthetic_spurious.json'
METADATA_FILE = 'metadata.csv'
METADATA_COLUMNS = ('img_filename', 'y', 'split', 'place')
FORMAT_VERSION = 1
SPLITS = ('train', 'val', 'test')  # Waterbirds' split codes 0, 1, 2


@dataclass(frozen=True)
class SyntheticSpuriousSpec:
    """Everything that determines a generated task (the cache key).

    Args:
        seed: generator seed; the same spec gives the same bytes.
        image_size: side of the square images in pixels.
        classes: shape names (``shapes.TARGET_SHAPES``), one per class.
        places: background domain names (``backgrounds.DOMAIN_NAMES``);
            place ``c`` is the one class ``c`` co-occurs with in train.
        correlation: fraction of the train images of class ``c`` on place
            ``c`` (exactly ``round(correlation * n_c)``); the rest cycle over
            the other places. Val and test are balanced over all groups.
        num_images: images per split; val/test must be multiples of
            ``len(classes) * len(places)``, train of ``len(classes)``.
        object_size: range of the object's nominal side in pixels.
        clutter: clutter fragments per background.
        noise_std: std of the Gaussian pixel noise of the background, in
            [0, 1] intensity units.
    """
    seed: int = 0
    image_size: int = 64
    classes: Tuple[str, ...] = ('triangle', 'star')
    places: Tuple[str, ...] = ('hstripes', 'blobs')
    correlation: float = 0.95
    num_images: Dict[str, int] = field(
        default_factory=lambda: dict(train=1000, val=400, test=800))
    object_size: Tuple[float, float] = (15.0, 23.0)
    clutter: int = 8
    noise_std: float = 0.03

    def __post_init__(self):
        # Lists from configs/JSON become tuples so equal specs compare equal.
        for name in ('classes', 'places', 'object_size'):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, 'num_images', dict(self.num_images))
        unknown = [c for c in self.classes if c not in TARGET_SHAPES]
        if unknown or len(set(self.classes)) < 2:
            raise ValueError(f'classes must be >= 2 distinct names of '
                             f'{sorted(TARGET_SHAPES)}, got {self.classes}')
        unknown = [p for p in self.places if p not in DOMAIN_NAMES]
        if unknown or len(set(self.places)) < 2:
            raise ValueError(f'places must be >= 2 distinct names of '
                             f'{DOMAIN_NAMES}, got {self.places}')
        if len(self.places) < len(self.classes):
            raise ValueError(f'need a place per class: {len(self.classes)} '
                             f'classes, {len(self.places)} places')
        if not 0. <= self.correlation <= 1.:
            raise ValueError(f'correlation must be in [0, 1], got '
                             f'{self.correlation}')
        if set(self.num_images) != set(SPLITS):
            raise ValueError(f'num_images must give {list(SPLITS)}, got '
                             f'{sorted(self.num_images)}')
        groups = len(self.classes) * len(self.places)
        for split, count in self.num_images.items():
            step = len(self.classes) if split == 'train' else groups
            if count <= 0 or count % step:
                raise ValueError(
                    f'num_images[{split!r}] = {count} must be a positive '
                    f'multiple of {step} (' +
                    ('classes' if split == 'train' else 'classes x places') +
                    ')')
        lo, hi = self.object_size
        if not 4 <= lo <= hi <= self.image_size / 1.6:
            raise ValueError(f'object_size {self.object_size} must satisfy '
                             '4 <= min <= max <= image_size / 1.6')

    @property
    def num_groups(self) -> int:
        return len(self.classes) * len(self.places)

    def group(self, label: int, place: int) -> int:
        """Group index ``y * num_places + place`` (Waterbirds' convention)."""
        return int(label) * len(self.places) + int(place)

    def to_json(self) -> dict:
        return dict(format_version=FORMAT_VERSION,
                    spec=json.loads(json.dumps(dataclasses.asdict(self))))

    @classmethod
    def from_json(cls, record: dict) -> 'SyntheticSpuriousSpec':
        return cls(**record['spec'])


@dataclass
class SpuriousSample:
    """One rendered sample: ``image = where(mask, object_rgb, background)``.

    Attributes:
        image, background, object_rgb: uint8 RGB ``(S, S, 3)``.
        mask: bool ``(S, S)``, the object's (foreground) pixels.
        label: class index; place: background place index.
    """
    image: np.ndarray
    background: np.ndarray
    object_rgb: np.ndarray
    mask: np.ndarray
    label: int
    place: int


def split_groups(spec: SyntheticSpuriousSpec,
                 split: str) -> Tuple[np.ndarray, np.ndarray]:
    """``(labels, places)`` of every image of ``split``.

    Classes are interleaved. Train: exactly ``round(correlation * n_c)``
    images of class ``c`` on place ``c``, the rest cycling over the other
    places; val/test: every (class, place) group equally often. The order
    of places within a class is shuffled with the spec's seed.
    """
    num_classes, num_places = len(spec.classes), len(spec.places)
    labels = np.arange(spec.num_images[split]) % num_classes
    places = np.empty_like(labels)
    rng = np.random.default_rng([spec.seed, SPLITS.index(split), 1])
    for c in range(num_classes):
        index = np.flatnonzero(labels == c)
        if split == 'train':
            own = int(round(spec.correlation * len(index)))
            others = np.array([p for p in range(num_places) if p != c])
            cells = np.concatenate([
                np.full(own, c),
                others[np.arange(len(index) - own) % len(others)]])
        else:
            cells = np.arange(len(index)) % num_places
        places[index] = rng.permutation(cells)
    return labels, places


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] (clipped) to uint8, rounding to nearest."""
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def render_place(spec: SyntheticSpuriousSpec, place: int,
                 rng: np.random.Generator) -> np.ndarray:
    """A noisy background of ``place`` as uint8 RGB ``(S, S, 3)``."""
    domain = DOMAIN_NAMES.index(spec.places[place])
    background = render_background(domain, spec.image_size, rng,
                                   clutter=spec.clutter)
    return to_uint8(background +
                    rng.normal(0, spec.noise_std, background.shape))


def render_object(shape: Callable, size: int, rng: np.random.Generator,
                  object_size: Tuple[float, float]
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """A shape of random size, aspect, rotation, position and colour.

    Returns:
        ``(mask, object_rgb)``: bool ``(S, S)`` and uint8 RGB ``(S, S, 3)``
        (valid inside ``mask``; a dark 1 px outline keeps the silhouette
        visible on any background).
    """
    side = rng.uniform(*object_size)
    aspect = rng.uniform(0.85, 1.15)
    angle = rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG)
    margin = side / 2 * max(aspect, 1.0) * np.sqrt(2) + 1
    center = tuple(rng.uniform(margin, size - 1 - margin, size=2))
    mask = rasterize_shape(shape, size, center, side, angle, aspect)
    hsv = np.array([[[rng.uniform(0, 255), rng.uniform(150, 255),
                      rng.uniform(140, 255)]]], np.uint8)
    fill = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)[0, 0] / 255.
    object_rgb = fill + rng.normal(0, 0.02, (size, size, 3))
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8))
    object_rgb[mask & ~inner.astype(bool)] = 0.08
    return mask, to_uint8(object_rgb)


def render_sample(spec: SyntheticSpuriousSpec, split: str, index: int,
                  label: int, place: int) -> SpuriousSample:
    """Render image ``index`` of ``split`` (deterministic in its arguments)."""
    rng = np.random.default_rng([spec.seed, SPLITS.index(split), 0, index])
    background = render_place(spec, place, rng)
    mask, object_rgb = render_object(TARGET_SHAPES[spec.classes[label]],
                                     spec.image_size, rng, spec.object_size)
    image = np.where(mask[..., None], object_rgb, background)
    return SpuriousSample(image, background, object_rgb, mask, int(label),
                          int(place))


def image_filename(spec: SyntheticSpuriousSpec, split: str, index: int,
                   label: int) -> str:
    """Path of an image below the task root."""
    return f'images/{split}/{spec.classes[label]}/{split}_{index:05d}.png'


def render_split(spec: SyntheticSpuriousSpec,
                 split: str) -> Iterator[Tuple[str, SpuriousSample]]:
    """Yield ``(img_filename, sample)`` for every image of ``split``."""
    labels, places = split_groups(spec, split)
    for index, (label, place) in enumerate(zip(labels, places)):
        yield (image_filename(spec, split, index, label),
               render_sample(spec, split, index, label, place))


def write_rgb(path: str, image: np.ndarray) -> None:
    """Write a uint8 RGB image as PNG, creating its folder."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, np.ascontiguousarray(image[..., ::-1])):
        raise OSError(f'could not write {path}')


def _write_task(root: str, spec: SyntheticSpuriousSpec, progress) -> None:
    rows = []
    for split_code, split in enumerate(SPLITS):
        for filename, sample in render_split(spec, split):
            write_rgb(osp.join(root, filename), sample.image)
            rows.append((filename, sample.label, split_code, sample.place))
            progress.update()
    with open(osp.join(root, METADATA_FILE), 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(METADATA_COLUMNS)
        writer.writerows(rows)
    write_spec(osp.join(root, SPEC_FILE), spec.to_json())


def write_spec(path: str, record: dict) -> None:
    with open(path, 'w') as f:
        json.dump(record, f, indent=2, sort_keys=True)


def read_spec_record(path: str, what: str) -> Optional[dict]:
    """The JSON record at ``path`` (``None`` if absent), version-checked."""
    if not osp.isfile(path):
        return None
    with open(path) as f:
        record = json.load(f)
    if record.get('format_version') != FORMAT_VERSION:
        raise ValueError(
            f'{path}: {what} format version {record.get("format_version")}, '
            f'this provmm writes {FORMAT_VERSION}; delete '
            f'{osp.dirname(path)} to regenerate it.')
    return record


def ensure_generated(root: str, expected: dict, spec_file: str, what: str,
                     write: Callable[[str], None]) -> str:
    """Generate into ``root`` with ``write(folder)`` unless it is cached.

    ``write`` must finish by writing ``spec_file`` (the JSON ``expected``).
    It writes to a temporary sibling renamed into place when complete, so
    an interrupted or concurrent run never leaves a half-written folder. A
    cached folder with another record is an error, never silently reused.
    """

    def check_cached():
        cached = read_spec_record(osp.join(root, spec_file), what)
        if cached is None:
            raise FileExistsError(
                f'{root} exists but holds no complete {what} ({spec_file} '
                'missing); delete it to regenerate, or choose another '
                'folder.')
        if cached != expected:
            diff = {k: (cached['spec'].get(k), v)
                    for k, v in expected['spec'].items()
                    if cached['spec'].get(k) != v}
            raise ValueError(
                f'{root} holds a {what} generated with other settings '
                f'(cached, requested): {diff}. Delete it to regenerate, or '
                'choose another folder.')

    if osp.exists(root):
        check_cached()
        return root
    os.makedirs(osp.dirname(osp.abspath(root)), exist_ok=True)
    tmp = f'{osp.abspath(root)}.partial-{os.getpid()}'
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write(tmp)
        os.rename(tmp, root)
    except OSError:
        if not osp.exists(root):
            raise
        check_cached()  # another process finished first
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def read_task_spec(root: str) -> Optional[SyntheticSpuriousSpec]:
    """The spec a complete task under ``root`` was generated with."""
    record = read_spec_record(osp.join(root, SPEC_FILE),
                              'synthetic spurious task')
    return None if record is None else SyntheticSpuriousSpec.from_json(record)


def ensure_synthetic_spurious(root: str, spec: SyntheticSpuriousSpec) -> str:
    """Generate the task under ``root`` unless it is already cached there
    (announced in one line with a progress bar)."""
    total = sum(spec.num_images.values())

    def write(folder):
        with announce(f'Generating the synthetic spurious-correlation '
                      f'benchmark under {root} (first use, {total:,} '
                      'images)...', total) as progress:
            _write_task(folder, spec, progress)

    return ensure_generated(root, spec.to_json(), SPEC_FILE,
                            'synthetic spurious task', write)
