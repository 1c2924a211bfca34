"""Safe output files for the data-preparation tools.

:func:`check_outputs` refuses an output path that is one of the inputs (or
another output), comparing real paths so that symlinks and relative paths
cannot hide a clash. :func:`atomic_path` writes under a temporary name beside
the target and renames it over the target only once the write finished, so a
killed run leaves the old file or the new one, never a partial one.
"""
import os
import os.path as osp
import re
import uuid
from contextlib import contextmanager
from typing import Iterable, Iterator, Tuple

# '.<stem>.<12 hex>.tmp<ext>', the names made by atomic_path
TEMPORARY_NAME = re.compile(r'^\..*\.[0-9a-f]{12}\.tmp(\.[^.]+)?$')


def check_outputs(outputs: Iterable[Tuple[str, str]],
                  inputs: Iterable[Tuple[str, str]]) -> None:
    """Raise ``ValueError`` if an output would replace an input or another
    output.

    Args:
        outputs: ``(path, what)`` pairs, e.g. ``('kept.csv', '--out')``.
        inputs: ``(path, what)`` pairs, e.g. ``('a.png', 'edited image of
            pairs.csv:3')``.
    """
    output_at = {}
    for path, what in outputs:
        real = osp.realpath(path)
        if real in output_at:
            other, other_what = output_at[real]
            raise ValueError(f'output {what} {path} and output {other_what} '
                             f'{other} are the same file {real}')
        output_at[real] = (path, what)
    for path, what in inputs:
        clash = output_at.get(osp.realpath(path))
        if clash is not None:
            raise ValueError(
                f'output {clash[1]} {clash[0]} would overwrite the input '
                f'{what} {path}; write the output elsewhere')


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path beside ``path`` (same extension, so writers
    that pick the format from it still work); it replaces ``path`` when the
    block ends and is deleted if the block raises. Creates the folder."""
    folder, name = osp.split(osp.abspath(path))
    stem, ext = osp.splitext(name)
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{stem}.{uuid.uuid4().hex[:12]}.tmp{ext}')
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if osp.lexists(tmp):
            os.remove(tmp)


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        with open(tmp, 'w', encoding='utf-8', newline='') as f:
            f.write(text)


def remove_temporaries(folder: str) -> int:
    """Delete what :func:`atomic_path` left in ``folder`` when its process
    was killed; returns how many files went."""
    if not osp.isdir(folder):
        return 0
    removed = 0
    for entry in os.scandir(folder):
        if entry.is_file() and TEMPORARY_NAME.match(entry.name):
            os.remove(entry.path)
            removed += 1
    return removed
