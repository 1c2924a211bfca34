"""Test a checkpoint (same flags as mmpretrain's tools/test.py, plus WSOL
score-map outputs)."""
import argparse
import os

import mmengine
from mmengine.config import Config, DictAction
from mmengine.evaluator import DumpResults
from mmengine.runner import Runner

from provmm.engine.checkpoint_safety import register_checkpoint_safe_globals
from provmm.engine.preflight import check_before_run, removing_new_work_dir
from provmm.engine.train_utils import merge_cfg_options, merge_test_args


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument('--out', help='the file to output results.')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        help='To output whether metrics or predictions. '
        'Defaults to output predictions.')
    parser.add_argument(
        '--scoremap-dir',
        help='WSOL: save the normalised CAM score maps as '
        '<dir>/<image_id>.npy (the wsolevaluation layout, for '
        'tools/eval_wsol.py)')
    parser.add_argument(
        '--show-dir',
        help='WSOL: save one CAM overlay PNG per test image (heat map, GT '
        'and predicted boxes, predicted class and score) to this directory')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='whether to disable the pin_memory option in dataloaders.')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='whether to disable the persistent_workers option in '
        'dataloaders.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    if args.out is None and args.out_item is not None:
        raise ValueError('Please use `--out` argument to specify the '
                         'path of the output file before using `--out-item`.')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        merge_cfg_options(cfg, args.cfg_options)
    cfg = merge_test_args(cfg, args)
    # mmengine checkpoints hold non-tensor globals: allow exactly those
    # (here too for configs without SafeCheckpointLoadingHook).
    register_checkpoint_safe_globals()
    # Missing data or a broken checkpoint stop here, before the Runner writes
    # its work dir (removed again if building the Runner fails).
    with removing_new_work_dir(cfg.work_dir):
        check_before_run(cfg, 'test')
        runner = Runner.from_cfg(cfg)

    if args.out and args.out_item in ['pred', None]:
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    metrics = runner.test()
    if args.out and args.out_item == 'metrics':
        mmengine.dump(metrics, args.out)
    if args.scoremap_dir is not None:
        print(f'Score maps written to {os.path.abspath(args.scoremap_dir)}')
    if args.show_dir is not None:
        print(f'CAM overlays written to {os.path.abspath(args.show_dir)}')


if __name__ == '__main__':
    main()
