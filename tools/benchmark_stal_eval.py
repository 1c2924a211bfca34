"""Time frame-AP, video-AP and tube linking on a synthetic, UCF101-24-sized
split (910 test videos, 24 classes, ~5.5 million frame detections, ~55,000
tubes) and compare with the literal ACT port
(provmm/evaluation/functional/stal/act_reference.py) on a subset of the videos.

The synthetic split: every video has 80-180 frames and one class with one or
two ground-truth tubes (random-walk boxes over a part of the video). Two
persons per frame (5 % missing) give one detection per (person, frame,
class); the first person follows the ground-truth tube (noisy box) and
scores its class higher inside the tube. Tubes: for every (video, class)
one to three tubes (near the ground truth for the video's class, random
elsewhere). Scores are random float64, so no two detections tie.

Example::

    python tools/benchmark_stal_eval.py --reference-videos 24 \
        --out work_dirs/benchmark_stal.json
"""
import argparse
import json
import os
import time

import numpy as np

from provmm.evaluation.functional import stal
from provmm.evaluation.functional.stal import act_reference
from provmm.evaluation.metrics import FrameAP, VideoAP
from provmm.evaluation.metrics.stal_ap import (frame_detections,
                                               sample_detections)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--videos', type=int, default=910)
    parser.add_argument('--classes', type=int, default=24)
    parser.add_argument('--min-frames', type=int, default=80)
    parser.add_argument('--max-frames', type=int, default=180)
    parser.add_argument('--persons', type=int, default=2)
    parser.add_argument('--reference-videos', type=int, default=24,
                        metavar='N', help='time the literal ACT port on the '
                        'first N videos (0: skip; N >= --classes gives every '
                        'class ground truth, else ACT divides by zero)')
    parser.add_argument('--reference-link-videos', type=int, default=24,
                        metavar='M', help="time ACT's BuildTubes port on the "
                        'first M videos (0: skip; ~0.5 s per video)')
    parser.add_argument('--no-metrics', action='store_true',
                        help='skip timing the FrameAP / VideoAP metrics')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='write the figures as JSON here')
    return parser.parse_args(argv)


def _walk(rng, n, size=(320, 240)):
    """``(n, 4)`` random-walk boxes x1, y1, x2, y2."""
    w, h = rng.uniform(30, 90, 2)
    x = rng.uniform(0, size[0] - w) + np.cumsum(rng.normal(0, 1.5, n))
    y = rng.uniform(0, size[1] - h) + np.cumsum(rng.normal(0, 1.5, n))
    return np.stack([x, y, x + w, y + h], axis=1)


def synthetic_split(rng, num_videos, num_classes, min_frames, max_frames,
                    persons):
    """Ground truth dict, data samples of the metrics (one per video) and
    tubes dict."""
    videos = [f'Class{v % num_classes:02d}/v_{v:04d}'
              for v in range(num_videos)]
    nframes = rng.integers(min_frames, max_frames + 1, num_videos)
    gttubes, samples, tubes = {}, [], {}
    for v, name in enumerate(videos):
        nf = int(nframes[v])
        label = v % num_classes
        gts = []
        for _ in range(1 if rng.random() < 0.7 else 2):
            length = int(rng.integers(max(2, int(0.4 * nf)), nf + 1))
            start = int(rng.integers(1, nf - length + 2))
            frames = np.arange(start, start + length)
            gts.append(np.concatenate([frames[:, None],
                                       _walk(rng, length)], axis=1))
        gttubes[name] = {label: gts}
        # persons: person 0 follows the first GT tube
        boxes = np.stack([_walk(rng, nf) for _ in range(persons)])
        tube = gts[0]
        inside = np.zeros(nf, bool)
        inside[tube[:, 0].astype(int) - 1] = True
        boxes[0, inside] = tube[:, 1:5] + rng.normal(0, 3, (len(tube), 4))
        scores = rng.random((persons, nf, num_classes)) * 0.6
        scores[0, inside, label] += 0.4 * rng.random(int(inside.sum()))
        valid = rng.random((persons, nf)) >= 0.05
        samples.append(dict(video_name=name, frame_inds=np.arange(1, nf + 1),
                            pred_boxes=boxes, pred_scores=scores,
                            person_valid=valid))
        per_label = {}
        for c in range(num_classes):
            items = []
            for _ in range(int(rng.integers(1, 5))):
                if c == label and rng.random() < 0.7:
                    g = gts[int(rng.integers(len(gts)))]
                    s = int(np.clip(g[0, 0] + rng.integers(-10, 11), 1, nf))
                    e = int(np.clip(g[-1, 0] + rng.integers(-10, 11), s, nf))
                    fr = np.arange(s, e + 1)
                    idx = np.clip(fr - int(g[0, 0]), 0, len(g) - 1)
                    box = g[idx, 1:5] + rng.normal(0, 4, (len(fr), 4))
                else:
                    s = int(rng.integers(1, nf + 1))
                    e = int(rng.integers(s, nf + 1))
                    fr = np.arange(s, e + 1)
                    box = _walk(rng, len(fr))
                items.append((np.concatenate([fr[:, None], box], 1),
                              float(rng.random())))
            per_label[c] = items
        tubes[name] = per_label
    gt = dict(labels=[f'Class{c:02d}' for c in range(num_classes)],
              gttubes=gttubes,
              nframes={n: int(f) for n, f in zip(videos, nframes)},
              resolution={n: (240, 320) for n in videos},
              train_videos=[[]], test_videos=[videos])
    return gt, samples, tubes


def subset(gt, frame_dets, tubes, num_videos):
    """The first ``num_videos`` videos as a split of their own."""
    videos = gt['test_videos'][0][:num_videos]
    small = dict(gt, test_videos=[videos])
    dets = frame_dets[frame_dets[:, 0] < num_videos]
    return small, dets, {v: tubes[v] for v in videos}


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    (gt, samples, tubes), seconds = _timed(
        synthetic_split, rng, args.videos, args.classes, args.min_frames,
        args.max_frames, args.persons)
    videos = gt['test_videos'][0]
    dets = frame_detections(
        [sample_detections(s, None, 'benchmark') for s in samples], videos,
        'benchmark')
    num_tubes = sum(len(t) for v in tubes.values() for t in v.values())
    figures = dict(videos=args.videos, classes=args.classes,
                   frame_detections=int(len(dets)), tubes=num_tubes,
                   generation_s=round(seconds, 2), cpus=os.cpu_count())
    print(f'{args.videos} videos, {args.classes} classes, {len(dets):,} '
          f'frame detections, {num_tubes:,} tubes (generated in '
          f'{seconds:.1f} s)')

    for protocol in stal.PROTOCOLS:
        result, seconds = _timed(stal.frame_ap, gt, dets, 0.5, protocol)
        figures[f'frame_ap_{protocol}_s'] = round(seconds, 2)
        figures[f'frame_ap_{protocol}'] = result['mean']
        print(f'frame_ap ({protocol}): mean {result["mean"]:.4f} in '
              f'{seconds:.2f} s')
        result, seconds = _timed(stal.video_ap, gt, tubes, 0.5, protocol)
        figures[f'video_ap_{protocol}_s'] = round(seconds, 2)
        figures[f'video_ap_{protocol}'] = result['mean']
        print(f'video_ap ({protocol}) of the {num_tubes:,} tubes: mean '
              f'{result["mean"]:.4f} in {seconds:.2f} s')
    linked, seconds = _timed(stal.link_tubes, dets, videos, args.classes)
    count = sum(len(t) for v in linked.values() for t in v.values())
    figures.update(link_s=round(seconds, 2), linked_tubes=count)
    print(f'link_tubes: {count:,} tubes in {seconds:.2f} s')

    if not args.no_metrics:
        for metric_cls in (FrameAP, VideoAP):
            metric = metric_cls()
            metric.dataset_meta = dict(stal_gt=gt)
            start = time.perf_counter()
            metric.process(None, samples)
            result = metric.evaluate(len(samples))
            seconds = time.perf_counter() - start
            key = metric_cls.default_prefix
            figures[f'{key}_metric_s'] = round(seconds, 2)
            figures[f'{key}_metric'] = result[f'{key}/mAP']
            print(f'{metric_cls.__name__} metric (process + evaluate): '
                  f'mAP {result[f"{key}/mAP"]:.4f} in {seconds:.2f} s')
        figures['both_metrics_s'] = round(
            figures['frame_ap_metric_s'] + figures['video_ap_metric_s'], 2)
        print(f'both metrics: {figures["both_metrics_s"]:.2f} s')

    if args.reference_videos:
        small, small_dets, small_tubes = subset(gt, dets, tubes,
                                                args.reference_videos)
        ref = {}
        for what, fast_fn, ref_fn, data in (
                ('frame_ap', stal.frame_ap, act_reference.frame_ap,
                 small_dets),
                ('video_ap', stal.video_ap, act_reference.video_ap,
                 small_tubes)):
            fast, fast_s = _timed(fast_fn, small, data, 0.5)
            (_, aps), ref_s = _timed(ref_fn, small, data, 0.5)
            fast_aps = np.array([fast['per_class'][n]
                                 for n in small['labels']])
            ref[what] = dict(fast_s=round(fast_s, 3), act_s=round(ref_s, 2),
                             ratio=round(ref_s / fast_s, 1),
                             max_abs_diff=float(np.abs(fast_aps - aps).max()))
            print(f'{what} on {args.reference_videos} videos: ACT port '
                  f'{ref_s:.2f} s, fast {fast_s:.3f} s (x{ref_s / fast_s:.1f}'
                  f'), max |AP difference| {ref[what]["max_abs_diff"]:.2g}')
        figures['reference'] = dict(
            videos=args.reference_videos,
            frame_detections=int(len(small_dets)),
            tubes=sum(len(t) for v in small_tubes.values()
                      for t in v.values()), **ref)
    if args.reference_link_videos:
        small, small_dets, _ = subset(gt, dets, tubes,
                                      args.reference_link_videos)
        fast, fast_s = _timed(stal.link_tubes, small_dets,
                              small['test_videos'][0], args.classes)
        built, ref_s = _timed(act_reference.build_tubes, small, small_dets)
        figures['reference_link'] = dict(
            videos=args.reference_link_videos,
            frame_detections=int(len(small_dets)), fast_s=round(fast_s, 3),
            act_s=round(ref_s, 2), ratio=round(ref_s / fast_s, 1),
            tubes=sum(len(t) for v in fast.values() for t in v.values()),
            act_tubes=sum(len(t) for v in built.values()
                          for t in v.values()))
        print(f'linking on {args.reference_link_videos} videos: ACT port '
              f'{ref_s:.2f} s, fast {fast_s:.3f} s (x{ref_s / fast_s:.0f}), '
              f'{figures["reference_link"]["tubes"]} vs '
              f'{figures["reference_link"]["act_tubes"]} tubes')
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)),
                    exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(figures, f, indent=2)
    return figures


if __name__ == '__main__':
    main()
