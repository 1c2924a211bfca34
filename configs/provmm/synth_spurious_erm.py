# Built-in spurious-correlation benchmark: ERM on the real images only
# (the lower baseline). A narrow ResNet-18 from scratch,
# SGD + cosine, 15 epochs of 1,000 images of 64 px (under a minute on one
# CPU core). tools/benchmark_synth_spurious.py runs every variant.
_base_ = [
    '../_base_/datasets/synth_spurious.py',
    '../_base_/models/synth_spurious_resnet.py',
    '../_base_/default_runtime.py',
]

# provmm's child registries do not import mmpretrain's engine and
# visualization modules, where default_runtime's VisualizationHook and
# UniversalVisualizer are registered.
custom_imports = dict(
    imports=['provmm', 'mmpretrain.engine', 'mmpretrain.visualization'],
    allow_failed_imports=False)

max_epochs = 15
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(
    type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs,
    eta_min=0.0, convert_to_iter_based=True)
# Validate once, at the end: val worst-group accuracy selects alpha.
train_cfg = dict(by_epoch=True, max_epochs=max_epochs,
                 val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),  # <= 17 iters: 1 line/epoch
    checkpoint=dict(type='CheckpointHook', interval=max_epochs,
                    max_keep_ckpts=1))
