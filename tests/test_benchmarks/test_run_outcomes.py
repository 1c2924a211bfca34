"""Runs that diverge, retests of trained runs with other test-time settings,
and the epochs/seconds a run takes to reach the reference's best val."""
import dataclasses
import os.path as osp

import pytest
import torch

import provmm.benchmarks.runner as runner
from provmm.benchmarks.cached_runs import load_result, run_dir, save_result
from provmm.benchmarks.report import (cell, diverged_note,
                                      first_val_reaching, reaching_columns,
                                      results_table)
from provmm.benchmarks.runner import (Benchmark, Column, Variant,
                                      describe_run, run_benchmark,
                                      select_alpha)

CONFIG = """model = dict(type='Net', depth=18, maps='cam')
train_cfg = dict(max_epochs=1)
param_scheduler = dict(end=1)
default_hooks = dict(logger=dict(interval=1))
"""

BENCH = Benchmark(
    name='tiny', title='Tiny benchmark',
    variants=[Variant('base', 'Base', 'none.py'),
              Variant('pen', 'Penalised', 'none.py', penalised=True),
              Variant('pen_other_maps', 'Penalised, other maps', 'none.py',
                      {'model.maps': 'other'}, retest_of='pen')],
    metric_keys=('acc', ), select_key='acc', best_epoch=True,
    alpha_on_first_seed=True,
    columns=[Column('test acc', lambda r: r['test']['acc']),
             Column('per seed', lambda r: r['test']['acc'], digits=0,
                    per_seed=True)],
    panels=[], out_dir='tiny', epochs=2, quick_epochs=1,
    alphas=(0.1, 1.0), reference='base')


class _Runner:
    """Two epochs that set the weight to ``alpha * epoch`` and validate to
    it; diverges in epoch 2 for alpha 1; tests to the weight + 10 (+ 100
    with ``maps='other'``)."""

    made = []

    def __init__(self, cfg):
        self.cfg, self.hooks, self.epoch = cfg, [], 0
        self.model = torch.nn.Linear(1, 1, bias=False)
        _Runner.made.append(self)

    def register_hook(self, hook):
        self.hooks.append(hook)

    def train(self):
        alpha = self.cfg.model.get('alpha', 0.5)
        for epoch in (1, 2):
            for hook in self.hooks:
                hook.before_train_epoch(self)
            if alpha == 1.0 and epoch == 2:
                raise FloatingPointError('Non-finite loss at iteration 3\n'
                                         'more lines')
            self.epoch = epoch
            with torch.no_grad():
                self.model.weight.fill_(alpha * epoch)
            for hook in self.hooks:
                hook.after_train_epoch(self)
                hook.after_val_epoch(self, {'t/acc': alpha * epoch})

    def test(self):
        other = 100.0 if self.cfg.model.maps == 'other' else 0.0
        return {'t/acc': float(self.model.weight.detach()) + 10 + other}


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    configs = tmp_path / 'configs'
    configs.mkdir()
    (configs / 'none.py').write_text(CONFIG)
    _Runner.made = []
    monkeypatch.setattr(runner.Runner, 'from_cfg', _Runner)
    # alpha lands in the model config, where the fake runner reads it
    real = runner.build_config

    def build_config(bench, variant, seed, epochs, work_dir, alpha=None,
                     *args, **kwargs):
        cfg = real(bench, variant, seed, epochs, work_dir, None, *args,
                   **kwargs)
        if alpha is not None:
            cfg.model.alpha = alpha
        return cfg

    monkeypatch.setattr(runner, 'build_config', build_config)
    return str(tmp_path), str(configs)


def test_a_diverged_run_is_recorded_and_loses_its_alpha_search(tiny):
    out_dir, configs = tiny
    log = []
    results = run_benchmark(BENCH, ['base', 'pen'], [0, 1], 2, out_dir,
                            [0.1, 1.0], config_dir=configs, log=log.append)
    diverged = load_result(run_dir(out_dir, 'pen', 1.0, 0))
    assert diverged['diverged'] == 'Non-finite loss at iteration 3'
    assert diverged['diverged_epoch'] == 1  # 0-based: the second epoch
    assert (diverged['val'], diverged['test']) == ({}, {})
    assert len(diverged['val_history']) == 1
    assert 'pen alpha=1.0 seed=0: diverged in epoch 2 (Non-finite loss at '\
        'iteration 3)' in log
    assert results['variant_alpha'] == {'pen': 0.1}
    assert select_alpha({0.1: [dict(val=dict(acc=-5.0))],
                         1.0: [diverged]}, 'acc') == 0.1
    # the table marks the alpha grid's row, lists the run and skips it
    bench = dataclasses.replace(BENCH, grid_rows=True)
    table = results_table(bench, results)
    assert '| α grid: Penalised ‡ | 1 | – | div. |' in table
    assert diverged_note([diverged]).endswith(
        '- pen α=1.0 seed 0, epoch 2: Non-finite loss at iteration 3')
    assert describe_run(BENCH, diverged).endswith('diverged in epoch 2 '
                                                  '(Non-finite loss at '
                                                  'iteration 3)')
    # a diverged run is cached like any other
    made = len(_Runner.made)
    run_benchmark(BENCH, ['base', 'pen'], [0, 1], 2, out_dir, [0.1, 1.0],
                  config_dir=configs, log=log.append)
    assert len(_Runner.made) == made


def test_a_retest_tests_the_best_weights_of_its_source_with_its_edits(
        tiny):
    out_dir, configs = tiny
    results = run_benchmark(BENCH, ['pen_other_maps', 'base'], [0, 1], 2,
                            out_dir, [0.1, 1.0], config_dir=configs,
                            log=lambda line: None)
    # the source ran (its alpha search too) but only the asked rows remain
    assert list(results['variants']) == ['pen_other_maps', 'base']
    retests = results['variants']['pen_other_maps']
    source = load_result(run_dir(out_dir, 'pen', 0.1, 0))
    # best val weights of pen at alpha 0.1 (epoch 2: 0.2), other maps
    assert [r['test']['acc'] for r in retests] == pytest.approx([110.2] * 2)
    assert source['test']['acc'] == pytest.approx(10.2)
    assert retests[0]['val'] == source['val']
    assert retests[0]['alpha'] == 0.1
    retest_runner = _Runner.made[-1]
    assert retest_runner.cfg.model.maps == 'other'
    assert retest_runner.cfg.model.alpha == 0.1
    assert retests[0]['cache_key']['source_key'] == \
        source['cache_key']['key']
    assert '| Penalised, other maps | 0.1 | 110.2 ± 0.0 | 110 / 110 |' in \
        results_table(BENCH, results)


def test_a_retrained_source_makes_its_retests_stale(tiny):
    out_dir, configs = tiny
    run_benchmark(BENCH, ['pen_other_maps'], [0], 2, out_dir, [0.1],
                  config_dir=configs, log=lambda line: None)
    source_dir = run_dir(out_dir, 'pen', 0.1, 0)
    source = load_result(source_dir)
    source['cache_key']['key'] = 'retrained'
    save_result(source_dir, source)
    log = []
    runner.run_once(BENCH, BENCH.variants_by_name['pen_other_maps'], 0, 2,
                    out_dir, 0.1, config_dir=configs, log=log.append)
    assert log == ['pen_other_maps alpha=0.1 seed=0: training again, the '
                   'cached run is stale (the run it retests changed)']


def test_a_retest_without_its_source_run_says_which(tiny):
    out_dir, configs = tiny
    retest = BENCH.variants_by_name['pen_other_maps']
    with pytest.raises(FileNotFoundError, match=(
            'pen_other_maps retests pen alpha=0.1 seed=0, which has no '
            'result.json')):
        runner.run_once(BENCH, retest, 0, 2, out_dir, 0.1,
                        config_dir=configs)


def test_epochs_and_seconds_to_the_reference_best_val():
    def run(seed, vals, seconds):
        history = [dict(epoch=e, train_s=t, acc=v)
                   for e, (v, t) in enumerate(zip(vals, seconds), 1)]
        return dict(seed=seed, val_history=history, test={})

    reference = [run(0, [10, 30, 20], [5, 10, 15]),
                 run(1, [40, 40], [4, 8])]
    runs = [run(0, [20, 35], [6, 12]), run(1, [10, 30], [9, 18])]
    assert first_val_reaching(runs[0], reference[0], 'acc', 'epoch') == 2
    assert first_val_reaching(runs[0], reference[0], 'acc', 'train_s') == 12
    assert first_val_reaching(runs[1], reference[1], 'acc', 'epoch') is None
    epochs, seconds = reaching_columns(BENCH)
    assert epochs.header == "epochs to base's best val"
    # seed 1 never reaches 40: the mean is over 1 of 2 runs, and says so
    assert cell(epochs, runs, reference) == '2.0 ± 0.0 (1/2)'
    assert cell(seconds, runs, reference) == '12 ± 0 (1/2)'
    assert cell(seconds, reference, reference) == '7 ± 3'  # 10 s, 4 s
    # cached runs from before train_s was recorded have no value
    old = [dict(r, val_history=[dict(epoch=1, acc=50)]) for r in runs]
    assert cell(seconds, old, reference) == '–'
    no_history = dataclasses.replace(BENCH, best_epoch=False)
    assert reaching_columns(no_history) == []


def test_a_benchmark_validating_every_epoch_tests_the_last_weights(tiny):
    out_dir, configs = tiny
    bench = dataclasses.replace(BENCH, best_epoch=False,
                                val_every_epoch=True)
    results = run_benchmark(bench, ['base'], [0], 2, out_dir, [0.1],
                            config_dir=configs, log=lambda *_: None)
    (run, ) = results['variants']['base']
    assert run['val'] == dict(acc=1.0)  # the last epoch's, weight 0.5 * 2
    assert run['test'] == dict(acc=11.0)
    assert [h['epoch'] for h in run['val_history']] == [1, 2]
    assert 'best_epoch' not in run
    assert [c.header for c in reaching_columns(bench)] == [
        "epochs to base's best val", "train s to base's best val"]
