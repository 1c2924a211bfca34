"""The ALIA classification configs load, carry Table 8's hyper-parameters,
differ only by the ablated parts, and build their datasets from a tiny fake
copy of each real format."""
import copy
import os.path as osp

import pytest
from fake_classification_data import (write_cub, write_edit_manifest,
                                      write_iwildcam, write_waterbirds)
from mmengine.config import Config

from provmm.registry import DATASETS

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'provmm')
# Table 8: epochs, lr, weight decay, edits added; batch 128, alpha 0.1, SGD
# momentum 0.9 and cosine for all three.
TABLE_8 = {
    'waterbirds': dict(epochs=20, lr=1e-3, wd=1e-4, num_edited=839,
                       num_classes=2),
    'iwildcam': dict(epochs=10, lr=1e-3, wd=1e-4, num_edited=2224,
                     num_classes=7),
    'cub': dict(epochs=20, lr=1e-3, wd=1e-5, num_edited=1000,
                num_classes=200),
}


def load(name, variant=''):
    return Config.fromfile(osp.join(CONFIG_DIR, f'cls_{name}_r50{variant}.py'))


def write_fake_root(name, folder):
    if name == 'waterbirds':
        rows = [(f'00{i % 2}.S', y, split, place)
                for split in (0, 1, 2) for y, place in ((0, 0), (1, 1))
                for i in range(4)]
        return write_waterbirds(folder, rows)
    if name == 'iwildcam':
        for split, y in (('train', 24), ('val', 0), ('test', 52)):
            write_iwildcam(folder, [('train', y, 1), ('test', 49, 78)],
                           name=f'{split}_subset.csv')
        return folder
    return write_cub(folder, [(c, 1) for c in (1, 2) for _ in range(6)] +
                     [(1, 0), (2, 0)])


@pytest.mark.parametrize('name', sorted(TABLE_8))
def test_configs_carry_table_8_hyper_parameters(name):
    expected = TABLE_8[name]
    base, alia, alia_pg = load(name), load(name, '_alia'), load(
        name, '_alia_pg')
    for cfg in (base, alia, alia_pg):
        assert cfg.default_scope == 'provmm'
        assert cfg.model.type == 'ProvenanceImageClassifier'
        assert cfg.model.backbone.depth == 50
        assert cfg.model.backbone.init_cfg.type == 'Pretrained'
        assert cfg.model.head.num_classes == expected['num_classes']
        assert cfg.data_preprocessor.num_classes == expected['num_classes']
        assert cfg.train_dataloader.batch_size == 128
        assert cfg.optim_wrapper.optimizer == dict(
            type='SGD', lr=expected['lr'], momentum=0.9,
            weight_decay=expected['wd'])
        assert cfg.param_scheduler.type == 'CosineAnnealingLR'
        assert cfg.param_scheduler.end == cfg.train_cfg.max_epochs \
            == expected['epochs']
    assert 'edited_manifest' not in base.train_dataloader.dataset
    assert alia.train_dataloader.dataset.num_edited == expected['num_edited']
    assert 'provenance_loss' not in alia.model
    assert alia_pg.model.provenance_loss == dict(
        type='ProvenanceGradientLoss', loss_weight=0.1, mode='hard')


@pytest.mark.parametrize('name', sorted(TABLE_8))
def test_configs_differ_only_by_the_ablated_parts(name):
    base, alia, alia_pg = (load(name, v).to_dict()
                           for v in ('', '_alia', '_alia_pg'))
    without_edits = copy.deepcopy(alia)
    for key in ('edited_manifest', 'num_edited'):
        del without_edits['train_dataloader']['dataset'][key]
    assert without_edits == base
    without_pg = copy.deepcopy(alia_pg)
    del without_pg['model']['provenance_loss']
    assert without_pg == alia


@pytest.mark.parametrize('name', sorted(TABLE_8))
def test_config_datasets_build_from_a_tiny_fake_root(name, tmp_path):
    root = write_fake_root(name, str(tmp_path / name))
    manifest = write_edit_manifest(str(tmp_path / 'alia'), [0, 1, 1])
    cfg = load(name, '_alia_pg')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset_cfg = copy.deepcopy(cfg[loader].dataset)
        dataset_cfg.data_root = root
        if 'edited_manifest' in dataset_cfg:
            dataset_cfg.update(edited_manifest=manifest, num_edited=2)
        else:  # serialising runs a slow gc.collect; once per config is enough
            dataset_cfg.serialize_data = False
        dataset = DATASETS.build(dataset_cfg)
        sample = dataset[len(dataset) - 1]
        assert sample['inputs'].shape == (3, 224, 224)
        data_sample = sample['data_samples']
        if loader == 'train_dataloader':
            assert data_sample.prov_mask.shape == (224, 224)
            assert data_sample.group == -1  # the last sample is an edit
            assert 0 < float(data_sample.prov_mask.mean()) < 1
        else:
            assert 'prov_mask' not in data_sample
            assert 'group' in data_sample


def test_waterbirds_without_its_data_stops_with_where_to_put_it():
    dataset_cfg = load('waterbirds').train_dataloader.dataset
    dataset_cfg.data_root = '/nonexistent/waterbird_complete95_forest2water2'
    with pytest.raises(FileNotFoundError, match='metadata.csv.*Download'):
        DATASETS.build(dataset_cfg)
