"""VGG16 CAM network of wsolevaluation (Choe et al., CVPR 2020).

The torchvision VGG16 ``features`` without the last max-pool (stride 16, a
14x14 map at 224 px), then ``conv6`` 3x3 512->1024 + ReLU. GAP and the FC
layer are the neck and head of the classifier, so CAMs come from this
backbone's output and the head's weights.
"""
import torch.nn as nn
from mmengine.model import BaseModule

from provmm.registry import MODELS

# torchvision's VGG16 layer list ('M' = 2x2 max-pool) with pool5 removed.
_VGG16_CAM_LAYERS = (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512,
                     512, 512, 'M', 512, 512, 512)

TORCHVISION_VGG16_URL = (
    'https://download.pytorch.org/models/vgg16-397923af.pth')


@MODELS.register_module()
class VGG16CAM(BaseModule):
    """VGG16 features (pool5 removed) + conv6, output ``(B, 1024, H/16, W/16)``.

    Module names match torchvision's ``vgg16`` (``features.<i>``), so
    ``init_cfg=dict(type='Pretrained', checkpoint=TORCHVISION_VGG16_URL)``
    loads the ImageNet weights into ``features`` (``classifier.*`` is ignored,
    ``conv6`` keeps its He initialisation).

    Args:
        out_channels (int): channels of conv6. Defaults to 1024.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self, out_channels: int = 1024, init_cfg=None):
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer='Conv2d', mode='fan_out',
                     nonlinearity='relu'),
            ]
        super().__init__(init_cfg=init_cfg)
        layers, in_channels = [], 3
        for v in _VGG16_CAM_LAYERS:
            if v == 'M':
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(in_channels, v, 3, padding=1),
                           nn.ReLU(inplace=True)]
                in_channels = v
        self.features = nn.Sequential(*layers)
        self.conv6 = nn.Conv2d(512, out_channels, kernel_size=3, padding=1)
        # Not in-place: the guided step differentiates through this output.
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x):
        return (self.relu(self.conv6(self.features(x))), )
