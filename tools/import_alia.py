"""Build a provenance manifest from ALIA's edited-image folders.

Example::

    python tools/import_alia.py --alia-root diffusion_generated_data \\
        --train-list data/waterbirds/train.txt --out data/alia_edits.csv \\
        --dataset Waterbirds --edits-per-image 1

The layout is ``<root>/<method>/<dataset>/<prompt>/<strength_guidance>/
<class>/<i>-<j>.png`` with ``i`` the index into the training list; see
``provmm/data_prep/alia_import.py``. ``--out`` may not replace an input (the
training list, a training image or an edit).
"""
import argparse
import os.path as osp
import sys

from provmm.data_prep.alia_import import import_alia_edits, load_training_list
from provmm.data_prep.output_files import check_outputs
from provmm.data_prep.provenance_manifest import dump_provenance_manifest


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--alia-root', required=True,
                        help="ALIA's save_dir (holds <method>/ folders)")
    parser.add_argument('--train-list', required=True,
                        help='training images in ALIA order: '
                        '"<path>,<label>" or "<path> <label>" per line')
    parser.add_argument('--train-root', default=None,
                        help='folder the training paths are relative to '
                        '(default: the list file\'s folder)')
    parser.add_argument('--out', required=True, help='manifest CSV to write')
    parser.add_argument('--method', help='keep only this <method> folder')
    parser.add_argument('--dataset', help='keep only this <dataset> folder')
    parser.add_argument('--prompt', help='keep only this <prompt> folder')
    parser.add_argument('--strength-guidance',
                        help='keep only this <strength_guidance> folder')
    parser.add_argument('--edits-per-image', type=int, default=None,
                        help='keep edits j < this number per image')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        training = load_training_list(args.train_list, args.train_root)
        pairs = import_alia_edits(
            args.alia_root, training, method=args.method,
            dataset=args.dataset, prompt=args.prompt,
            strength_guidance=args.strength_guidance,
            edits_per_image=args.edits_per_image)
        inputs = [(args.train_list, '--train-list')]
        inputs += [(path, f'training image {i} of {args.train_list}')
                   for i, (path, _) in enumerate(training)]
        inputs += [(p.edited, 'ALIA edit') for p in pairs]
        check_outputs([(args.out, '--out')], inputs)
        dump_provenance_manifest(pairs, args.out)
    except (OSError, ValueError) as e:
        sys.exit(f'error: {e}')
    print(f'{len(pairs)} edited images of {len(training)} training images; '
          f'wrote {osp.abspath(args.out)}')


if __name__ == '__main__':
    main()
