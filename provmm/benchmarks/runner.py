"""The protocol every built-in benchmark shares; a benchmark itself is data
(:class:`Benchmark`: its variants, metrics and task-specific functions).

- every run trains a variant's config (plus its edits, alpha, seed and
  epochs) and tests it; with ``best_epoch`` it validates every epoch and
  tests the weights of the best val epoch; with ``val_every_epoch`` it
  validates every epoch without touching training's random draws and tests
  the last weights; else it validates once at the end;
- alpha of a penalised variant is chosen on val (``select_key``, mean over
  the searched seeds; ties: the smaller alpha): from the alpha grid on the
  ``select_on`` variant, shared by every penalised variant, or, without
  ``select_on`` (and for variants with ``own_alphas``), from the variant's
  own grid;
- each run is cached as JSON under ``<out_dir>/runs`` with the key of its
  resolved config and code and its environment (see :mod:`.cached_runs`,
  :mod:`.environment`); a rerun reads it instead of training again if the
  key is the same, else trains again (or, with ``reuse_stale``, reads it
  and marks it ``stale``);
- a run stopped by a non-finite loss (``NonFiniteLossHook``) is recorded
  as ``diverged`` (no val or test metrics; it loses every alpha search)
  instead of ending the benchmark;
- a ``retest_of`` variant trains nothing: it tests the best val weights of
  another variant's run (same seed and alpha) with its own test-time edits,
  e.g. another localization map.
"""
import copy
import hashlib
import json
import os
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from provmm.benchmarks.cached_runs import (config_files, load_result,
                                          run_dir, run_key, save_result,
                                          stale_reason, strip_prefix)
from provmm.benchmarks.environment import environment
from provmm.benchmarks.paths import config_dir as resolve_config_dir
from provmm.engine.checkpoint_safety import register_checkpoint_safe_globals
from provmm.utils.setup_env import register_all_modules

LOADERS = ('train', 'val', 'test')


@dataclass
class Variant:
    """One row of the table: a config plus ``--cfg-options``-style edits.

    ``config`` is relative to the config folder (e.g.
    ``'provmm/synth_wsol_cam.py'``); ``penalised`` variants have an alpha
    chosen on val; ``own_alphas`` gives one its own grid (a loss on another
    scale than the shared alpha's).
    """
    name: str
    label: str
    config: str
    options: Dict = field(default_factory=dict)
    penalised: bool = False
    own_alphas: Optional[Tuple[float, ...]] = None
    retest_of: Optional[str] = None


@dataclass
class Column:
    """A table column: ``value(run)`` over the runs of a row, as ``mean ±
    std`` (times ``scale``), every seed's value (``per_seed``) or the mean
    ± std of the differences to the reference variant on the same seed
    (``paired``). ``versus_reference(run, reference run of the same seed)``
    replaces ``value`` where given; runs that diverged have no value."""
    header: str
    value: Callable[[dict], Optional[float]]
    scale: float = 1.0
    digits: int = 1
    per_seed: bool = False
    paired: bool = False
    versus_reference: Optional[Callable[[dict, dict], Optional[float]]] = None


@dataclass
class Panel:
    """A bar chart of the plot: ``value(run)``, mean ± std, seeds as dots."""
    title: str
    value: Callable[[dict], Optional[float]]
    xlim: Optional[Tuple[float, float]] = None


@dataclass
class Benchmark:
    """What one benchmark is; :mod:`.runner` and :mod:`.report` do the rest.

    Args:
        name: short name (``docs/benchmarks/<name>.intro.md`` is its
            hand-written introduction; the default report is
            ``docs/benchmarks/<name>``).
        title: the report's title.
        variants: every variant, in table order.
        metric_keys: test metrics logged after each run.
        select_key: val metric that selects alpha (and the epoch).
        best_epoch: validate every epoch and test the best one.
        val_every_epoch: validate every epoch, test the last one, and keep
            ``RandomStateHook`` so that validation leaves training's random
            draws as they are without it (the runs equal those validated
            once at the end).
        alpha_on_first_seed: search alpha on the first seed only.
        columns, panels: the table and the plot.
        out_dir: default folder of the runs.
        epochs, quick_epochs: default epochs per run (full, ``--quick``).
        alphas: default alpha grid.
        select_on: default variant whose alpha all penalised ones share
            (None: each searches its own).
        data_root, quick_data_root: default ``data_root`` of every loader
            (None: the config's).
        reference: variant of the ``paired`` columns.
        grid_rows: list the alpha grids' runs below the table.
        configure: ``(cfg, seed, quick)``: task-specific config edits.
        prepare: ``(variants, seeds, config_dir, log)``: preparation steps
            before any run (e.g. pre-trained backbones).
        measure: ``(runner, cfg) -> dict``: extra results of a tested model.
        summarize_training: ``(recorder, cfg) -> dict``: what a run keeps of
            its training logs.
        complete_cached: ``(result, variant, work_dir, config_dir) ->
            result``: adds fields that older cached runs lack.
        extra_section: ``(quick, config_dir, data_root) -> Section``: a
            report section (and plot panel) besides the runs.
    """
    name: str
    title: str
    variants: Sequence[Variant]
    metric_keys: Sequence[str]
    select_key: str
    best_epoch: bool
    alpha_on_first_seed: bool
    columns: Sequence[Column]
    panels: Sequence[Panel]
    out_dir: str
    epochs: int
    quick_epochs: int
    alphas: Sequence[float]
    select_on: Optional[str] = None
    data_root: Optional[str] = None
    quick_data_root: Optional[str] = None
    reference: Optional[str] = None
    grid_rows: bool = False
    configure: Optional[Callable] = None
    prepare: Optional[Callable] = None
    measure: Optional[Callable] = None
    summarize_training: Optional[Callable] = None
    complete_cached: Optional[Callable] = None
    extra_section: Optional[Callable] = None
    val_every_epoch: bool = False

    @property
    def validates_every_epoch(self) -> bool:
        return self.best_epoch or self.val_every_epoch

    @property
    def variants_by_name(self) -> Dict[str, Variant]:
        return {v.name: v for v in self.variants}


class RunRecorder(Hook):
    """Keeps the logged losses and ``pg_*`` values (every iteration and
    per-epoch means), every validation (with ``train_s``, the training
    seconds so far, validation excluded) and, given ``select_key``, the
    weights of the best val epoch (the last of equal ones)."""
    priority = 'VERY_LOW'

    def __init__(self, select_key: Optional[str] = None):
        self.select_key = select_key
        self.logs: Dict[str, List[float]] = {}
        self.train_epochs: List[dict] = []
        self.history: List[dict] = []
        self.val: Dict[str, float] = {}
        self.best_state = None
        self.best_epoch = None
        self.train_s = 0.0
        self._epoch_start = None
        self._epoch_logs: Dict[str, List[float]] = {}

    def before_train_epoch(self, runner):
        self._epoch_start = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        for key, value in (outputs or {}).items():
            if key.startswith('pg_') or key.startswith('loss'):
                value = float(value.detach() if torch.is_tensor(value) else
                              value)
                self.logs.setdefault(key, []).append(value)
                self._epoch_logs.setdefault(key, []).append(value)

    def after_train_epoch(self, runner):
        self.train_s += time.perf_counter() - self._epoch_start
        self.train_epochs.append(
            {k: float(np.mean(v)) for k, v in self._epoch_logs.items()})
        self._epoch_logs = {}

    def after_val_epoch(self, runner, metrics=None):
        self.val = strip_prefix(metrics or {})
        self.history.append(
            dict(epoch=runner.epoch, train_s=self.train_s, **self.val))
        if self.select_key is None:
            return
        best = max(h[self.select_key] for h in self.history)
        if self.val[self.select_key] == best:
            self.best_epoch = runner.epoch
            self.best_state = copy.deepcopy(runner.model.state_dict())


def build_config(bench: Benchmark, variant: Variant, seed: int, epochs: int,
                 work_dir: str, alpha: Optional[float] = None,
                 quick: bool = False, config_dir: Optional[str] = None,
                 data_root: Optional[str] = None) -> Config:
    """The config of one run: the variant's config and edits, alpha,
    ``data_root``, the benchmark's edits, seed and epochs."""
    cfg = Config.fromfile(
        osp.join(resolve_config_dir(config_dir), variant.config))
    options = {}
    if data_root is not None:
        options.update({f'{loader}_dataloader.dataset.data_root': data_root
                        for loader in LOADERS})
    options.update(variant.options)
    if alpha is not None:
        options['model.provenance_loss.loss_weight'] = alpha
    cfg.merge_from_dict(options)
    if bench.configure is not None:
        bench.configure(cfg, seed, quick)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = (1 if bench.validates_every_epoch else
                                  epochs)
    cfg.param_scheduler.end = epochs
    cfg.default_hooks.checkpoint = None  # results are kept in memory
    # RandomStateHook keeps validation's draws out of training's random
    # stream. The best_epoch benchmarks' runs were made before it existed and
    # their validation draws from that stream: without the hook a run draws
    # what those runs drew.
    hooks = cfg.get('custom_hooks', [])
    if not bench.val_every_epoch:
        hooks = [h for h in hooks if h.get('type') != 'RandomStateHook']
    elif not any(h.get('type') == 'RandomStateHook' for h in hooks):
        hooks = hooks + [dict(type='RandomStateHook')]
    cfg.custom_hooks = hooks
    cfg.default_hooks.logger.interval = 25
    if quick and cfg.model.get('provenance_loss'):
        cfg.model.provenance_loss.warmup_iters = 0  # a few iterations only
    return cfg


def cached_run(cached: Optional[dict], key: dict, epochs: int,
               reuse_stale: bool) -> Tuple[Optional[dict], Optional[str]]:
    """``(cached result to reuse or None, why it is stale or None)``.

    A cached run is reused if its key is ``key``; with ``reuse_stale`` also
    if only its key differs (but not a run of another length).
    """
    if cached is None:
        return None, None
    reason = stale_reason(cached, key)
    if reason is None or (reuse_stale and cached.get('epochs') == epochs):
        return cached, reason
    return None, reason


def _set_up_run() -> None:
    register_all_modules(init_default_scope=False)
    # Pre-trained backbones are mmengine checkpoints, which torch.load's
    # weights_only default refuses unless their globals are allow-listed.
    register_checkpoint_safe_globals()
    # Long runs were seen with OpenMP's thread count above OMP_NUM_THREADS
    # (a second, spinning thread doubling the CPU time); pin it per run.
    if os.environ.get('OMP_NUM_THREADS', '').isdigit():
        torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))


def run_config(bench: Benchmark, variant: Variant, seed: int, epochs: int,
               work_dir: str, alpha: Optional[float] = None,
               quick: bool = False, config_dir: Optional[str] = None,
               data_root: Optional[str] = None) -> Tuple[Config, str]:
    """``(config of the run, the config file it starts from)``; a
    ``retest_of`` variant's is its source's with its own edits on top."""
    if variant.retest_of is None:
        return (build_config(bench, variant, seed, epochs, work_dir, alpha,
                             quick, config_dir, data_root), variant.config)
    source = bench.variants_by_name[variant.retest_of]
    cfg = build_config(bench, source, seed, epochs, work_dir, alpha, quick,
                       config_dir, data_root)
    cfg.merge_from_dict(variant.options)
    return cfg, source.config


def run_once(bench: Benchmark, variant: Variant, seed: int, epochs: int,
             out_dir: str, alpha: Optional[float] = None, quick: bool = False,
             config_dir: Optional[str] = None,
             data_root: Optional[str] = None, reuse_stale: bool = False,
             log: Callable = print) -> dict:
    """Train, (select the best val epoch,) test; cached as JSON with the
    run's key (``cache_key``) and ``environment``. A cached run of another
    key is trained again, or with ``reuse_stale`` read with the reason in
    its ``stale`` field (not saved). A run stopped by a non-finite loss is
    returned (and cached) with ``diverged`` (the error's first line) and
    empty ``val`` and ``test``."""
    work_dir = run_dir(out_dir, variant.name, alpha, seed)
    cfg, config_file = run_config(bench, variant, seed, epochs, work_dir,
                                  alpha, quick, config_dir, data_root)
    root = resolve_config_dir(config_dir)
    key = run_key(cfg, config_files(osp.join(root, config_file)), root)
    if variant.retest_of is not None:
        source_dir = run_dir(out_dir, variant.retest_of, alpha, seed)
        source = source_run(variant, alpha, seed, source_dir)
        key = with_source_key(key, source)
    cached, reason = cached_run(load_result(work_dir), key, epochs,
                                reuse_stale)
    name = f'{variant.name} alpha={alpha} seed={seed}'
    if cached is not None:
        if bench.complete_cached is not None and not cached.get('diverged'):
            cached = bench.complete_cached(cached, variant, work_dir,
                                           config_dir)
        if reason is not None:
            log(f'{name}: reusing a stale cached run ({reason})')
            cached['stale'] = reason
        return cached
    if reason is not None:
        log(f'{name}: training again, the cached run is stale ({reason})')
    if variant.retest_of is not None:
        return retest_once(bench, variant, cfg, seed, alpha, source,
                           source_dir, key, work_dir)
    _set_up_run()
    run_environment = environment()
    start = time.time()
    runner = Runner.from_cfg(cfg)
    recorder = RunRecorder(bench.select_key if bench.best_epoch else None)
    runner.register_hook(recorder)
    result = dict(variant=variant.name, seed=seed, alpha=alpha,
                  epochs=epochs, cache_key=key, environment=run_environment)
    try:
        runner.train()
    except FloatingPointError as error:  # NonFiniteLossHook stopped it
        result.update(diverged=str(error).splitlines()[0],
                      diverged_epoch=runner.epoch, val={}, test={},
                      val_history=recorder.history,
                      train_s=time.time() - start,
                      wall_s=time.time() - start)
        save_result(work_dir, result)
        return result
    train_s = time.time() - start
    if bench.best_epoch:
        runner.model.load_state_dict(recorder.best_state)
        result.update(
            best_epoch=recorder.best_epoch,
            # the first of equal best epochs, as cached runs have it
            val=max(recorder.history, key=lambda h: h[bench.select_key]),
            val_history=recorder.history)
    else:
        result['val'] = recorder.val
        if bench.val_every_epoch:
            result['val_history'] = recorder.history
    result['test'] = strip_prefix(runner.test())
    if bench.measure is not None:
        result.update(bench.measure(runner, cfg))
    if bench.summarize_training is not None:
        result.update(bench.summarize_training(recorder, cfg))
    result.update(train_s=train_s, wall_s=time.time() - start)
    if bench.best_epoch:
        os.makedirs(work_dir, exist_ok=True)
        torch.save(recorder.best_state, osp.join(work_dir, 'best_state.pth'))
    save_result(work_dir, result)
    return result


def source_run(variant: Variant, alpha: Optional[float], seed: int,
               source_dir: str) -> dict:
    """The cached result of the run a retest tests."""
    source = load_result(source_dir)
    if source is None:
        raise FileNotFoundError(
            f'{variant.name} retests {variant.retest_of} alpha={alpha} seed='
            f'{seed}, which has no result.json in {source_dir}; run that '
            'variant first')
    return source


def with_source_key(key: dict, source: dict) -> dict:
    """A retest's key also hashes the key of the run it tests, so that a
    retrained source makes its retests stale."""
    source_key = source['cache_key']['key']
    return dict(key, source_key=source_key, key=hashlib.sha256(
        f'{key["key"]} {source_key}'.encode()).hexdigest()[:16])


def retest_once(bench: Benchmark, variant: Variant, cfg: Config, seed: int,
                alpha: Optional[float], source: dict, source_dir: str,
                key: dict, work_dir: str) -> dict:
    """Test the best val weights of the ``retest_of`` variant's run (same
    seed and alpha) with ``cfg``; training fields (val, best epoch, training
    logs) are the source run's, ``wall_s`` is this test's."""
    if not bench.best_epoch:
        raise ValueError(f'{variant.name}: retest_of needs a benchmark that '
                         'keeps the best val weights (best_epoch=True)')
    state_file = osp.join(source_dir, 'best_state.pth')
    if not source.get('diverged') and not osp.isfile(state_file):
        raise FileNotFoundError(
            f'{variant.name} retests {variant.retest_of} alpha={alpha} seed='
            f'{seed}, whose weights {state_file} are missing; delete '
            f'{source_dir} and run that variant again')
    result = dict(variant=variant.name, seed=seed, alpha=alpha,
                  epochs=source['epochs'], cache_key=key,
                  environment=environment())
    copied = ('best_epoch', 'val', 'val_history', 'train', 'train_s',
              'diverged', 'diverged_epoch')
    result.update({k: source[k] for k in copied if k in source})
    if source.get('diverged'):
        result.update(test={}, wall_s=0.0)
        save_result(work_dir, result)
        return result
    _set_up_run()
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.model.load_state_dict(
        torch.load(state_file, map_location='cpu'))
    result['test'] = strip_prefix(runner.test())
    if bench.measure is not None:
        result.update(bench.measure(runner, cfg))
    result['wall_s'] = time.time() - start
    save_result(work_dir, result)
    return result


def select_alpha(runs_by_alpha: Dict[float, List[dict]], key: str) -> float:
    """The alpha whose runs have the best mean ``val[key]`` (ties: the
    smaller alpha)."""
    def score(alpha):  # a diverged run loses
        return np.mean([r['val'].get(key, -np.inf)
                        for r in runs_by_alpha[alpha]])
    return max(sorted(runs_by_alpha), key=score)


def describe_run(bench: Benchmark, result: dict) -> str:
    """One log line of a finished run."""
    if result.get('diverged'):
        return (f'{result["variant"]} alpha={result["alpha"]} seed='
                f'{result["seed"]}: diverged in epoch '
                f'{result["diverged_epoch"] + 1} ({result["diverged"]})')
    test = ', '.join(f'{k} {result["test"][k]:.1f}'
                     for k in bench.metric_keys if k in result['test'])
    return (f'{result["variant"]} alpha={result["alpha"]} seed='
            f'{result["seed"]}: val {bench.select_key} '
            f'{result["val"][bench.select_key]:.1f}, test {test}, '
            f'{result["wall_s"]:.0f} s')


def run_benchmark(bench: Benchmark, variants: Sequence[str],
                  seeds: Sequence[int], epochs: int, out_dir: str,
                  alphas: Sequence[float], select_on: Optional[str] = None,
                  quick: bool = False, config_dir: Optional[str] = None,
                  data_root: Optional[str] = None, log=print,
                  reuse_stale: bool = False) -> Dict:
    """Every run; returns ``{'select_on', 'alpha', 'alpha_search',
    'variant_alpha', 'variant_alpha_search', 'variants': {name: [runs]},
    'epochs', 'seeds'}`` (alpha searches keyed by ``f'{alpha:g}'``).

    Variants without alpha run first, then the shared alpha search (if a
    variant needs it), then the penalised variants, then the retests (of
    their source's runs at its alpha), each in the given order.
    ``reuse_stale``: see :func:`run_once`.
    """
    by_name = bench.variants_by_name
    unknown = [v for v in list(variants) + [select_on]
               if v is not None and v not in by_name]
    if unknown:
        raise ValueError(f'unknown variant(s) {unknown}; choose from '
                         f'{list(by_name)}')
    if select_on is not None and not by_name[select_on].penalised:
        raise ValueError(f'select_on={select_on!r} has no alpha')
    os.makedirs(out_dir, exist_ok=True)
    if bench.prepare is not None:
        bench.prepare([by_name[v] for v in variants], seeds, config_dir, log)
    results = dict(select_on=select_on, alpha=None, alpha_search={},
                   variant_alpha={}, variant_alpha_search={}, variants={},
                   epochs=epochs, seeds=list(seeds))
    finished = {}
    search_seeds = list(seeds)[:1] if bench.alpha_on_first_seed else seeds

    def dump():
        with open(osp.join(out_dir, 'results.json'), 'w') as f:
            json.dump(results, f, indent=2)

    def run(variant, seed, alpha=None):
        key = (variant.name, alpha, seed)
        if key not in finished:
            finished[key] = run_once(bench, variant, seed, epochs, out_dir,
                                     alpha, quick, config_dir, data_root,
                                     reuse_stale, log)
            log(describe_run(bench, finished[key]))
        return finished[key]

    def search(variant, grid):
        runs = {a: [run(variant, s, a) for s in search_seeds] for a in grid}
        alpha = select_alpha(runs, bench.select_key)
        log(f'alpha of {variant.name} chosen on val {bench.select_key}: '
            f'{alpha:g}')
        return alpha, {f'{a:g}': r for a, r in runs.items()}

    def run_variant(name):
        variant = by_name[name]
        alpha = results['alpha'] if variant.penalised else None
        if variant.penalised and (variant.own_alphas or select_on is None):
            alpha, grid = search(variant, variant.own_alphas or alphas)
            results['variant_alpha'][name] = alpha
            results['variant_alpha_search'][name] = grid
        results['variants'][name] = [run(variant, s, alpha) for s in seeds]
        dump()

    def run_retest(name):
        source = by_name[name].retest_of
        if source not in results['variants']:
            run_variant(source)
        alpha = (results['variant_alpha'].get(source, results['alpha'])
                 if by_name[source].penalised else None)
        runs = [run(by_name[name], s, alpha) for s in seeds]
        for r in runs:
            if finished[(source, alpha, r['seed'])].get('stale'):
                r.setdefault('stale', f'it tests a stale run of {source}')
        results['variants'][name] = runs
        dump()

    retests = [v for v in variants if by_name[v].retest_of is not None]
    unpenalised = [v for v in variants
                   if not by_name[v].penalised and v not in retests]
    for name in unpenalised:
        run_variant(name)
    if select_on is not None and any(
            by_name[v].penalised and not by_name[v].own_alphas
            for v in variants):
        results['alpha'], results['alpha_search'] = search(
            by_name[select_on], alphas)
    for name in variants:
        if name not in unpenalised and name not in retests:
            run_variant(name)
    for name in retests:
        run_retest(name)
    results['variants'] = {name: results['variants'][name]
                           for name in variants}  # the asked order
    dump()
    return results


def distinct_runs(results: Dict) -> List[dict]:
    """Every distinct run of ``results``, once per (variant, alpha, seed):
    the table's variants, then the alpha searches."""
    runs = [r for rs in results['variants'].values() for r in rs]
    runs += [r for rs in results['alpha_search'].values() for r in rs]
    runs += [r for grid in results['variant_alpha_search'].values()
             for rs in grid.values() for r in rs]
    return list({(r['variant'], r['alpha'], r['seed']): r
                 for r in runs}.values())


def total_run_seconds(results: Dict) -> float:
    """Sum of the wall time of every distinct run (alpha searches
    included)."""
    return float(sum(r['wall_s'] for r in distinct_runs(results)))
