"""Command-line flags -> config, shared by tools/train.py and tools/test.py
(the same semantics as mmpretrain's tools)."""
import difflib
import inspect
import os.path as osp

import torch
from mmengine.config import ConfigDict
from mmengine.runner import Runner

# Top-level keys the Runner reads besides its __init__ arguments.
_RUNNER_CFG_KEYS = frozenset({
    'activation_checkpointing', 'compile', 'efficient_conv_bn_eval',
    'find_unused_parameters', 'model_wrapper_cfg', 'runner_type', 'strategy',
    'sync_bn'
})


def _set_dataloader_flag(cfg, key, value):
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name, None)
        if loader is not None:
            loader[key] = value


def runner_keys() -> frozenset:
    """Top-level config keys mmengine's Runner reads."""
    params = inspect.signature(Runner.__init__).parameters
    return _RUNNER_CFG_KEYS | (set(params) - {'self', 'cfg'})


def merge_cfg_options(cfg, options: dict) -> None:
    """``cfg.merge_from_dict(options)`` for ``--cfg-options``, refusing a
    top-level key that is neither in ``cfg`` nor a Runner key (a typo such
    as ``load_form`` would be added and silently ignored). New keys under an
    existing top-level key stay allowed, as in mmpretrain."""
    known = set(cfg.keys()) | runner_keys()
    for key in options:
        top = key.split('.')[0]
        if top in known:
            continue
        close = difflib.get_close_matches(top, sorted(known), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ''
        raise ValueError(
            f"--cfg-options {key}: unknown top-level key '{top}', neither in "
            f'{cfg.filename} nor a Runner setting{hint}')
    cfg.merge_from_dict(options)


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


def _merge_wsol_outputs(cfg, scoremap_dir, show_dir):
    """``--scoremap-dir``: the WSOLMetric saves ``<dir>/<image_id>.npy``;
    ``--show-dir``: ``WSOLVisualizationHook`` draws the CAM overlays with a
    ``WSOLVisualizer`` at the metric's ``eval_size``."""
    if scoremap_dir is None and show_dir is None:
        return
    evaluators = cfg.test_evaluator
    if isinstance(evaluators, dict):
        evaluators = [evaluators]
    wsol = [e for e in evaluators if e.get('type') == 'WSOLMetric']
    if not wsol:
        raise ValueError(
            '--scoremap-dir/--show-dir write CAM score maps and need a '
            "test_evaluator of type 'WSOLMetric'; this config has "
            f"{[e.get('type') for e in evaluators]}.")
    if scoremap_dir is not None:
        for evaluator in wsol:
            evaluator.scoremap_dir = scoremap_dir
    if show_dir is not None:
        # a UniversalVisualizer subclass: mmpretrain's hook keeps working
        cfg.visualizer = dict(cfg.get('visualizer') or {},
                              type='WSOLVisualizer')
        hooks = [h for h in cfg.get('custom_hooks', [])
                 if h.get('type') != 'WSOLVisualizationHook']
        cfg.custom_hooks = hooks + [dict(
            type='WSOLVisualizationHook', out_dir=show_dir,
            eval_size=wsol[0].get('eval_size', (224, 224)))]


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
    _merge_wsol_outputs(cfg, args.scoremap_dir, args.show_dir)
    cfg.launcher = args.launcher
    return cfg
