# Pre-training on the broad synthetic source task (12 other shapes, random
# textures and hues, no background correlation): the synthetic benchmark's
# stand-in for ImageNet weights, run before fine-tuning as a step of its own:
#   python tools/train.py configs/provmm/synth_wsol_pretrain.py
# Its last checkpoint, work_dirs/synth_wsol_pretrain/epoch_10.pth, is what
# the fine-tuning configs load (`SyntheticSourcePretrained`).
_base_ = [
    '../_base_/models/synth_wsol_resnet.py',
    '../_base_/datasets/synth_wsol.py',
    '../_base_/schedules/wsol_sgd_linear.py',
    '../_base_/default_runtime.py',
]

data_root = 'data/synth_wsol_source'
synth_generator = dict(
    task='source', seed=0, background_bias=None,
    num_per_class=dict(train=200, val=25))
data_preprocessor = dict(num_classes=12)
model = dict(head=dict(num_classes=12))

train_dataloader = dict(
    batch_size=64,
    dataset=dict(data_root=data_root, generator=synth_generator))
val_dataloader = dict(
    dataset=dict(data_root=data_root, generator=synth_generator))
val_evaluator = dict(type='Accuracy', topk=(1, ), _delete_=True)
test_dataloader = dict(
    dataset=dict(data_root=data_root, split='val', generator=synth_generator))
test_evaluator = dict(type='Accuracy', topk=(1, ), _delete_=True)

optim_wrapper = dict(optimizer=dict(lr=0.1))
param_scheduler = dict(end=10)
train_cfg = dict(max_epochs=10, val_interval=5)
default_hooks = dict(
    logger=dict(interval=50),  # >= 38 iterations per epoch: one line each
    checkpoint=dict(interval=10, max_keep_ckpts=1))
randomness = dict(seed=0)
