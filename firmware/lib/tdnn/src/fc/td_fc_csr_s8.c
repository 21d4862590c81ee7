/* Fully connected, CSR weights. The input offset is folded into the bias with the
 * generator's row sums (acc = bias + input_offset * row_sum + sum v * x), so the int8 input
 * is read as it is: no widened copy, no scratch. Inner loop: load column, load input, load
 * value, multiply-accumulate, unrolled by 8. */
#include "td_fc_common.h"

int32_t td_fc_csr_s8_get_buffer_size(int32_t in_features, const td_csr_weights *weights)
{
    (void)in_features;
    (void)weights;
    return 0;
}

/* Sum of v[e] * x[col[e]] over n entries (COL = uint8_t or uint16_t). DSP: four values per
 * (unaligned) word load, split by SXTB16 and multiplied by SMLABB / SMLATB. */
#if defined(__ARM_FEATURE_DSP)
#define TD_CSR_DOT8(c, v, x, acc)                                                            \
    do {                                                                                     \
        const int32_t wa = (int32_t)td_read_u32(v), wb = (int32_t)td_read_u32((v) + 4);     \
        const int32_t a02 = __sxtb16(wa), a13 = td_sxtb16_ror8(wa);                          \
        const int32_t b02 = __sxtb16(wb), b13 = td_sxtb16_ror8(wb);                          \
        acc = __smlabb(a02, x[c[0]], acc);                                                   \
        acc = __smlabb(a13, x[c[1]], acc);                                                   \
        acc = __smlatb(a02, x[c[2]], acc);                                                   \
        acc = __smlatb(a13, x[c[3]], acc);                                                   \
        acc = __smlabb(b02, x[c[4]], acc);                                                   \
        acc = __smlabb(b13, x[c[5]], acc);                                                   \
        acc = __smlatb(b02, x[c[6]], acc);                                                   \
        acc = __smlatb(b13, x[c[7]], acc);                                                   \
    } while (0)
#else
#define TD_CSR_DOT8(c, v, x, acc)                                                            \
    do {                                                                                     \
        int32_t e_;                                                                          \
        for (e_ = 0; e_ < 8; e_++) {                                                         \
            acc += (v)[e_] * x[c[e_]];                                                       \
        }                                                                                    \
    } while (0)
#endif
#define TD_CSR_DOT(COL)                                                                      \
    static inline int32_t dot_##COL(const int8_t *x, const COL *c, const int8_t *v,          \
                                    int32_t n, int32_t acc)                                  \
    {                                                                                        \
        for (; n >= 8; n -= 8, c += 8, v += 8) {                                             \
            TD_CSR_DOT8(c, v, x, acc);                                                       \
        }                                                                                    \
        if (n >= 4) {                                                                        \
            acc += v[0] * x[c[0]] + v[1] * x[c[1]] + v[2] * x[c[2]] + v[3] * x[c[3]];        \
            n -= 4;                                                                          \
            c += 4;                                                                          \
            v += 4;                                                                          \
        }                                                                                    \
        for (; n > 0; n--) {                                                                 \
            acc += *v++ * x[*c++];                                                           \
        }                                                                                    \
        return acc;                                                                          \
    }
TD_CSR_DOT(uint8_t)
TD_CSR_DOT(uint16_t)

td_status td_fc_csr_s8(const td_fc_params *params, const td_quant_params *quant,
                       int32_t in_features, const int8_t *input, int32_t out_features,
                       const td_csr_weights *weights, const int32_t *bias, int8_t *output,
                       void *scratch)
{
    int32_t o;
    (void)scratch;
    if (td_fc_check(params, quant, in_features, input, out_features, output) != TD_OK ||
        td_internal_check_csr(weights, out_features, in_features) != TD_OK) {
        return TD_ERR_ARG;
    }
    for (o = 0; o < out_features; o++) {
        const uint32_t s = td_csr_row_ptr(weights, o), e = td_csr_row_ptr(weights, o + 1);
        const int32_t n = (int32_t)(e - s);
        int32_t acc = (bias ? bias[o] : 0) + params->input_offset * weights->row_sum[o];
        int32_t mult, shift;
        if (weights->col_idx_u8) {
            acc = dot_uint8_t(input, weights->col_idx_u8 + s, weights->values + s, n, acc);
        } else {
            acc = dot_uint16_t(input, weights->col_idx_u16 + s, weights->values + s, n, acc);
        }
        mult = quant->multiplier[o];
        shift = quant->shift[o];
        if (mult >= 0 && shift < 0) {
            int32_t v = td_mul_by_quant_mult_rshift(acc, mult, -shift) + params->output_offset;
            v = v < params->activation.min ? params->activation.min : v;
            output[o] = (int8_t)(v > params->activation.max ? params->activation.max : v);
        } else {
            output[o] = td_requant_s8(acc, mult, shift, params->output_offset,
                                      params->activation.min, params->activation.max);
        }
    }
    return TD_OK;
}
