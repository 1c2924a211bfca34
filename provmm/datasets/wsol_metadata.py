"""Reader for the wsolevaluation metadata layout (clovaai/wsolevaluation).

A split folder holds four comma-separated files without header::

    image_ids.txt      <image_id>
    class_labels.txt   <image_id>,<label>
    image_sizes.txt    <image_id>,<W>,<H>
    localization.txt   <image_id>,<x0>,<y0>,<x1>,<y1>   (one line per box)

Every line is checked; a failure raises ``ValueError`` naming ``file:line``
and what was expected:

- an image id is a relative path that stays inside the image and score-map
  roots (no ``..`` component, not absolute): images are
  ``<image_root>/<image_id>`` and score maps ``<root>/<image_id>.npy``;
- ``image_ids.txt`` lists each id once; ``class_labels.txt`` and
  ``image_sizes.txt`` give exactly one line per id (a second line is an
  error, an exact duplicate too) and ``localization.txt`` at least one;
  their ids must be listed in ``image_ids.txt``;
- labels are integers >= 0 and sizes positive integers;
- boxes are finite, ``x0 <= x1``, ``y0 <= y1`` and lie inside
  ``[0, W - 1] x [0, H - 1]`` of their image's size: corners are inclusive
  pixel indices, as the reference evaluator assumes, and a box outside the
  image would change MaxBoxAcc without a word. The CUB metadata shipped in
  ``metadata/wsol/CUB`` meets this strict rule: none of its 12,788 boxes
  reaches ``x1 == W`` or ``y1 == H`` (498 end on ``W - 1`` or ``H - 1``).
"""
import math
import os.path as osp
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Tuple

from .csv_records import check_relative_path

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


def _to_number(where: str, text: str, kind, what: str):
    """``kind(text)``, finite; else ValueError saying ``what`` was
    expected."""
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value):
        raise ValueError(f'{where}: expected {what}, got {text!r}')
    return value


def _read_table(path: str, num_fields: int, id_lines: Dict[str, int],
                parse: Callable) -> Tuple[Dict, Dict[str, int]]:
    """One value per image id (``parse(where, fields)``) and its line; a
    second line for an id, an unlisted id or a missing id is an error."""
    table, lines = {}, {}
    for line_no, (image_id, *fields) in _read_rows(path, num_fields):
        where = f'{path}:{line_no}'
        _check_known(where, image_id, id_lines)
        value = parse(where, fields)
        if image_id in table:
            first = f'{path}:{lines[image_id]}'
            if value == table[image_id]:
                problem = f'an exact duplicate of {first}'
            else:
                problem = (f'conflicting with {first} ({table[image_id]} '
                           f'there, {value} here)')
            raise ValueError(f'{where}: second line for image id '
                             f'{image_id!r}, {problem}; expected one line '
                             'per image id')
        table[image_id] = value
        lines[image_id] = line_no
    _check_complete(path, table, id_lines)
    return table, lines


def _check_known(where: str, image_id: str, id_lines: Dict[str, int]):
    if image_id not in id_lines:
        raise ValueError(f'{where}: image id {image_id!r} is not listed in '
                         'image_ids.txt')


def _check_complete(path: str, table, id_lines: Dict[str, int]):
    missing = [i for i in id_lines if i not in table]
    if missing:
        first = missing[0]
        raise ValueError(
            f'{path}: no line for {len(missing)} image id(s) of '
            f'image_ids.txt, first {first!r} (image_ids.txt:'
            f'{id_lines[first]}); expected a line for every image id')


def _parse_label(where: str, fields) -> int:
    label = _to_number(where, fields[0], int, 'an integer class label >= 0')
    if label < 0:
        raise ValueError(f'{where}: expected an integer class label >= 0, '
                         f'got {label}')
    return label


def _parse_size(where: str, fields) -> Tuple[int, int]:
    size = tuple(_to_number(where, text, int, 'a positive integer size')
                 for text in fields)
    if min(size) <= 0:
        raise ValueError(f'{where}: expected positive integer sizes W, H, '
                         f'got W={size[0]}, H={size[1]}')
    return size


def load_wsol_metadata(root: str, require_boxes: bool = True) -> WSOLMetadata:
    """Parse and check one split folder of wsolevaluation metadata.

    Args:
        root: folder holding the four metadata files.
        require_boxes: raise if an image has no line in ``localization.txt``.
    """
    paths = {name: osp.join(root, name) for name in METADATA_FILES}

    id_lines = {}  # image id -> its line in image_ids.txt
    path = paths['image_ids.txt']
    for line_no, (image_id, ) in _read_rows(path, 1):
        where = f'{path}:{line_no}'
        check_relative_path(image_id, where, 'image id')
        if image_id in id_lines:
            raise ValueError(f'{where}: image id {image_id!r} already listed '
                             f'at {path}:{id_lines[image_id]}; expected each '
                             'id once')
        id_lines[image_id] = line_no

    class_labels, _ = _read_table(paths['class_labels.txt'], 2, id_lines,
                                  _parse_label)
    image_sizes, size_lines = _read_table(paths['image_sizes.txt'], 3,
                                          id_lines, _parse_size)

    boxes = {image_id: [] for image_id in id_lines}
    path = paths['localization.txt']
    for line_no, (image_id, *coords) in _read_rows(path, 5):
        where = f'{path}:{line_no}'
        _check_known(where, image_id, id_lines)
        x0, y0, x1, y1 = (_to_number(where, c, float, 'finite coordinates')
                          for c in coords)
        if x1 < x0 or y1 < y0:
            raise ValueError(f'{where}: box must satisfy x0 <= x1 and '
                             f'y0 <= y1, got {coords}')
        w, h = image_sizes[image_id]
        if x0 < 0 or y0 < 0 or x1 > w - 1 or y1 > h - 1:
            raise ValueError(
                f'{where}: box {coords} of {image_id!r} must lie inside '
                f'[0, {w - 1}] x [0, {h - 1}] (inclusive pixel corners of '
                f'its W={w}, H={h} image, {paths["image_sizes.txt"]}:'
                f'{size_lines[image_id]})')
        boxes[image_id].append((x0, y0, x1, y1))

    if require_boxes:
        _check_complete(path, {i: b for i, b in boxes.items() if b},
                        id_lines)
    return WSOLMetadata(root, list(id_lines), class_labels, image_sizes,
                        boxes)
