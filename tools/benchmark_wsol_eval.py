"""Time MaxBoxAccV2 (all contours, per-threshold counts) on N random score
maps, optionally checking the counts against the literal OpenCV port of the
reference definition (provmm/evaluation/functional/wsol_reference.py).

Example::

    python tools/benchmark_wsol_eval.py --num-maps 5794 --size 224 \
        --interval 0.001 --workers 2 --check-reference 20
"""
import argparse
import os
import time

import cv2
import numpy as np

from provmm.evaluation.functional import (cam_thresholds, cam_to_scoremap,
                                          correct_per_level_batch,
                                          count_correct_per_threshold,
                                          iou_fractions,
                                          largest_contour_correct_per_level,
                                          max_box_accuracy, wsol_reference)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--num-maps', type=int, default=5794)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--interval', type=float, default=0.001)
    parser.add_argument('--iou-thresholds', type=int, nargs='+',
                        default=[30, 50, 70])
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--kind', choices=['cam', 'noise'], default='cam',
                        help='cam: bicubic-upsampled 14x14 Gaussian maps '
                        '(CAM-like); noise: i.i.d. uniform pixels')
    parser.add_argument('--chunk', type=int, default=512,
                        help='maps held in memory at once')
    parser.add_argument('--largest-contour', action='store_true',
                        help='also time MaxBoxAcc V1 (OpenCV per level)')
    parser.add_argument('--check-reference', type=int, default=0,
                        metavar='N', help='compare the counts of the first N '
                        'maps with the literal OpenCV port')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def random_maps(rng, num, size, kind):
    """``num`` score maps ``(size, size)`` in [0, 1] and 1-3 GT boxes each."""
    if kind == 'cam':
        maps = np.stack([cam_to_scoremap(rng.standard_normal((14, 14)),
                                         (size, size)) for _ in range(num)])
    else:
        maps = rng.random((num, size, size))
    boxes = []
    for _ in range(num):
        x0, y0 = rng.integers(0, size // 2, 2)
        w, h = rng.integers(size // 8, size - max(x0, y0), 2)
        extra = [[x0, y0, x0 + w, y0 + h]]
        if rng.random() < 0.2:  # a second object somewhere
            a, b = sorted(rng.integers(0, size, 2))
            extra.append([a, a, b, b])
        boxes.append(np.array(extra))
    return maps, boxes


def main():
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    thresholds = cam_thresholds(args.interval)
    fractions = iou_fractions(args.iou_thresholds)
    cv2.setNumThreads(1)

    # compile (or load the numba cache) outside the timed region
    start = time.perf_counter()
    warm_maps, warm_boxes = random_maps(rng, 2, 16, args.kind)
    correct_per_level_batch(warm_maps, warm_boxes, fractions, args.workers)
    print(f'numba compile / cache load: {time.perf_counter() - start:.2f} s')

    timed = generation = cpu = 0.0
    max_levels, tables, kept = [], [], []
    v1_levels, v1_tables, v1_time = [], [], 0.0
    for begin in range(0, args.num_maps, args.chunk):
        num = min(args.chunk, args.num_maps - begin)
        tic = time.perf_counter()
        maps, boxes = random_maps(rng, num, args.size, args.kind)
        generation += time.perf_counter() - tic

        tic, cpu_tic = time.perf_counter(), time.process_time()
        levels, correct = correct_per_level_batch(maps, boxes, fractions,
                                                  args.workers)
        timed += time.perf_counter() - tic
        cpu += time.process_time() - cpu_tic
        max_levels.append(levels)
        tables.append(correct)
        if args.largest_contour:
            tic = time.perf_counter()
            for scoremap, gt in zip(maps, boxes):
                level, table = largest_contour_correct_per_level(
                    scoremap, gt, fractions, thresholds)
                v1_levels.append(level)
                v1_tables.append(table)
            v1_time += time.perf_counter() - tic
        if len(kept) < args.check_reference:
            kept.extend(zip(maps[:args.check_reference - len(kept)],
                            boxes[:args.check_reference - len(kept)]))

    tic = time.perf_counter()
    max_levels = np.concatenate(max_levels)
    tables = np.concatenate(tables)
    counts = count_correct_per_threshold(max_levels, tables, thresholds)
    accuracy, _ = max_box_accuracy(counts, args.num_maps, thresholds)
    timed += time.perf_counter() - tic

    print(f'{args.num_maps} {args.kind} maps {args.size}x{args.size}, '
          f'{len(thresholds)} thresholds, workers {args.workers}; machine '
          f'load average (1 min) {os.getloadavg()[0]:.1f} on '
          f'{os.cpu_count()} CPUs')
    print(f'MaxBoxAccV2 evaluation wall time: {timed:.2f} s '
          f'({timed / args.num_maps * 1e3:.3f} ms/map), CPU time of '
          f'this process {cpu:.2f} s; '
          f'map generation (not timed): {generation:.1f} s')
    print('MaxBoxAcc per IoU threshold: ' + ', '.join(
        f'{t}: {a:.2f}' for t, a in zip(args.iou_thresholds, accuracy)) +
          f'; MaxBoxAccV2 {accuracy.mean():.2f}')
    if args.largest_contour:
        v1_counts = count_correct_per_threshold(v1_levels, v1_tables,
                                                thresholds)
        v1_accuracy, _ = max_box_accuracy(v1_counts, args.num_maps,
                                          thresholds)
        print(f'MaxBoxAcc V1 (largest contour, OpenCV per level): '
              f'{v1_time:.2f} s, accuracy ' + ', '.join(
                  f'{t}: {a:.2f}'
                  for t, a in zip(args.iou_thresholds, v1_accuracy)))

    if kept:
        maps = [m for m, _ in kept]
        boxes = [b for _, b in kept]
        tic = time.perf_counter()
        expected = wsol_reference.reference_counts(maps, boxes, thresholds,
                                              args.iou_thresholds)
        ref_time = time.perf_counter() - tic
        levels, correct = correct_per_level_batch(np.stack(maps), boxes,
                                                  fractions, args.workers)
        got = count_correct_per_threshold(levels, correct, thresholds)
        same = np.array_equal(got, expected)
        print(f'reference port on {len(kept)} maps: {ref_time:.1f} s '
              f'({ref_time / len(kept) * 1e3:.0f} ms/map, ~'
              f'{ref_time / len(kept) * args.num_maps:.0f} s for all); '
              f'per-threshold counts identical: {same}')
        if not same:
            raise SystemExit('counts differ from the reference definition')


if __name__ == '__main__':
    main()
