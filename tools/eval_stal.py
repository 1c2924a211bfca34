"""Evaluate saved spatio-temporal action localization detections with
frame-AP and video-AP (ACT's evaluation, or mmaction2's VOC variant;
docs/metrics/stal.md).

Inputs, in ACT's formats: the ground truth pickle (``UCF101v2-GT.pkl``), the
frame detections (``.npz`` with an ``(N, 8)`` array ``frame_dets``: rows
``video_index, frame, label, score, x1, y1, x2, y2``, ``video_index`` into
``test_videos[0]``, frames 1-based, labels 0-based) and optionally the tubes
(pickle ``{video: {label: [(tube, score)]}}``). Without ``--tubes`` the
video-AP is that of tubes linked from the frame detections with ACT's online
linking for K = 1 (``provmm.evaluation.functional.stal.link_tubes``).
``FrameAP`` / ``VideoAP`` with ``out_dir`` write these files
(``frame_dets.npz``, ``tubes.pkl``).

The output JSON holds, for ``frame_ap`` and ``video_ap``, ``mean`` (the
protocol's mean: ACT over all labels, VOC over the classes with ground
truth), ``mean_over_classes_with_gt`` and ``per_class`` ``{label: AP}``, APs
as fractions (``null`` for a class VOC skips).

Example::

    python tools/eval_stal.py --gt data/ucf101_24/UCF101v2-GT.pkl \
        --frame-dets work_dirs/stal/frame_dets.npz --out stal_ap.json
"""
import argparse
import json
import math
import sys

from provmm.data_prep.output_files import check_outputs, write_text_atomic
from provmm.evaluation.functional.stal import (PROTOCOLS, frame_ap,
                                               link_tubes, load_frame_dets,
                                               load_stal_gt, load_tubes,
                                               video_ap)

LINKED = 'linked (ACT online linking, K=1)'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='frame-AP and video-AP of saved STAL detections')
    parser.add_argument('--gt', required=True,
                        help='ACT ground truth pickle (UCF101v2-GT.pkl)')
    parser.add_argument('--frame-dets', required=True,
                        help=".npz with the (N, 8) array 'frame_dets'")
    parser.add_argument('--tubes', help='tubes pickle {video: {label: '
                        '[(tube, score)]}}; default: link the frame '
                        'detections (ACT online linking, K=1)')
    parser.add_argument('--iou', type=float, default=0.5,
                        help='IoU threshold of frame-AP and 3D IoU '
                        'threshold of video-AP')
    parser.add_argument('--protocol', choices=PROTOCOLS, default='act',
                        help="'act': the ACT detector's evaluation; 'voc': "
                        "mmaction2's MultiSports port")
    parser.add_argument('--split-index', type=int, default=0,
                        help='test split of the ground truth (0 = split 1)')
    parser.add_argument('--out', required=True, help='output JSON')
    return parser.parse_args(argv)


def _finite(value):
    """JSON-safe: NaN (no class with ground truth) becomes null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _section(result: dict) -> dict:
    return dict(mean=_finite(result['mean']),
                mean_over_classes_with_gt=_finite(
                    result['mean_over_classes_with_gt']),
                per_class=result['per_class'], num_gt=result['num_gt'],
                num_detections=result['num_detections'],
                classes_with_detections_without_gt=result[
                    'detections_without_gt'])


def main(argv=None):
    args = parse_args(argv)
    if not 0 < args.iou <= 1:
        raise ValueError(f'--iou must lie in (0, 1], got {args.iou}')
    inputs = [(args.gt, '--gt'), (args.frame_dets, '--frame-dets')]
    if args.tubes:
        inputs.append((args.tubes, '--tubes'))
    check_outputs([(args.out, '--out')], inputs)

    gt = load_stal_gt(args.gt, args.split_index)
    dets = load_frame_dets(args.frame_dets)
    dets_name = f"{args.frame_dets}['frame_dets']"
    frame = frame_ap(gt, dets, args.iou, args.protocol, args.split_index,
                     name=dets_name, gt_name=args.gt)
    videos = gt['test_videos'][args.split_index]
    if args.tubes:
        tubes, source, tubes_name = load_tubes(args.tubes), args.tubes, \
            args.tubes
    else:
        tubes = link_tubes(dets, videos, len(gt['labels']),
                           nframes=[gt['nframes'][v] for v in videos],
                           name=dets_name)
        source, tubes_name = LINKED, f'tubes linked from {dets_name}'
    video = video_ap(gt, tubes, args.iou, args.protocol, args.split_index,
                     name=tubes_name, gt_name=args.gt)
    num_tubes = sum(len(t) for per_label in tubes.values()
                    for t in per_label.values())
    result = dict(
        gt=args.gt, frame_dets=args.frame_dets, protocol=args.protocol,
        iou=args.iou, split_index=args.split_index,
        frame_ap=_section(frame),
        video_ap=dict(_section(video), tubes=source, num_tubes=num_tubes))
    write_text_atomic(args.out, json.dumps(result, indent=2) + '\n')
    for what, res in (('frame-AP', frame), ('video-AP', video)):
        print(f'{what}@{args.iou:g} ({args.protocol}): mean '
              f'{res["mean"]:.4f}, over the classes with ground truth '
              f'{res["mean_over_classes_with_gt"]:.4f}')
        if res['detections_without_gt']:
            print(f'  classes with detections but no ground truth (AP 0; '
                  f'ACT would divide by zero): '
                  f'{res["detections_without_gt"]}')
    return result


if __name__ == '__main__':
    try:
        main()
    except (ValueError, KeyError, FileNotFoundError) as error:
        sys.exit(f'eval_stal: error: {error}')
