"""The synthesis-fingerprint benchmark: variants, config edits, the
fingerprint probe and one tiny sweep end to end."""
import os.path as osp

import numpy as np
import torch

from provmm.benchmarks.runner import build_config
from provmm.benchmarks.synth_fingerprint import (BENCHMARK, QUICK_IMAGES,
                                                 fingerprint_probe, load_sweep,
                                                 probe_images, run_sweep,
                                                 strength_benchmark,
                                                 write_sweep_report)
from provmm.synthetic import FingerprintTaskSpec

TINY = FingerprintTaskSpec(num_images=dict(train=4, val=4, test=6))


def test_variants_are_the_paper_loss_its_three_controls_and_cheaper_forms():
    by_name = BENCHMARK.variants_by_name
    assert list(by_name) == ['erm', 'edits', 'edits_pg', 'random_mask',
                             'unmasked', 'shifted_mask', 'edits_pg_auto',
                             'edits_pg_auto_held', 'edits_pg_auto_low',
                             'edits_pg_every4', 'edits_pg_every4_unscaled',
                             'edits_pg_every2', 'edits_pg_detached_bn']
    modes = {n: v.options.get('model.provenance_loss.mask_mode')
             for n, v in by_name.items() if v.penalised}
    assert modes == dict(edits_pg='provenance', random_mask='random',
                         unmasked='unmasked', shifted_mask='shifted',
                         edits_pg_every4=None, edits_pg_every4_unscaled=None,
                         edits_pg_every2=None, edits_pg_detached_bn=None)
    assert by_name['edits_pg_every4'].options == {
        'model.provenance_loss.every_n_iters': 4,
        'model.provenance_loss.scale_by_interval': True}
    assert by_name['edits_pg_every4_unscaled'].options == {
        'model.provenance_loss.every_n_iters': 4,
        'model.provenance_loss.scale_by_interval': False}
    assert by_name['edits_pg_detached_bn'].options == {
        'model.provenance_loss.bn_statistics': 'detached'}
    # alpha is not searched for the self-tuning variant
    assert not by_name['edits_pg_auto'].penalised
    assert not by_name['edits_pg_auto_held'].penalised
    assert not by_name['edits_pg_auto_low'].penalised
    assert len({v.config for n, v in by_name.items()
                if n.startswith('edits_pg') or v.penalised}) == 1
    assert BENCHMARK.select_on is None  # every variant its own grid
    assert BENCHMARK.reference == 'edits'


def test_auto_alpha_variant_builds_a_self_tuning_loss(tmp_path):
    bench = strength_benchmark(1.0)
    cfg = build_config(bench, bench.variants_by_name['edits_pg_auto'], 0, 1,
                       str(tmp_path), quick=True)
    assert cfg.model.provenance_loss.loss_weight == 'auto'
    assert cfg.model.provenance_loss.target_ratio == 0.2
    assert cfg.model.provenance_loss.mask_mode == 'provenance'


def test_build_config_sets_the_strength_of_the_edits_only(tmp_path):
    bench = strength_benchmark(0.25)
    cfg = build_config(bench, bench.variants_by_name['unmasked'], 2, 1,
                       str(tmp_path), 0.1, quick=True, data_root='data/x')
    assert cfg.train_dataloader.dataset.edits.strength == 0.25
    assert cfg.model.provenance_loss.mask_mode == 'unmasked'
    assert cfg.model.provenance_loss.loss_weight == 0.1
    for loader in ('train', 'val', 'test'):
        dataset = cfg[f'{loader}_dataloader'].dataset
        assert dataset.generator.num_images == QUICK_IMAGES
        assert dataset.data_root == 'data/x'
    erm = build_config(bench, bench.variants_by_name['erm'], 0, 1,
                       str(tmp_path), quick=True)
    assert erm.train_dataloader.dataset.get('edits') is None


def test_probe_images_differ_from_the_real_ones_only_in_the_background():
    clean, own, swapped, labels, keep = probe_images(TINY, 4.)
    assert clean.shape == own.shape == swapped.shape == (6, 3, 32, 32)
    assert labels.tolist() == [0, 1] * 3
    inside = keep.bool()[:, None].expand_as(clean)
    assert torch.equal(own[inside], clean[inside])
    assert torch.equal(swapped[inside], clean[inside])
    assert (own[~inside] != swapped[~inside]).float().mean() > 0.5


class _ReadsTheGrating(torch.nn.Module):
    """Logit of class c = energy of the background along class c's axis."""

    def data_preprocessor(self, data, training):
        return dict(inputs=data['inputs'].float() / 255.)

    def forward(self, inputs, mode='tensor'):
        grey = inputs.mean(1)
        along_x = (grey[:, :, 1:] - grey[:, :, :-1]).pow(2).mean((1, 2))
        along_y = (grey[:, 1:] - grey[:, :-1]).pow(2).mean((1, 2))
        return torch.stack([along_x, along_y], 1) * 100


def test_a_fingerprint_reader_fails_the_swap_and_looks_at_the_background():
    probe = fingerprint_probe(_ReadsTheGrating(), TINY, 4.)
    assert probe['own'] == 100 and probe['swapped'] == 0
    assert probe['swap_drop'] == probe['clean'] - 0
    assert probe['swap_gap'] == 100
    assert probe['background_share'] > 0.5


def test_a_tiny_sweep_end_to_end(tmp_path):
    out, data = str(tmp_path / 'runs'), str(tmp_path / 'data')
    quiet = dict(quick=True, data_root=data, log=lambda line: None)
    sweep = run_sweep([1.], ['erm', 'edits_pg'], [0], 1, out, [1.0], **quiet)
    run = sweep[1.]['variants']['edits_pg'][0]
    assert list(sweep[1.]['variants']) == ['erm', 'edits_pg']
    assert run['alpha'] == 1.0 and 0 <= run['test']['top1'] <= 100
    assert 0 <= run['probe']['background_share'] <= 1
    assert np.isfinite(run['probe']['swap_drop'])
    # the report can be rebuilt from the results files alone
    assert load_sweep([1.], out)[1.]['variants'] == sweep[1.]['variants']
    # ERM sees no edits: trained once, read back at every strength
    again = run_sweep([0., 1.], ['erm'], [0], 1, out, [1.0], **quiet)
    assert again[0.]['variants']['erm'] == sweep[1.]['variants']['erm']
    assert osp.isdir(osp.join(out, 'real_only', 'runs', 'erm'))
    summary = write_sweep_report(sweep, str(tmp_path / 'report'), 'cmd')
    assert 'swap drop, s = 1' in summary
    text = open(tmp_path / 'report.md').read()
    assert text.startswith('# Built-in synthesis-fingerprint benchmark')
    assert '## Strength 1' in text and '| ERM (real only) |' in text
    assert osp.getsize(tmp_path / 'report.png') > 0
