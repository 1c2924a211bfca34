# CUB-200-2011 classification, ResNet-50, real images only (paper Table 3
# "Baseline"). Table 8, CUB (ResNet-50): SGD lr 1e-3, momentum 0.9, wd 1e-5,
# 20 epochs, cosine, batch 128.
_base_ = [
    '../_base_/models/resnet50_prov.py',
    '../_base_/datasets/cub_cls.py',
    '../_base_/schedules/sgd_cosine.py',
    '../_base_/default_runtime.py',
]

model = dict(head=dict(num_classes=200))
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=1e-5))
param_scheduler = dict(end=20)
train_cfg = dict(max_epochs=20)
default_hooks = dict(
    checkpoint=dict(save_best='accuracy/top1', rule='greater'))
