/* td_fc_internal.h - the fully connected kernel variants behind the public entry points
 * (td_fc_dense_s8.c, td_fc_csr_s8.c, td_fc_nm_s8.c) and the helpers they share; not part of
 * the public API. Helium (MVE) variants return 0 when they decline a call (the wrapper then
 * runs the next one) and use only the scratch the public *_get_buffer_size gives. */
#ifndef TD_FC_INTERNAL_H
#define TD_FC_INTERNAL_H

#include "../common/td_internal.h"

static inline td_status td_fc_check(const td_fc_params *params, const td_quant_params *quant,
                                    int32_t in_features, const int8_t *input, int32_t out_features,
                                    const int8_t *output)
{
    if (!params || !quant || !quant->multiplier || !quant->shift || !input || !output ||
        in_features < 1 || out_features < 1 || params->input_offset < -127 ||
        params->input_offset > 128 || params->output_offset < -128 || params->output_offset > 127 ||
        td_internal_check_act(&params->activation) != TD_OK) {
        return TD_ERR_ARG;
    }
    return TD_OK;
}

/* x + input_offset as int16, `padded_len - n` trailing zeros. */
static inline void td_fc_widen(const int8_t *x, int32_t n, int32_t padded_len, int32_t offset,
                               int16_t *dst)
{
    int32_t i = 0;
#if defined(__ARM_FEATURE_DSP)
    const int32_t off2 = (int32_t)(((uint32_t)offset & 0xFFFFu) | ((uint32_t)offset << 16));
    for (; i + 4 <= n; i += 4) {
        const int32_t v = (int32_t)td_read_u32(x + i);
        const uint32_t e02 = (uint32_t)__sxtab16(off2, v);
        const uint32_t e13 = (uint32_t)td_sxtab16_ror8(off2, v);
        td_write_u32(dst + i, (e02 & 0xFFFFu) | (e13 << 16));          /* PKHBT */
        td_write_u32(dst + i + 2, (e02 >> 16) | (e13 & 0xFFFF0000u)); /* PKHTB */
    }
#endif
    for (; i < n; i++) {
        dst[i] = (int16_t)(x[i] + offset);
    }
    for (; i < padded_len; i++) {
        dst[i] = 0;
    }
}

#if defined(__ARM_FEATURE_DSP)
/* The first 4 * groups inputs plus `offset` as int16 in SXTB16 pair order (x0, x2, x1, x3
 * per group of 4), the layout the SMLAD kernels read. */
static inline void td_fc_widen_pairs(const int8_t *x, int32_t groups, int32_t offset, int16_t *dst)
{
    const int32_t off2 = td_pack_s16x2(offset, offset);
    int32_t g;
    for (g = 0; g < groups; g++) {
        td_widen4_s8(x + 4 * g, offset, off2, dst + 4 * g);
    }
}
#endif

/* ---- dense (td_fc_dense_s8.c dispatches, in this order) ---- */

/* Helium: 3 rows per pass, VMLADAVA.S8 + VADDVA.S8 (td_fc_dense_s8_mve.c); any shape. */
#if defined(__ARM_FEATURE_MVE)
int32_t td_fc_dense_s8_mve(const td_fc_params *params, const td_quant_params *quant,
                           int32_t in_features, const int8_t *input, int32_t out_features,
                           const int8_t *weights, const int32_t *bias, int8_t *output);
#endif

/* DSP (Thumb-2), K % 4 == 0, word-aligned weights, >= 2 rows: two rows per pass, LDM asm
 * (td_fc_dense_s8_ldm.c). Not compiled elsewhere (td_fc_dense_s8_ldm_applies is then 0). */
#if defined(__ARM_FEATURE_DSP) && defined(__thumb2__)
#define TD_FC_DENSE_LDM 1
int32_t td_fc_dense_s8_ldm_get_buffer_size(int32_t in_features);
void td_fc_dense_s8_ldm(const td_fc_params *params, const td_quant_params *quant,
                        int32_t in_features, const int8_t *input, int32_t out_features,
                        const int8_t *weights, const int32_t *bias, int8_t *output, void *scratch);
#endif
static inline int32_t td_fc_dense_s8_ldm_applies(int32_t in_features, int32_t out_features,
                                                 const int8_t *weights)
{
#if defined(TD_FC_DENSE_LDM)
    return (in_features & 3) == 0 && ((uintptr_t)weights & 3) == 0 && out_features >= 2;
#else
    (void)in_features;
    (void)out_features;
    (void)weights;
    return 0;
#endif
}

/* Any shape (td_fc_dense_s8_generic.c): DSP cores 4 rows per pass sharing the widened
 * input, then 2 rows per pass; other cores 2 rows per pass. */
int32_t td_fc_dense_s8_generic_get_buffer_size(int32_t in_features);
void td_fc_dense_s8_generic(const td_fc_params *params, const td_quant_params *quant,
                            int32_t in_features, const int8_t *input, int32_t out_features,
                            const int8_t *weights, const int32_t *bias, int8_t *output,
                            void *scratch);

/* ---- CSR and N:M: Helium variants (td_fc_csr_s8_mve.c, td_fc_nm_s8_mve.c); the portable
 * and DSP code is in td_fc_csr_s8.c / td_fc_nm_s8.c ---- */
#if defined(__ARM_FEATURE_MVE)
/* Declines K > 65536 with delta-coded columns. */
int32_t td_fc_csr_s8_mve(const td_fc_params *params, const td_quant_params *quant,
                         const int8_t *input, int32_t out_features, const td_csr_weights *w,
                         const int32_t *bias, int8_t *output);
/* Declines more than 65535 slots or inputs, or a table that does not fit the scratch. */
int32_t td_fc_nm_s8_mve(const td_fc_params *params, const td_quant_params *quant,
                        int32_t in_features, const int8_t *input, int32_t out_features,
                        const td_nm_weights *w, int32_t bits, int32_t groups, const int32_t *bias,
                        int8_t *output, void *scratch);
#endif

#endif /* TD_FC_INTERNAL_H */
