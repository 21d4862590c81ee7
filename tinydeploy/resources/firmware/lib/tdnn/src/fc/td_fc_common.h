/* Helpers shared by the fully connected kernels. */
#ifndef TD_FC_COMMON_H
#define TD_FC_COMMON_H

#include "../common/td_internal.h"

static inline td_status td_fc_check(const td_fc_params *params, const td_quant_params *quant,
                                    int32_t in_features, const int8_t *input,
                                    int32_t out_features, const int8_t *output)
{
    if (!params || !quant || !quant->multiplier || !quant->shift || !input || !output ||
        in_features < 1 || out_features < 1 || params->input_offset < -127 ||
        params->input_offset > 128 || params->output_offset < -128 ||
        params->output_offset > 127 || td_internal_check_act(&params->activation) != TD_OK) {
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

#endif /* TD_FC_COMMON_H */
