# SAT (Wu et al., ICCV 2023) on mmpretrain's DeiT-S: the spatial-aware token
# in the last 3 of 12 layers gives a 14x14 map at 224 px; the original's head
# on the patch tokens: a 3x3 convolution to the classes, then the mean over
# positions (ConvPoolClsHead, PyTorch's default conv init as the original;
# no neck, the head needs the map). ImageNet DeiT-S weights (mmpretrain's
# deit-small_4xb256_in1k) load into the backbone; loc_token and loc_embed
# are the only parameters they lack.
model = dict(
    type='SATClassifier',
    backbone=dict(
        type='SATVisionTransformer',
        arch='deit-small',
        img_size=224,
        patch_size=16,
        num_spatial_layers=3,
        drop_path_rate=0.1,  # the original's --drop_path
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'deit/deit-small_pt-4xb256_in1k_20220218-9425b9bb.pth',
            prefix='backbone.')),
    neck=None,
    head=dict(
        type='ConvPoolClsHead',
        num_classes=200,
        in_channels=384,
        kernel_size=3,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0, use_soft=True),
    ),
    area_ratio=0.25,  # --area_thr
    area_loss_weight=1.0,
    norm_loss_weight=1.0,
)
