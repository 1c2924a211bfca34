"""Time and score ``tools/make_provenance_masks.py`` on generated edits.

Generates ``--num-pairs`` (original, edited) JPEG pairs once: a textured
blob (the target) on a textured background, and an edit that replaces the
background by another texture, optionally followed by a mild global
re-rendering (blur, colour gain/offset, noise) so that the difference image
is not a perfect mask. The true foreground is the manifest's ``gt_mask``.
Then it times the tool's code path (manifest reading, JPEG checking and
decoding, masks, PNG writing, report) for each mask variant, and a rerun
into the same folder that keeps the finished masks, and prints times and
IoU.

Target: 10,000 pairs of 224x224 in <= 60 s with ``--workers 2``::

    python tools/benchmark_provenance_masks.py --num-pairs 10000 --workers 2
    python tools/benchmark_provenance_masks.py --num-pairs 200 \\
        --variants plain log log+blur5+clean5 --rerender
"""
import argparse
import csv
import os
import os.path as osp
import tempfile
import time
from multiprocessing import Pool

import cv2
import numpy as np

from provmm.data_prep.make_provenance_masks import make_provenance_masks

VARIANTS = {
    'plain': {},
    'blur5': dict(blur=5),
    'blur5+clean5': dict(blur=5, clean=5),
    'log': dict(log_scale=True),
    'log+blur5+clean5': dict(log_scale=True, blur=5, clean=5),
}


def _texture(rng, size, cell, mean, amplitude):
    """Smooth colour noise: bicubic upsampling of a coarse random grid."""
    coarse = rng.standard_normal((size // cell + 2, size // cell + 2, 3))
    smooth = cv2.resize(coarse.astype(np.float32), (size, size),
                        interpolation=cv2.INTER_CUBIC)
    smooth = (smooth - smooth.mean()) / (smooth.std() + 1e-6)
    return np.asarray(mean, np.float32) + amplitude * smooth


def _foreground(rng, size):
    """An ellipse plus a round lobe, 1 = target."""
    mask = np.zeros((size, size), np.uint8)
    cx, cy = rng.integers(size * 0.3, size * 0.7, 2)
    axes = rng.integers(size * 0.13, size * 0.31, 2)
    cv2.ellipse(mask, (int(cx), int(cy)), (int(axes[0]), int(axes[1])),
                float(rng.uniform(0, 180)), 0, 360, 1, -1)
    cv2.circle(mask, (int(cx + rng.integers(-30, 30)),
                      int(cy - rng.integers(10, 40))),
               int(rng.integers(12, 25)), 1, -1)
    return mask


def make_pair(index, size=224, rerender=False, seed=0):
    """Original, edited (uint8 BGR) and true foreground of pair ``index``."""
    rng = np.random.default_rng([seed, index])
    foreground = _foreground(rng, size)
    obj = _texture(rng, size, 16, rng.uniform(40, 220, 3), 40)
    backgrounds = [_texture(rng, size, int(rng.choice([8, 16, 32])),
                            rng.uniform(40, 220, 3), 50) for _ in range(2)]
    f = foreground[..., None].astype(np.float32)
    original = f * obj + (1 - f) * backgrounds[0]
    edited = f * obj + (1 - f) * backgrounds[1]
    if rerender:
        edited = cv2.GaussianBlur(edited, (0, 0), 0.8)
        edited = (edited * rng.uniform(0.92, 1.08, 3) + rng.uniform(-8, 8, 3)
                  + rng.normal(0, 3, edited.shape))
    to_uint8 = lambda x: np.clip(np.rint(x), 0, 255).astype(np.uint8)  # noqa
    return to_uint8(original), to_uint8(edited), foreground


def _write_pair(job):
    root, index, size, rerender, seed = job
    original, edited, foreground = make_pair(index, size, rerender, seed)
    names = (f'original/{index}.jpg', f'edited/{index}.jpg',
             f'gt/{index}.png')
    quality = [cv2.IMWRITE_JPEG_QUALITY, 90]
    cv2.imwrite(osp.join(root, names[0]), original, quality)
    cv2.imwrite(osp.join(root, names[1]), edited, quality)
    cv2.imwrite(osp.join(root, names[2]), foreground * np.uint8(255))
    return names


def generate_pairs(root, num_pairs, size, rerender, seed, workers):
    """Write the pairs and ``root/manifest.csv``; return its path."""
    for folder in ('original', 'edited', 'gt'):
        os.makedirs(osp.join(root, folder), exist_ok=True)
    jobs = [(root, i, size, rerender, seed) for i in range(num_pairs)]
    with Pool(workers) as pool:
        rows = pool.map(_write_pair, jobs, chunksize=64)
    manifest = osp.join(root, 'manifest.csv')
    with open(manifest, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['original', 'edited', 'label', 'gt_mask'])
        for original, edited, gt in rows:
            writer.writerow([original, edited, 0, gt])
    return manifest


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--num-pairs', type=int, default=10000)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--rerender', action='store_true',
                        help='mild global re-rendering of the edited image')
    parser.add_argument('--variants', nargs='+', choices=list(VARIANTS),
                        default=['plain'])
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--work-dir', default=None,
                        help='keep pairs and masks here (default: temp dir)')
    return parser.parse_args()


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.work_dir or tmp
        start = time.perf_counter()
        manifest = generate_pairs(osp.join(root, 'pairs'), args.num_pairs,
                                  args.size, args.rerender, args.seed,
                                  args.workers)
        print(f'generated {args.num_pairs} pairs of {args.size}x{args.size} '
              f'JPEGs in {time.perf_counter() - start:.1f} s '
              f'(rerender={args.rerender})')
        rows = []
        for name in args.variants:
            start = time.perf_counter()
            summary = make_provenance_masks(
                manifest, osp.join(root, f'masks_{name}'),
                workers=args.workers, quiet=True, **VARIANTS[name])
            seconds = time.perf_counter() - start
            start = time.perf_counter()
            make_provenance_masks(
                manifest, osp.join(root, f'masks_{name}'),
                workers=args.workers, quiet=True, **VARIANTS[name])
            rerun = time.perf_counter() - start
            iou = summary['iou'] or {}
            rows.append((name, seconds, rerun, iou.get('mean'),
                         iou.get('min'), summary['num_degenerate']))
    print(f'\n| variant | seconds ({args.workers} workers) | pairs/s | '
          'rerun seconds | mean IoU | min IoU | degenerate |')
    print('|---|---|---|---|---|---|---|')
    for name, seconds, rerun, mean_iou, min_iou, degenerate in rows:
        print(f'| {name} | {seconds:.1f} | {args.num_pairs / seconds:.0f} | '
              f'{rerun:.1f} | {mean_iou} | {min_iou} | {degenerate} |')


if __name__ == '__main__':
    main()
