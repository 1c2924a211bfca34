# SAT + CutMix + provenance gradient guidance (Eq. 9) on CUB WSOL (Table 1
# "+ Ours"), Table 8 (DeiT-S): mixing probability 0.79, alpha 0.01.
_base_ = ['./wsol_cub_deit_s_sat_cutmix.py']

model = dict(
    provenance_loss=dict(
        type='ProvenanceGradientLoss',
        loss_weight=0.01,
        mode='soft',  # unmixed batches (21 %) get no term
        mask_mode='provenance',
        target='logit',
    ))
