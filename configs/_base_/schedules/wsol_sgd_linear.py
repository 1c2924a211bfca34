# Table 8 (CUB, VGG16): SGD lr 1e-2, momentum 0.9, wd 5e-4, 15 epochs,
# linear decay, batch 32.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(
    type='PolyLR', power=1.0, eta_min=0.0, by_epoch=True, begin=0, end=15)
train_cfg = dict(by_epoch=True, max_epochs=15, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
