"""Reader for the wsolevaluation metadata layout (clovaai/wsolevaluation).

A split folder holds four comma-separated files without header::

    image_ids.txt      <image_id>
    class_labels.txt   <image_id>,<label>
    image_sizes.txt    <image_id>,<W>,<H>
    localization.txt   <image_id>,<x0>,<y0>,<x1>,<y1>   (one line per box)

Every malformed line raises ``ValueError`` naming the file and line number.
"""
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np


METADATA_FILES = ('image_ids.txt', 'class_labels.txt', 'image_sizes.txt',
                  'localization.txt')


@dataclass
class WSOLMetadata:
    """Parsed metadata of one split, in the order of ``image_ids.txt``."""
    root: str
    image_ids: List[str]
    class_labels: Dict[str, int]
    image_sizes: Dict[str, Tuple[int, int]]  # (W, H), original pixels
    boxes: Dict[str, List[Tuple[float, float, float, float]]] = field(
        default_factory=dict)  # x0, y0, x1, y1 in original pixels


def _read_rows(path: str, num_fields: int):
    """Yield ``(line_no, fields)`` of a comma-separated metadata file."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'WSOL metadata file not found: {path}')
    with open(path, encoding='utf-8') as f:
        for line_no, line in enumerate(f, start=1):
            line = line.rstrip('\r\n')
            if not line.strip():
                continue
            fields = line.split(',')
            if len(fields) != num_fields:
                raise ValueError(
                    f'{path}:{line_no}: expected {num_fields} comma-separated '
                    f'fields, got {len(fields)}: {line!r}')
            yield line_no, fields


def _to_number(path, line_no, text, kind):
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f'{path}:{line_no}: expected {kind.__name__} '
                         f'value, got {text!r}') from None


def _check_known(path, line_no, image_id, known):
    if image_id not in known:
        raise ValueError(f'{path}:{line_no}: image id {image_id!r} is not '
                         'listed in image_ids.txt')


def load_wsol_metadata(root: str, require_boxes: bool = True) -> WSOLMetadata:
    """Parse one split folder of wsolevaluation metadata.

    Args:
        root: folder holding the four metadata files.
        require_boxes: raise if an image has no line in ``localization.txt``.
    """
    paths = {name: osp.join(root, name) for name in METADATA_FILES}

    image_ids = []
    seen = set()
    for line_no, (image_id, ) in _read_rows(paths['image_ids.txt'], 1):
        if image_id in seen:
            raise ValueError(f"{paths['image_ids.txt']}:{line_no}: duplicate "
                             f'image id {image_id!r}')
        seen.add(image_id)
        image_ids.append(image_id)

    class_labels = {}
    path = paths['class_labels.txt']
    for line_no, (image_id, label) in _read_rows(path, 2):
        _check_known(path, line_no, image_id, seen)
        class_labels[image_id] = _to_number(path, line_no, label, int)

    image_sizes = {}
    path = paths['image_sizes.txt']
    for line_no, (image_id, w, h) in _read_rows(path, 3):
        _check_known(path, line_no, image_id, seen)
        size = (_to_number(path, line_no, w, int),
                _to_number(path, line_no, h, int))
        if size[0] <= 0 or size[1] <= 0:
            raise ValueError(f'{path}:{line_no}: image size must be '
                             f'positive, got W={size[0]}, H={size[1]}')
        image_sizes[image_id] = size

    boxes = {image_id: [] for image_id in image_ids}
    path = paths['localization.txt']
    for line_no, (image_id, *coords) in _read_rows(path, 5):
        _check_known(path, line_no, image_id, seen)
        x0, y0, x1, y1 = (_to_number(path, line_no, c, float) for c in coords)
        if x1 < x0 or y1 < y0:
            raise ValueError(f'{path}:{line_no}: box must satisfy x0<=x1 and '
                             f'y0<=y1, got {coords}')
        boxes[image_id].append((x0, y0, x1, y1))

    for name, table in (('class_labels.txt', class_labels),
                        ('image_sizes.txt', image_sizes)):
        missing = [i for i in image_ids if i not in table]
        if missing:
            raise ValueError(f'{paths[name]}: no entry for {len(missing)} '
                             f'image(s), first {missing[0]!r}')
    if require_boxes:
        missing = [i for i in image_ids if not boxes[i]]
        if missing:
            raise ValueError(
                f"{paths['localization.txt']}: no box for {len(missing)} "
                f'image(s), first {missing[0]!r}')
    return WSOLMetadata(root, image_ids, class_labels, image_sizes, boxes)
