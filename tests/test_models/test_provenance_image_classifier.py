"""ProvenanceImageClassifier: separate losses equal the functions called
directly, ViT double backprop, refusal of SyncBN / with_cp / compile, and
the cheaper and self-tuning guidance options."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmpretrain.models import ImageClassifier
from mmpretrain.structures import DataSample

from provmm.ops.detached_batch_norm import detached_batch_statistics
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


@pytest.fixture
def hub(request):
    """A fresh current MessageHub (``iter`` 0); left at ``iter`` 0."""
    message_hub = MessageHub.get_instance(
        f'test_classifier_iter_{request.node.name}')
    yield message_hub
    message_hub.update_info('iter', 0)


def _graph_node_names(tensor):
    names, stack, seen = set(), [tensor.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return names


def test_every_n_iters_makes_the_other_iterations_plain_steps(hub):
    torch.manual_seed(0)
    loss_cfg = dict(type='ProvenanceGradientLoss', loss_weight=0.5,
                    mode='soft', every_n_iters=2,
                    scale_by_interval=True)  # alpha x 2 on guided steps
    model = MODELS.build(_model_cfg(provenance_loss=loss_cfg)).train()
    full = MODELS.build(_model_cfg()).train()
    full.load_state_dict(model.state_dict())
    plain = ImageClassifier(backbone=model.backbone, neck=model.neck,
                            head=model.head).train()
    inputs, samples = _inputs(), _mixed_samples()
    seen = []
    model.provenance_loss.register_forward_pre_hook(
        lambda module, args: seen.append(args[0].requires_grad))

    hub.update_info('iter', 1)
    losses = model.loss(inputs, samples)
    assert seen == [False]
    assert losses['loss_pg'].item() == 0 and not losses[
        'loss_pg'].requires_grad
    torch.testing.assert_close(losses['loss_cls'],
                               plain.loss(inputs, samples)['loss'])
    assert not any('Cheap' in name
                   for name in _graph_node_names(losses['loss_cls']))

    hub.update_info('iter', 2)
    losses = model.loss(inputs, samples)
    assert seen == [False, True]
    torch.testing.assert_close(losses['loss_pg'],
                               2 * full.loss(inputs, samples)['loss_pg'])
    assert any('Cheap' in name
               for name in _graph_node_names(losses['loss_pg']))


def test_detached_bn_statistics_reach_the_guided_forward():
    torch.manual_seed(0)
    loss_cfg = dict(type='ProvenanceGradientLoss', loss_weight=0.5,
                    mode='soft', bn_statistics='detached')
    cheap = MODELS.build(_model_cfg(provenance_loss=loss_cfg)).double()
    pytorch = MODELS.build(dict(_model_cfg(provenance_loss=loss_cfg),
                                cheap_double_backward=False)).double()
    coupled = MODELS.build(_model_cfg()).double()
    for model in (pytorch, coupled):
        model.load_state_dict(cheap.state_dict())
    inputs, samples = _inputs().double(), _mixed_samples()

    plain = ImageClassifier(backbone=cheap.backbone, neck=cheap.neck,
                            head=cheap.head).train()
    probe = copy.deepcopy(plain)  # running statistics stay untouched
    x = inputs.clone().requires_grad_(True)
    with detached_batch_statistics(probe):
        expected_pg = 0.5 * provenance_gradient_loss(
            x, probe(x), torch.stack([s.prov_mask for s in samples]),
            torch.tensor([int(s.gt_label) for s in samples]),
            torch.tensor([int(s.gt_label_b) for s in samples]))
    for model in (cheap, pytorch, coupled):
        model.train()
        model.parse_losses(model.loss(inputs, samples))[0].backward()
    losses = cheap.loss(inputs, samples)
    torch.testing.assert_close(losses['loss_pg'], expected_pg)
    assert not torch.allclose(coupled.loss(inputs, samples)['loss_pg'],
                              expected_pg, rtol=1e-3)
    for (name, got), expected in zip(cheap.named_parameters(),
                                     pytorch.parameters()):
        torch.testing.assert_close(got.grad, expected.grad, rtol=1e-9,
                                   atol=1e-12, msg=name)


def test_detached_bn_statistics_leave_the_classification_gradient_exact():
    # alpha = 0: only loss_cls trains, through the guided forward's batch
    # norms; its gradient must be plain ImageClassifier's.
    torch.manual_seed(0)
    loss_cfg = dict(type='ProvenanceGradientLoss', loss_weight=0.0,
                    mode='soft', bn_statistics='detached')
    model = MODELS.build(_model_cfg(provenance_loss=loss_cfg)).double()
    plain = ImageClassifier(backbone=copy.deepcopy(model.backbone),
                            neck=copy.deepcopy(model.neck),
                            head=copy.deepcopy(model.head)).double().train()
    inputs, samples = _inputs().double(), _mixed_samples()
    model.train()
    model.parse_losses(model.loss(inputs, samples))[0].backward()
    plain.parse_losses(plain.loss(inputs, samples))[0].backward()
    for (name, got), expected in zip(model.named_parameters(),
                                     plain.parameters()):
        torch.testing.assert_close(got.grad, expected.grad, rtol=1e-9,
                                   atol=1e-12, msg=name)


def test_adapted_alpha_is_saved_and_resumed_with_the_model():
    torch.manual_seed(0)
    loss_cfg = dict(type='ProvenanceGradientLoss', loss_weight='auto',
                    mode='soft', target_ratio=0.2)
    model = MODELS.build(_model_cfg(provenance_loss=loss_cfg)).train()
    inputs, samples = _inputs(), _mixed_samples()
    losses = model.loss(inputs, samples)
    torch.testing.assert_close(losses['pg_ratio'], torch.tensor(0.2))
    state = model.state_dict()
    assert state['provenance_loss.alpha_controller.count'] == 1
    resumed = MODELS.build(_model_cfg(provenance_loss=loss_cfg)).train()
    resumed.load_state_dict(state)
    model.load_state_dict(state)  # same running BN statistics as well
    expected, got = model.loss(inputs, samples), resumed.loss(inputs,
                                                              samples)
    assert torch.equal(got['pg_alpha'], expected['pg_alpha'])
    torch.testing.assert_close(got['loss_pg'], expected['loss_pg'])
