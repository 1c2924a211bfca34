# CUB-200-2011 for WSOL with the wsolevaluation splits (train 5,994 /
# val 1,000 CUBV2 / test 5,794). Images: data/CUB_200_2011/images/<image_id>.
# Train: resize 256 + random crop 224 + flip; test: resize to 224x224, no
# crop, as the reference evaluator expects.
dataset_type = 'CUBWSOLDataset'
data_root = 'data/CUB_200_2011'
metadata_root = 'metadata/wsol/CUB'

data_preprocessor = dict(
    num_classes=200,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256)),
    dict(type='RandomCrop', crop_size=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='PackInputs',
         meta_keys=('sample_idx', 'img_path', 'img_id', 'ori_shape',
                    'img_shape', 'gt_bboxes')),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    dataset=dict(type=dataset_type, data_root=data_root,
                 metadata_root=metadata_root, split='train',
                 pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    dataset=dict(type=dataset_type, data_root=data_root,
                 metadata_root=metadata_root, split='val',
                 pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='WSOLMetric', cam_curve_interval=0.001,
                     iou_thresholds=(30, 50, 70))
test_dataloader = dict(
    batch_size=32,
    num_workers=4,
    dataset=dict(type=dataset_type, data_root=data_root,
                 metadata_root=metadata_root, split='test',
                 pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_evaluator = val_evaluator
