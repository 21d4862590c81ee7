/* Fully connected, CSR weights: the input (+offset) is widened once into int16 scratch so
 * the inner loop is load-column / load-input / load-value / MLA. */
#include "td_fc_common.h"

int32_t td_fc_csr_s8_get_buffer_size(int32_t in_features, const td_csr_weights *weights)
{
    (void)weights;
    return 3 + 2 * in_features;
}

td_status td_fc_csr_s8(const td_fc_params *params, const td_quant_params *quant,
                       int32_t in_features, const int8_t *input, int32_t out_features,
                       const td_csr_weights *weights, const int32_t *bias, int8_t *output,
                       void *scratch)
{
    int16_t *xs;
    int32_t o;
    if (td_fc_check(params, quant, in_features, input, out_features, output) != TD_OK ||
        !scratch || td_internal_check_csr(weights, out_features, in_features) != TD_OK) {
        return TD_ERR_ARG;
    }
    xs = (int16_t *)td_align_ptr4(scratch);
    td_fc_widen(input, in_features, in_features, params->input_offset, xs);
    for (o = 0; o < out_features; o++) {
        const uint32_t s = td_csr_row_ptr(weights, o), e = td_csr_row_ptr(weights, o + 1);
        const int8_t *v = weights->values + s;
        int32_t n = (int32_t)(e - s);
        int32_t acc = bias ? bias[o] : 0;
        if (weights->col_idx_u8) {
            const uint8_t *c = weights->col_idx_u8 + s;
            for (; n >= 8; n -= 8, c += 8, v += 8) {
                int32_t e;
                TD_UNROLL8
                for (e = 0; e < 8; e++) {
                    acc += v[e] * xs[c[e]];
                }
            }
            for (; n > 0; n--) {
                acc += *v++ * xs[*c++];
            }
        } else {
            const uint16_t *c = weights->col_idx_u16 + s;
            for (; n >= 8; n -= 8, c += 8, v += 8) {
                int32_t e;
                TD_UNROLL8
                for (e = 0; e < 8; e++) {
                    acc += v[e] * xs[c[e]];
                }
            }
            for (; n > 0; n--) {
                acc += *v++ * xs[*c++];
            }
        }
        output[o] = td_requant_s8(acc, quant->multiplier[o], quant->shift[o],
                                  params->output_offset, params->activation.min,
                                  params->activation.max);
    }
    return TD_OK;
}
