# SKP + Skeleton BatchMix + provenance gradient guidance (L = L_cls +
# alpha * L_PG; Table 8: alpha = 0.01).
_base_ = ['./stal_ucf101_24_skp_batchmix.py']

model = dict(
    provenance_loss=dict(
        type='ProvenanceGradientLoss',
        loss_weight=0.01,
        mode='auto',
        mask_mode='provenance',
        target='logit'))
