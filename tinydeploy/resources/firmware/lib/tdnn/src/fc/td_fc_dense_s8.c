/* Fully connected, dense [out][in] weights: the public entry point. It checks the arguments
 * and runs the first variant that applies (declared in td_fc_internal.h):
 *
 *  1. td_fc_dense_s8_mve (Cortex-M55, __ARM_FEATURE_MVE): any shape.
 *  2. td_fc_dense_s8_ldm (Cortex-M DSP, Thumb-2): K % 4 == 0, word-aligned weights and at
 *     least 2 rows (every generated model's layers).
 *  3. td_fc_dense_s8_generic: everything else.
 *
 * Scratch: the widened int16 input of 2 and 3 (the same size on every core). */
#include "td_fc_internal.h"

int32_t td_fc_dense_s8_get_buffer_size(int32_t in_features, int32_t out_features)
{
    (void)out_features;
    return td_fc_dense_s8_generic_get_buffer_size(in_features); /* >= the ldm variant's */
}

td_status td_fc_dense_s8(const td_fc_params *params, const td_quant_params *quant,
                         int32_t in_features, const int8_t *input, int32_t out_features,
                         const int8_t *weights, const int32_t *bias, int8_t *output, void *scratch)
{
    if (td_fc_check(params, quant, in_features, input, out_features, output) != TD_OK || !weights ||
        !scratch) {
        return TD_ERR_ARG;
    }
#if defined(__ARM_FEATURE_MVE)
    if (td_fc_dense_s8_mve(params, quant, in_features, input, out_features, weights, bias,
                           output)) {
        return TD_OK;
    }
#endif
#if defined(TD_FC_DENSE_LDM)
    if (td_fc_dense_s8_ldm_applies(in_features, out_features, weights)) {
        td_fc_dense_s8_ldm(params, quant, in_features, input, out_features, weights, bias, output,
                           scratch);
        return TD_OK;
    }
#endif
    td_fc_dense_s8_generic(params, quant, in_features, input, out_features, weights, bias, output,
                           scratch);
    return TD_OK;
}
