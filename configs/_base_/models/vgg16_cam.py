# The CAM network of wsolevaluation: VGG16 features (pool5 removed) + conv6,
# GAP, FC. ImageNet VGG16 weights (torchvision) load into `features`.
model = dict(
    type='WSOLImageClassifier',
    backbone=dict(
        type='VGG16CAM',
        init_cfg=[
            dict(type='Kaiming', layer='Conv2d', mode='fan_out',
                 nonlinearity='relu'),
            dict(type='Pretrained',
                 checkpoint='https://download.pytorch.org/models/'
                 'vgg16-397923af.pth'),
        ]),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=200,
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0, use_soft=True),
    ),
)
