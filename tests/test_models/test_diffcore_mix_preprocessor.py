import numpy as np
import pytest
import torch
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.structures import DataSample

from provmm.registry import MODELS

MEAN, STD = [100., 110., 120.], [50., 60., 70.]
B, H, W = 6, 8, 8


def _preprocessor(**diffcore):
    return MODELS.build(dict(
        type='DiffCoReMixPreprocessor', num_classes=3, mean=MEAN, std=STD,
        to_rgb=True,
        diffcore_mix=dict(type='DiffCoReMix', patch_size=4, **diffcore)))


def _batch(without_counterpart=(1, )):
    """uint8 real images, generated ones (>= 200, real ones < 100)."""
    gen = torch.Generator().manual_seed(0)
    real = torch.randint(0, 100, (B, 3, H, W), generator=gen,
                         dtype=torch.uint8)
    generated = torch.randint(200, 256, (B, 3, H, W), generator=gen,
                              dtype=torch.uint8)
    samples = []
    for i in range(B):
        sample = DataSample().set_gt_label(i % 3)
        if i not in without_counterpart:
            sample.set_field(generated[i], 'gen_img')
        samples.append(sample)
    return dict(inputs=list(real), data_samples=samples), real, generated


def _normalize(images):
    images = images.float().flip(1)  # BGR -> RGB
    return (images - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(
        STD).view(1, 3, 1, 1)


def test_patch_mixes_carry_their_exact_real_pixel_mask():
    data, real, generated = _batch()
    np.random.seed(0)
    out = _preprocessor(pixel_prob=0.)(data, training=True)
    samples = out['data_samples']
    masks = torch.stack([s.prov_mask for s in samples])
    assert masks.shape == (B, H, W)
    # M * I + (1 - M) * G, exactly
    raw = torch.where(masks.unsqueeze(1).bool(), real, generated)
    assert torch.allclose(out['inputs'], _normalize(raw))
    assert torch.equal(masks[1], torch.ones(H, W))  # no counterpart: real
    assert [s.gen_mix for s in samples] == ['patch', 'none'] + ['patch'] * 4
    assert all(s.real_share == 0.5 for i, s in enumerate(samples) if i != 1)
    # labels unchanged, never mixed across samples
    assert [int(s.gt_label) for s in samples] == [i % 3 for i in range(B)]
    assert [s.mix_partner for s in samples] == list(range(B))
    assert all(s.mix_lam == 1. for s in samples)
    assert torch.equal(torch.stack([s.gt_score for s in samples]),
                       torch.eye(3)[[i % 3 for i in range(B)]])
    assert not any('gen_img' in s for s in samples)


def test_pixel_mixes_blend_and_carry_no_provenance():
    data, real, generated = _batch(without_counterpart=())
    np.random.seed(1)
    out = _preprocessor(pixel_prob=1.)(data, training=True)
    samples = out['data_samples']
    lam = torch.tensor([s.real_share for s in samples]).view(B, 1, 1, 1)
    assert torch.allclose(out['inputs'],
                          _normalize(lam * real + (1 - lam) * generated),
                          atol=1e-5)
    assert all(torch.equal(s.prov_mask, torch.ones(H, W)) for s in samples)
    assert {s.gen_mix for s in samples} == {'pixel'}


def test_hard_label_loss_penalises_gradients_on_generated_patches_only():
    """Linear model: grad_x f_y = W_y, so L_PG = mean ||(1 - M) W_y||^2."""
    data, _, _ = _batch()
    np.random.seed(2)
    out = _preprocessor(pixel_prob=0.5)(data, training=True)
    samples = out['data_samples']
    assert {s.gen_mix for s in samples} == {'pixel', 'patch', 'none'}
    weight = torch.randn(3, 3 * H * W, dtype=torch.float64)
    inputs = out['inputs'].double().requires_grad_(True)
    logits = inputs.flatten(1) @ weight.T
    loss = MODELS.build(dict(type='ProvenanceGradientLoss', loss_weight=1.,
                             mode='hard'))
    value = loss(inputs, logits, samples)['loss_pg']
    expected = np.mean([
        float((((1 - s.prov_mask.double()) * weight[int(s.gt_label)].view(
            3, H, W))**2).sum()) for s in samples])
    assert value.item() == pytest.approx(expected, rel=1e-6)
    assert expected > 0


def test_without_training_nothing_is_mixed():
    data, real, _ = _batch()
    reference = ClsDataPreprocessor(mean=MEAN, std=STD, to_rgb=True)
    expected = reference(dict(inputs=list(real)), training=False)['inputs']
    out = _preprocessor()(data, training=False)
    assert torch.equal(out['inputs'], expected)
    assert not any('gen_img' in s or 'prov_mask' in s
                   for s in out['data_samples'])


def test_cross_sample_cutmix_multiplies_the_diffcore_mask():
    def run(augments):
        data, _, _ = _batch()
        np.random.seed(3)
        torch.manual_seed(3)
        pre = MODELS.build(dict(
            type='DiffCoReMixPreprocessor', num_classes=3, mean=MEAN,
            std=STD, augments=augments,
            diffcore_mix=dict(type='DiffCoReMix', patch_size=4,
                              pixel_prob=0.)))
        return pre, pre(data, training=True)['data_samples']

    _, alone = run(None)
    pre, mixed = run([dict(type='ProvenanceCutMix', alpha=1.)])
    cut = pre.batch_augments.last_mix
    assert any(int(cut.partner[i]) % 3 != i % 3 for i in range(B))
    for i, sample in enumerate(mixed):
        partner = int(cut.partner[i])
        box = cut.mask[i] if partner % 3 != i % 3 else torch.ones(H, W)
        assert torch.equal(sample.prov_mask, alone[i].prov_mask * box)


def test_counterpart_of_another_size_is_refused():
    data, _, _ = _batch()
    data['data_samples'][0].gen_img = torch.zeros(3, H, W + 1,
                                                  dtype=torch.uint8)
    with pytest.raises(ValueError, match=r'sample 0 .*gen_img has shape '
                       r'\(3, 8, 9\)'):
        _preprocessor()(data, training=True)


def test_pipeline_to_guided_loss_end_to_end(tmp_path):
    """LoadGeneratedCounterpart -> PackInputs -> preprocessor -> L_PG."""
    import csv

    import cv2
    from mmengine.dataset import pseudo_collate

    from provmm.registry import TRANSFORMS
    rng = np.random.default_rng(0)
    rows = [['original', 'generated', 'label']]
    for i in range(4):
        for name in (f'real/{i}.png', f'gen/{i}.png'):
            (tmp_path / name).parent.mkdir(exist_ok=True)
            cv2.imwrite(str(tmp_path / name),
                        rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
        rows.append([f'real/{i}.png', f'gen/{i}.png', i % 2])
    with open(tmp_path / 'kept.csv', 'w', newline='') as f:
        csv.writer(f).writerows(rows)
    pipeline = [TRANSFORMS.build(t) for t in [
        dict(type='LoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=32),
        dict(type='LoadGeneratedCounterpart',
             manifest=str(tmp_path / 'kept.csv')),
        dict(type='PackInputs', algorithm_keys=('gen_img', ))]]
    items = []
    for i in range(4):
        results = dict(img_path=str(tmp_path / f'real/{i}.png'),
                       gt_label=i % 2)
        for transform in pipeline:
            results = transform(results)
        items.append(results)
    model = MODELS.build(dict(
        type='ProvenanceImageClassifier',
        backbone=dict(type='ResNet', depth=18),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=2, in_channels=512,
                  loss=dict(type='CrossEntropyLoss', use_soft=True)),
        provenance_loss=dict(type='ProvenanceGradientLoss', mode='hard',
                             loss_weight=1.),
        data_preprocessor=dict(
            type='DiffCoReMixPreprocessor', num_classes=2, mean=MEAN,
            std=STD, to_rgb=True,
            diffcore_mix=dict(type='DiffCoReMix', pixel_prob=0.,
                              patch_size=8))))
    np.random.seed(4)
    data = model.data_preprocessor(pseudo_collate(items), training=True)
    assert all(s.gen_mix == 'patch' for s in data['data_samples'])
    losses = model.loss(data['inputs'], data['data_samples'])
    assert torch.isfinite(losses['loss_cls']) and losses['loss_pg'] > 0
    sum(v for k, v in losses.items() if 'loss' in k).backward()
