"""Imitated generative background edits of the spurious task (numpy/OpenCV).

ALIA (paper Sec. 3.2.3, 4.2.3) edits training images with a text-guided
diffusion model: the object stays, the background becomes another domain
("a photo of a <bird> on water"), and the model re-renders the whole image a
little, so the difference image is not a perfect mask. This stage imitates
that on the synthetic task, with the true foreground known:

1. a random ``fraction`` of the train images is chosen;
2. the background is replaced with a new rendering of another place:
   ``'swap'`` = the place of the next class (``(place + 1) % P``; with two
   places, the one that breaks the correlation, as ALIA's prompts do);
3. optionally the whole image is re-rendered mildly: brightness, contrast and
   saturation each scaled by a factor in ``1 +- jitter``, a Gaussian blur of
   ``blur_sigma`` px and Gaussian noise of ``noise_std``. All three 0 = no
   re-rendering: then the edited image equals the original exactly on the
   foreground and (almost surely) nowhere else.

Layout below the task root (``<key>`` names the edit settings)::

    edits/<key>/images/train/<class>/train_<index>.png   edited images
    edits/<key>/gt_masks/train/<class>/train_<index>.png 255 = foreground
    edits/<key>/manifest.csv    original,edited,label,gt_mask,place,group
    edits/<key>/background_edit.json   the spec; written last = complete

``original`` paths point into the task's ``images/`` folder. ``place`` and
``group`` are the edited image's new place and group.
"""
import dataclasses
import hashlib
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Iterator, Tuple

import cv2
import numpy as np

from .progress import announce
from .spurious_task import (SyntheticSpuriousSpec, ensure_generated,
                            image_filename, render_place, render_sample,
                            split_groups, to_uint8, write_rgb)

EDIT_SPEC_FILE = 'background_edit.json'
EDIT_MANIFEST = 'manifest.csv'
NEW_PLACES = ('swap', )


@dataclass(frozen=True)
class BackgroundEditSpec:
    """Settings of the editing stage (with the task spec, the cache key).

    Args:
        seed: seed of the choice of images and of the new backgrounds.
        fraction: share of the train images that get one edited copy
            (``round(fraction * n_train)`` images).
        new_place: ``'swap'``: the place of the next class (see the module
            docstring).
        jitter: max relative change of brightness, contrast and saturation.
        blur_sigma: std of the Gaussian blur in pixels (0 = none).
        noise_std: std of the Gaussian noise, [0, 1] intensity units.
    """
    seed: int = 0
    fraction: float = 0.05
    new_place: str = 'swap'
    jitter: float = 0.03
    blur_sigma: float = 0.4
    noise_std: float = 0.01

    def __post_init__(self):
        if not 0. < self.fraction <= 1.:
            raise ValueError(f'fraction must be in (0, 1], got '
                             f'{self.fraction}')
        if self.new_place not in NEW_PLACES:
            raise ValueError(f'new_place must be one of {NEW_PLACES}, got '
                             f'{self.new_place!r}')
        if not 0. <= self.jitter < 1.:
            raise ValueError(f'jitter must be in [0, 1), got {self.jitter}')
        if self.blur_sigma < 0 or self.noise_std < 0:
            raise ValueError('blur_sigma and noise_std must be >= 0, got '
                             f'{self.blur_sigma} and {self.noise_std}')

    @property
    def rerenders(self) -> bool:
        return bool(self.jitter or self.blur_sigma or self.noise_std)


def edit_record(task: SyntheticSpuriousSpec, edit: BackgroundEditSpec) -> dict:
    """The JSON record (cache key) of the edits of ``task``."""
    return dict(format_version=1, spec=dict(
        task=task.to_json()['spec'], edit=dataclasses.asdict(edit)))


def edit_key(task: SyntheticSpuriousSpec, edit: BackgroundEditSpec) -> str:
    """Folder name of an edit setting: readable prefix + content hash."""
    digest = hashlib.sha1(json.dumps(edit_record(task, edit),
                                     sort_keys=True).encode()).hexdigest()
    style = 'rerender' if edit.rerenders else 'clean'
    return f'{edit.new_place}_{edit.fraction:g}_{style}_{digest[:8]}'


def edited_indices(task: SyntheticSpuriousSpec,
                   edit: BackgroundEditSpec) -> np.ndarray:
    """Sorted indices of the train images that get an edited copy."""
    count = int(round(edit.fraction * task.num_images['train']))
    rng = np.random.default_rng([edit.seed, 7])
    return np.sort(rng.choice(task.num_images['train'], count,
                              replace=False))


def rerender(image: np.ndarray, edit: BackgroundEditSpec,
             rng: np.random.Generator) -> np.ndarray:
    """Mild global re-rendering of a uint8 RGB image (module docstring)."""
    out = image.astype(np.float64) / 255.
    if edit.jitter:
        brightness, contrast, saturation = rng.uniform(
            1 - edit.jitter, 1 + edit.jitter, size=3)
        out = out * brightness
        out = (out - out.mean()) * contrast + out.mean()
        grey = out @ np.array([0.299, 0.587, 0.114])
        out = grey[..., None] + (out - grey[..., None]) * saturation
    if edit.blur_sigma:
        out = cv2.GaussianBlur(out, (0, 0), edit.blur_sigma)
    if edit.noise_std:
        out = out + rng.normal(0, edit.noise_std, out.shape)
    return to_uint8(out)


def render_edits(task: SyntheticSpuriousSpec, edit: BackgroundEditSpec
                 ) -> Iterator[Tuple[int, np.ndarray, np.ndarray, int]]:
    """Yield ``(index, edited image, foreground mask, new place)``.

    The foreground (object pixels and colours) is the original's; only the
    background is new, then the whole image is optionally re-rendered.
    """
    labels, places = split_groups(task, 'train')
    num_places = len(task.places)
    for index in edited_indices(task, edit):
        original = render_sample(task, 'train', int(index), labels[index],
                                 places[index])
        new_place = (original.place + 1) % num_places
        rng = np.random.default_rng([edit.seed, 8, int(index)])
        background = render_place(task, new_place, rng)
        image = np.where(original.mask[..., None], original.object_rgb,
                         background)
        if edit.rerenders:
            image = rerender(image, edit, rng)
        yield int(index), image, original.mask, new_place


def _write_edits(folder: str, task_root: str, task: SyntheticSpuriousSpec,
                 edit: BackgroundEditSpec, progress) -> None:
    labels, _ = split_groups(task, 'train')
    rows = []
    for index, image, mask, place in render_edits(task, edit):
        name = image_filename(task, 'train', index, labels[index])
        edited = osp.join(folder, name)
        gt_mask = osp.join(folder, 'gt_' + name.replace('images/', 'masks/',
                                                        1))
        write_rgb(edited, image)
        os.makedirs(osp.dirname(gt_mask), exist_ok=True)
        if not cv2.imwrite(gt_mask, mask.astype(np.uint8) * 255):
            raise OSError(f'could not write {gt_mask}')
        rows.append(dict(
            original=osp.relpath(osp.join(task_root, name), folder),
            edited=name, label=int(labels[index]),
            gt_mask=osp.relpath(gt_mask, folder), place=place,
            group=task.group(labels[index], place)))
        progress.update()
    with open(osp.join(folder, EDIT_MANIFEST), 'w') as f:
        columns = ('original', 'edited', 'label', 'gt_mask', 'place',
                   'group')
        f.write(','.join(columns) + '\n')
        for row in rows:
            f.write(','.join(str(row[c]) for c in columns) + '\n')
    with open(osp.join(folder, EDIT_SPEC_FILE), 'w') as f:
        json.dump(edit_record(task, edit), f, indent=2, sort_keys=True)


def ensure_background_edits(task_root: str, task: SyntheticSpuriousSpec,
                            edit: BackgroundEditSpec) -> str:
    """Generate the edits under ``<task_root>/edits/<key>`` unless cached
    (announced in one line with a progress bar).

    Returns:
        str: the edit folder (holding ``manifest.csv``).
    """
    folder = osp.join(task_root, 'edits', edit_key(task, edit))
    total = len(edited_indices(task, edit))

    def write(tmp):
        with announce(f'Generating {total:,} background edits of the '
                      f'synthetic spurious task under {folder} (first '
                      'use)...', total) as progress:
            # Relative 'original' paths must be computed from the final
            # folder.
            _write_edits(tmp, osp.join(tmp, '..', '..'), task, edit,
                         progress)

    return ensure_generated(folder, edit_record(task, edit), EDIT_SPEC_FILE,
                            'background edit', write)
