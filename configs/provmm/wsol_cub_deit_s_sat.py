# Baseline: SAT on DeiT-S for CUB WSOL (Table 1 "SAT"), Table 8's DeiT-S
# recipe: AdamW lr 1e-5, weight decay 5e-3, batch 32, 10 epochs, linear decay.
_base_ = [
    '../_base_/models/deit_s_sat.py',
    '../_base_/datasets/cub_wsol.py',
    '../_base_/schedules/wsol_sgd_linear.py',
    '../_base_/default_runtime.py',
]

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-5, weight_decay=5e-3),
    # As mmpretrain's DeiT configs and the original's timm optimizer: no
    # decay on norms, biases, tokens and position embeddings.
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
