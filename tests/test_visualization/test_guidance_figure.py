"""The guidance figure's parts: guided backprop, Grad-CAM, the training
images with their provenance, the panel layout and the drawn grid."""
import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.registry import init_default_scope
from mmpretrain.structures import DataSample

from provmm.registry import MODELS
from provmm.visualization.guidance_figure import (CELL_PX, PAD_PX, PANEL_PX,
                                                  TITLE_PX, GuidanceSample,
                                                  attribution_maps,
                                                  draw_guidance_figure,
                                                  figure_size, guidance_rows,
                                                  guided_relus, panel_titles,
                                                  training_samples)


def relu_net(inplace):
    """x (2) -> W1 (3x2) -> ReLU -> W2 (2x3) -> ReLU -> w3 (1x2), no bias."""
    net = nn.Sequential(nn.Linear(2, 3, bias=False), nn.ReLU(inplace),
                        nn.Linear(3, 2, bias=False), nn.ReLU(inplace),
                        nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1., 0.], [0., 1.], [1., -2.]]))
        net[2].weight.copy_(torch.tensor([[2., -1., 1.], [1., 3., 0.]]))
        net[4].weight.copy_(torch.tensor([[1., -1.]]))
    return net


def input_gradient(net, x):
    x = x.clone().requires_grad_(True)
    out = net(x)
    out.sum().backward()
    return out.detach(), x.grad


@pytest.mark.parametrize('inplace', [False, True])
def test_guided_backprop_of_a_relu_net_equals_the_hand_computation(inplace):
    # x = (1, 1): h1 = relu(1, 1, -1) = (1, 1, 0); h2 = relu(1, 4); y = -3.
    # plain:  g2 = (1, -1); g1 = W2^T g2 * [h1 > 0] = (1, -4, 0);
    #         dy/dx = W1^T g1 = (1, -4).
    # guided: g2 = max(w3, 0) * [h2 > 0] = (1, 0);
    #         g1 = max(W2^T g2, 0) * [h1 > 0] = max((2, -1, 1), 0) * (1, 1, 0)
    #            = (2, 0, 0); dy/dx = W1^T g1 = (2, 0).
    net, x = relu_net(inplace), torch.tensor([[1., 1.]])
    with guided_relus(net):
        out, guided = input_gradient(net, x)
    assert out.item() == -3.0  # the forward pass is unchanged
    assert guided.tolist() == [[2.0, 0.0]]
    out, plain = input_gradient(net, x)  # hooks removed after the block
    assert out.item() == -3.0 and plain.tolist() == [[1.0, -4.0]]
    assert all(isinstance(m, (nn.Linear, nn.ReLU)) for m in net)


def test_guided_backprop_refuses_a_model_without_relu_modules():
    with pytest.raises(TypeError, match='nn.ReLU'):
        with guided_relus(nn.Linear(2, 1)):
            pass


@pytest.fixture(scope='module')
def classifier():
    """A tiny mmpretrain classifier: ResNet_CIFAR, GAP, linear head."""
    init_default_scope('provmm')
    torch.manual_seed(0)
    model = MODELS.build(
        dict(type='ProvenanceImageClassifier',
             backbone=dict(type='ResNet_CIFAR', depth=18, stem_channels=4,
                           base_channels=4, num_stages=2, strides=(1, 2),
                           dilations=(1, 1), out_indices=(1, )),
             neck=dict(type='GlobalAveragePooling'),
             head=dict(type='LinearClsHead', num_classes=3, in_channels=8),
             data_preprocessor=dict(
                 type='ProvenanceMixBatchAugment', num_classes=3,
                 mean=[127.5] * 3, std=[64.0] * 3, to_rgb=True,
                 augments=[dict(type='ProvenanceCutMix', alpha=1.0)])))
    return model.eval()


def test_grad_cam_of_gap_and_linear_head_is_relu_of_cam(classifier):
    # GAP + linear: alpha_c = w[y, c] / (h * w), so Grad-CAM is
    # relu(sum_c w[y, c] F_c) / (h * w) before upsampling.
    inputs, labels = torch.randn(2, 3, 16, 16), torch.tensor([2, 0])
    maps = attribution_maps(classifier, inputs, labels)
    with torch.no_grad():
        feature = classifier.extract_feat(inputs, stage='backbone')[-1]
        weight = classifier.head.fc.weight[labels]
        cam = torch.einsum('bc,bchw->bhw', weight, feature).relu() / 64
        expected = torch.nn.functional.interpolate(
            cam[:, None], size=(16, 16), mode='bilinear',
            align_corners=False)[:, 0]
    torch.testing.assert_close(maps['grad_cam'], expected)
    torch.testing.assert_close(maps['guided_grad_cam'],
                               maps['guided_backprop'] *
                               maps['grad_cam'][:, None])
    # the maps of a batch are those of each image alone (eval mode)
    alone = attribution_maps(classifier, inputs[1:], labels[1:])
    for key in maps:
        torch.testing.assert_close(maps[key][1:], alone[key])
    # the input gradient is the one of the class score
    x = inputs.clone().requires_grad_(True)
    classifier(x, mode='tensor').gather(1, labels[:, None]).sum().backward()
    torch.testing.assert_close(maps['input_grad'], x.grad)


def test_unknown_target_layer_is_named(classifier):
    with pytest.raises(ValueError, match="'backbone.nope' is not a module"):
        attribution_maps(classifier, torch.randn(1, 3, 16, 16),
                         torch.tensor([0]), 'backbone.nope')


class TinyDataset:
    """Pipeline outputs of ``num`` random 16 px images, label i % 3 (fresh
    data samples at every access, as a real dataset's pipeline gives)."""

    def __init__(self, num):
        self.images = np.random.default_rng(0).integers(
            0, 256, (num, 3, 16, 16), dtype=np.uint8)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return dict(inputs=torch.from_numpy(self.images[i]),
                    data_samples=DataSample().set_gt_label(i % 3))


def test_training_samples_are_mixes_with_their_provenance(classifier):
    samples = training_samples(TinyDataset(16), 4,
                               classifier.data_preprocessor, num_images=3,
                               seed=0)
    assert len(samples) == 3
    for sample in samples:
        assert sample.guidance == 'soft' and sample.label_b != sample.label_a
        assert sample.inputs.shape == (3, 16, 16)
        assert sample.image.shape == (16, 16, 3)
        assert sample.image.dtype == np.uint8
        assert sample.mask.shape == (16, 16)
        assert set(sample.mask.unique().tolist()) == {0.0, 1.0}
        assert sample.lam == pytest.approx(float(sample.mask.mean()))
    # one image per batch (CutMix draws one box per batch): three boxes
    assert len({tuple(s.mask.flatten().tolist()) for s in samples}) == 3
    again = training_samples(TinyDataset(16), 4,
                             classifier.data_preprocessor, num_images=3,
                             seed=0)
    for one, two in zip(samples, again):
        assert torch.equal(one.inputs, two.inputs)  # seeded


def test_unmixed_batches_get_the_fields_of_an_unmixed_batch():
    init_default_scope('provmm')
    plain = MODELS.build(dict(type='mmpretrain.ClsDataPreprocessor',
                              mean=[0.] * 3, std=[1.] * 3))
    samples = training_samples(TinyDataset(4), 4, plain, num_images=2)
    assert [s.guidance for s in samples] == ['none', 'none']
    assert all(bool((s.mask == 1).all()) and s.label_b is None
               for s in samples)
    # mean 0, std 1 and to_rgb=False: the display image is the BGR input
    # turned to RGB
    assert np.array_equal(
        samples[0].image,
        samples[0].inputs.flip(0).permute(1, 2, 0).byte().numpy())


def test_panel_titles_of_a_mix_an_edit_and_an_unmixed_image():
    assert panel_titles('soft', ['plain', 'guided']) == [
        'mixed image', 'provenance M (1 = A)',
        'plain: Guided Grad-CAM A', 'plain: Guided Grad-CAM B',
        'plain: |input grad| A', 'plain: |input grad| B',
        'guided: Guided Grad-CAM A', 'guided: Guided Grad-CAM B',
        'guided: |input grad| A', 'guided: |input grad| B']
    assert panel_titles('hard', ['plain']) == [
        'edited image', 'edit mask M (1 = kept)',
        'plain: Guided Grad-CAM A', 'plain: no class B (edit)',
        'plain: |input grad| A', 'plain: no class B (edit)']
    assert panel_titles('none', ['m'])[:2] == ['unmixed image',
                                              'M = 1 (nothing to guide)']
    with pytest.raises(ValueError, match='guidance'):
        panel_titles('mixed', ['m'])


def panel_pixels(png, row, col):
    """The drawn area of one panel (its frame left out)."""
    top = row * CELL_PX[1] + TITLE_PX + PAD_PX // 2
    left = col * CELL_PX[0] + PAD_PX // 2
    return png[top + 3:top + PANEL_PX - 3, left + 3:left + PANEL_PX - 3]


def test_figure_draws_b_panels_blank_for_an_edit(classifier, tmp_path):
    mask = torch.ones(16, 16)
    mask[:8] = 0
    torch.manual_seed(1)
    edit = GuidanceSample(inputs=torch.randn(3, 16, 16),
                          image=np.zeros((16, 16, 3), np.uint8), mask=mask,
                          guidance='hard', label_a=1, label_b=None, lam=1.0)
    mix = GuidanceSample(inputs=torch.randn(3, 16, 16),
                         image=np.zeros((16, 16, 3), np.uint8),
                         mask=1 - mask, guidance='soft', label_a=0,
                         label_b=2, lam=0.5)
    models = {'plain': classifier, 'guided': classifier}
    rows = guidance_rows([mix, edit], models)
    assert rows[1]['maps']['guided', 'input_grad', 'B'] is None
    assert rows[1]['outside']['plain', 'guided_grad_cam', 'B'] is None
    share = rows[0]['outside']['plain', 'input_grad', 'A']
    grad = attribution_maps(classifier, mix.inputs[None],
                            torch.tensor([0]))['input_grad'][0]
    energy = grad.pow(2).sum(0)
    assert share == pytest.approx(float(energy[8:].sum() / energy.sum()),
                                  rel=1e-5)  # mix's region A is rows < 8

    out = str(tmp_path / 'grid.png')
    draw_guidance_figure(rows, list(models), out, ['a', 'b', 'c'])
    png = cv2.imread(out)
    assert png.shape[1::-1] == figure_size(2, 10)
    titles = panel_titles('hard', list(models))
    for col, title in enumerate(titles):
        area = panel_pixels(png, 1, col)
        blank = bool((area == 255).all())
        assert blank == ('no class B' in title), (col, title)
    assert not (panel_pixels(png, 0, 3) == 255).all()  # the mix has a B
