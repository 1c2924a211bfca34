"""SAT (spatial-aware token): the backbone's tokens and map, DeiT-S
state-dict compatibility, SAT's losses in closed form, a guided CutMix train
step of a tiny ViT on CPU and the map that ``predict`` attaches."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.structures import DataSample

from provmm.models.backbones import SATVisionTransformer
from provmm.models.backbones.sat_vision_transformer import \
    spatial_query_attention
from provmm.models.classifiers.sat_classifier import (
    sat_batch_area_loss, sat_normalization_loss, sat_smoothing_kernel)
from provmm.registry import MODELS

NUM_CLASSES, SIZE, PATCH = 4, 16, 4
TINY = dict(embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64)


def _backbone(**kwargs):
    return dict(type='SATVisionTransformer', arch=TINY, img_size=SIZE,
                patch_size=PATCH, num_spatial_layers=2, **kwargs)


def _model_cfg(provenance_loss=None, **kwargs):
    cfg = dict(
        type='SATClassifier',
        backbone=_backbone(),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=NUM_CLASSES,
                  in_channels=32,
                  loss=dict(type='CrossEntropyLoss', use_soft=True)),
        data_preprocessor=dict(
            type='ProvenanceMixBatchAugment', num_classes=NUM_CLASSES,
            augments=[dict(type='ProvenanceCutMix', alpha=1.0)],
            probs=[1.0]),
        **kwargs)
    if provenance_loss is not None:
        cfg['provenance_loss'] = provenance_loss
    return cfg


def _images(batch=4):
    return torch.randn(batch, 3, SIZE, SIZE,
                       generator=torch.Generator().manual_seed(0))


def test_backbone_returns_the_map_first_then_patch_feature_maps():
    torch.manual_seed(0)
    backbone = MODELS.build(_backbone(out_indices=(1, 2)))
    loc_map, *featmaps = backbone(_images(2))
    assert loc_map.shape == (2, 1, SIZE // PATCH, SIZE // PATCH)
    assert [f.shape for f in featmaps] == [(2, 32, 4, 4)] * 2


def test_map_is_the_layer_mean_of_sigmoid_probabilities_in_0_1():
    torch.manual_seed(0)
    backbone = MODELS.build(_backbone())
    with torch.no_grad():
        backbone.loc_token.mul_(40)  # saturate the sigmoid if it could
        loc_map = backbone(_images(3) * 50)[0]
    assert loc_map.min() > 0 and loc_map.max() < 1


def test_spatial_query_attention_is_mmpretrain_attention_times_the_mask():
    torch.manual_seed(0)
    attn = SATVisionTransformer(arch=TINY, img_size=SIZE,
                                patch_size=PATCH).layers[0].attn.eval()
    x = torch.randn(2, 5, 32)
    out, mask = spatial_query_attention(attn, x)
    B, N = 2, 5
    q, k, v = attn.qkv(x).reshape(B, N, 3, 2, 16).permute(2, 0, 3, 1, 4)
    logits = q @ k.transpose(-2, -1) / 4.0
    expected_mask = torch.sigmoid(logits[:, :, -1].mean(1))
    weights = logits.softmax(-1) * expected_mask[:, None, None]
    expected = attn.proj((weights @ v).transpose(1, 2).reshape(B, N, 32))
    torch.testing.assert_close(mask, expected_mask)
    torch.testing.assert_close(out, expected)
    # A mask of ones would give mmpretrain's own attention.
    plain = attn.proj((logits.softmax(-1) @ v).transpose(1, 2).reshape(
        B, N, 32))
    torch.testing.assert_close(plain, attn(x))


def test_deit_small_state_dict_loads_with_only_the_sat_keys_missing():
    deit = VisionTransformer(arch='deit-small', img_size=32, patch_size=16,
                             out_type='featmap')
    sat = SATVisionTransformer(arch='deit-small', img_size=32,
                               patch_size=16)
    assert set(deit.state_dict()) <= set(sat.state_dict())
    result = sat.load_state_dict(deit.state_dict(), strict=False)
    assert sorted(result.missing_keys) == ['loc_embed', 'loc_token']
    assert result.unexpected_keys == []
    torch.testing.assert_close(sat.layers[11].attn.qkv.weight,
                               deit.layers[11].attn.qkv.weight)


def test_smoothing_kernel_is_the_original_get_kernel():
    # get_kernel(kernlen=3, nsig=6) of Model/SAT.py (numpy + scipy).
    corner, edge, centre = 0.0026284619, 0.0460116034, 0.8054397389
    expected = torch.tensor([[corner, edge, corner], [edge, centre, edge],
                             [corner, edge, corner]])
    torch.testing.assert_close(sat_smoothing_kernel(), expected,
                               rtol=0, atol=1e-9)


def test_sat_losses_on_a_hand_made_map_equal_their_closed_form():
    # Map 1: constant 0.5 on a 4x4 grid; map 2: zero.
    loc_map = torch.stack([torch.full((1, 4, 4), 0.5), torch.zeros(1, 4, 4)])
    # Batch area: |mean(0.5, 0) - 0.25| = 0.
    assert sat_batch_area_loss(loc_map, 0.25).item() == 0.0
    assert math.isclose(sat_batch_area_loss(loc_map, 0.4).item(), 0.15,
                        rel_tol=1e-6)
    # With a box kernel of 1/9 and zero padding, the smoothed constant map is
    # 0.5 * (cells of the 3x3 window inside the grid) / 9: 4 corners see 4,
    # 8 edges 6, 4 inner cells 9.
    box = torch.full((3, 3), 1 / 9)
    values = [0.5 * 4 / 9] * 4 + [0.5 * 6 / 9] * 8 + [0.5] * 4
    per_cell = sum(s * (1 - s) for s in values) / 16
    expected = (per_cell + 0.0) / 2
    assert math.isclose(sat_normalization_loss(loc_map, box).item(),
                        expected, rel_tol=1e-6)
    # Identity kernel: S = M, so mean M (1 - M) = (0.25 + 0) / 2.
    identity = torch.zeros(3, 3)
    identity[1, 1] = 1
    assert math.isclose(sat_normalization_loss(loc_map, identity).item(),
                        0.125, rel_tol=1e-6)


def test_guided_cutmix_train_step_of_a_tiny_vit_on_cpu():
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(provenance_loss=dict(
        type='ProvenanceGradientLoss', loss_weight=0.5, mode='soft'))).train()
    data = dict(inputs=[torch.randint(0, 256, (3, SIZE, SIZE),
                                      dtype=torch.uint8) for _ in range(4)],
                data_samples=[DataSample().set_gt_label(i) for i in range(4)])
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    loc_token = model.backbone.loc_token.detach().clone()
    log_vars = model.train_step(data, wrapper)
    assert {'loss', 'loss_cls', 'loss_pg', 'loss_area', 'loss_norm',
            'pg_ratio'} <= set(log_vars)
    assert all(torch.isfinite(value).all() for value in log_vars.values())
    assert log_vars['loss_pg'] > 0
    assert not torch.equal(loc_token, model.backbone.loc_token)


def test_sat_losses_are_computed_on_the_map_of_the_same_forward():
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(area_ratio=0.1, area_loss_weight=2.0,
                                    norm_loss_weight=3.0)).eval()
    inputs = _images(2)
    samples = [DataSample().set_gt_label(i).set_gt_score(
        F.one_hot(torch.tensor(i), NUM_CLASSES).float()) for i in range(2)]
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_cls', 'loss_area', 'loss_norm'}
    loc_map = model.backbone(inputs)[0]
    torch.testing.assert_close(
        losses['loss_area'], 2.0 * (loc_map.mean() - 0.1).abs())
    torch.testing.assert_close(
        losses['loss_norm'],
        3.0 * sat_normalization_loss(loc_map, sat_smoothing_kernel()))
    smooth = F.conv2d(loc_map, sat_smoothing_kernel()[None, None], padding=1)
    torch.testing.assert_close(losses['loss_norm'],
                               3.0 * (smooth * (1 - smooth)).mean())


def test_predict_attaches_the_sat_map_at_patch_resolution():
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg()).eval()
    inputs = _images(2)
    with torch.no_grad():
        results = model.predict(inputs, [DataSample().set_gt_label(1),
                                         DataSample().set_gt_label(3)])
        loc_map = model.backbone(inputs)[0]
    assert [r.cam.shape for r in results] == [(4, 4)] * 2
    assert all(r.cam.dtype == torch.float32 for r in results)
    torch.testing.assert_close(torch.stack([r.cam for r in results]),
                               loc_map[:, 0])
    assert results[0].pred_score.shape == (NUM_CLASSES, )


@pytest.mark.parametrize('method', ['CAM', 'GradCAM'])
def test_maps_of_the_last_feature_map_are_still_available(method):
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(localization=dict(type=method))).eval()
    inputs = _images(2)
    with torch.no_grad():
        results = model.predict(inputs, [DataSample().set_gt_label(1),
                                         DataSample().set_gt_label(3)])
        featmap = model.backbone(inputs)[-1]
    weight = model.head.fc.weight
    cam = (weight[1][:, None, None] * featmap[0]).mean(0)
    # Grad-CAM of a GAP + linear head is ReLU(C / (h w) * CAM).
    expected = cam if method == 'CAM' else torch.relu(32 / 16 * cam)
    torch.testing.assert_close(results[0].cam, expected)


def test_cub_deit_s_config_builds_sat_with_a_14x14_map():
    from mmengine.config import Config
    cfg = Config.fromfile('configs/provmm/wsol_cub_deit_s_sat_cutmix_pg.py')
    assert cfg.model.backbone.arch == 'deit-small'
    assert cfg.data_preprocessor.probs == [0.79]
    assert cfg.model.provenance_loss.loss_weight == 0.01
    cfg.model.backbone.init_cfg = None  # offline: no checkpoint download
    cfg.model.data_preprocessor = cfg.data_preprocessor
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        results = model.predict(torch.randn(1, 3, 224, 224),
                                [DataSample().set_gt_label(5)])
    assert results[0].cam.shape == (14, 14)
    assert results[0].pred_score.shape == (200, )
