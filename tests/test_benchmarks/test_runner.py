"""The shared benchmark runner: alpha selection, aggregation, paired deltas,
tables, run configs and cached runs, with exact values."""
import dataclasses
import json
import os.path as osp
import platform
from types import SimpleNamespace

import pytest
import torch

import provmm.benchmarks.cached_runs as cached_runs
import provmm.benchmarks.runner as runner
from provmm.benchmarks.cached_runs import mean_std, run_dir, save_result
from provmm.benchmarks.environment import environment, environment_section
from provmm.benchmarks.paths import REPO_ROOT, config_dir
from provmm.benchmarks.report import (Section, alpha_note, cell,
                                      results_table, stale_note,
                                      table_columns, write_report)
from provmm.benchmarks.runner import (Benchmark, Column, Panel, RunRecorder,
                                      Variant, build_config, distinct_runs,
                                      select_alpha, total_run_seconds)
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
    assert ('Δ columns: mean ± std over the seeds of the difference to '
            '"Base" on the same seed') in text
    notes = '## What the numbers say\n\nNothing yet.\n\n## Environment\n'
    assert notes in text
    # runs made before environments were recorded
    assert text.endswith('Where its 6 runs were made was not recorded (they '
                         'were cached before runs recorded it).\n')
    assert osp.getsize(report + '.png') > 0


def test_recorder_keeps_the_last_best_epoch_and_epoch_means(monkeypatch):
    import provmm.benchmarks.runner as runner_module
    clock = iter([10.0, 12.5, 20.0, 21.0, 30.0, 34.0])  # epoch starts, ends
    monkeypatch.setattr(runner_module.time, 'perf_counter',
                        lambda: next(clock))
    recorder = RunRecorder('acc')
    model = torch.nn.Linear(1, 1)
    fake = SimpleNamespace(epoch=0, model=model)
    for epoch, (losses, acc) in enumerate([([1.0, 3.0], 50.0),
                                           ([2.0, 2.5], 60.0),
                                           ([0.5, 0.5], 60.0)], 1):
        recorder.before_train_epoch(fake)
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
    # training seconds so far, the time between epochs (validation) left out
    assert [h['train_s'] for h in recorder.history] == [2.5, 3.5, 7.5]


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
    # validates every epoch, with the hook that keeps validation's draws out
    # of training's random stream; WSOL's runs draw as before the hook
    assert cfg.train_cfg.val_interval == 1
    assert [h.type for h in cfg.custom_hooks].count('RandomStateHook') == 1
    assert 'RandomStateHook' not in [
        h.type for h in build_config(WSOL, pg, 2, 3, 'w').custom_hooks]
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


TINY_CONFIG = """model = dict(type='Net', depth=18)
train_cfg = dict(max_epochs=1)
param_scheduler = dict(end=1)
default_hooks = dict(logger=dict(interval=1))
"""


class Trained(Exception):
    """Raised instead of training."""


def _no_training(cfg):
    raise Trained


class _FakeRunner:
    """Trains nothing, tests to a fixed accuracy."""

    def register_hook(self, hook):
        pass

    def train(self):
        pass

    def test(self):
        return {'tiny/acc': 42.0}


def _tiny_configs(tmp_path):
    configs = tmp_path / 'configs'
    configs.mkdir()
    (configs / 'none.py').write_text(TINY_CONFIG)
    return str(configs)


def test_a_new_run_stores_its_key_and_environment(tmp_path, monkeypatch):
    configs = _tiny_configs(tmp_path)
    monkeypatch.setattr(runner.Runner, 'from_cfg',
                        lambda cfg: _FakeRunner())
    pen = TINY.variants_by_name['pen']
    result = runner.run_once(TINY, pen, 1, 2, str(tmp_path), 0.3,
                             config_dir=configs)
    with open(osp.join(run_dir(str(tmp_path), 'pen', 0.3, 1),
                       'result.json')) as f:
        assert json.load(f) == result
    assert result['test'] == dict(acc=42.0)
    key = result['cache_key']
    assert key['config']['train_cfg']['max_epochs'] == 2
    assert 'configs/none.py' in key['code_files']
    assert 'provmm/benchmarks/runner.py' in key['code_files']
    assert set(result['environment']) >= {
        'commit', 'dirty', 'cpu', 'cpu_capability', 'threads', 'torch',
        'numpy', 'mmengine', 'mmpretrain', 'python', 'date'}


def _cache(tmp_path, configs, **fields):
    """A cached run of TINY's 'pen' at alpha 0.3, seed 1, 2 epochs."""
    work_dir = run_dir(str(tmp_path), 'pen', 0.3, 1)
    cfg = build_config(TINY, TINY.variants_by_name['pen'], 1, 2, work_dir,
                       0.3, config_dir=configs)
    config_file = osp.join(configs, 'none.py')
    key = cached_runs.run_key(cfg, [config_file], configs)
    cached = dict(_run('pen', 1, 0.3, 50, 40.0), cache_key=key, **fields)
    save_result(work_dir, cached)
    return cached


def test_cached_runs_are_read_back_without_training(tmp_path, monkeypatch):
    work_dir = run_dir(str(tmp_path), 'pen', 0.3, 1)
    assert work_dir == osp.join(str(tmp_path), 'runs', 'pen', 'alpha_0.3',
                                'seed_1')
    assert run_dir('o', 'base', None, 0) == osp.join('o', 'runs', 'base',
                                                     'no_alpha', 'seed_0')
    configs = _tiny_configs(tmp_path)
    cached = _cache(tmp_path, configs)
    monkeypatch.setattr(runner.Runner, 'from_cfg', _no_training)
    pen = TINY.variants_by_name['pen']
    log = []
    assert runner.run_once(TINY, pen, 1, 2, str(tmp_path), 0.3,
                           config_dir=configs, log=log.append) == cached
    assert log == []
    with open(osp.join(work_dir, 'result.json')) as f:
        assert json.load(f) == cached


def test_a_stale_cached_run_is_trained_again_or_reused_marked(
        tmp_path, monkeypatch):
    configs = _tiny_configs(tmp_path)
    cached = _cache(tmp_path, configs)
    (tmp_path / 'configs' / 'none.py').write_text(
        TINY_CONFIG.replace('depth=18', 'depth=34'))
    monkeypatch.setattr(runner.Runner, 'from_cfg', _no_training)
    pen = TINY.variants_by_name['pen']
    log = []
    with pytest.raises(Trained):
        runner.run_once(TINY, pen, 1, 2, str(tmp_path), 0.3,
                        config_dir=configs, log=log.append)
    reason = ('config changed (model.depth: 18 -> 34); code changed '
              '(configs/none.py)')
    assert log == ['pen alpha=0.3 seed=1: training again, the cached run is '
                   f'stale ({reason})']
    log.clear()
    reused = runner.run_once(TINY, pen, 1, 2, str(tmp_path), 0.3,
                             config_dir=configs, reuse_stale=True,
                             log=log.append)
    assert reused == dict(cached, stale=reason)
    assert log == [f'pen alpha=0.3 seed=1: reusing a stale cached run '
                   f'({reason})']
    # never a run of another length, stale or not
    with pytest.raises(Trained):
        runner.run_once(TINY, pen, 1, 3, str(tmp_path), 0.3,
                        config_dir=configs, reuse_stale=True,
                        log=log.append)


def test_an_old_result_without_key_is_trained_again(tmp_path, monkeypatch):
    configs = _tiny_configs(tmp_path)
    work_dir = run_dir(str(tmp_path), 'pen', 0.3, 1)
    old = _run('pen', 1, 0.3, 50, 40.0)  # as cached before runs had keys
    save_result(work_dir, old)
    monkeypatch.setattr(runner.Runner, 'from_cfg', _no_training)
    pen = TINY.variants_by_name['pen']
    log = []
    with pytest.raises(Trained):
        runner.run_once(TINY, pen, 1, 2, str(tmp_path), 0.3,
                        config_dir=configs, log=log.append)
    assert log == ['pen alpha=0.3 seed=1: training again, the cached run is '
                   'stale (no cache key (cached before runs were keyed by '
                   'config and code))']
    reused = runner.run_once(TINY, pen, 1, 2, str(tmp_path), 0.3,
                             config_dir=configs, reuse_stale=True,
                             log=log.append)
    assert reused['stale'].startswith('no cache key')


def test_stale_runs_are_marked_in_the_table_and_listed():
    results = _tiny_results()
    results['variants']['pen'][1]['stale'] = 'code changed (provmm/x.py)'
    table = results_table(TINY, results)
    assert '| Penalised † | 0.1 |' in table
    assert '| α grid: Penalised † | 0.1 |' in table
    assert '| Base | – |' in table and '| α grid: Penalised | 1 |' in table
    assert stale_note(distinct_runs(results)) == (
        '† Rows with stale runs: 1 cached run(s) were reused although their '
        "config or code differs from this command's (`--reuse-stale`):\n\n"
        '- pen α=0.1 seed 1: code changed (provmm/x.py)')
    assert stale_note(distinct_runs(_tiny_results())) == ''


def test_a_table_without_paired_column_gets_one_vs_the_reference():
    headers = [c.header for c in table_columns(SPURIOUS)]
    at = headers.index('test worst per seed')
    assert headers[at + 1] == 'Δ test worst_group vs edits, same seed'
    assert sum(c.paired for c in table_columns(SPURIOUS)) == 1
    # a benchmark with its own paired column keeps its columns
    columns = table_columns(WSOL)  # + epochs/seconds to CutMix's best val
    assert columns[:len(WSOL.columns)] == list(WSOL.columns)
    assert [c.header for c in columns[len(WSOL.columns):]] == [
        "epochs to cutmix's best val", "train s to cutmix's best val"]
    assert table_columns(TINY) == list(TINY.columns)
    unpaired = dataclasses.replace(TINY, columns=TINY.columns[:2],
                                   reference=None)
    assert [c.header for c in table_columns(unpaired)] == [
        'test acc', 'per seed', 'Δ test acc vs base, same seed']
    assert results_table(unpaired, _tiny_results()).splitlines()[3] == (
        '| Penalised | 0.1 | 48.5 ± 4.5 | 44 / 53 | 3.5 ± 0.5 |')


def _env(commit, threads=1):
    return dict(commit=commit, dirty=False, cpu='Some CPU', cpu_count=8,
                cpu_capability='AVX2', threads=threads, OMP_NUM_THREADS=str(threads),
                torch='2.1.0', numpy='1.26.0', mmengine='0.10.7',
                mmpretrain='1.2.0', python='3.11.7', platform='linux',
                date='2026-11-25 12:00 UTC')


def test_the_environment_block_names_where_runs_were_made():
    here = _env('a' * 40)
    runs = [dict(_run('base', s, None, 0, 0), environment=dict(
        here, date=f'2026-11-2{s} 10:00 UTC')) for s in (0, 1)]
    assert environment_section(runs, here) == '\n'.join([
        '## Environment', '', 'Report written in:', '',
        '- commit: aaaaaaaaaa',
        '- CPU: Some CPU (8 cores visible, AVX2), 1 torch thread(s) '
        '(OMP_NUM_THREADS=1)',
        '- torch 2.1.0, numpy 1.26.0, mmengine 0.10.7, mmpretrain 1.2.0, '
        'python 3.11.7',
        '- date: 2026-11-25 12:00 UTC', '',
        'All 2 runs were made in this environment.', ''])
    elsewhere = environment_section(runs, _env('b' * 40))
    assert elsewhere.endswith('All 2 runs were made in one environment, not '
                              'this one:\n\n- commit: aaaaaaaaaa\n- CPU: '
                              'Some CPU (8 cores visible, AVX2), 1 torch '
                              'thread(s) (OMP_NUM_THREADS=1)\n- torch 2.1.0, '
                              'numpy 1.26.0, mmengine 0.10.7, mmpretrain '
                              '1.2.0, python 3.11.7\n- date: 2026-11-20 '
                              '10:00 UTC\n')


def test_runs_of_several_environments_are_listed():
    runs = [dict(_run('base', 0, None, 0, 0), environment=_env('a' * 40)),
            dict(_run('pen', 0, 1.0, 0, 0),
                 environment=dict(_env('b' * 40, 2), dirty=True)),
            _run('pen', 1, 1.0, 0, 0)]  # cached before environments
    text = environment_section(runs, _env('a' * 40))
    assert text.endswith('\n'.join([
        '**The 3 runs of this report come from 3 environments** (another '
        'commit, CPU, thread count or library version can change the '
        'numbers of the same seed):', '',
        '| commit | CPU | threads | torch | numpy | mmengine | mmpretrain | '
        'python | runs | variants |',
        '|---|---|---|---|---|---|---|---|---|---|',
        '| aaaaaaaaaa | Some CPU (AVX2) | 1 | 2.1.0 | 1.26.0 | 0.10.7 | 1.2.0 | '
        '3.11.7 | 1 | base |',
        '| bbbbbbbbbb (dirty) | Some CPU (AVX2) | 2 | 2.1.0 | 1.26.0 | 0.10.7 | '
        '1.2.0 | 3.11.7 | 1 | pen |',
        '| not recorded (older run) | – | – | – | – | – | – | – | 1 | pen |',
        '']))


def test_this_process_environment():
    env = environment()
    assert env['threads'] == torch.get_num_threads()
    assert torch.__version__.startswith(env['torch'])
    assert env['python'] == platform.python_version()
    assert env['cpu'] and env['date'].endswith('UTC')
    if env['commit'] is not None:  # a git checkout
        assert len(env['commit']) == 40 and env['dirty'] in (True, False)
