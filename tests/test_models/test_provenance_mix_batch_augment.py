"""ProvenanceMixBatchAugment / ProvenanceCutMix / ProvenanceResizeMix equal
mmpretrain's with the same seeds and attach exact provenance."""
import copy
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models.utils.batch_augments import CutMix, ResizeMix
from mmpretrain.structures import DataSample

from provmm.registry import BATCH_AUGMENTS, MODELS

NUM_CLASSES = 5
MEAN, STD = [10., 20., 30.], [50., 60., 70.]
H, W = 24, 20


def _data(labels=(0, 1, 2, 3, 4, 0, 1, 2), seed=0):
    generator = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (3, H, W), generator=generator,
                            dtype=torch.uint8) for _ in labels]
    samples = [DataSample().set_gt_label(label) for label in labels]
    return dict(inputs=inputs, data_samples=samples)


def _ours(augments, probs):
    return MODELS.build(dict(type='ProvenanceMixBatchAugment',
                             num_classes=NUM_CLASSES, mean=MEAN, std=STD,
                             augments=augments, probs=probs))


def _reference(augments, probs):
    return MODELS.build(dict(
        type='ClsDataPreprocessor', num_classes=NUM_CLASSES, mean=MEAN,
        std=STD, batch_augments=dict(augments=augments, probs=probs)))


def _run(preprocessor, seed, data=None):
    np.random.seed(seed)
    torch.manual_seed(seed)
    return preprocessor(data or _data(seed=seed), training=True)


CASES = [
    ([dict(type='ProvenanceCutMix', alpha=1.0)],
     [dict(type='CutMix', alpha=1.0)], [1.0]),
    ([dict(type='ProvenanceResizeMix', alpha=1.0)],
     [dict(type='ResizeMix', alpha=1.0)], [1.0]),
    ([dict(type='ProvenanceCutMix', alpha=1.0),
      dict(type='ProvenanceResizeMix', alpha=1.0, lam_min=0.2)],
     [dict(type='CutMix', alpha=1.0),
      dict(type='ResizeMix', alpha=1.0, lam_min=0.2)], [0.3, 0.4]),
]


@pytest.mark.parametrize('ours_cfg,reference_cfg,probs', CASES)
def test_outputs_equal_cls_data_preprocessor_with_same_seeds(
        ours_cfg, reference_cfg, probs):
    ours = _ours(ours_cfg, probs)
    reference = _reference(reference_cfg, list(probs))
    for seed in range(8):
        out, ref = _run(ours, seed), _run(reference, seed)
        assert torch.equal(out['inputs'], ref['inputs'])
        for sample, ref_sample in zip(out['data_samples'],
                                      ref['data_samples']):
            assert torch.equal(sample.gt_score, ref_sample.gt_score)
            assert torch.equal(sample.gt_label, ref_sample.gt_label)


@pytest.mark.parametrize('augment,reference', [
    (dict(type='ProvenanceCutMix', alpha=0.5), CutMix(alpha=0.5)),
    (dict(type='ProvenanceResizeMix', alpha=1.0), ResizeMix(alpha=1.0)),
])
def test_batch_augments_equal_mmpretrain_call(augment, reference):
    ours = BATCH_AUGMENTS.build(augment)
    inputs = torch.randn(6, 3, H, W)
    scores = F.one_hot(torch.arange(6) % 3, 3)
    for seed in range(4):
        np.random.seed(seed)
        torch.manual_seed(seed)
        expected = reference(inputs.clone(), scores)
        np.random.seed(seed)
        torch.manual_seed(seed)
        got = ours(inputs.clone(), scores)
        assert torch.equal(got[0], expected[0])
        assert torch.equal(got[1], expected[1])


def test_config_probs_are_not_mutated_and_config_builds_twice():
    augments = [dict(type='ProvenanceCutMix', alpha=1.0)]
    probs = [0.5]
    cfg = dict(type='ProvenanceMixBatchAugment', num_classes=NUM_CLASSES,
               augments=augments, probs=probs)
    MODELS.build(copy.deepcopy(cfg))
    MODELS.build(cfg)
    MODELS.build(cfg)
    assert probs == [0.5] and augments == [dict(type='ProvenanceCutMix',
                                                alpha=1.0)]


@pytest.mark.parametrize('augment',
                         ['ProvenanceCutMix', 'ProvenanceResizeMix'])
def test_attached_provenance_is_consistent(augment):
    preprocessor = _ours([dict(type=augment, alpha=1.0)], [1.0])
    for seed in range(6):
        data = _data(seed=seed)
        raw = torch.stack(data['inputs']).float()
        normalized = (raw - torch.tensor(MEAN).view(-1, 1, 1)) / torch.tensor(
            STD).view(-1, 1, 1)
        out = _run(preprocessor, seed, data)
        samples = out['data_samples']
        for i, sample in enumerate(samples):
            partner = sample.mix_partner
            own = int(sample.gt_label)
            assert sample.prov_mask.shape == (H, W)
            assert int(sample.gt_label_b) == int(samples[partner].gt_label)
            assert sample.mix_lam == pytest.approx(
                float(sample.prov_mask.double().mean()), abs=1e-12)
            m = sample.prov_mask
            if partner == i or int(samples[partner].gt_label) == own:
                # Every element carries the own label.
                assert bool((m == 1).all()) and sample.guidance == 'none'
                continue
            assert sample.guidance == 'soft'
            # The own-label weight of the soft label is the area lam.
            assert float(sample.gt_score[own]) == pytest.approx(
                sample.mix_lam, abs=1e-6)
            # Elements with M = 1 are the sample's own normalised pixels.
            assert torch.equal(out['inputs'][i] * m, normalized[i] * m)
            if augment == 'ProvenanceCutMix':
                assert torch.equal(
                    out['inputs'][i],
                    m * normalized[i] + (1 - m) * normalized[partner])


def test_probabilities_below_one_leave_samples_unmixed():
    preprocessor = _ours([dict(type='ProvenanceCutMix', alpha=1.0)], [0.5])
    unmixed_batches = 0
    for seed in range(10):
        out = _run(preprocessor, seed)
        samples = out['data_samples']
        if all(s.mix_partner == i for i, s in enumerate(samples)):
            unmixed_batches += 1
            for sample in samples:
                assert bool((sample.prov_mask == 1).all())
                assert sample.mix_lam == 1.0
                assert torch.equal(sample.gt_score, F.one_hot(
                    sample.gt_label, NUM_CLASSES)[0].float())
    assert 0 < unmixed_batches < 10
    never = _ours([dict(type='ProvenanceCutMix', alpha=1.0)], [0.0])
    out = _run(never, 0)
    assert all(bool((s.prov_mask == 1).all()) for s in out['data_samples'])


def test_pipeline_mask_is_kept_unmixed_and_combined_when_mixed():
    edited = torch.zeros(H, W)
    edited[4:10, 3:9] = 1

    def data_with_mask(seed):
        data = _data(seed=seed)
        data['data_samples'][0].prov_mask = edited.clone()
        return data

    never = _ours([dict(type='ProvenanceCutMix', alpha=1.0)], [0.0])
    out = _run(never, 0, data_with_mask(0))
    assert torch.equal(out['data_samples'][0].prov_mask, edited)

    always = _ours([dict(type='ProvenanceCutMix', alpha=1.0)], [1.0])
    reference = _ours([dict(type='ProvenanceCutMix', alpha=1.0)], [1.0])
    for seed in range(4):
        with_mask = _run(always, seed, data_with_mask(seed))
        plain = _run(reference, seed, _data(seed=seed))
        assert torch.equal(with_mask['data_samples'][0].prov_mask,
                           edited * plain['data_samples'][0].prov_mask)


def test_pipeline_mask_larger_than_the_batch_is_refused():
    data = _data()
    data['data_samples'][2].prov_mask = torch.ones(H + 1, W)
    preprocessor = _ours([dict(type='ProvenanceCutMix', alpha=1.0)], [1.0])
    with pytest.raises(ValueError, match=re.escape(
            f'sample 2 (?): prov_mask ({H + 1}, {W}) is larger than the '
            f'batch input ({H}, {W})')):
        _run(preprocessor, 0, data)


def test_augment_without_provenance_is_refused():
    with pytest.raises(TypeError, match='Mixup has no provenance'):
        _ours([dict(type='Mixup', alpha=1.0)], [1.0])


def test_no_provenance_fields_outside_training():
    preprocessor = _ours([dict(type='ProvenanceCutMix', alpha=1.0)], [1.0])
    out = preprocessor(_data(), training=False)
    assert not any('prov_mask' in s for s in out['data_samples'])


@pytest.mark.parametrize('to_onehot', [False, True])
def test_without_augments_it_is_cls_data_preprocessor(to_onehot):
    cfg = dict(num_classes=NUM_CLASSES, mean=MEAN, std=STD,
               to_onehot=to_onehot, pad_size_divisor=8)
    ours = MODELS.build(dict(cfg, type='ProvenanceMixBatchAugment'))
    reference = MODELS.build(dict(cfg, type='ClsDataPreprocessor'))
    assert ours.to_onehot is to_onehot
    data = _data()
    data['data_samples'][1].prov_mask = torch.zeros(H, W)  # an edited image
    out, ref = _run(ours, 0, data), _run(reference, 0, _data())
    assert torch.equal(out['inputs'], ref['inputs'])
    assert out['inputs'].shape[-2:] == (24, 24)  # padded to a multiple of 8
    for i, (sample, ref_sample) in enumerate(zip(out['data_samples'],
                                                 ref['data_samples'])):
        assert torch.equal(sample.gt_label, ref_sample.gt_label)
        assert ('gt_score' in sample) is to_onehot
        if to_onehot:
            assert torch.equal(sample.gt_score, ref_sample.gt_score)
        assert (sample.mix_partner, sample.mix_lam) == (i, 1.0)
        assert torch.equal(sample.gt_label_b, sample.gt_label)
        expected = torch.ones(24, 24)
        if i == 1:
            expected[:H, :W] = 0  # padded pixels come from no source: 1
        assert torch.equal(sample.prov_mask, expected)
        assert sample.guidance == ('hard' if i == 1 else 'none')


def test_augments_switch_on_onehot_as_mmpretrain_does():
    ours = _ours([dict(type='ProvenanceCutMix', alpha=1.0)], [1.0])
    reference = _reference([dict(type='CutMix', alpha=1.0)], [1.0])
    assert ours.to_onehot is True and reference.to_onehot is True
