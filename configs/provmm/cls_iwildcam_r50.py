# iWildCam (ALIA's 7-class subset), ResNet-50, real images only (paper
# Table 3 "Baseline"). Table 8, iWildCam: SGD lr 1e-3, momentum 0.9,
# wd 1e-4, 10 epochs, cosine, batch 128.
_base_ = [
    '../_base_/models/resnet50_prov.py',
    '../_base_/datasets/iwildcam.py',
    '../_base_/schedules/sgd_cosine.py',
    '../_base_/default_runtime.py',
]

model = dict(head=dict(num_classes=7))
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=1e-4))
param_scheduler = dict(end=10)
train_cfg = dict(max_epochs=10)
default_hooks = dict(
    checkpoint=dict(save_best='group_accuracy/top1', rule='greater'))
