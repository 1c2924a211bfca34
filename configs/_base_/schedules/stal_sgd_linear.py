# Table 8 (UCF101-24, SKP): SGD lr 7.5e-3, momentum 0.9, weight decay
# 2.5e-5, batch 30, 40 epochs, linear decay.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=7.5e-3, momentum=0.9, weight_decay=2.5e-5))
param_scheduler = dict(
    type='PolyLR', power=1.0, eta_min=0.0, by_epoch=True, begin=0, end=40)
train_cfg = dict(by_epoch=True, max_epochs=40)
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=30)
