/* Fully connected, dense [out][in] weights. DSP path: the input (+offset) is widened once
 * into int16 scratch in SXTB16 pair order, then four rows per pass share every input load
 * (SMLAD); remaining rows use the two-row loop with on-the-fly SXTAB16. */
#include "td_fc_common.h"

int32_t td_fc_dense_s8_get_buffer_size(int32_t in_features, int32_t out_features)
{
    (void)out_features;
    return 3 + 2 * TD_ALIGN4(in_features);
}

td_status td_fc_dense_s8(const td_fc_params *params, const td_quant_params *quant,
                         int32_t in_features, const int8_t *input, int32_t out_features,
                         const int8_t *weights, const int32_t *bias, int8_t *output,
                         void *scratch)
{
    const int32_t k = in_features, off = params ? params->input_offset : 0;
    const int32_t ooff = params ? params->output_offset : 0;
    int32_t o = 0;
    if (td_fc_check(params, quant, in_features, input, out_features, output) != TD_OK ||
        !weights || !scratch) {
        return TD_ERR_ARG;
    }
#if defined(__ARM_FEATURE_DSP)
    if (k >= 4 && out_features >= 4) {
        const int32_t groups = k >> 2;
        const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
        int16_t *xs = (int16_t *)td_align_ptr4(scratch);
        int32_t g, r, i;
        for (g = 0; g < groups; g++) {
            const int32_t v = (int32_t)td_read_u32(input + 4 * g);
            td_write_u32(xs + 4 * g, (uint32_t)__sxtab16(off2, v));
            td_write_u32(xs + 4 * g + 2, (uint32_t)td_sxtab16_ror8(off2, v));
        }
        for (; o + 4 <= out_features; o += 4) {
            const int8_t *w0 = weights + o * k;
            int32_t acc[4];
            for (r = 0; r < 4; r++) {
                acc[r] = bias ? bias[o + r] : 0;
            }
            td_dsp_dot_4x1(w0, w0 + k, w0 + 2 * k, w0 + 3 * k, xs, groups, acc);
            for (i = 4 * groups; i < k; i++) {
                const int32_t x = input[i] + off;
                for (r = 0; r < 4; r++) {
                    acc[r] += w0[r * k + i] * x;
                }
            }
            for (r = 0; r < 4; r++) {
                output[o + r] = td_requant_s8(acc[r], quant->multiplier[o + r],
                                              quant->shift[o + r], ooff,
                                              params->activation.min, params->activation.max);
            }
        }
    }
#endif
    for (; o < out_features; o += 2) {
        const int32_t two = (o + 1 < out_features);
        const int8_t *w0 = weights + o * k;
        const int8_t *w1 = two ? w0 + k : w0;
        int32_t a0 = bias ? bias[o] : 0;
        int32_t a1 = bias ? bias[o + two] : 0;
        int32_t i = 0;
#if defined(__ARM_FEATURE_DSP)
        const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
        for (; i + 4 <= k; i += 4) {
            const int32_t xv = (int32_t)td_read_u32(input + i);
            const int32_t x02 = __sxtab16(off2, xv), x13 = td_sxtab16_ror8(off2, xv);
            const int32_t wa = (int32_t)td_read_u32(w0 + i);
            const int32_t wb = (int32_t)td_read_u32(w1 + i);
            a0 = __smlad(__sxtb16(wa), x02, a0);
            a0 = __smlad(td_sxtb16_ror8(wa), x13, a0);
            a1 = __smlad(__sxtb16(wb), x02, a1);
            a1 = __smlad(td_sxtb16_ror8(wb), x13, a1);
        }
#endif
        for (; i < k; i++) {
            const int32_t x = input[i] + off;
            a0 += w0[i] * x;
            a1 += w1[i] * x;
        }
        output[o] = td_requant_s8(a0, quant->multiplier[o], quant->shift[o], ooff,
                                  params->activation.min, params->activation.max);
        if (two) {
            output[o + 1] = td_requant_s8(a1, quant->multiplier[o + 1], quant->shift[o + 1],
                                          ooff, params->activation.min,
                                          params->activation.max);
        }
    }
    return TD_OK;
}
