"""The benchmarks' protocols (alpha selection on val, paired deltas), with
the training runs replaced by canned results."""
import provmm.benchmarks.synth_spurious as spurious
import provmm.benchmarks.synth_wsol as wsol


def _spurious_run(variant, seed, epochs, out_dir, alpha=None, *args):
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
    monkeypatch.setattr(spurious, 'run_once', _spurious_run)
    results = spurious.run_benchmark(
        ['edits', 'edits_pg_gtmask', 'gtmask_share'], seeds=[0, 1],
        epochs=3, out_dir=str(tmp_path), alphas=[0.1, 1, 10],
        log=lambda *_: None)
    assert results['alpha'] == 0.1
    assert results['variant_alpha'] == {'gtmask_share': 1.0}
    assert [r['alpha'] for r in results['variants']['gtmask_share']] == \
        [1.0, 1.0]
    assert [r['alpha'] for r in results['variants']['edits_pg_gtmask']] == \
        [0.1, 0.1]
    table = spurious.results_table(results)
    share_label = spurious.VARIANTS_BY_NAME['gtmask_share'].label
    assert f'| {share_label} | 1 |' in table
    # both grids are listed: 3 shared + 3 own rows
    assert table.count('| α grid: ') == 6


def _wsol_run(seed, value):
    return dict(seed=seed, test=dict(MaxBoxAccV2=value))


def test_wsol_paired_delta_matches_seeds():
    reference = [_wsol_run(0, 50.0), _wsol_run(1, 40.0), _wsol_run(2, 30.0)]
    runs = [_wsol_run(2, 31.0), _wsol_run(0, 52.0), _wsol_run(1, 40.0)]
    # deltas +2, 0, +1: mean 1.0, population std 0.82
    assert wsol._paired_delta(runs, reference) == '1.0 ± 0.8'
    assert wsol._paired_delta(runs, None) == '–'
