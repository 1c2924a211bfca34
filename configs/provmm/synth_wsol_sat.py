# Baseline: SAT (no mixing) on the built-in synthetic WSOL benchmark,
# fine-tuning a tiny ViT pre-trained as a plain ViT on the synthetic source
# task, as the paper fine-tunes ImageNet DeiT-S on CUB. Make it first:
#   python tools/train.py configs/provmm/synth_wsol_sat_pretrain.py
_base_ = [
    '../_base_/models/synth_wsol_vit_sat.py',
    '../_base_/datasets/synth_wsol.py',
    '../_base_/schedules/wsol_sgd_linear.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,
            type='SyntheticSourcePretrained',
            checkpoint='work_dirs/synth_wsol_sat_pretrain/epoch_30.pth',
            prefix='backbone.',
            pretrain_config='configs/provmm/synth_wsol_sat_pretrain.py')))

# Table 8's DeiT-S recipe (AdamW, linear decay, 10 epochs) at a learning
# rate for this small model.
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, weight_decay=5e-3),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
            '.loc_token': dict(decay_mult=0.0),
            '.loc_embed': dict(decay_mult=0.0),
        }))
param_scheduler = dict(end=10)
train_cfg = dict(max_epochs=10, val_interval=1)
default_hooks = dict(
    logger=dict(interval=25),  # 25 iterations per epoch: one line each
    checkpoint=dict(interval=1, max_keep_ckpts=1,
                    save_best='wsol/MaxBoxAccV2', rule='greater'))
