"""CAM, Grad-CAM and AdvCAM as ``WSOLImageClassifier(localization=...)``."""
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmpretrain.structures import DataSample

from provmm.engine.train_utils import merge_cfg_options
from provmm.models.classifiers import WSOLImageClassifier
from provmm.models.localization import CAM, AdvCAM, GradCAM
from provmm.models.localization.adv_cam import anti_adversarial_step
from provmm.models.localization.grad_cam import grad_cam
from provmm.models.utils.cam import class_activation_map
from provmm.registry import MODELS


class _PooledInput(nn.Module):
    """A hand-built 'backbone': F = 2x2 average pooling of the input; it
    keeps every input it sees."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return (nn.functional.avg_pool2d(x, 2), )


def _pool(x):
    return nn.functional.avg_pool2d(x, 2)


def _model(weight, bias, localization=dict(type='CAM')):
    head = MODELS.build(
        dict(type='LinearClsHead', num_classes=weight.shape[0],
             in_channels=weight.shape[1]))
    with torch.no_grad():
        head.fc.weight.copy_(weight)
        head.fc.bias.copy_(bias)
    return WSOLImageClassifier(
        backbone=_PooledInput(), neck=dict(type='GlobalAveragePooling'),
        head=head, localization=localization).eval()


def _maps(model, x, labels):
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    with torch.no_grad():  # as mmengine's test loop
        return torch.stack([s.cam for s in model.predict(x, samples)])


def _data(seed=0, batch=3, channels=3, classes=4, size=8):
    torch.manual_seed(seed)
    return (torch.randn(classes, channels), torch.randn(classes),
            torch.randn(batch, channels, size, size),
            torch.arange(batch) % classes)


def test_default_localization_is_cam_bit_for_bit():
    weight, bias, x, labels = _data()
    expected = class_activation_map(_pool(x), weight, labels)
    default = WSOLImageClassifier(
        backbone=_PooledInput(), neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=4, in_channels=3))
    default.head.fc.weight.data.copy_(weight)
    assert type(default.localization) is CAM
    assert torch.equal(_maps(default.eval(), x, labels), expected)
    assert torch.equal(_maps(_model(weight, bias), x, labels), expected)


def test_grad_cam_of_a_linear_head_is_relu_of_cam_times_c_over_hw():
    # y = mean_ij(w . F_ij) + b: alpha_c = w[y, c] / (h w), so
    # Grad-CAM = ReLU(sum_c w[y, c] F_c / (h w)) = ReLU(C / (h w) * CAM).
    weight, bias, x, labels = _data()
    maps = _maps(_model(weight, bias, dict(type='GradCAM')), x, labels)
    cam = class_activation_map(_pool(x), weight, labels)
    channels, h, w = 3, 4, 4
    torch.testing.assert_close(maps, (channels / (h * w) * cam).relu())
    assert (cam < 0).any() and (maps == 0).any() and (maps > 0).any()


def test_grad_cam_weights_channels_by_their_mean_gradient():
    feature_map = torch.tensor([[[[1., 2.]], [[3., -1.]]]])  # (1, 2, 1, 2)
    grad = torch.tensor([[[[1., 1.]], [[-4., 0.]]]])  # alpha = (1, -2)
    # 1 * (1, 2) - 2 * (3, -1) = (-5, 4) -> ReLU -> (0, 4)
    assert torch.equal(grad_cam(feature_map, grad),
                       torch.tensor([[[0., 4.]]]))
    with pytest.raises(ValueError, match=r'both be \(B, C, h, w\)'):
        grad_cam(feature_map, grad[:, :1])


def _original_adv_cam(x, weight, label, iterations, step_size, mask_weight,
                      score_threshold):
    """One image through obtain_CAM_masking.py's loop (one scale, no flip),
    its Grad-CAM included (sum-pooled ReLU scores, ``gap2d_pos`` weights,
    ReLU), on F = 2x2 average pooling; returns the sum of provmm's CAM over
    x_0..x_T."""
    img = x[None].clone()
    total, init_cam = 0, None
    for it in range(iterations + 1):
        img.requires_grad = True
        fmaps = _pool(img)
        outputs = torch.einsum('bchw,kc->bkhw', fmaps, weight)
        total = total + class_activation_map(fmaps.detach(), weight,
                                             torch.tensor([label]))
        if it == iterations:
            break
        logits_vec = outputs.relu().sum(dim=(2, 3))  # gsp2d
        (grads, ) = torch.autograd.grad(logits_vec[:, label].sum(), fmaps,
                                        retain_graph=True)
        weights = grads.sum(dim=(2, 3), keepdim=True) / (
            (grads > 0).sum() + 1e-12)  # gap2d_pos
        regions = (fmaps * weights).sum(dim=1).relu()
        if it == 0:
            init_cam = regions.detach()
        logit = outputs.relu().mean(dim=(2, 3))  # gap2d
        logit_loss = -2 * logit[:, label].sum() + logit.sum()
        expanded_mask = torch.zeros(regions.shape)
        expanded_mask[regions / regions.max() > score_threshold] = 1
        l_ad = ((regions - init_cam).abs() * expanded_mask).sum()
        loss = -logit_loss - l_ad * mask_weight
        (data_grad, ) = torch.autograd.grad(loss, img)
        step = img + step_size * data_grad / (data_grad.abs().max() + 1e-12)
        img = torch.clamp(step, img.min().item(), img.max().item()).detach()
    return total[0]


def test_adv_cam_is_the_original_loop_run_per_image():
    weight, bias, x, labels = _data(seed=3, batch=4, channels=6, classes=5)
    options = dict(iterations=6, step_size=0.3, mask_weight=7.0,
                   score_threshold=0.5)
    model = _model(weight, bias, dict(type='AdvCAM', **options))
    maps = _maps(model, x, labels)
    # predict's own forward, then x_0..x_5 climbing, then x_6
    seen = model.backbone.seen
    assert len(seen) == 8 and torch.equal(seen[1], x)
    for i in range(len(x)):
        expected = _original_adv_cam(x[i], weight, int(labels[i]), **options)
        torch.testing.assert_close(maps[i], expected)


def test_adv_cam_raises_the_class_score_along_the_iterations():
    weight, bias, x, labels = _data(seed=3, batch=4, channels=6, classes=5)
    model = _model(weight, bias,
                   dict(type='AdvCAM', iterations=6, mask_weight=0.0))
    maps = _maps(model, x, labels)
    climbed = model.backbone.seen[1:]  # x_0..x_6
    scores = torch.stack([
        model.head(model.neck((_pool(xt), )))[torch.arange(4), labels]
        for xt in climbed
    ])  # (7, B)
    assert (scores[1:] > scores[:-1]).all(), scores
    expected = sum(class_activation_map(_pool(xt), weight, labels)
                   for xt in climbed)
    torch.testing.assert_close(maps, expected)
    for a, b in zip(climbed, climbed[1:]):  # normalised steps of 0.08
        assert torch.isclose((b - a).abs().amax(dim=(1, 2, 3)),
                             torch.tensor(0.08)).any()


def test_adv_cam_regulariser_changes_the_map():
    weight, bias, x, labels = _data(seed=3, batch=4, channels=6, classes=5)
    maps = [
        _maps(
            _model(weight, bias,
                   dict(type='AdvCAM', iterations=6, step_size=0.3,
                        mask_weight=w)), x, labels) for w in (0.0, 7.0)
    ]
    assert not torch.allclose(*maps)


def test_adv_cam_with_zero_iterations_is_cam():
    weight, bias, x, labels = _data()
    cam = _maps(_model(weight, bias), x, labels)
    advcam = _maps(_model(weight, bias, dict(type='AdvCAM', iterations=0)),
                   x, labels)
    assert torch.equal(advcam, cam)


def test_adv_cam_restores_training_mode_and_ignores_the_batch():
    weight, bias, x, labels = _data(seed=1, batch=3)
    model = _model(weight, bias, dict(type='AdvCAM', iterations=2))
    alone = torch.cat([_maps(model, x[i:i + 1], labels[i:i + 1])
                       for i in range(len(x))])
    model.train()
    together = _maps(model, x, labels)
    assert model.training and model.backbone.training
    torch.testing.assert_close(together, alone)


def test_anti_adversarial_step_is_normalised_and_clipped_per_sample():
    x = torch.tensor([[[[0., 1.]]], [[[-2., 2.]]]])  # (2, 1, 1, 2)
    grad = torch.tensor([[[[4., 2.]]], [[[-1., 0.5]]]])
    stepped = anti_adversarial_step(x, grad, 0.5)
    # 0 + 0.5 * 1 = 0.5; 1 + 0.5 * 0.5 = 1.25 -> clipped to max 1;
    # -2 - 0.5 -> clipped to -2; 2 + 0.25 -> clipped to 2
    assert torch.equal(stepped, torch.tensor([[[[0.5, 1.]]], [[[-2., 2.]]]]))


@pytest.mark.parametrize('options, message', [
    (dict(iterations=-1), 'iterations must be an int >= 0'),
    (dict(iterations=2.0), 'iterations must be an int >= 0'),
    (dict(iterations=True), 'iterations must be an int >= 0'),
    (dict(step_size=0), 'step_size must be > 0'),
    (dict(mask_weight=-1.0), 'mask_weight must be >= 0'),
    (dict(score_threshold=1.0), r'score_threshold must be in \[0, 1\)'),
])
def test_adv_cam_refuses_bad_arguments(options, message):
    with pytest.raises(ValueError, match=message):
        AdvCAM(**options)


def test_unknown_or_unfit_localization_is_refused_when_built():
    with pytest.raises(KeyError, match='NoSuchCAM'):
        _model(torch.zeros(2, 3), torch.zeros(2), dict(type='NoSuchCAM'))
    head = dict(type='LinearClsHead', num_classes=2, in_channels=3)
    with pytest.raises(TypeError, match='AdvCAM needs .*GlobalAveragePooling'):
        WSOLImageClassifier(backbone=_PooledInput(), head=head,
                            localization=dict(type='AdvCAM'))
    # Grad-CAM needs only scores: any neck (or none) is accepted
    model = WSOLImageClassifier(backbone=_PooledInput(), head=head,
                                localization=dict(type='GradCAM'))
    assert isinstance(model.localization, GradCAM)


def test_cfg_options_select_the_map_of_a_config():
    cfg = Config.fromfile('configs/provmm/synth_wsol_cutmix.py')
    merge_cfg_options(cfg, {'model.localization.type': 'AdvCAM'})
    model = MODELS.build(cfg.model)
    assert type(model.localization) is AdvCAM
    assert (model.localization.iterations, model.localization.step_size,
            model.localization.mask_weight,
            model.localization.score_threshold) == (27, 0.08, 7.0, 0.5)
