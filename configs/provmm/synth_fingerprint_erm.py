# Built-in synthesis-fingerprint benchmark: ERM on the real images only.
# Two shape classes on class-free background textures, 32 px, generated
# under data_root on first use (provmm/synthetic/fingerprint_task.py). The
# *_edits configs add one generated edit per train image whose synthesized
# background carries a faint class-specific grating (the fingerprint); real
# images and val/test carry none. No flip: with more than two classes a flip
# turns one class's oblique fingerprint into another class's.
# tools/benchmark_synth_fingerprint.py runs every variant.
_base_ = [
    '../_base_/models/synth_spurious_resnet.py',
    '../_base_/default_runtime.py',
]

# provmm's child registries do not import mmpretrain's engine and
# visualization modules, where default_runtime's VisualizationHook and
# UniversalVisualizer are registered.
custom_imports = dict(
    imports=['provmm', 'mmpretrain.engine', 'mmpretrain.visualization'],
    allow_failed_imports=False)

dataset_type = 'SyntheticFingerprintDataset'
data_root = 'data/synth_fingerprint'
generator = dict(seed=0)  # FingerprintTaskSpec fields; defaults otherwise

data_preprocessor = dict(
    num_classes=2,
    mean=[127.5, 127.5, 127.5],
    std=[63.75, 63.75, 63.75],
    to_rgb=True,
)
# Half the width of the spurious task's ResNet-18 (8-64 channels).
model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    head=dict(num_classes=2, in_channels=64))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadProvenanceMask'),
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

max_epochs = 12
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(
    type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs,
    eta_min=0.0, convert_to_iter_based=True)
# Validate once, at the end: val accuracy selects alpha.
train_cfg = dict(by_epoch=True, max_epochs=max_epochs,
                 val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=max_epochs,
                    max_keep_ckpts=1))
