"""Manifest of (original, edited) image pairs for provenance masks.

A comma-separated file with a header. Required columns::

    original   path of the source image x
    edited     path of the edited image x~ = G(x, p)
    label      integer class label of the edited image

Optional columns: ``gt_mask`` (true target mask of the edited image, non-zero
= target; may be empty on some rows) and ``mask`` (provenance mask written by
``tools/make_provenance_masks.py``, 255 = target/unedited, 0 = edited). Any
other column is kept as it is. Paths are relative to the manifest's folder
(absolute paths are accepted when reading).

Every problem raises ``ValueError`` or ``FileNotFoundError`` naming the file
and line.
"""
import csv
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from .output_files import atomic_path

REQUIRED_COLUMNS = ('original', 'edited', 'label')
PATH_COLUMNS = ('original', 'edited', 'gt_mask', 'mask')


@dataclass
class ProvenancePair:
    """One manifest row; paths are absolute once loaded."""
    original: str
    edited: str
    label: int
    gt_mask: Optional[str] = None
    mask: Optional[str] = None
    extra: Dict[str, str] = field(default_factory=dict)  # other columns
    line_no: Optional[int] = None  # line in the manifest it was read from


def _where(path: str, line_no: int) -> str:
    return f'{path}:{line_no}'


def load_provenance_manifest(path: str,
                             check_files: bool = True
                             ) -> List[ProvenancePair]:
    """Read a manifest; see the module docstring for the format.

    Args:
        path: the CSV file.
        check_files: raise if a referenced file does not exist.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'provenance manifest not found: {path}')
    root = osp.dirname(osp.abspath(path))
    with open(path, newline='', encoding='utf-8') as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ValueError(f'{path}: empty manifest, expected a header '
                             f'with columns {list(REQUIRED_COLUMNS)}')
        header = [name.strip() for name in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ValueError(f'{_where(path, 1)}: header lacks column(s) '
                             f'{missing}; found {header}')
        duplicated = sorted({c for c in header if header.count(c) > 1})
        if duplicated:
            raise ValueError(f'{_where(path, 1)}: duplicated column(s) '
                             f'{duplicated}')
        pairs, first_line_of = [], {}
        for row in reader:
            line_no = reader.line_num
            if not any(value.strip() for value in row):
                continue
            if len(row) != len(header):
                raise ValueError(
                    f'{_where(path, line_no)}: expected {len(header)} '
                    f'fields ({", ".join(header)}), got {len(row)}: {row}')
            values = dict(zip(header, (value.strip() for value in row)))
            pair = _parse_row(values, root, path, line_no, check_files)
            if pair.edited in first_line_of:
                raise ValueError(
                    f'{_where(path, line_no)}: edited image {pair.edited} '
                    f'is already listed on line {first_line_of[pair.edited]}')
            first_line_of[pair.edited] = line_no
            pairs.append(pair)
    return pairs


def _parse_row(values: Dict[str, str], root: str, path: str, line_no: int,
               check_files: bool) -> ProvenancePair:
    where = _where(path, line_no)
    for column in REQUIRED_COLUMNS:
        if not values[column]:
            raise ValueError(f'{where}: empty value in column {column!r}')
    try:
        label = int(values['label'])
    except ValueError:
        raise ValueError(f'{where}: label must be an integer, got '
                         f'{values["label"]!r}') from None
    paths = {}
    for column in PATH_COLUMNS:
        if not values.get(column):
            continue  # optional column absent or empty on this row
        resolved = osp.normpath(osp.join(root, values[column]))
        if check_files and not osp.isfile(resolved):
            raise FileNotFoundError(
                f'{where}: {column} file not found: {resolved}')
        paths[column] = resolved
    extra = {k: v for k, v in values.items()
             if k not in REQUIRED_COLUMNS and k not in PATH_COLUMNS}
    return ProvenancePair(paths['original'], paths['edited'], label,
                          paths.get('gt_mask'), paths.get('mask'), extra,
                          line_no)


def listed_files(pairs: Sequence[ProvenancePair],
                 manifest: str) -> List[Tuple[str, str]]:
    """``(path, what)`` of ``manifest`` and of every file its ``pairs``
    list, e.g. ``('/d/a.png', 'edited image of m.csv:3')``; the inputs for
    :func:`~provmm.data_prep.output_files.check_outputs`."""
    files = [(manifest, 'manifest')]
    for p in pairs:
        where = _where(manifest, p.line_no) if p.line_no else manifest
        files += [(path, f'{column} image of {where}')
                  for column, path in zip(PATH_COLUMNS, (
                      p.original, p.edited, p.gt_mask, p.mask)) if path]
    return files


def dump_provenance_manifest(pairs: Sequence[ProvenancePair],
                             path: str) -> None:
    """Write ``pairs`` to ``path`` (atomically) with paths relative to its
    folder.

    Columns: ``original, edited, label``, then ``gt_mask`` if any pair has
    one, the extra columns in first-seen order, and ``mask`` if any pair has
    one.
    """
    root = osp.dirname(osp.abspath(path))
    extra_columns = list(dict.fromkeys(k for p in pairs for k in p.extra))
    header = list(REQUIRED_COLUMNS)
    if any(p.gt_mask for p in pairs):
        header.append('gt_mask')
    header += extra_columns
    if any(p.mask for p in pairs):
        header.append('mask')

    def relative(file_path: Optional[str]) -> str:
        return osp.relpath(file_path, root) if file_path else ''

    with atomic_path(path) as tmp, open(tmp, 'w', newline='',
                                         encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for p in pairs:
            row = dict(p.extra, original=relative(p.original),
                       edited=relative(p.edited), label=str(p.label),
                       gt_mask=relative(p.gt_mask), mask=relative(p.mask))
            writer.writerow([row.get(column, '') for column in header])
