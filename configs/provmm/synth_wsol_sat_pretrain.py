# Pre-training of the tiny ViT of synth_wsol_vit_sat.py as a plain ViT (no
# spatial-aware token) on the broad synthetic source task: the synthetic
# benchmark's stand-in for ImageNet DeiT-S weights, run before the SAT
# configs as a step of its own:
#   python tools/train.py configs/provmm/synth_wsol_sat_pretrain.py
# Its last checkpoint, work_dirs/synth_wsol_sat_pretrain/epoch_30.pth, loads
# into SATVisionTransformer, which adds loc_token and loc_embed.
_base_ = ['./synth_wsol_pretrain.py']

model = dict(
    _delete_=True,
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(embed_dims=64, num_layers=4, num_heads=4,
                  feedforward_channels=128),
        img_size=64,
        patch_size=8,
        out_type='featmap',
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=.02),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
        ]),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=12,
        in_channels=64,
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02),
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ),
)

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
        }))
param_scheduler = dict(end=30)
train_cfg = dict(max_epochs=30, val_interval=10)
default_hooks = dict(checkpoint=dict(interval=30, max_keep_ckpts=1))
