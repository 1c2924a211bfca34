"""The synthetic skeleton STAL benchmark's data and measures: the
non-actor score mass, the config edits and the variants."""
import numpy as np
from mmengine.config import Config

from provmm.benchmarks.paths import config_dir
from provmm.benchmarks.runner import build_config, select_alpha
from provmm.benchmarks.synth_stal import (BENCHMARK, QUICK_VIDEOS,
                                          last_pg_ratio, non_actor_mass_sums)


def test_non_actor_mass_sums_exact():
    # 3 slots x 2 frames x 2 classes; the actor is slot 1, label 1.
    probs = np.array([[[0, .2], [0, .4]],
                      [[0, .5], [0, .9]],
                      [[0, .1], [0, .3]]])
    valid = np.array([[True, True], [True, True], [True, False]])
    np.testing.assert_allclose(non_actor_mass_sums(probs, valid, 1, 1),
                               [.2 + .4 + .1, .2 + .4 + .1 + .5 + .9])
    # person_inds: the row's original slot (here rows 0 and 1 swapped in
    # frame 2, row 2 padding).
    inds = np.array([[0, 1], [1, 0], [-1, -1]])
    np.testing.assert_allclose(
        non_actor_mass_sums(probs, valid, 1, 1, inds),
        [.2 + .9 + .1, .2 + .4 + .1 + .5 + .9])


def test_last_pg_ratio():
    run = dict(train=[dict(loss_cls=1.), dict(pg_ratio=0.2),
                      dict(pg_ratio=0.1)])
    assert last_pg_ratio(run) == 0.1
    assert last_pg_ratio(dict(train=[dict(loss_cls=1.)])) is None


def test_alpha_is_selected_on_val_frame_ap():
    runs = {1.0: [dict(val=dict(frame_mAP=0.2))],
            3.0: [dict(val=dict(frame_mAP=0.3))],
            10.0: [dict(val=dict(frame_mAP=0.3))]}
    assert select_alpha(runs, BENCHMARK.select_key) == 3.0  # tie: smaller


def test_variants_and_controls():
    by_name = BENCHMARK.variants_by_name
    assert list(by_name) == ['skp', 'batchmix', 'batchmix_pg',
                             'batchmix_pg_auto', 'batchmix_pg_auto_held',
                             'batchmix_pg_auto_low', 'random_mask',
                             'unmasked']
    assert [v.penalised for v in BENCHMARK.variants] == [
        False, False, True, False, False, False, True, True]
    assert by_name['batchmix_pg_auto_low'].options[
        'model.provenance_loss.target_ratio'] == 0.03
    assert by_name['batchmix_pg_auto_held'].options[
        'model.provenance_loss.ratio_update_iters'] == 50
    assert by_name['batchmix_pg_auto'].options == {
        'model.provenance_loss.loss_weight': 'auto',
        'model.provenance_loss.target_ratio': 0.2,
        'model.provenance_loss.ratio_update_iters': None}
    modes = {n: by_name[n].options['model.provenance_loss.mask_mode']
             for n in ('batchmix_pg', 'random_mask', 'unmasked')}
    assert modes == dict(batchmix_pg='provenance', random_mask='random',
                         unmasked='unmasked')
    assert BENCHMARK.select_on == 'batchmix_pg'
    assert BENCHMARK.reference == 'batchmix'


def test_build_config_points_the_evaluators_at_the_data_root(tmp_path):
    variant = BENCHMARK.variants_by_name['random_mask']
    cfg = build_config(BENCHMARK, variant, 3, 2, str(tmp_path), 10.0,
                       quick=True, data_root='data/elsewhere')
    assert cfg.model.provenance_loss.loss_weight == 10.0
    assert cfg.model.provenance_loss.mask_mode == 'random'
    assert cfg.model.provenance_loss.warmup_iters == 0
    assert cfg.randomness.seed == 3 and cfg.train_cfg.max_epochs == 2
    assert [e.get('gt_file') for e in cfg.val_evaluator] == [
        'data/elsewhere/synth_stal_GT_val.pkl'] * 2 + [None]
    assert [e.get('gt_file') for e in cfg.test_evaluator] == [
        'data/elsewhere/synth_stal_GT.pkl'] * 2 + [None]
    for loader in ('train', 'val', 'test'):
        dataset = cfg[f'{loader}_dataloader'].dataset
        assert dataset.data_root == 'data/elsewhere'
        assert dataset.generator.num_per_class == QUICK_VIDEOS


def test_synthetic_configs_share_the_generator():
    cfg = Config.fromfile(f'{config_dir()}/provmm/synth_stal_skp.py')
    generators = [cfg[f'{loader}_dataloader'].dataset.generator
                  for loader in ('train', 'val', 'test')]
    assert generators[0] == generators[1] == generators[2]
    assert cfg.val_dataloader.dataset.split == 'val'
