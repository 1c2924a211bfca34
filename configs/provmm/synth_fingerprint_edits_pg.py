# + hard-label provenance gradient guidance (Eq. 10) on the edits: the input
# gradient of the margin z_y - logsumexp(other logits) is penalised on the
# synthesized background, where the fingerprint lies. Real images carry an
# all-ones mask (no penalty). The random / unmasked / shifted-mask controls
# change only `mask_mode` (tools/benchmark_synth_fingerprint.py); alpha is
# chosen on validation accuracy.
_base_ = ['./synth_fingerprint_edits.py']

model = dict(
    provenance_loss=dict(
        type='ProvenanceGradientLoss',
        loss_weight=0.1,
        mode='hard',
        mask_mode='provenance',
        target='margin',
        warmup_iters=26))
