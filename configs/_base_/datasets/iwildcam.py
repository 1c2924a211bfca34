# iWildCam (WILDS v2.0) in ALIA's 7-class subset ("iWildCamMini"): the csv
# files data/iwildcam_v2.0/{train,val,test}_subset.csv of lisadunlap/ALIA,
# copied into data_root; images in data_root/train/. Groups = camera traps.
# Preprocessing as ALIA: resize to 448x448, crop rows 10..409 (400x448),
# resize to 224x224, no augmentation (ALIA feeds [0, 1] pixels without
# normalisation here; the ImageNet mean/std below suit the pretrained
# weights).
dataset_type = 'IWildCamDataset'
data_root = 'data/iwildcam_v2.0'
alia_subset = dict(
    label_values=(0, 24, 32, 36, 48, 49, 52),
    classes=('background', 'cattle', 'elephants', 'impalas', 'zebras',
             'giraffes', 'dik-diks'),
    split=None,  # the subset files keep WILDS' split column: read them whole
)

data_preprocessor = dict(
    num_classes=7,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadProvenanceMask'),
    dict(type='ProvenanceResize', scale=(448, 448), backend='pillow'),
    dict(type='ProvenanceFixedCrop', top=10, left=0, height=400, width=448),
    dict(type='ProvenanceResize', scale=(224, 224), backend='pillow'),
    dict(type='PackProvenanceInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(448, 448), backend='pillow'),
    dict(type='ProvenanceFixedCrop', top=10, left=0, height=400, width=448),
    dict(type='Resize', scale=(224, 224), backend='pillow'),
    dict(type='PackProvenanceInputs'),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=4,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='train_subset.csv',
        pipeline=train_pipeline,
        **alia_subset),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=128,
    num_workers=4,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='val_subset.csv',
        pipeline=test_pipeline,
        **alia_subset),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='GroupAccuracy')
test_dataloader = dict(
    batch_size=128,
    num_workers=4,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='test_subset.csv',
        pipeline=test_pipeline,
        **alia_subset),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_evaluator = val_evaluator
