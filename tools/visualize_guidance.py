"""Guided Grad-CAM of mixed / edited training images next to their
provenance mask, for a plain model and (``--compare``) a guided one, as one
PNG grid (paper Fig. 3). See docs/visualization.md."""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

from provmm.data_prep.output_files import check_outputs


def parse_args():
    parser = argparse.ArgumentParser(
        description='Draw Guided Grad-CAM and input-gradient maps of mixed '
        'or edited training images next to their provenance mask')
    parser.add_argument('config', help='config whose train pipeline and data '
                        'preprocessor build the images, and whose model '
                        'both checkpoints hold')
    parser.add_argument('checkpoint', help='checkpoint of the plain model')
    parser.add_argument('--compare', metavar='CKPT2',
                        help='checkpoint of the guided model, drawn beside')
    parser.add_argument('--labels', nargs=2, default=('plain', 'guided'),
                        metavar=('NAME', 'NAME2'),
                        help='names of the two models in the column titles')
    parser.add_argument('--num-images', type=int, default=4,
                        help='rows of the figure (default 4)')
    parser.add_argument('--out', default='guidance.png',
                        help='output PNG (default guidance.png)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the image order, pipeline and mix')
    parser.add_argument('--target-layer', default='backbone',
                        help='module whose output Grad-CAM weighs (default: '
                        'the backbone, i.e. its last feature map)')
    parser.add_argument('--device', default='cpu', help='e.g. cuda:0')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file')
    return parser.parse_args()


def main():
    args = parse_args()
    inputs = [(args.config, 'CONFIG'), (args.checkpoint, 'CKPT')]
    if args.compare:
        inputs.append((args.compare, '--compare'))
    try:
        check_outputs([(args.out, '--out')], inputs)
    except ValueError as err:
        sys.exit(str(err))
    if not args.out.lower().endswith('.png'):
        sys.exit(f'--out must name a .png file, got {args.out}')
    for path, what in inputs:
        if not osp.isfile(path):
            sys.exit(f'{what} {path} does not exist')
    # imported after the checks, so that a refusal comes back at once
    from mmengine.config import Config

    from provmm.engine.checkpoint_safety import \
        register_checkpoint_safe_globals
    from provmm.engine.preflight import check_checkpoint_file
    from provmm.engine.train_utils import merge_cfg_options
    from provmm.visualization.guidance_figure import guidance_figure

    for path, what in inputs[1:]:
        try:
            check_checkpoint_file(path, f' ({what})')
        except (FileNotFoundError, RuntimeError) as err:
            sys.exit(str(err))
    # mmengine checkpoints hold non-tensor globals: allow exactly those
    register_checkpoint_safe_globals()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        merge_cfg_options(cfg, args.cfg_options)
    checkpoints = {args.labels[0]: args.checkpoint}
    if args.compare:
        checkpoints[args.labels[1]] = args.compare
    guidance_figure(cfg, checkpoints, args.out, num_images=args.num_images,
                    seed=args.seed, target_layer=args.target_layer,
                    device=args.device)
    print(f'Guidance figure written to {osp.abspath(args.out)}')


if __name__ == '__main__':
    main()
