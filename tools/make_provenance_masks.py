"""Provenance masks from (original, edited) image pairs (paper Eq. 6-7).

Example::

    python tools/make_provenance_masks.py --manifest data/edits.csv \\
        --out-dir data/edit_masks --workers 2 --log-scale --blur 5 --clean 5

Without refinement flags the masks are plain Eq. 6-7. See
``provmm/data_prep/make_provenance_masks.py`` for the outputs. No output may
replace an input; a rerun with the same settings keeps the masks an
interrupted run finished.
"""
import argparse
import sys

from provmm.data_prep.make_provenance_masks import (MATCH_SIZES,
                                                   make_provenance_masks)
from provmm.provenance.edit_mask import BLUR_TYPES


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--manifest', required=True,
                        help='CSV with columns original,edited,label '
                        '[,gt_mask], paths relative to its folder')
    parser.add_argument('--out-dir', required=True,
                        help='folder for masks/, manifest.csv, the report '
                        'and settings.json')
    parser.add_argument('--overwrite', action='store_true',
                        help='accept an --out-dir made with other settings '
                        '(its masks are made again)')
    parser.add_argument('--workers', type=int, default=1,
                        help='worker processes')
    parser.add_argument('--match-size', choices=MATCH_SIZES,
                        default='edited',
                        help="'edited': resize an original of another size "
                        "to the edited image's size; 'none': refuse")
    refine = parser.add_argument_group('refinement (off = plain Eq. 6-7)')
    refine.add_argument('--blur', type=int, default=0,
                        help='odd kernel size of a blur of D before Otsu')
    refine.add_argument('--blur-type', choices=BLUR_TYPES, default='median')
    refine.add_argument('--log-scale', action='store_true',
                        help='Otsu on log(1 + D)')
    refine.add_argument('--clean', type=int, default=0,
                        help='kernel size of a morphological opening and '
                        'closing of the mask')
    refine.add_argument('--area-change', type=float, default=0.,
                        help='dilate (>0) / erode (<0) the target region by '
                        'this fraction of its area, e.g. 0.1 or -0.3')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        make_provenance_masks(
            args.manifest, args.out_dir, workers=args.workers,
            match_size=args.match_size, overwrite=args.overwrite,
            blur=args.blur, blur_type=args.blur_type,
            log_scale=args.log_scale, clean=args.clean,
            area_change=args.area_change)
    except (OSError, ValueError) as e:
        sys.exit(f'error: {e}')


if __name__ == '__main__':
    main()
