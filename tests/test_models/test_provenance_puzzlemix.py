"""ProvenancePuzzleMix inside ProvenanceMixBatchAugment: the provenance
contract's fields, the soft label, the saliency from the bound classifier,
and a guided train step."""
import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

from provmm.models.batch_augments.provenance_puzzlemix import (
    PuzzleMixSaliencyHook, bind_puzzlemix_model)
from provmm.provenance.puzzlemix import puzzlemix_saliency
from provmm.registry import HOOKS, MODELS

NUM_CLASSES, SIZE = 4, 32
MEAN, STD = [10., 20., 30.], [50., 60., 70.]


def _model(transport=True):
    return MODELS.build(dict(
        type='ProvenanceImageClassifier',
        backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=8,
                      stem_channels=8, num_stages=2, out_indices=(1, ),
                      strides=(1, 2), dilations=(1, 1)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=NUM_CLASSES,
                  in_channels=16,
                  loss=dict(type='CrossEntropyLoss', use_soft=True)),
        provenance_loss=dict(type='ProvenanceGradientLoss', loss_weight=0.5,
                             mode='auto'),
        data_preprocessor=dict(
            type='ProvenanceMixBatchAugment', num_classes=NUM_CLASSES,
            mean=MEAN, std=STD,
            augments=[dict(type='ProvenancePuzzleMix', alpha=1.0,
                           transport=transport)],
            probs=[1.0]))).train()


def _data(labels=(0, 1, 2, 3, 0, 1)):
    generator = torch.Generator().manual_seed(0)
    return dict(
        inputs=[torch.randint(0, 256, (3, SIZE, SIZE), generator=generator,
                              dtype=torch.uint8) for _ in labels],
        data_samples=[DataSample().set_gt_label(label) for label in labels])


def _preprocess(model, seed=0):
    np.random.seed(seed)
    torch.manual_seed(seed)
    return model.data_preprocessor(_data(), training=True)


def test_unbound_augment_names_the_hook():
    with pytest.raises(RuntimeError, match='PuzzleMixSaliencyHook'):
        _preprocess(_model())


def test_hook_binds_the_classifier():
    model = _model()
    hook = HOOKS.build(dict(type='PuzzleMixSaliencyHook'))
    assert isinstance(hook, PuzzleMixSaliencyHook)
    hook.before_train(type('Runner', (), {'model': model})())
    assert model.data_preprocessor.batch_augments.augments[0]._model() \
        is model


def test_fields_follow_the_contract_with_a_soft_mask():
    model = _model()
    assert bind_puzzlemix_model(model) == 1
    data = _preprocess(model)
    inputs, samples = data['inputs'], data['data_samples']
    for index, sample in enumerate(samples):
        partner = sample.mix_partner
        if sample.guidance == 'soft':
            mask = sample.prov_mask
            assert mask.shape == (SIZE, SIZE)
            assert set(mask.unique().tolist()) <= {0., 0.5, 1.}
            assert sample.mix_lam == pytest.approx(float(mask.mean()))
            expected = (sample.mix_lam * torch.eye(NUM_CLASSES)[
                sample.gt_label[0]] + (1 - sample.mix_lam) *
                        torch.eye(NUM_CLASSES)[samples[partner].gt_label[0]])
            torch.testing.assert_close(sample.gt_score, expected)
        else:  # a partner of the own class: nothing to penalise
            assert sample.guidance == 'none'
            assert torch.equal(sample.gt_label_b, sample.gt_label)
    assert inputs.shape == (6, 3, SIZE, SIZE)
    assert any(sample.guidance == 'soft' for sample in samples)
    assert any(0 < float(sample.prov_mask.mean()) < 1 for sample in samples)


def test_mix_reconstructs_from_m_and_the_sources_without_transport():
    model = _model(transport=False)
    bind_puzzlemix_model(model)
    plain = MODELS.build(dict(type='ClsDataPreprocessor', mean=MEAN,
                              std=STD, num_classes=NUM_CLASSES))
    sources = plain(_data(), training=False)['inputs']
    augment = model.data_preprocessor.batch_augments.augments[0]
    np.random.seed(0)
    torch.manual_seed(0)
    mixed, _ = augment.mix_with_provenance(
        sources, torch.eye(NUM_CLASSES)[[0, 1, 2, 3, 0, 1]])
    weight = mixed.mask.unsqueeze(1)
    torch.testing.assert_close(
        mixed.inputs, weight * sources + (1 - weight) *
        sources[mixed.partner], rtol=0, atol=1e-5)


def test_saliency_is_the_bound_model_input_gradient_in_eval_mode():
    model = _model()
    bind_puzzlemix_model(model)
    augment = model.data_preprocessor.batch_augments.augments[0]
    inputs = torch.randn(2, 3, SIZE, SIZE)
    scores = torch.eye(NUM_CLASSES)[[0, 1]]
    saliency, pixels = augment.saliency_and_pixels(inputs, scores)
    assert model.training  # restored
    model.eval()
    expected = puzzlemix_saliency(lambda x: model(x, mode='tensor'), inputs,
                                  scores)
    torch.testing.assert_close(saliency, expected)
    std = torch.tensor(STD).view(3, 1, 1)
    mean = torch.tensor(MEAN).view(3, 1, 1)
    torch.testing.assert_close(pixels, (inputs * std + mean) / 255.)
    assert all(param.grad is None for param in model.parameters())


def test_same_seed_gives_the_same_batch():
    model = _model()
    bind_puzzlemix_model(model)
    first, second = _preprocess(model, seed=5), _preprocess(model, seed=5)
    assert torch.equal(first['inputs'], second['inputs'])
    for a, b in zip(first['data_samples'], second['data_samples']):
        assert torch.equal(a.prov_mask, b.prov_mask)


def test_guided_train_step_runs_on_soft_masks():
    torch.manual_seed(0)
    model = _model()
    bind_puzzlemix_model(model)
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = model.backbone.conv1.weight.detach().clone()
    np.random.seed(0)
    log_vars = model.train_step(_data(), wrapper)
    assert {'loss', 'loss_cls', 'loss_pg'} <= set(log_vars)
    assert all(torch.isfinite(value).all() for value in log_vars.values())
    assert not torch.equal(before, model.backbone.conv1.weight)
