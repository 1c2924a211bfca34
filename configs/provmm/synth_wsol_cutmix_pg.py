# CutMix + provenance gradient guidance (Eq. 9) on the synthetic WSOL
# benchmark. alpha is calibrated by the logged pg_ratio = alpha*L_PG/L_cls
# and chosen on the validation split (tools/benchmark_synth_wsol.py).
_base_ = ['./synth_wsol_cutmix.py']

model = dict(
    provenance_loss=dict(
        type='ProvenanceGradientLoss',
        loss_weight=0.3,  # chosen on val by tools/benchmark_synth_wsol.py
        mode='auto',
        mask_mode='provenance',
        target='logit',
        warmup_iters=25,
    ))
