"""``ConvPoolClsHead`` (SAT's 3x3 conv + average head): its logits in closed
form, its CAM, the 1x1 = GAP + linear identity, SAT with it (tiny ViT guided
step on CPU, the CUB DeiT-S config) and the maps that refuse it."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

from provmm.models.classifiers import WSOLImageClassifier
from provmm.models.heads import ConvPoolClsHead
from provmm.models.localization.grad_cam import grad_cam
from provmm.models.utils.cam import class_activation_map
from provmm.registry import MODELS


class _PooledInput(nn.Module):
    """A hand-built 'backbone': F = 2x2 average pooling of the input."""

    def forward(self, x):
        return (F.avg_pool2d(x, 2), )


def _head(num_classes=4, in_channels=3, kernel_size=3):
    return MODELS.build(dict(type='ConvPoolClsHead', num_classes=num_classes,
                             in_channels=in_channels,
                             kernel_size=kernel_size))


def _wsol(head, localization=dict(type='CAM'), neck=None):
    return WSOLImageClassifier(backbone=_PooledInput(), neck=neck, head=head,
                               localization=localization).eval()


def _maps(model, x, labels):
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    with torch.no_grad():  # as mmengine's test loop
        return torch.stack([s.cam for s in model.predict(x, samples)])


def test_logits_of_a_hand_made_map_are_the_padded_conv_mean():
    head = _head(num_classes=1, in_channels=1)
    with torch.no_grad():
        head.conv.weight.fill_(1.0)
        head.conv.bias.fill_(0.5)
    # On a 3x3 map of ones a 3x3 box sums the cells inside the grid:
    # corners 4, edges 6, centre 9 -> mean (4*4 + 4*6 + 9) / 9, plus bias.
    logits = head((torch.ones(1, 1, 3, 3), ))
    assert logits.shape == (1, 1)
    torch.testing.assert_close(logits, torch.tensor([[49 / 9 + 0.5]]))


def test_logits_are_the_mean_over_positions_of_conv2d():
    torch.manual_seed(0)
    head = _head(num_classes=5, in_channels=6)
    feat = torch.randn(2, 6, 7, 7)
    other = torch.randn(2, 3, 7, 7)  # earlier stages are ignored
    expected = F.conv2d(feat, head.conv.weight, head.conv.bias,
                        padding=1).mean(dim=(2, 3))
    torch.testing.assert_close(head((other, feat)), expected)
    assert head.pre_logits((other, feat)) is feat  # as LinearClsHead


def test_a_1x1_kernel_is_gap_plus_linear_with_the_same_weights():
    torch.manual_seed(0)
    conv = _head(num_classes=4, in_channels=6, kernel_size=1)
    linear = MODELS.build(dict(type='LinearClsHead', num_classes=4,
                               in_channels=6))
    with torch.no_grad():
        linear.fc.weight.copy_(conv.conv.weight[:, :, 0, 0])
        linear.fc.bias.copy_(conv.conv.bias)
    feat = torch.randn(3, 6, 5, 5)
    torch.testing.assert_close(conv((feat, )),
                               linear((feat.mean(dim=(2, 3)), )))


def test_init_is_pytorch_default_conv_init_as_the_original():
    torch.manual_seed(3)
    reference = nn.Conv2d(8, 5, 3, padding=1)
    torch.manual_seed(3)
    head = _head(num_classes=5, in_channels=8)
    head.init_weights()
    assert head.init_cfg is None
    torch.testing.assert_close(head.conv.weight, reference.weight)
    torch.testing.assert_close(head.conv.bias, reference.bias)


def test_the_head_refuses_a_pooled_vector_and_an_even_kernel():
    with pytest.raises(ValueError, match='ConvPoolClsHead needs .*neck=None'):
        _head()((torch.randn(2, 3), ))
    with pytest.raises(ValueError, match='kernel_size must be a positive odd'):
        _head(kernel_size=2)


def test_cam_of_the_head_is_the_conv_output_of_the_class():
    torch.manual_seed(0)
    head = _head(num_classes=4, in_channels=3)
    model = _wsol(head)
    x, labels = torch.randn(3, 3, 8, 8), torch.tensor([2, 0, 3])
    scores = F.conv2d(F.avg_pool2d(x, 2), head.conv.weight, head.conv.bias,
                      padding=1)
    # Like CAM of a linear head: at feature resolution, no ReLU, no
    # normalisation (that is the metric's).
    expected = scores[torch.arange(3), labels]
    maps = _maps(model, x, labels)
    assert maps.shape == (3, 4, 4) and maps.dtype == torch.float32
    torch.testing.assert_close(maps, expected)
    # The maps average to the logits of their class.
    logits = model(x, mode='tensor')
    torch.testing.assert_close(maps.mean(dim=(1, 2)),
                               logits[torch.arange(3), labels])


def test_cam_of_a_1x1_head_is_c_times_linear_cam_plus_bias():
    torch.manual_seed(0)
    head = _head(num_classes=4, in_channels=3, kernel_size=1)
    x, labels = torch.randn(2, 3, 8, 8), torch.tensor([1, 3])
    weight = head.conv.weight[:, :, 0, 0].detach()
    expected = (3 * class_activation_map(F.avg_pool2d(x, 2), weight, labels)
                + head.conv.bias.detach()[labels, None, None])
    torch.testing.assert_close(_maps(_wsol(head), x, labels), expected)


def test_grad_cam_runs_on_the_conv_head():
    torch.manual_seed(0)
    head = _head(num_classes=4, in_channels=3)
    x, labels = torch.randn(2, 3, 8, 8), torch.tensor([1, 2])
    feat = F.avg_pool2d(x, 2).requires_grad_(True)
    scores = head((feat, ))
    (grad, ) = torch.autograd.grad(scores[[0, 1], labels].sum(), feat)
    torch.testing.assert_close(
        _maps(_wsol(head, dict(type='GradCAM')), x, labels),
        grad_cam(feat.detach(), grad))


def test_unsupported_combinations_are_refused_with_the_head_named():
    with pytest.raises(TypeError, match='AdvCAM does not support '
                       'ConvPoolClsHead.*CAM or GradCAM'):
        _wsol(_head(), dict(type='AdvCAM'))
    with pytest.raises(TypeError, match='CAM with ConvPoolClsHead needs '
                       'neck=None'):
        _wsol(_head(), neck=dict(type='GlobalAveragePooling'))
    # An unfit head names both options of CAM.
    with pytest.raises(TypeError, match='or neck=None with ConvPoolClsHead'):
        _wsol(dict(type='LinearClsHead', num_classes=4, in_channels=3))


def _tiny_sat_cfg(**kwargs):
    cfg = Config.fromfile('configs/_base_/models/synth_wsol_vit_sat.py').model
    cfg.neck = None
    cfg.head = dict(type='ConvPoolClsHead', num_classes=8, in_channels=64,
                    loss=dict(type='CrossEntropyLoss', use_soft=True))
    cfg.data_preprocessor = dict(
        type='ProvenanceMixBatchAugment', num_classes=8,
        augments=[dict(type='ProvenanceCutMix', alpha=1.0)], probs=[1.0])
    cfg.update(kwargs)
    return cfg


def test_sat_with_the_conv_head_in_every_forward_mode():
    torch.manual_seed(0)
    model = MODELS.build(_tiny_sat_cfg()).eval()
    assert model.neck is None and isinstance(model.head, ConvPoolClsHead)
    x = torch.randn(2, 3, 64, 64)
    samples = [DataSample().set_gt_label(i).set_gt_score(
        F.one_hot(torch.tensor(i), 8).float()) for i in (1, 5)]
    with torch.no_grad():
        logits = model(x, mode='tensor')
        losses = model(x, samples, mode='loss')
        results = model(x, samples, mode='predict')
        loc_map = model.backbone(x)[0]
    assert logits.shape == (2, 8)
    assert set(losses) == {'loss_cls', 'loss_area', 'loss_norm'}
    assert all(torch.isfinite(v) for v in losses.values())
    # SAT's own map does not depend on the head.
    torch.testing.assert_close(torch.stack([r.cam for r in results]),
                               loc_map[:, 0])
    assert results[0].pred_score.shape == (8, )


def test_guided_train_step_of_tiny_sat_with_the_conv_head_on_cpu():
    torch.manual_seed(0)
    model = MODELS.build(_tiny_sat_cfg(provenance_loss=dict(
        type='ProvenanceGradientLoss', loss_weight=0.5, mode='soft')))
    model.init_weights()
    model.train()
    data = dict(inputs=[torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
                        for _ in range(4)],
                data_samples=[DataSample().set_gt_label(i) for i in range(4)])
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    conv = model.head.conv.weight.detach().clone()
    log_vars = model.train_step(data, wrapper)
    assert {'loss', 'loss_cls', 'loss_pg', 'loss_area',
            'loss_norm'} <= set(log_vars)
    assert all(torch.isfinite(value).all() for value in log_vars.values())
    assert log_vars['loss_pg'] > 0
    assert not torch.equal(conv, model.head.conv.weight)


def test_cub_deit_s_config_uses_the_conv_head_and_gives_200_logits():
    cfg = Config.fromfile('configs/provmm/wsol_cub_deit_s_sat.py')
    assert cfg.model.neck is None
    assert (cfg.model.head.type, cfg.model.head.kernel_size) == (
        'ConvPoolClsHead', 3)
    cfg.model.backbone.init_cfg = None  # offline: no checkpoint download
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 224, 224), mode='tensor')
    assert logits.shape == (2, 200)
    assert torch.isfinite(logits).all()
