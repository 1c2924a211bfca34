# Baseline: CAM (no mixing) on the built-in synthetic WSOL benchmark,
# fine-tuning a backbone pre-trained on the synthetic source task, as the
# paper fine-tunes ImageNet backbones on CUB. Make that backbone first:
#   python tools/train.py configs/provmm/synth_wsol_pretrain.py
_base_ = [
    '../_base_/models/synth_wsol_resnet.py',
    '../_base_/datasets/synth_wsol.py',
    '../_base_/schedules/wsol_sgd_linear.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,
            type='SyntheticSourcePretrained',
            # the last checkpoint of synth_wsol_pretrain.py
            checkpoint='work_dirs/synth_wsol_pretrain/epoch_10.pth',
            prefix='backbone.')))

optim_wrapper = dict(optimizer=dict(lr=0.02))
param_scheduler = dict(end=6)
train_cfg = dict(max_epochs=6, val_interval=1)
default_hooks = dict(
    logger=dict(interval=25),  # 25 iterations per epoch: one line each
    checkpoint=dict(interval=1, max_keep_ckpts=1,
                    save_best='wsol/MaxBoxAccV2', rule='greater'))
