"""Hard-cosine filtration of a manifest of generated images.

The logic of ``tools/filter_generated.py``.

Input manifest: CSV with a header and the columns ``original, generated,
label`` (paths relative to the CSV's folder, absolute ones accepted); other
columns are kept. Each row pairs a generated image with the real image it was
made from; one real image may have several generated counterparts.

The real images of class ``y`` behind ``tau_y`` (Eq. 5, see
:mod:`provmm.provenance.generated_filter`) are the distinct ``original``
images of that class in the manifest. A row with an empty ``generated``
lists a real image without a counterpart: it enters ``tau_y`` and nothing
else, so the manifest can name every real training image.

Outputs:

- the kept list: the input rows whose generated image passes, in input order,
  with paths relative to the output CSV's folder and a ``cosine`` column;
- a JSON report: the rule, ``tau``, the number of real images, kept and
  dropped counts per class, and the totals.

Problems (missing columns, empty values, non-integer labels, a generated
image listed twice, an original listed with two labels, missing files)
raise ``ValueError``/``FileNotFoundError`` naming file and line; missing
embeddings name the embeddings file and the images. An output that would
replace an input (the manifest, a listed image, or ``other_inputs``) is
refused before anything is computed; outputs are written atomically.
"""
import csv
import json
import os.path as osp
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from provmm.provenance.generated_filter import hard_cosine_filter
from .output_files import atomic_path, check_outputs, write_text_atomic

REQUIRED_COLUMNS = ('original', 'generated', 'label')
PATH_COLUMNS = ('original', 'generated')


@dataclass
class GeneratedPair:
    """One manifest row; paths are absolute once loaded."""
    original: str
    generated: Optional[str]  # None: a real image for tau_y only
    label: int
    line_no: int
    extra: Dict[str, str] = field(default_factory=dict)


def load_generated_manifest(path: str,
                            check_files: bool = True) -> List[GeneratedPair]:
    """Read (original, generated, label) rows (module docstring)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'manifest not found: {path}')
    root = osp.dirname(osp.abspath(path))
    pairs, line_of_generated, label_of_original = [], {}, {}
    with open(path, newline='', encoding='utf-8') as f:
        reader = csv.reader(f)
        header = [name.strip() for name in next(reader, [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ValueError(f'{path}:1: header lacks column(s) {missing}; '
                             f'found {header}')
        if len(set(header)) != len(header):
            raise ValueError(f'{path}:1: duplicated column names in {header}')
        for row in reader:
            where = f'{path}:{reader.line_num}'
            if not any(value.strip() for value in row):
                continue
            if len(row) != len(header):
                raise ValueError(f'{where}: expected {len(header)} fields '
                                 f'({", ".join(header)}), got {len(row)}')
            values = dict(zip(header, (value.strip() for value in row)))
            for column in ('original', 'label'):
                if not values[column]:
                    raise ValueError(f'{where}: empty {column!r}')
            try:
                label = int(values['label'])
            except ValueError:
                raise ValueError(f'{where}: label must be an integer, got '
                                 f'{values["label"]!r}') from None
            paths = {c: osp.normpath(osp.join(root, values[c]))
                     for c in PATH_COLUMNS if values[c]}
            for column, file_path in paths.items():
                if check_files and not osp.isfile(file_path):
                    raise FileNotFoundError(
                        f'{where}: {column} file not found: {file_path}')
            generated, original = paths.get('generated'), paths['original']
            if generated is None:
                pass
            elif generated in line_of_generated:
                raise ValueError(
                    f'{where}: generated image {generated} is already listed '
                    f'on line {line_of_generated[generated]}')
            else:
                line_of_generated[generated] = reader.line_num
            first = label_of_original.setdefault(original,
                                                 (label, reader.line_num))
            if first[0] != label:
                raise ValueError(
                    f'{where}: original {original} has label {label} here but '
                    f'{first[0]} on line {first[1]}')
            extra = {k: v for k, v in values.items()
                     if k not in REQUIRED_COLUMNS}
            pairs.append(GeneratedPair(original, generated, label,
                                       reader.line_num, extra))
    return pairs


def dump_generated_manifest(pairs: Sequence[GeneratedPair], path: str,
                            cosine: Optional[Sequence[float]] = None) -> None:
    """Write ``pairs`` (atomically) with paths relative to ``path``'s
    folder."""
    root = osp.dirname(osp.abspath(path))
    extra_columns = list(dict.fromkeys(k for p in pairs for k in p.extra))
    header = list(REQUIRED_COLUMNS) + extra_columns
    if cosine is not None:
        header.append('cosine')
    with atomic_path(path) as tmp, open(tmp, 'w', newline='',
                                         encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for i, p in enumerate(pairs):
            row = dict(p.extra, original=osp.relpath(p.original, root),
                       generated=osp.relpath(p.generated, root),
                       label=str(p.label))
            if cosine is not None:
                row['cosine'] = f'{cosine[i]:.6f}'
            writer.writerow([row.get(column, '') for column in header])


def filter_generated(manifest: str,
                     out: str,
                     embed: Callable[[List[str]], np.ndarray],
                     report: Optional[str] = None,
                     fallback_tau: Optional[float] = None,
                     embeddings_source: str = '',
                     other_inputs: Sequence[Tuple[str, str]] = (),
                     other_outputs: Sequence[Tuple[str, str]] = ()) -> Dict:
    """Filter a manifest by Eq. 5 and write the kept list and the report.

    Args:
        manifest: input CSV (module docstring).
        out: output CSV of the kept rows.
        embed: maps a list of absolute image paths to (N, D) embeddings.
        report: JSON report path; ``<out without .csv>_report.json`` if None.
        fallback_tau: threshold for classes with a single real image; None
            makes such classes an error.
        embeddings_source: where the embeddings came from, for the report.
        other_inputs, other_outputs: more ``(path, what)`` files the caller
            reads or will write (e.g. an embeddings NPZ), checked with
            ``out`` and ``report`` so that no output replaces an input.

    Returns:
        The report dict.
    """
    rows = load_generated_manifest(manifest)
    pairs = [p for p in rows if p.generated is not None]
    if not pairs:
        raise ValueError(f'{manifest}: no generated images listed')
    if report is None:
        report = osp.splitext(out)[0] + '_report.json'
    listed = [(path, f'{column} image of {manifest}:{p.line_no}')
              for p in rows for column, path in (('original', p.original),
                                                 ('generated', p.generated))
              if path]
    check_outputs([(out, 'kept list'), (report, 'report')]
                  + list(other_outputs),
                  [(manifest, 'manifest')] + listed + list(other_inputs))
    originals = list(dict.fromkeys(p.original for p in rows))
    row_of = {path: i for i, path in enumerate(originals)}
    real_labels = np.empty(len(originals), dtype=np.int64)
    for p in rows:
        real_labels[row_of[p.original]] = p.label
    real_embeddings = np.asarray(embed(originals))
    generated_embeddings = np.asarray(embed([p.generated for p in pairs]))
    result = hard_cosine_filter(
        real_embeddings, real_labels, generated_embeddings,
        np.array([row_of[p.original] for p in pairs]), fallback_tau)

    kept = np.flatnonzero(result.keep)
    dump_generated_manifest([pairs[i] for i in kept], out,
                            cosine=result.cosine[kept].tolist())
    classes = {}
    for label, tau in sorted(result.tau.items()):
        in_class = result.labels == label
        num_kept = int(result.keep[in_class].sum())
        classes[str(label)] = dict(
            tau=tau,
            tau_source=('fallback' if label in result.fallback_classes else
                        'mean cosine of real pairs'),
            num_real=result.num_real[label],
            kept=num_kept,
            dropped=int(in_class.sum()) - num_kept)
    summary = dict(
        rule='keep generated G_i iff cos(emb(I_i), emb(G_i)) > tau_y, '
        'tau_y = mean cosine over all distinct pairs of real images of '
        'class y (Eq. 5)',
        manifest=osp.abspath(manifest),
        kept_list=osp.abspath(out),
        embeddings=embeddings_source,
        fallback_tau=fallback_tau,
        num_pairs=len(pairs),
        kept=int(result.keep.sum()),
        dropped=int((~result.keep).sum()),
        classes=classes)
    write_text_atomic(report, json.dumps(summary, indent=2))
    summary['report'] = osp.abspath(report)
    return summary


def table_embedder(table: Dict[str, np.ndarray], source: str
                   ) -> Callable[[List[str]], np.ndarray]:
    """``embed`` for :func:`filter_generated` from a path -> vector table."""

    def embed(paths: List[str]) -> np.ndarray:
        missing = [p for p in paths if p not in table]
        if missing:
            raise ValueError(f'{source}: no embedding for {len(missing)} '
                             f'image(s), e.g. {missing[:3]}')
        return np.stack([table[p] for p in paths])

    return embed
