"""The shared benchmark runner: alpha selection, aggregation, paired deltas,
tables, run configs and cached runs, with exact values."""
import json
import os.path as osp
from types import SimpleNamespace

import pytest
import torch

import provmm.benchmarks.runner as runner
from provmm.benchmarks.cached_runs import mean_std, run_dir, save_result
from provmm.benchmarks.paths import REPO_ROOT, config_dir
from provmm.benchmarks.report import (Section, alpha_note, cell,
                                      results_table, write_report)
from provmm.benchmarks.runner import (Benchmark, Column, Panel, RunRecorder,
                                      Variant, build_config, select_alpha,
                                      total_run_seconds)
from provmm.benchmarks.synth_spurious import BENCHMARK as SPURIOUS
from provmm.benchmarks.synth_wsol import BENCHMARK as WSOL


def _run(variant, seed, alpha, val, test, wall=1.0):
    return dict(variant=variant, seed=seed, alpha=alpha, epochs=2,
                val=dict(acc=val), test=dict(acc=test), wall_s=wall)


TINY = Benchmark(
    name='tiny', title='Tiny benchmark',
    variants=[Variant('base', 'Base', 'none.py'),
              Variant('pen', 'Penalised', 'none.py', penalised=True)],
    metric_keys=('acc', ), select_key='acc', best_epoch=False,
    alpha_on_first_seed=False,
    columns=[Column('test acc', lambda r: r['test']['acc']),
             Column('per seed', lambda r: r['test']['acc'], digits=0,
                    per_seed=True),
             Column('Δ vs base', lambda r: r['test']['acc'], paired=True)],
    panels=[Panel('test acc', lambda r: r['test']['acc'], (0, 100))],
    out_dir='tiny', epochs=2, quick_epochs=1, alphas=(0.1, 1.0),
    reference='base', grid_rows=True)


def _tiny_results():
    base = [_run('base', 0, None, 50, 40.0), _run('base', 1, None, 60, 50.0)]
    grid = {'0.1': [_run('pen', 0, 0.1, 55, 44.0),
                    _run('pen', 1, 0.1, 65, 53.0)],
            '1': [_run('pen', 0, 1.0, 40, 30.0, 3.0),
                  _run('pen', 1, 1.0, 41, 31.0, 3.0)]}
    return dict(select_on=None, alpha=None, alpha_search={},
                variant_alpha={'pen': 0.1},
                variant_alpha_search={'pen': grid},
                variants={'base': base, 'pen': grid['0.1']}, epochs=2,
                seeds=[0, 1])


def test_select_alpha_takes_the_best_mean_and_the_smaller_on_ties():
    runs = {0.1: [_run('p', 0, .1, 50, 0), _run('p', 1, .1, 52, 0)],
            1.0: [_run('p', 0, 1., 55, 0), _run('p', 1, 1., 45, 0)],
            10.0: [_run('p', 0, 10., 51, 0), _run('p', 1, 10., 53, 0)]}
    assert select_alpha(runs, 'acc') == 10.0  # means 51, 50, 52
    tie = {1.0: [_run('p', 0, 1., 60, 0)], 0.3: [_run('p', 0, .3, 60, 0)]}
    assert select_alpha(tie, 'acc') == 0.3


def test_mean_std_and_cells():
    assert mean_std([1.0, 2.0, 3.0, None]) == '2.0 ± 0.8'
    assert mean_std([0.125, 0.375], scale=100, digits=0) == '25 ± 12'
    assert mean_std([None]) == '–'
    runs = [_run('v', 0, None, 0, 41.26), _run('v', 1, None, 0, 38.74)]
    value = lambda r: r['test']['acc']  # noqa: E731
    assert cell(Column('m', value), runs) == '40.0 ± 1.3'
    assert cell(Column('s', value, per_seed=True), runs) == '41.3 / 38.7'
    reference = [_run('r', 1, None, 0, 40.0), _run('r', 0, None, 0, 40.0)]
    assert cell(Column('d', value, paired=True), runs,
                reference) == '0.0 ± 1.3'


def test_results_table_lists_variants_then_alpha_grids():
    assert results_table(TINY, _tiny_results()) == '\n'.join([
        '| Variant | α | test acc | per seed | Δ vs base |',
        '|---|---|---|---|---|',
        '| Base | – | 45.0 ± 5.0 | 40 / 50 | 0.0 ± 0.0 |',
        '| Penalised | 0.1 | 48.5 ± 4.5 | 44 / 53 | 3.5 ± 0.5 |',
        '| α grid: Penalised | 0.1 | 48.5 ± 4.5 | 44 / 53 | 3.5 ± 0.5 |',
        '| α grid: Penalised | 1 | 30.5 ± 0.5 | 30 / 31 | -14.5 ± 4.5 |',
    ])
    assert alpha_note(TINY, _tiny_results()) == (
        'α of every penalised variant ("pen") was chosen on validation acc '
        '(mean over the seeds) from its grid (its runs are listed at the '
        'bottom).')
    # 2 base + 4 grid runs; the chosen grid runs are not counted twice
    assert total_run_seconds(_tiny_results()) == 2 * 1.0 + 2 * 1.0 + 2 * 3.0


def test_report_has_the_table_the_section_and_the_notes(tmp_path):
    report = str(tmp_path / 'out' / 'tiny')
    (tmp_path / 'out').mkdir()
    with open(report + '.notes.md', 'w') as f:
        f.write('## What the numbers say\n\nNothing yet.\n')
    table = write_report(TINY, _tiny_results(), report, 'python x.py',
                         Section('## Extra\n\n| a |', lambda ax: None))
    with open(report + '.md') as f:
        text = f.read()
    assert text.startswith('# Tiny benchmark\n\n`python x.py` — 2 seed(s), '
                           '2 epochs, ')
    assert table in text and '## Extra\n\n| a |' in text
    assert '![tiny](tiny.png)' in text
    assert text.endswith('## What the numbers say\n\nNothing yet.\n')
    assert osp.getsize(report + '.png') > 0


def test_recorder_keeps_the_last_best_epoch_and_epoch_means():
    recorder = RunRecorder('acc')
    model = torch.nn.Linear(1, 1)
    fake = SimpleNamespace(epoch=0, model=model)
    for epoch, (losses, acc) in enumerate([([1.0, 3.0], 50.0),
                                           ([2.0, 2.5], 60.0),
                                           ([0.5, 0.5], 60.0)], 1):
        fake.epoch = epoch
        for loss in losses:
            recorder.after_train_iter(fake, 0, outputs=dict(
                loss=torch.tensor(loss), pg_ratio=0.1, other=1.0))
        recorder.after_train_epoch(fake)
        with torch.no_grad():
            model.weight.fill_(epoch)
        recorder.after_val_epoch(fake, {'group/acc': acc})
    assert recorder.train_epochs == [
        dict(loss=2.0, pg_ratio=0.1), dict(loss=2.25, pg_ratio=0.1),
        dict(loss=0.5, pg_ratio=0.1)]
    assert recorder.logs['loss'] == [1.0, 3.0, 2.0, 2.5, 0.5, 0.5]
    assert recorder.best_epoch == 3
    assert recorder.best_state['weight'].item() == 3
    assert recorder.val == dict(acc=60.0)
    assert [h['epoch'] for h in recorder.history] == [1, 2, 3]


def test_run_configs_of_both_benchmarks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # configs come from the repository
    pg = WSOL.variants_by_name['random_mask']
    cfg = build_config(WSOL, pg, 2, 3, 'w', alpha=0.3, quick=True)
    init = cfg.model.backbone.init_cfg
    assert init.type == 'SyntheticSourcePretrained'
    assert init.checkpoint == osp.join(
        'work_dirs', 'synth_wsol_pretrain', 'source_pretrained_seed2.pth')
    loss = cfg.model.provenance_loss
    assert (loss.loss_weight, loss.mask_mode, loss.warmup_iters) == (
        0.3, 'random', 0)
    assert cfg.randomness == dict(seed=2, deterministic=False)
    assert (cfg.train_cfg.max_epochs, cfg.train_cfg.val_interval,
            cfg.param_scheduler.end) == (3, 1, 3)
    assert cfg.default_hooks.checkpoint is None
    assert cfg.train_dataloader.dataset.indices == 128
    scratch = build_config(WSOL, WSOL.variants_by_name['cam_scratch'], 0, 6,
                           'w')
    assert scratch.model.backbone.init_cfg.type == 'Kaiming'

    edits = SPURIOUS.variants_by_name['edits']
    cfg = build_config(SPURIOUS, edits, 1, 15, 'w', quick=True,
                       data_root='data/q')
    assert cfg.train_cfg.val_interval == 15
    for loader in ('train', 'val', 'test'):
        dataset = cfg[f'{loader}_dataloader'].dataset
        assert dataset.data_root == 'data/q'
        assert dataset.generator.num_images == dict(train=200, val=80,
                                                    test=80)


def test_config_dir_comes_from_the_repository_or_the_flag(tmp_path):
    assert config_dir() == osp.join(REPO_ROOT, 'configs')
    assert config_dir(str(tmp_path)) == str(tmp_path)
    with pytest.raises(FileNotFoundError, match='pass --config-dir'):
        config_dir(str(tmp_path / 'missing'))


def test_cached_runs_are_read_back_without_training(tmp_path, monkeypatch):
    work_dir = run_dir(str(tmp_path), 'pen', 0.3, 1)
    assert work_dir == osp.join(str(tmp_path), 'runs', 'pen', 'alpha_0.3',
                                'seed_1')
    assert run_dir('o', 'base', None, 0) == osp.join('o', 'runs', 'base',
                                                     'no_alpha', 'seed_0')
    cached = _run('pen', 1, 0.3, 50, 40.0)
    save_result(work_dir, cached)
    monkeypatch.setattr(runner.Runner, 'from_cfg', None)  # no training
    pen = TINY.variants_by_name['pen']
    assert runner.run_once(TINY, pen, 1, 2, str(tmp_path), 0.3) == cached
    with open(osp.join(work_dir, 'result.json')) as f:
        assert json.load(f) == cached
