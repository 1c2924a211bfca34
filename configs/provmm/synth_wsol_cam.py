# Baseline: CAM (no mixing) on the built-in synthetic WSOL benchmark,
# fine-tuning a backbone pre-trained on the synthetic source task (made on
# first use by configs/provmm/synth_wsol_pretrain.py), as the paper
# fine-tunes ImageNet backbones on CUB.
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
            checkpoint='work_dirs/synth_wsol_pretrain/source_pretrained.pth',
            pretrain_config='configs/provmm/synth_wsol_pretrain.py',
            prefix='backbone.')))

optim_wrapper = dict(optimizer=dict(lr=0.02))
param_scheduler = dict(end=6)
train_cfg = dict(max_epochs=6, val_interval=1)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=1,
                    save_best='wsol/MaxBoxAccV2', rule='greater'))
