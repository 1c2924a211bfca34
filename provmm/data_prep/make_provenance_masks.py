"""Provenance masks for every pair of a manifest (the mask tool's logic).

For each row of a manifest (:mod:`provenance_manifest`) the mask of Eq. 6-7
(:func:`~provmm.provenance.edit_mask.otsu_provenance_mask`) is written as a
PNG at the edited image's size, 255 = target/unedited, 0 = edited, under
``<out_dir>/masks/`` mirroring the edited images' folders below their common
folder. ``<out_dir>/manifest.csv`` repeats the input rows that got a mask
with a ``mask`` column; degenerate pairs (no or uniform change, no region
left) get no mask and are listed in the report
(``mask_report.json``, ``mask_report.png``) and on stdout.

Images are read with ``cv2.IMREAD_COLOR`` (3 channels, as mmpretrain's
``LoadImageFromFile``). With ``match_size='edited'`` an original of another
size is resized to the edited image's size (aspect ratio within 5 %);
``'none'`` refuses any size difference. Unreadable images, refused sizes and
ground-truth masks of another size stop the run after all pairs were tried,
with one line per problem.
"""
import os
import os.path as osp
import sys
from functools import partial
from multiprocessing import Pool
from typing import Dict, List

import cv2
import numpy as np
from mmengine.utils import track_parallel_progress, track_progress

from provmm.provenance.edit_mask import (DegenerateEditError, mask_iou,
                                         otsu_provenance_mask)
from provmm.provenance.mask_report import (format_mask_report,
                                           save_mask_report,
                                           summarize_masks)
from .provenance_manifest import (ProvenancePair, dump_provenance_manifest,
                                  load_provenance_manifest)

MATCH_SIZES = ('edited', 'none')


def _read(path: str, flags: int) -> np.ndarray:
    image = cv2.imread(path, flags)
    if image is None:
        raise OSError(f'cannot read image {path}')
    return image


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already


def mask_one_pair(task: Dict, match_size: str = 'edited',
                  **mask_options) -> Dict:
    """Compute, compare and write the mask of one pair; returns its record.

    Args:
        task: ``line``, ``original``, ``edited``, ``gt_mask`` (or None),
            ``mask`` (output PNG path).
        match_size: 'edited' or 'none' (see the module docstring).
        mask_options: keyword arguments of ``otsu_provenance_mask``.
    """
    record = dict(line=task['line'], edited=task['edited'])
    try:
        original = _read(task['original'], cv2.IMREAD_COLOR)
        edited = _read(task['edited'], cv2.IMREAD_COLOR)
        size = None
        if match_size == 'edited' and original.shape != edited.shape:
            size = (edited.shape[1], edited.shape[0])
        try:
            mask = otsu_provenance_mask(original, edited, size=size,
                                        **mask_options)
        except DegenerateEditError as e:
            record['degenerate'] = str(e)
            return record
        iou = None
        if task['gt_mask']:
            gt = _read(task['gt_mask'], cv2.IMREAD_GRAYSCALE)
            if gt.shape != mask.shape:
                raise ValueError(
                    f'gt_mask {task["gt_mask"]} has size {gt.shape}, the '
                    f'edited image {edited.shape[:2]}')
            iou = mask_iou(mask, gt)
        if not cv2.imwrite(task['mask'], mask * np.uint8(255)):
            raise OSError(f'cannot write mask {task["mask"]}')
    except (OSError, ValueError) as e:
        record['error'] = str(e)
        return record
    record.update(mask=task['mask'], area_fraction=float(mask.mean()),
                  iou=iou)
    return record


def mask_paths(pairs: List[ProvenancePair], out_dir: str) -> List[str]:
    """``<out_dir>/masks/<edited path below the common folder>.png``."""
    edited = [osp.abspath(p.edited) for p in pairs]
    common = osp.commonpath(edited) if len(edited) > 1 else osp.dirname(
        edited[0])
    paths, source_of = [], {}
    for pair, path in zip(pairs, edited):
        stem = osp.splitext(osp.relpath(path, common))[0]
        mask = osp.join(osp.abspath(out_dir), 'masks', stem + '.png')
        if mask in source_of:
            raise ValueError(
                f'edited images {source_of[mask]} and {pair.edited} would '
                f'share the mask file {mask}')
        source_of[mask] = pair.edited
        paths.append(mask)
    return paths


def _map_pairs(worker, tasks: List[dict], workers: int, chunksize: int,
               quiet: bool) -> List[dict]:
    """``worker`` over ``tasks`` in order, with mmengine's progress bar
    unless ``quiet`` (its bars cannot be switched off)."""
    if workers == 1:
        if quiet:
            return [worker(task) for task in tasks]
        return track_progress(worker, tasks, file=sys.stdout)
    if quiet:
        with Pool(workers, initializer=_init_worker) as pool:
            return pool.map(worker, tasks, chunksize=chunksize)
    return track_parallel_progress(worker, tasks, workers,
                                   initializer=_init_worker,
                                   chunksize=chunksize, file=sys.stdout)


def make_provenance_masks(manifest: str,
                          out_dir: str,
                          workers: int = 1,
                          match_size: str = 'edited',
                          chunksize: int = 16,
                          quiet: bool = False,
                          **mask_options) -> Dict:
    """Write masks, ``manifest.csv`` and the report; return the report.

    Args:
        manifest: input manifest CSV.
        out_dir: output folder.
        workers: worker processes (1 = in this process).
        match_size: 'edited' or 'none' (see the module docstring).
        chunksize: pairs handed to a worker at a time.
        quiet: no progress bar and no printed report (the report is still
            saved and returned).
        mask_options: ``blur``, ``blur_type``, ``log_scale``, ``clean``,
            ``area_change`` of ``otsu_provenance_mask``.
    """
    if match_size not in MATCH_SIZES:
        raise ValueError(f'match_size must be one of {MATCH_SIZES}, got '
                         f'{match_size!r}')
    if workers < 1:
        raise ValueError(f'workers must be >= 1, got {workers}')
    pairs = load_provenance_manifest(manifest)
    if not pairs:
        raise ValueError(f'{manifest}: no pairs listed')
    masks = mask_paths(pairs, out_dir)
    for folder in sorted({osp.dirname(m) for m in masks}):
        os.makedirs(folder, exist_ok=True)
    tasks = [dict(line=p.line_no, original=p.original, edited=p.edited,
                  gt_mask=p.gt_mask, mask=m) for p, m in zip(pairs, masks)]
    worker = partial(mask_one_pair, match_size=match_size, **mask_options)
    records = _map_pairs(worker, tasks, workers, chunksize, quiet)

    errors = [f'{manifest}:{r["line"]}: {r["error"]}' for r in records
              if 'error' in r]
    if errors:
        raise ValueError(f'{len(errors)} of {len(records)} pairs failed:\n'
                         + '\n'.join(errors))
    for pair, record in zip(pairs, records):
        pair.mask = record.get('mask')
    settings = dict(manifest=osp.abspath(manifest), match_size=match_size,
                    **mask_options)
    summary = summarize_masks(records, settings)
    dump_provenance_manifest([p for p in pairs if p.mask],
                             osp.join(out_dir, 'manifest.csv'))
    save_mask_report(summary, osp.join(out_dir, 'mask_report.json'),
                     osp.join(out_dir, 'mask_report.png'))
    if not quiet:
        print(format_mask_report(summary))
    return summary
