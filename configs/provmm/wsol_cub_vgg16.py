# CutMix + provenance gradient guidance (Eq. 9), Table 8: mixing probability
# 1.0, alpha 0.05.
_base_ = ['./wsol_cub_vgg16_cutmix.py']

model = dict(
    provenance_loss=dict(
        type='ProvenanceGradientLoss',
        loss_weight=0.05,
        mode='soft',
        mask_mode='provenance',
        target='logit',
    ))
