"""Command-line flags -> config, shared by tools/train.py and tools/test.py
(the same semantics as mmpretrain's tools)."""
import os.path as osp

import torch
from mmengine.config import ConfigDict


def _set_dataloader_flag(cfg, key, value):
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name, None)
        if loader is not None:
            loader[key] = value


def merge_train_args(cfg, args):
    """Apply tools/train.py flags to ``cfg`` (mirrors mmpretrain)."""
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    if args.amp:
        if not torch.cuda.is_available():
            raise RuntimeError(
                '--amp needs a CUDA device: mmengine\'s AmpOptimWrapper '
                'only runs on CUDA. Train without --amp on CPU.')
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise ValueError(f'--amp cannot wrap optim_wrapper type '
                             f'{optim_wrapper!r}; set AmpOptimWrapper in the '
                             'config instead.')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr = cfg.get('auto_scale_lr', ConfigDict())
        cfg.auto_scale_lr.enable = True
    if args.no_pin_memory:
        _set_dataloader_flag(cfg, 'pin_memory', False)
    if args.no_persistent_workers:
        _set_dataloader_flag(cfg, 'persistent_workers', False)
    cfg.launcher = args.launcher
    return cfg


def merge_test_args(cfg, args):
    """Apply tools/test.py flags to ``cfg`` (mirrors mmpretrain, plus the
    WSOL score-map and CAM-overlay outputs)."""
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.no_pin_memory:
        _set_dataloader_flag(cfg, 'pin_memory', False)
    if args.no_persistent_workers:
        _set_dataloader_flag(cfg, 'persistent_workers', False)
    wsol_outputs = dict(scoremap_dir=args.scoremap_dir,
                        overlay_dir=args.show_dir)
    wsol_outputs = {k: v for k, v in wsol_outputs.items() if v is not None}
    if wsol_outputs:
        evaluators = cfg.test_evaluator
        if isinstance(evaluators, dict):
            evaluators = [evaluators]
        wsol = [e for e in evaluators if e.get('type') == 'WSOLMetric']
        if not wsol:
            raise ValueError(
                '--scoremap-dir/--show-dir write CAM score maps and need a '
                "test_evaluator of type 'WSOLMetric'; this config has "
                f"{[e.get('type') for e in evaluators]}.")
        for evaluator in wsol:
            evaluator.update(wsol_outputs)
    cfg.launcher = args.launcher
    return cfg
