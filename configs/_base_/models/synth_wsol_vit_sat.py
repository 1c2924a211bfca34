# SAT on a tiny ViT for the 64 px synthetic WSOL benchmark, trained from
# scratch: patch 8 -> an 8x8 map (the ResNet models' CAM size), 4 layers of
# width 64, the spatial-aware token in the last 2.
model = dict(
    type='SATClassifier',
    backbone=dict(
        type='SATVisionTransformer',
        arch=dict(embed_dims=64, num_layers=4, num_heads=4,
                  feedforward_channels=128),
        img_size=64,
        patch_size=8,
        num_spatial_layers=2,
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=.02),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
        ]),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=8,
        in_channels=64,
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02),
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ),
    area_ratio=0.25,
    area_loss_weight=1.0,
    norm_loss_weight=1.0,
)
