# SGD, momentum 0.9, cosine decay per epoch to 0, batch 128 (Table 8, image
# editing on CUB / iWildCam / Waterbirds). Experiment configs set the
# learning rate, weight decay and number of epochs of their column.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(
    type='CosineAnnealingLR', by_epoch=True, begin=0, end=20, eta_min=0.0)
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)
