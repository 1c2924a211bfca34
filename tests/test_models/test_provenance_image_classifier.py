"""ProvenanceImageClassifier: separate losses equal the functions called
directly, ViT double backprop, and refusal of SyncBN / with_cp / compile."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper
from mmpretrain.models import ImageClassifier
from mmpretrain.structures import DataSample

from provmm.provenance.gradient_loss import provenance_gradient_loss
from provmm.registry import MODELS

NUM_CLASSES, SIZE = 4, 32


def _model_cfg(backbone=None, provenance_loss='default', head=None,
               neck=dict(type='GlobalAveragePooling')):
    cfg = dict(
        type='ProvenanceImageClassifier',
        backbone=backbone or dict(type='ResNet_CIFAR', depth=18,
                                  base_channels=8, stem_channels=8,
                                  num_stages=2, out_indices=(1, ),
                                  strides=(1, 2), dilations=(1, 1)),
        neck=neck,
        head=head or dict(type='LinearClsHead', num_classes=NUM_CLASSES,
                          in_channels=16,
                          loss=dict(type='CrossEntropyLoss', use_soft=True)))
    if provenance_loss == 'default':
        provenance_loss = dict(type='ProvenanceGradientLoss',
                               loss_weight=0.5, mode='soft')
    if provenance_loss is not None:
        cfg['provenance_loss'] = provenance_loss
    return cfg


def _mixed_samples(batch=4):
    samples = []
    for i in range(batch):
        partner = (i + 1) % batch
        sample = DataSample().set_gt_label(i % NUM_CLASSES)
        lam = 0.75
        sample.set_gt_score(lam * F.one_hot(torch.tensor(i % NUM_CLASSES),
                                            NUM_CLASSES).float() +
                            (1 - lam) * F.one_hot(
                                torch.tensor(partner % NUM_CLASSES),
                                NUM_CLASSES).float())
        mask = torch.ones(SIZE, SIZE)
        mask[:SIZE // 2, :SIZE // 2] = 0
        sample.prov_mask = mask
        sample.mix_partner = partner
        sample.gt_label_b = torch.tensor([partner % NUM_CLASSES])
        sample.guidance = 'soft'
        sample.mix_lam = lam
        samples.append(sample)
    return samples


def _inputs(batch=4):
    return torch.randn(batch, 3, SIZE, SIZE,
                       generator=torch.Generator().manual_seed(0))


def test_separate_losses_equal_head_loss_and_gradient_loss_called_directly():
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg()).train()
    inputs, samples = _inputs(), _mixed_samples()
    losses = model.loss(inputs, samples)

    plain = ImageClassifier(backbone=model.backbone, neck=model.neck,
                            head=model.head).train()
    x = inputs.clone().requires_grad_(True)
    expected_cls = plain.loss(x, samples)['loss']
    logits = plain(x)
    expected_pg = 0.5 * provenance_gradient_loss(
        x, logits, torch.stack([s.prov_mask for s in samples]),
        torch.tensor([int(s.gt_label) for s in samples]),
        torch.tensor([int(s.gt_label_b) for s in samples]))
    torch.testing.assert_close(losses['loss_cls'], expected_cls)
    torch.testing.assert_close(losses['loss_pg'], expected_pg)
    total, log_vars = model.parse_losses(losses)
    torch.testing.assert_close(total, expected_cls + expected_pg)
    assert 'pg_ratio' in log_vars and 'pg_outside_share' in log_vars
    torch.testing.assert_close(log_vars['pg_ratio'],
                               (expected_pg / expected_cls).detach())


def test_without_provenance_loss_it_is_image_classifier():
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(provenance_loss=None)).train()
    plain = ImageClassifier(backbone=model.backbone, neck=model.neck,
                            head=model.head).train()
    inputs, samples = _inputs(), _mixed_samples()
    assert model.loss(inputs, samples).keys() == {'loss'}
    torch.testing.assert_close(model.loss(inputs, samples)['loss'],
                               plain.loss(inputs, samples)['loss'])


def test_predict_is_unchanged():
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg()).eval()
    plain = ImageClassifier(backbone=model.backbone, neck=model.neck,
                            head=model.head).eval()
    inputs = _inputs()
    ours, ref = model.predict(inputs), plain.predict(inputs)
    for a, b in zip(ours, ref):
        assert torch.equal(a.pred_score, b.pred_score)


def test_train_step_updates_weights_with_the_guidance_gradient():
    torch.manual_seed(0)
    cfg = _model_cfg()
    cfg['data_preprocessor'] = dict(
        type='ProvenanceMixBatchAugment', num_classes=NUM_CLASSES,
        augments=[dict(type='ProvenanceCutMix', alpha=1.0)], probs=[1.0])
    model = MODELS.build(cfg).train()
    data = dict(inputs=[torch.randint(0, 256, (3, SIZE, SIZE),
                                      dtype=torch.uint8) for _ in range(4)],
                data_samples=[DataSample().set_gt_label(i) for i in range(4)])
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = model.backbone.conv1.weight.detach().clone()
    log_vars = model.train_step(data, wrapper)
    assert {'loss', 'loss_cls', 'loss_pg', 'pg_ratio'} <= set(log_vars)
    assert all(torch.isfinite(value).all() for value in log_vars.values())
    assert not torch.equal(before, model.backbone.conv1.weight)


def test_vision_transformer_double_backprop_matches_finite_difference():
    torch.manual_seed(0)
    cfg = _model_cfg(
        backbone=dict(type='VisionTransformer', arch='deit-tiny',
                      img_size=SIZE, patch_size=8, drop_rate=0.,
                      drop_path_rate=0.),
        neck=None,
        head=dict(type='VisionTransformerClsHead', num_classes=NUM_CLASSES,
                  in_channels=192,
                  loss=dict(type='CrossEntropyLoss', use_soft=True)),
        provenance_loss=dict(type='ProvenanceGradientLoss', loss_weight=1.0,
                             mode='soft'))
    model = MODELS.build(cfg).train()
    # FP32 on CPU picks the fused flash kernel, which has no double backward.
    losses = model.loss(_inputs(2), _mixed_samples(2))
    model.parse_losses(losses)[0].backward()
    assert model.backbone.patch_embed.projection.weight.grad is not None

    model = model.double()
    inputs, samples = _inputs(2).double(), _mixed_samples(2)
    loss_pg = model.loss(inputs, samples)['loss_pg']
    weight = model.head.layers.head.weight
    (grad, ) = torch.autograd.grad(loss_pg, weight)
    # Directional finite difference of L_PG along a random weight direction.
    direction = torch.randn_like(weight)
    eps = 1e-6
    with torch.no_grad():
        weight += eps * direction
    plus = model.loss(inputs, samples)['loss_pg'].detach()
    with torch.no_grad():
        weight -= 2 * eps * direction
    minus = model.loss(inputs, samples)['loss_pg'].detach()
    numeric = (plus - minus) / (2 * eps)
    torch.testing.assert_close((grad * direction).sum(), numeric, rtol=1e-5,
                               atol=1e-9)


def test_sync_bn_is_refused_with_a_clear_error():
    model = MODELS.build(_model_cfg(backbone=dict(
        type='ResNet_CIFAR', depth=18, base_channels=8, stem_channels=8,
        num_stages=2, out_indices=(1, ), strides=(1, 2), dilations=(1, 1),
        norm_cfg=dict(type='SyncBN')))).train()
    with pytest.raises(RuntimeError, match='SyncBN cannot double-backprop'):
        model.loss(_inputs(), _mixed_samples())


def test_activation_checkpointing_is_refused_with_a_clear_error():
    model = MODELS.build(_model_cfg(backbone=dict(
        type='ResNet_CIFAR', depth=18, base_channels=8, stem_channels=8,
        num_stages=2, out_indices=(1, ), strides=(1, 2), dilations=(1, 1),
        with_cp=True))).train()
    with pytest.raises(RuntimeError, match='with_cp=True'):
        model.loss(_inputs(), _mixed_samples())


def test_compiled_train_step_is_refused_with_a_clear_error():
    model = MODELS.build(_model_cfg()).train()
    # What mmengine's Runner does for cfg.compile (without compiling here).
    model.train_step = lambda *args, **kwargs: None
    with pytest.raises(RuntimeError, match='torch.compile'):
        model.loss(_inputs(), _mixed_samples())


def test_cheap_double_backward_gives_pytorch_gradients():
    torch.manual_seed(0)
    cheap = MODELS.build(_model_cfg()).double().train()
    pytorch = MODELS.build(dict(_model_cfg(), cheap_double_backward=False))
    pytorch.load_state_dict(cheap.state_dict())
    pytorch.double().train()
    inputs, samples = _inputs().double(), _mixed_samples()
    for model in (cheap, pytorch):
        model.parse_losses(model.loss(inputs, samples))[0].backward()
    for (name, got), expected in zip(cheap.named_parameters(),
                                     pytorch.parameters()):
        torch.testing.assert_close(got.grad, expected.grad, rtol=1e-9,
                                   atol=1e-12, msg=name)
