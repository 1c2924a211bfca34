"""The benchmarks' protocols (alpha selection on val, paired deltas), with
the training runs replaced by canned results."""
import dataclasses

import provmm.benchmarks.runner as runner
from provmm.benchmarks.report import paired_delta, results_table
from provmm.benchmarks.synth_spurious import BENCHMARK as SPURIOUS
from provmm.benchmarks.synth_wsol import BENCHMARK as WSOL


def _spurious_run(bench, variant, seed, epochs, out_dir, alpha=None, *args):
    # val worst-group: best at alpha 1 for the share loss, 0.1 otherwise
    val = 50 + seed
    if alpha is not None:
        best = 1.0 if variant.name == 'gtmask_share' else 0.1
        val += 10 if alpha == best else 0
    result = dict(variant=variant.name, seed=seed, alpha=alpha,
                  epochs=epochs, val=dict(worst_group=val),
                  test=dict(worst_group=val - 1, mean_group=90.0,
                            top1=90.0),
                  true_mask_penalty=dict(penalty=1.0, inside=1.0,
                                         outside_share=0.5),
                  pg_ratio=None if alpha is None else 0.1, wall_s=1.0)
    return result


def test_spurious_shared_and_own_alpha_are_chosen_on_val(monkeypatch,
                                                        tmp_path):
    monkeypatch.setattr(runner, 'run_once', _spurious_run)
    results = runner.run_benchmark(
        SPURIOUS, ['edits', 'edits_pg_gtmask', 'gtmask_share'], seeds=[0, 1],
        epochs=3, out_dir=str(tmp_path), alphas=[0.1, 1, 10],
        select_on='edits_pg_gtmask', log=lambda *_: None)
    assert results['alpha'] == 0.1
    assert results['variant_alpha'] == {'gtmask_share': 1.0}
    assert [r['alpha'] for r in results['variants']['gtmask_share']] == \
        [1.0, 1.0]
    assert [r['alpha'] for r in results['variants']['edits_pg_gtmask']] == \
        [0.1, 0.1]
    table = results_table(SPURIOUS, results)
    share_label = SPURIOUS.variants_by_name['gtmask_share'].label
    assert f'| {share_label} | 1 |' in table
    # both grids are listed: 3 shared + 3 own rows
    assert table.count('| α grid: ') == 6


def _wsol_run(seed, value):
    return dict(seed=seed, test=dict(MaxBoxAccV2=value))


def test_wsol_paired_delta_matches_seeds():
    reference = [_wsol_run(0, 50.0), _wsol_run(1, 40.0), _wsol_run(2, 30.0)]
    runs = [_wsol_run(2, 31.0), _wsol_run(0, 52.0), _wsol_run(1, 40.0)]
    value = lambda r: r['test']['MaxBoxAccV2']  # noqa: E731
    # deltas +2, 0, +1: mean 1.0, population std 0.82
    assert paired_delta(runs, reference, value) == '1.0 ± 0.8'
    assert paired_delta(runs, None, value) == '–'


def test_wsol_searches_each_alpha_on_the_first_seed_only(monkeypatch,
                                                         tmp_path):
    calls = []

    def fake_run(bench, variant, seed, epochs, out_dir, alpha=None, *args):
        calls.append((variant.name, alpha, seed))
        best = {'pg_logit': 0.3, 'random_mask': 1.0}.get(variant.name)
        val = 40.0 + seed + (5 if alpha == best else 0)
        return dict(variant=variant.name, seed=seed, alpha=alpha,
                    epochs=epochs, best_epoch=1, val=dict(MaxBoxAccV2=val),
                    test=dict(MaxBoxAccV2=val - 1), wall_s=2.0)

    monkeypatch.setattr(runner, 'run_once', fake_run)
    bench = dataclasses.replace(WSOL, prepare=None)
    results = runner.run_benchmark(
        bench, ['cutmix', 'pg_logit', 'random_mask'], seeds=[3, 4], epochs=6,
        out_dir=str(tmp_path), alphas=[0.1, 0.3, 1.0], log=lambda *_: None)
    assert results['alpha'] is None
    assert results['variant_alpha'] == {'pg_logit': 0.3, 'random_mask': 1.0}
    # 2 cutmix seeds + per penalised variant 3 alphas on seed 3 + seed 4
    assert len(calls) == len(set(calls)) == 2 + 2 * (3 + 1)
    assert {(a, s) for n, a, s in calls if n == 'pg_logit'} == {
        (0.1, 3), (0.3, 3), (1.0, 3), (0.3, 4)}
    # 10 distinct runs of 2 s each
    assert runner.total_run_seconds(results) == 20.0
