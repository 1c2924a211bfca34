"""The benchmark command line: quick-run settings, report location, thread
count, stale-run reuse and the reproducing command, with the runs replaced
by canned results."""
import dataclasses
import os
import os.path as osp

import pytest
import torch

import provmm.benchmarks.cli as cli
import provmm.benchmarks.runner as runner
from provmm.benchmarks.report import Section
from provmm.benchmarks.synth_spurious import BENCHMARK as SPURIOUS


def test_quick_run_writes_its_report_inside_the_out_dir(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    seen = []

    def fake_run(bench, variant, seed, epochs, out_dir, alpha=None,
                 quick=False, config_dir=None, data_root=None,
                 reuse_stale=False, log=print):
        assert not reuse_stale
        seen.append((variant.name, alpha, seed, epochs, out_dir, quick,
                     data_root))
        return dict(variant=variant.name, seed=seed, alpha=alpha,
                    epochs=epochs, val=dict(worst_group=50.0),
                    test=dict(worst_group=40.0, mean_group=80.0, top1=80.0),
                    true_mask_penalty=dict(penalty=1.0, outside_share=0.5),
                    pg_ratio=0.1, wall_s=1.0)

    monkeypatch.setattr(runner, 'run_once', fake_run)
    bench = dataclasses.replace(
        SPURIOUS, extra_section=lambda *args: Section('## Masks'))
    cli.main(bench, ['--quick', '--seeds', '4', '5', '--variants', 'edits',
                     'edits_pg_gtmask', '--out-dir', 'out'])
    quick_dir = osp.join('out', 'quick')
    assert seen == [
        ('edits', None, 4, 2, quick_dir, True, 'data/synth_spurious_quick'),
        ('edits_pg_gtmask', 1.0, 4, 2, quick_dir, True,
         'data/synth_spurious_quick')]
    report = osp.join(quick_dir, 'synth_spurious_quick')
    with open(report + '.md') as f:
        text = f.read()
    assert text.startswith(
        '# Built-in spurious-correlation benchmark\n\n`python '
        'tools/benchmark_synth_spurious.py --variants edits edits_pg_gtmask '
        '--seeds 4 --epochs 2 --alphas 1 --select-on edits_pg_gtmask '
        '--quick` — 1 seed(s), 2 epochs')
    assert '## Masks' in text and osp.isfile(report + '.png')
    assert '\n## Environment\n' in text
    assert capsys.readouterr().out.endswith(
        f'wrote {report}.md and {report}.png\n')


def test_a_missing_config_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='pass --config-dir'):
        cli.main(SPURIOUS, ['--config-dir', str(tmp_path / 'nowhere')])


def test_threads_and_reuse_stale_reach_the_runs_and_the_command(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # set_num_threads writes these; monkeypatch restores them
    monkeypatch.setenv('OMP_NUM_THREADS', '2')
    monkeypatch.setenv('MKL_NUM_THREADS', '2')
    threads = torch.get_num_threads()
    seen = []

    def fake_run(bench, variant, seed, epochs, out_dir, alpha=None,
                 quick=False, config_dir=None, data_root=None,
                 reuse_stale=False, log=print):
        seen.append((variant.name, reuse_stale, torch.get_num_threads(),
                     os.environ['OMP_NUM_THREADS']))
        return dict(variant=variant.name, seed=seed, alpha=alpha,
                    epochs=epochs, val=dict(worst_group=50.0),
                    test=dict(worst_group=40.0, mean_group=80.0, top1=80.0),
                    true_mask_penalty=dict(penalty=1.0, outside_share=0.5),
                    pg_ratio=None, wall_s=1.0,
                    stale='code changed (provmm/x.py)')

    monkeypatch.setattr(runner, 'run_once', fake_run)
    bench = dataclasses.replace(SPURIOUS, extra_section=None)
    try:
        cli.main(bench, ['--quick', '--variants', 'erm', '--threads', '1',
                         '--reuse-stale', '--out-dir', 'out'])
    finally:
        torch.set_num_threads(threads)
    assert seen == [('erm', True, 1, '1')]
    with open(osp.join('out', 'quick', 'synth_spurious_quick.md')) as f:
        text = f.read()
    assert text.startswith(
        '# Built-in spurious-correlation benchmark\n\n`python '
        'tools/benchmark_synth_spurious.py --variants erm --seeds 0 '
        '--epochs 2 --alphas 1 --select-on edits_pg_gtmask --threads 1 '
        '--reuse-stale --quick` — 1 seed(s), 2 epochs, 1 CPU thread(s)')
    assert '| ERM (real only) † | – |' in text
    assert '- erm α=None seed 0: code changed (provmm/x.py)' in text


def test_threads_must_be_positive():
    with pytest.raises(ValueError, match='threads must be >= 1'):
        cli.main(SPURIOUS, ['--threads', '0'])


def test_select_on_none_lets_every_variant_search_its_own_alpha(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = cli.parse_args(SPURIOUS, ['--select-on', 'none'])
    assert args.select_on is None
    assert cli.parse_args(SPURIOUS, []).select_on == 'edits_pg_gtmask'
    with pytest.raises(SystemExit):
        cli.parse_args(SPURIOUS, ['--select-on', 'edits'])  # no alpha
    # the reproducing command says none, the default would be another
    assert cli.command_line(SPURIOUS, ['edits_pg'], [0], 2, [1.0], None,
                            False).endswith('--select-on none')
