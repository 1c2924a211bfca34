# ResizeMix + provenance gradient guidance (Eq. 9).
_base_ = ['./wsol_cub_vgg16_resizemix.py']

model = dict(
    provenance_loss=dict(
        type='ProvenanceGradientLoss',
        loss_weight=0.05,
        mode='soft',
        mask_mode='provenance',
        target='logit',
    ))
