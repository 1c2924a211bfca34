"""Rows of a metadata CSV with a header (Waterbirds, WILDS), checked for the
columns a reader needs, and checks of the paths such files list; errors name
the file and line."""
import csv
import ntpath
import os.path as osp
from typing import Dict, Iterator, Sequence, Tuple


def read_csv_records(path: str, required: Sequence[str]
                     ) -> Iterator[Tuple[str, int, Dict[str, str]]]:
    """Yield ``(where, line_num, row)`` per data row of ``path``.

    ``where`` is ``'<path>:<line>'`` for error messages. Raises ValueError
    when the header lacks a ``required`` column or a row has fewer or more
    fields than the header.
    """
    with open(path, newline='', encoding='utf-8') as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise ValueError(f'{path}:1: header lacks column(s) {missing}; '
                             f'found {header}')
        for row in reader:
            where = f'{path}:{reader.line_num}'
            if None in row or any(row[c] is None for c in required):
                raise ValueError(f'{where}: expected {len(header)} fields '
                                 f'({", ".join(header)})')
            yield where, reader.line_num, row


def check_relative_path(path: str, where: str, what: str = 'path') -> str:
    """Return ``path`` if joining it to a root stays inside that root.

    Refuses (ValueError naming ``where``, e.g. ``'<file>:<line>'``) an empty
    path, an absolute one (POSIX or Windows) and any ``..`` component.
    """
    parts = path.replace('\\', '/').split('/')
    if not path or osp.isabs(path) or ntpath.isabs(path) or '..' in parts:
        raise ValueError(f'{where}: {what} {path!r} must be a non-empty '
                         'relative path inside its root folder (no ".." '
                         'component, not absolute)')
    return path


def check_files_exist(paths: Sequence[str], owner: str, listed_in: str,
                      hint: str, shown: int = 3) -> None:
    """Raise FileNotFoundError when some of ``paths`` are not files, with
    their count, the first ``shown`` of them and ``hint`` (where the data
    should go), so a missing dataset stops at build time, not mid-epoch."""
    missing = [p for p in paths if not osp.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f'{owner}: {len(missing)} of {len(paths)} images listed in '
            f'{listed_in} are missing, first: {", ".join(missing[:shown])}; '
            f'{hint}')
