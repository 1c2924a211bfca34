# The built-in spurious-correlation benchmark, generated
# under data_root on first use: two shape classes on two background places;
# in train 95 % of each class lie on "its" place, val and test are balanced
# over the four (class, place) groups. 64 px images, random horizontal flip.
# The *_edits configs add imitated generative background edits of 5 % of
# the train images (train only) with their provenance masks; real images get
# an all-ones mask (no penalty).
dataset_type = 'SyntheticSpuriousDataset'
data_root = 'data/synth_spurious'
generator = dict(seed=0)  # SyntheticSpuriousSpec fields; defaults otherwise

data_preprocessor = dict(
    num_classes=2,
    mean=[127.5, 127.5, 127.5],
    std=[63.75, 63.75, 63.75],
    to_rgb=True,
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadProvenanceMask'),
    dict(type='ProvenanceRandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackProvenanceInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackProvenanceInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 generator=generator, pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=256,
    num_workers=0,
    dataset=dict(type=dataset_type, data_root=data_root, split='val',
                 generator=generator, pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='GroupAccuracy')
test_dataloader = dict(
    batch_size=256,
    num_workers=0,
    dataset=dict(type=dataset_type, data_root=data_root, split='test',
                 generator=generator, pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_evaluator = val_evaluator
