# PuzzleMix + provenance gradient guidance (Eq. 9 with a soft mask M).
_base_ = ['./wsol_cub_vgg16_puzzlemix.py']

model = dict(
    provenance_loss=dict(
        type='ProvenanceGradientLoss',
        loss_weight=0.05,
        mode='soft',
        mask_mode='provenance',
        target='logit',
    ))
