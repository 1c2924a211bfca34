"""Evaluate saved WSOL score maps (wsolevaluation layout) with MaxBoxAcc.

Score maps are ``<scoremap-root>/<image_id>.npy`` (float, 224x224, values in
[0, 1]), as written by the reference or by ``tools/test.py --scoremap-dir``.

``MaxBoxAcc`` in the output holds one value per IoU threshold: with all
contours (the MaxBoxAccV2 rule) by default, with the largest contour only
(the V1 rule) under ``--largest-contour``. ``MaxBoxAccV2`` is always the mean
of the all-contour values.

Example::

    python tools/eval_wsol.py --scoremap-root work_dirs/scoremaps \
        --metadata-root metadata/wsol/CUB/test --out maxboxacc.json
"""
import argparse
import json

from provmm.evaluation.scoremap_folder import evaluate_scoremap_folder


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='MaxBoxAcc / MaxBoxAccV2 of saved score maps')
    parser.add_argument('--scoremap-root', required=True,
                        help='folder with <image_id>.npy score maps')
    parser.add_argument('--metadata-root', required=True,
                        help='metadata split folder (image_ids.txt, '
                        'class_labels.txt, image_sizes.txt, '
                        'localization.txt)')
    parser.add_argument('--cam-curve-interval', type=float, default=0.001,
                        help='CAM threshold step (the paper: 0.001)')
    parser.add_argument('--iou-thresholds', type=int, nargs='+',
                        default=[30, 50, 70], help='IoU thresholds (%%)')
    parser.add_argument('--largest-contour', action='store_true',
                        help='MaxBoxAcc per IoU threshold with the largest '
                        'contour only (V1); slower (OpenCV per level)')
    parser.add_argument('--eval-size', type=int, nargs=2, default=[224, 224],
                        metavar=('W', 'H'), help='score-map size')
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--out', help='write the result as JSON here')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    result = evaluate_scoremap_folder(
        args.scoremap_root, args.metadata_root,
        cam_curve_interval=args.cam_curve_interval,
        iou_thresholds=args.iou_thresholds,
        largest_contour=args.largest_contour,
        eval_size=tuple(args.eval_size), workers=args.workers)
    rule = 'largest contour' if args.largest_contour else 'all contours'
    for iou, value in result['MaxBoxAcc'].items():
        print(f'MaxBoxAcc@{iou} ({rule}): {value:.2f} '
              f'(threshold {result["best_threshold"][iou]:.3f})')
    print(f'MaxBoxAccV2: {result["MaxBoxAccV2"]:.2f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
