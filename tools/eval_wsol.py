"""Evaluate saved WSOL score maps (wsolevaluation layout) with MaxBoxAcc.

Score maps are ``<scoremap-root>/<image_id>.npy`` (float ``(H, W)``, values
in [0, 1]), as written by the reference or by ``tools/test.py
--scoremap-dir``. Their size is read from the first map of the split (224x224
for the reference, 64x64 for the synthetic benchmark); every map must have
it. ``--eval-size W H`` fixes it instead, and a map of another size is then
an error. Boxes are resized from the original image size to the map's.

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
    parser.add_argument('--eval-size', type=int, nargs=2, default=None,
                        metavar=('W', 'H'), help='score-map size; default: '
                        'that of the first map of the split')
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
        eval_size=args.eval_size, workers=args.workers)
    rule = 'largest contour' if args.largest_contour else 'all contours'
    width, height = result['eval_size']
    print(f'{result["num_images"]} score maps of {width}x{height} (W x H)')
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
