"""Build a provenance manifest from ALIA's edited-image folders.

ALIA (lisadunlap/ALIA, ``editing_methods/img2img.py`` and
``instruct_pix2pix.py``) saves the ``j``-th edit of training image ``i`` as::

    <root>/<method>/<dataset>/<prompt>/<strength_guidance>/<class>/<i>-<j>.png

where ``i`` indexes the training set in its loader order and ``<class>`` is
that image's class name; preview grids in ``<class>/samples/`` are skipped.
The training list gives the originals in the same order, one per line::

    <path>,<label>      or      <path> <label>      (mmpretrain ann_file)

with paths relative to ``train_root``; an optional first line ``path,label``
(or ``filename label``) is a header. The label of an edit is the label of
its original; every class folder must hold edits of one label only, which
catches a training list in a different order than ALIA's.
"""
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

from .provenance_manifest import ProvenancePair

EDIT_NAME = re.compile(r'^(\d+)-(\d+)\.(png|jpg|jpeg)$', re.IGNORECASE)
LAYOUT_LEVELS = ('method', 'dataset', 'prompt', 'strength_guidance',
                 'class_name')
PREVIEW_FOLDER = 'samples'


def load_training_list(path: str,
                       train_root: Optional[str] = None
                       ) -> List[Tuple[str, int]]:
    """Read ``(absolute image path, label)`` in training-set order.

    Args:
        path: the list file (see the module docstring).
        train_root: folder the image paths are relative to; defaults to the
            list file's folder.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'training list not found: {path}')
    root = train_root if train_root is not None else osp.dirname(
        osp.abspath(path))
    images = []
    with open(path, encoding='utf-8') as f:
        for line_no, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            if ',' in line:
                fields = [v.strip() for v in line.split(',')]
            else:
                fields = line.rsplit(None, 1)
            if len(fields) != 2 or not fields[0]:
                raise ValueError(
                    f'{path}:{line_no}: expected "<path>,<label>" or '
                    f'"<path> <label>", got {line!r}')
            if line_no == 1 and fields[1].lower() == 'label':
                continue  # header
            try:
                label = int(fields[1])
            except ValueError:
                raise ValueError(f'{path}:{line_no}: label must be an '
                                 f'integer, got {fields[1]!r}') from None
            images.append((osp.normpath(osp.join(root, fields[0])), label))
    if not images:
        raise ValueError(f'{path}: no training images listed')
    return images


def _selected(value: str, wanted: Optional[str]) -> bool:
    return wanted is None or value == wanted


def import_alia_edits(alia_root: str,
                      training_images: List[Tuple[str, int]],
                      method: Optional[str] = None,
                      dataset: Optional[str] = None,
                      prompt: Optional[str] = None,
                      strength_guidance: Optional[str] = None,
                      edits_per_image: Optional[int] = None,
                      check_files: bool = True) -> List[ProvenancePair]:
    """Pairs every ALIA edit under ``alia_root`` with its original.

    Args:
        alia_root: ALIA's ``save_dir`` (the folder holding ``<method>``).
        training_images: ``(path, label)`` in training-set order, e.g. from
            :func:`load_training_list`.
        method, dataset, prompt, strength_guidance: keep only this folder
            name at that level (``None`` = all).
        edits_per_image: keep edits ``j < edits_per_image`` (ALIA's
            ``Img2ImgDataset`` uses ``num_imgs=1``); ``None`` = all.
        check_files: raise if an original image does not exist.

    Returns:
        Pairs in folder order (names sorted as strings), with ``extra``
        columns ``method, dataset, prompt, strength_guidance, class_name,
        train_index``.
    """
    if not osp.isdir(alia_root):
        raise FileNotFoundError(f'ALIA output folder not found: {alia_root}')
    wanted = dict(method=method, dataset=dataset, prompt=prompt,
                  strength_guidance=strength_guidance)
    pairs = []
    labels_of_class: Dict[str, Dict[int, str]] = {}
    for folder, subfolders, files in os.walk(alia_root):
        subfolders.sort()
        levels = osp.relpath(folder, alia_root).split(os.sep)
        if folder == alia_root:
            levels = []
        if levels and levels[-1] == PREVIEW_FOLDER and len(levels) == 6:
            subfolders.clear()
            continue
        if any(not _selected(value, wanted.get(name))
               for name, value in zip(LAYOUT_LEVELS, levels)):
            subfolders.clear()
            continue
        visible = sorted(f for f in files if not f.startswith('.'))
        if visible and len(levels) != len(LAYOUT_LEVELS):
            raise ValueError(
                f'{osp.join(folder, visible[0])}: file outside the ALIA '
                'layout <root>/<method>/<dataset>/<prompt>/'
                '<strength_guidance>/<class>/<i>-<j>.png')
        for name in visible:
            edited = osp.join(folder, name)
            match = EDIT_NAME.match(name)
            if match is None:
                raise ValueError(f'{edited}: expected a file name '
                                 '"<i>-<j>.png" (i = training index)')
            index, j = int(match.group(1)), int(match.group(2))
            if edits_per_image is not None and j >= edits_per_image:
                continue
            if index >= len(training_images):
                raise ValueError(
                    f'{edited}: training index {index} is out of range; the '
                    f'training list has {len(training_images)} images')
            original, label = training_images[index]
            if check_files and not osp.isfile(original):
                raise FileNotFoundError(
                    f'{edited}: original image {original} (training index '
                    f'{index}) not found')
            seen = labels_of_class.setdefault(folder, {})
            seen.setdefault(label, edited)
            if len(seen) > 1:
                examples = ', '.join(f'label {k} ({v})'
                                     for k, v in sorted(seen.items()))
                raise ValueError(
                    f'{folder}: class folder holds edits of different '
                    f'training labels: {examples}; is the training list in '
                    'the order ALIA enumerated the training set?')
            extra = dict(zip(LAYOUT_LEVELS, levels))
            extra['train_index'] = str(index)
            pairs.append(ProvenancePair(original, edited, label, extra=extra))
    if not pairs:
        raise ValueError(f'no ALIA edits found under {alia_root} with '
                         f'filters {wanted}')
    return pairs
