"""Rows of a metadata CSV with a header (Waterbirds, WILDS), checked for the
columns a reader needs; errors name the file and line."""
import csv
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
