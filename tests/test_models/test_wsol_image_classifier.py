import pytest
import torch
import torch.nn as nn
from mmpretrain.structures import DataSample

from provmm.models.classifiers import WSOLImageClassifier
from provmm.models.utils.cam import class_activation_map
from provmm.registry import MODELS


class _PooledInput(nn.Module):
    """A hand-built 'backbone': F = 2x2 average pooling of the input."""

    def forward(self, x):
        return (nn.functional.avg_pool2d(x, 2), )


def _model(weight, bias):
    head = MODELS.build(
        dict(type='LinearClsHead', num_classes=weight.shape[0],
             in_channels=weight.shape[1]))
    with torch.no_grad():
        head.fc.weight.copy_(weight)
        head.fc.bias.copy_(bias)
    return WSOLImageClassifier(
        backbone=_PooledInput(), neck=dict(type='GlobalAveragePooling'),
        head=head)


def _closed_form_cam(x, weight, label):
    """mean_c w[y, c] * F[c], F the 2x2-pooled input (no ReLU, no bias)."""
    f = x.reshape(x.shape[0], x.shape[1] // 2, 2, x.shape[2] // 2,
                  2).mean(dim=(2, 4))
    return sum(weight[label, c] * f[c] for c in range(f.shape[0])) / f.shape[0]


def test_cam_equals_the_closed_form_for_the_gt_class():
    torch.manual_seed(0)
    weight = torch.randn(4, 3)
    bias = torch.tensor([5.0, -5.0, 0.0, 1.0])  # must not enter the CAM
    model = _model(weight, bias).eval()
    x = torch.randn(2, 3, 8, 6)
    samples = [DataSample().set_gt_label(1), DataSample().set_gt_label(3)]
    results = model.predict(x, samples)
    for i, (sample, label) in enumerate(zip(results, (1, 3))):
        expected = _closed_form_cam(x[i], weight, label)
        assert sample.cam.shape == (4, 3) and sample.cam.dtype == torch.float32
        torch.testing.assert_close(sample.cam, expected)
        assert (sample.cam < 0).any()  # no ReLU
        logits = weight @ x[i].mean(dim=(1, 2)) + bias
        torch.testing.assert_close(sample.pred_score, logits.softmax(0))


def test_cam_uses_the_predicted_class_without_gt_label():
    torch.manual_seed(1)
    weight = torch.randn(3, 3)
    model = _model(weight, torch.zeros(3)).eval()
    x = torch.randn(1, 3, 4, 4)
    (sample, ) = model.predict(x)
    predicted = int((weight @ x[0].mean(dim=(1, 2))).argmax())
    assert sample.pred_label.item() == predicted
    torch.testing.assert_close(sample.cam,
                               _closed_form_cam(x[0], weight, predicted))


def test_class_activation_map_checks_shapes():
    with pytest.raises(ValueError, match=r'fc_weight must be \(num_classes'):
        class_activation_map(torch.zeros(1, 3, 2, 2), torch.zeros(4, 5),
                             torch.zeros(1))
    with pytest.raises(ValueError, match=r'labels must be \(2,\)'):
        class_activation_map(torch.zeros(2, 3, 2, 2), torch.zeros(4, 3),
                             torch.zeros(3))


def test_cam_needs_a_global_average_pooling_neck_when_built():
    with pytest.raises(TypeError, match='CAM needs .*GlobalAveragePooling'):
        WSOLImageClassifier(
            backbone=_PooledInput(),
            head=dict(type='LinearClsHead', num_classes=2, in_channels=3))
