# A small CIFAR-style ResNet-18 for the 64 px synthetic WSOL benchmark:
# widths 8/16/32 (fast enough for guided training on 2 CPU cores), three
# stages of stride 2 -> an 8x8 CAM (1/8 of the image side, finer than
# VGG16-CAM's 14x14 at 224), GAP, linear head.
model = dict(
    type='WSOLImageClassifier',
    backbone=dict(
        type='ResNet_CIFAR',
        depth=18,
        stem_channels=8,
        base_channels=8,
        num_stages=3,
        strides=(2, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        # PyTorch's default conv init: at this width mmpretrain's default
        # (Kaiming fan_out, zero-init residuals) left the source task at
        # chance for several epochs (11 % vs 54 % top-1 after 3 epochs).
        zero_init_residual=False,
        init_cfg=dict(type='Kaiming', layer='Conv2d', a=2.23606797749979,
                      mode='fan_in', nonlinearity='leaky_relu',
                      distribution='uniform'),
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=8,
        in_channels=32,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ),
)
