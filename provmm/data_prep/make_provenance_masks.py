"""Provenance masks for every pair of a manifest (the mask tool's logic).

For each row of a manifest (:mod:`provenance_manifest`) the mask of Eq. 6-7
(:func:`~provmm.provenance.edit_mask.otsu_provenance_mask`) is written as an
8-bit PNG at the edited image's size, 255 = target/unedited, 0 = edited,
under ``<out_dir>/masks/`` mirroring the edited images' folders below their
common folder. ``<out_dir>/manifest.csv`` repeats the input rows that got a
mask with a ``mask`` column; degenerate pairs (no or uniform change, no
region left) get no mask and are listed in the report
(``mask_report.json``, ``mask_report.png``) and on stdout.

Images are read as ``cv2.imread(path, cv2.IMREAD_COLOR)`` would (3 channels,
as mmpretrain's ``LoadImageFromFile``), after PIL decoded the whole file:
cv2 decodes a truncated JPEG with only a libjpeg warning, PIL refuses it.
With ``match_size='edited'`` an original of another size is resized to the
edited image's size (aspect ratio within 5 %); ``'none'`` refuses any size
difference. Unreadable, truncated or corrupt images, refused sizes and
ground-truth masks of another size stop the run after all pairs were tried,
with one line per problem naming the manifest line.

Safety and resumption:

- no output may replace an input (the manifest or a file it lists);
- every file is written under a temporary name and renamed when complete,
  ``manifest.csv`` last (it marks a finished run, and is removed when a run
  starts);
- ``settings.json`` records :func:`mask_settings`; a run into a folder whose
  settings differ stops unless ``overwrite=True``;
- each mask carries, in a PNG text chunk, a hash of the settings and of its
  original's and edited image's bytes; a rerun keeps a mask that decodes and
  carries the hash of the current inputs and settings, and makes the others
  again.
"""
import hashlib
import inspect
import io
import json
import os
import os.path as osp
import sys
from functools import partial
from multiprocessing import Pool
from typing import Dict, List, Optional

import cv2
import numpy as np
from mmengine.utils import track_parallel_progress, track_progress
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from provmm.provenance.edit_mask import (DegenerateEditError, mask_iou,
                                         otsu_provenance_mask)
from provmm.provenance.mask_report import (format_mask_report,
                                           save_mask_report,
                                           summarize_masks)
from .output_files import (atomic_path, check_outputs, remove_temporaries,
                           write_text_atomic)
from .provenance_manifest import (ProvenancePair, dump_provenance_manifest,
                                  listed_files, load_provenance_manifest)

MATCH_SIZES = ('edited', 'none')
FORMAT_VERSION = 2  # 8-bit PNG 0/255 with the KEY_TEXT chunk
KEY_TEXT = 'provmm_mask_key'
SETTINGS_FILE = 'settings.json'
MANIFEST_FILE = 'manifest.csv'
REPORT_FILES = ('mask_report.json', 'mask_report.png')
# keyword options of otsu_provenance_mask and their defaults
MASK_OPTIONS = {
    name: p.default
    for name, p in inspect.signature(otsu_provenance_mask).parameters.items()
    if p.default is not inspect.Parameter.empty and name != 'size'
}


def mask_settings(match_size: str = 'edited', **mask_options) -> Dict:
    """Everything that decides the masks: the format version, ``match_size``
    and every option of ``otsu_provenance_mask`` (defaults filled in)."""
    if match_size not in MATCH_SIZES:
        raise ValueError(f'match_size must be one of {MATCH_SIZES}, got '
                         f'{match_size!r}')
    unknown = sorted(set(mask_options) - set(MASK_OPTIONS))
    if unknown:
        raise ValueError(f'unknown mask option(s) {unknown}; expected some '
                         f'of {sorted(MASK_OPTIONS)}')
    return dict(format_version=FORMAT_VERSION, match_size=match_size,
                **dict(MASK_OPTIONS, **mask_options))


def read_bytes(path: str) -> bytes:
    """The whole file: hashed for the mask key, then decoded once."""
    with open(path, 'rb') as f:
        return f.read()


def decode_image(data: bytes, path: str, flags: int) -> np.ndarray:
    """``cv2.imread(path, flags)`` of the file's bytes ``data``; raises
    ``OSError`` naming ``path`` if the file is truncated or corrupt."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except UnidentifiedImageError:
        pass  # a format PIL lacks: cv2 alone decides below
    except Exception as e:  # PIL raises OSError, SyntaxError, zlib.error...
        raise OSError(f'truncated or corrupt image {path}: {e}') from None
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        raise OSError(f'cannot decode image {path} ({len(data)} bytes)')
    return image


def mask_key(settings: Dict, original: bytes, edited: bytes) -> str:
    """sha256 of the settings and of the two images' bytes."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for data in (original, edited):
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def read_finished_mask(path: str, key: str) -> Optional[np.ndarray]:
    """The (H, W) 0/1 uint8 mask at ``path`` if the file decodes completely
    and carries ``key``; ``None`` otherwise."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode != 'L' or image.text.get(KEY_TEXT) != key:
                return None
            return (np.asarray(image) != 0).astype(np.uint8)
    except Exception:  # absent, partial or foreign file: made again
        return None


def write_mask(path: str, mask: np.ndarray, key: str) -> None:
    """Write the 0/1 ``mask`` as a 0/255 PNG carrying ``key``, atomically."""
    info = PngImagePlugin.PngInfo()
    info.add_text(KEY_TEXT, key)
    with atomic_path(path) as tmp:
        Image.fromarray(mask * np.uint8(255)).save(tmp, format='PNG',
                                                   pnginfo=info)


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already


def mask_one_pair(task: Dict, settings: Dict) -> Dict:
    """Make (or keep a finished) mask of one pair and compare it with the
    pair's ``gt_mask``.

    Args:
        task: ``line``, ``original``, ``edited``, ``gt_mask`` (or None),
            ``mask`` (output PNG path).
        settings: from :func:`mask_settings`.

    Returns:
        The pair's record for :func:`summarize_masks` plus ``reused``: True
        if a finished mask of the same inputs and settings was kept.
    """
    record = dict(line=task['line'], edited=task['edited'])
    options = {k: settings[k] for k in MASK_OPTIONS}
    try:
        original_bytes = read_bytes(task['original'])
        edited_bytes = read_bytes(task['edited'])
        key = mask_key(settings, original_bytes, edited_bytes)
        mask = read_finished_mask(task['mask'], key)
        reused = mask is not None
        if not reused:
            original = decode_image(original_bytes, task['original'],
                                    cv2.IMREAD_COLOR)
            edited = decode_image(edited_bytes, task['edited'],
                                  cv2.IMREAD_COLOR)
            size = None
            if (settings['match_size'] == 'edited'
                    and original.shape != edited.shape):
                size = (edited.shape[1], edited.shape[0])
            try:
                mask = otsu_provenance_mask(original, edited, size=size,
                                            **options)
            except DegenerateEditError as e:
                record.update(degenerate=str(e), reused=False)
                return record
        iou = None
        if task['gt_mask']:
            gt = decode_image(read_bytes(task['gt_mask']), task['gt_mask'],
                              cv2.IMREAD_GRAYSCALE)
            if gt.shape != mask.shape:
                raise ValueError(
                    f'gt_mask {task["gt_mask"]} has size {gt.shape}, the '
                    f'edited image {mask.shape}')
            iou = mask_iou(mask, gt)
        if not reused:
            write_mask(task['mask'], mask, key)
    except (OSError, ValueError) as e:
        record['error'] = str(e)
        return record
    record.update(mask=task['mask'], area_fraction=float(mask.mean()),
                  iou=iou, reused=reused)
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


def _claim_out_dir(out_dir: str, settings: Dict, overwrite: bool) -> None:
    """Check ``settings.json`` against ``settings``, then record them and
    remove the files of a finished run."""
    path = osp.join(out_dir, SETTINGS_FILE)
    old = None
    if osp.isfile(path):
        try:
            with open(path, encoding='utf-8') as f:
                old = json.load(f)
        except ValueError as e:
            raise ValueError(f'{path}: not a settings file ({e})') from None
        changed = [f'{k}: {old.get(k, "absent")!r} there, '
                   f'{settings.get(k, "absent")!r} now'
                   for k in sorted(set(old) | set(settings))
                   if old.get(k) != settings.get(k)]
        if changed and not overwrite:
            raise ValueError(
                f'{out_dir} holds masks made with other settings ({path}): '
                + '; '.join(changed) + '. Use another output folder, the '
                'same settings, or overwrite (--overwrite) to replace them')
    for name in (MANIFEST_FILE, ) + REPORT_FILES:  # of a finished run
        if osp.isfile(osp.join(out_dir, name)):
            os.remove(osp.join(out_dir, name))
    if old != settings:
        write_text_atomic(path, json.dumps(settings, indent=1,
                                           sort_keys=True) + '\n')


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
                          overwrite: bool = False,
                          **mask_options) -> Dict:
    """Write masks, ``settings.json``, the report and ``manifest.csv``
    (module docstring); return the report.

    Args:
        manifest: input manifest CSV.
        out_dir: output folder; may hold an earlier run with the same
            settings, whose finished masks are kept.
        workers: worker processes (1 = in this process).
        match_size: 'edited' or 'none' (see the module docstring).
        chunksize: pairs handed to a worker at a time.
        quiet: print nothing (the report is still saved and returned).
        overwrite: accept an ``out_dir`` made with other settings; its
            masks are made again.
        mask_options: ``blur``, ``blur_type``, ``log_scale``, ``clean``,
            ``area_change``, ``max_aspect_change`` of
            ``otsu_provenance_mask``.
    """
    settings = mask_settings(match_size, **mask_options)
    if workers < 1:
        raise ValueError(f'workers must be >= 1, got {workers}')
    pairs = load_provenance_manifest(manifest)
    if not pairs:
        raise ValueError(f'{manifest}: no pairs listed')
    masks = mask_paths(pairs, out_dir)
    outputs = {name: osp.join(out_dir, name)
               for name in (SETTINGS_FILE, MANIFEST_FILE) + REPORT_FILES}
    check_outputs([(m, f'mask of {manifest}:{p.line_no}')
                   for p, m in zip(pairs, masks)]
                  + [(path, name) for name, path in outputs.items()],
                  listed_files(pairs, manifest))
    os.makedirs(out_dir, exist_ok=True)
    _claim_out_dir(out_dir, settings, overwrite)
    for folder in sorted({osp.dirname(m) for m in masks}):
        os.makedirs(folder, exist_ok=True)
        remove_temporaries(folder)  # left by a killed run
    remove_temporaries(out_dir)
    tasks = [dict(line=p.line_no, original=p.original, edited=p.edited,
                  gt_mask=p.gt_mask, mask=m) for p, m in zip(pairs, masks)]
    records = _map_pairs(partial(mask_one_pair, settings=settings), tasks,
                         workers, chunksize, quiet)

    errors = [f'{manifest}:{r["line"]}: {r["error"]}' for r in records
              if 'error' in r]
    if errors:
        raise ValueError(f'{len(errors)} of {len(records)} pairs failed:\n'
                         + '\n'.join(errors))
    num_reused = sum(r.pop('reused') for r in records)
    for pair, record in zip(pairs, records):
        pair.mask = record.get('mask')
    summary = summarize_masks(records,
                              dict(manifest=osp.abspath(manifest),
                                   **settings))
    report_json, report_png = (outputs[name] for name in REPORT_FILES)
    with atomic_path(report_json) as tmp_json, \
            atomic_path(report_png) as tmp_png:
        save_mask_report(summary, tmp_json, tmp_png)
    dump_provenance_manifest([p for p in pairs if p.mask],
                             outputs[MANIFEST_FILE])
    if not quiet:
        print(format_mask_report(summary))
        where = {name: osp.abspath(path) for name, path in outputs.items()}
        print(f'masks: {osp.join(osp.abspath(out_dir), "masks")} '
              f'({summary["num_masks"] - num_reused} made, {num_reused} '
              'kept from an earlier run)\n'
              f'manifest: {where[MANIFEST_FILE]}\n'
              f'report: {where[REPORT_FILES[0]]}, {where[REPORT_FILES[1]]}\n'
              f'settings: {where[SETTINGS_FILE]}')
    return summary
