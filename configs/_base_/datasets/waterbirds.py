# Waterbirds (waterbird_complete95_forest2water2) with ALIA's splits: train =
# groups 0 and 3 (landbird on land, waterbird on water) of the train split,
# every 4th image (1,139); val = groups 0 and 3 of the val split; test = all.
# Preprocessing as ALIA: resize to 224x224 (PIL bilinear), no augmentation.
# The *_alia configs add the edited images (with their provenance masks) to
# the training split; real images get an all-ones mask.
dataset_type = 'WaterbirdsDataset'
data_root = 'data/waterbird_complete95_forest2water2'

data_preprocessor = dict(
    num_classes=2,
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
        groups=(0, 3),
        keep_every=4,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=128,
    num_workers=4,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        groups=(0, 3),
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='GroupAccuracy')
test_dataloader = dict(
    batch_size=128,
    num_workers=4,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_evaluator = val_evaluator
