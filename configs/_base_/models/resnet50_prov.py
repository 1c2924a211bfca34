# ResNet-50, ImageNet-pretrained (mmpretrain's weights), GAP + linear head,
# as the image-editing experiments of the paper (Sec. 4.2.3). The classifier
# adds the provenance gradient loss when `provenance_loss` is set (the *_pg
# configs); without it it trains with cross-entropy only. Each experiment
# config sets `head.num_classes`.
model = dict(
    type='ProvenanceImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth',
            prefix='backbone')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=None,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )),
)
