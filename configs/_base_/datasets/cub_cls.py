# CUB-200-2011 classification with ALIA's splits: train = official training
# images minus the last 5 per class (4,994; the 1,000 held out are ALIA's
# real "extra" set); val = test = the official test split (5,794).
# Preprocessing as ALIA: resize to 224x224 (PIL bilinear), no augmentation.
dataset_type = 'CUBClassificationDataset'
data_root = 'data/CUB_200_2011'

data_preprocessor = dict(
    num_classes=200,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadProvenanceMask'),
    dict(type='ProvenanceResize', scale=(224, 224), backend='pillow'),
    dict(type='PackProvenanceInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224), backend='pillow'),
    dict(type='PackProvenanceInputs'),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=4,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        holdout_per_class=5,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=128,
    num_workers=4,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
