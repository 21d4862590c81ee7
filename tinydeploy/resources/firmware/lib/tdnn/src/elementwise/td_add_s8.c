/* Elementwise int8 ADD with TFLM's quantized-add arithmetic (reference int8 Add): the public
 * entry point, the per-element reference path and the input tables. td_add_s8 runs the first
 * variant that applies (declared in td_add_internal.h):
 *
 *  1. the two input tables are set (td_add_s8_lut_applies): td_add_s8_lut_mve (Cortex-M55,
 *     __ARM_FEATURE_MVE) or td_add_s8_lut;
 *  2. td_add_s8_mve (Cortex-M55): any parameters;
 *  3. the per-element reference below. */
#include "td_add_internal.h"

/* One input's rescaled value, TFLM: MultiplyByQuantizedMultiplierSmallerThanOneExp(
 * (x + offset) << left_shift, multiplier, shift). */
static inline int32_t add_rescale(int32_t x, int32_t offset, int32_t left_shift, int32_t multiplier,
                                  int32_t shift)
{
    return td_mul_by_quant_mult((int32_t)((uint32_t)(x + offset) << left_shift), multiplier, shift);
}

static td_status add_check(const td_add_params *params)
{
    if (!params || params->left_shift < 0 || params->left_shift > 30 || params->input1_shift > 0 ||
        params->input2_shift > 0 || params->output_shift > 0 ||
        td_internal_check_act(&params->activation) != TD_OK) {
        return TD_ERR_ARG;
    }
    return TD_OK;
}

td_status td_add_s8_fill_tables(const td_add_params *params, int32_t *input1_table,
                                int32_t *input2_table)
{
    int32_t u;
    if (add_check(params) != TD_OK || !input1_table || !input2_table || params->left_shift > 20 ||
        params->input1_offset < -128 || params->input1_offset > 128 ||
        params->input2_offset < -128 || params->input2_offset > 128) {
        return TD_ERR_ARG;
    }
    for (u = 0; u < 256; u++) {
        const int32_t x = (int32_t)(int8_t)(uint8_t)u;
        /* |x + offset| <= 256, so |rescaled| <= 2^28 and the doubled value fits easily */
        input1_table[u] = 2 * add_rescale(x, params->input1_offset, params->left_shift,
                                          params->input1_multiplier, params->input1_shift);
        input2_table[u] = 2 * add_rescale(x, params->input2_offset, params->left_shift,
                                          params->input2_multiplier, params->input2_shift);
    }
    return TD_OK;
}

td_status td_add_s8(const td_add_params *params, const int8_t *input1, const int8_t *input2,
                    int8_t *output, int32_t size)
{
    int32_t i;
    if (add_check(params) != TD_OK || !input1 || !input2 || !output || size < 0 ||
        (!params->input1_table) != (!params->input2_table) || params->table_ties < 0 ||
        params->table_ties > TD_ADD_TIES_DOWN) {
        return TD_ERR_ARG;
    }
    if (td_add_s8_lut_applies(params)) {
#if defined(__ARM_FEATURE_MVE)
        td_add_s8_lut_mve(params, input1, input2, output, size);
#else
        td_add_s8_lut(params, input1, input2, output, size);
#endif
        return TD_OK;
    }
#if defined(__ARM_FEATURE_MVE)
    td_add_s8_mve(params, input1, input2, output, size);
    return TD_OK;
#endif
    for (i = 0; i < size; i++) {
        const int32_t sa = add_rescale(input1[i], params->input1_offset, params->left_shift,
                                       params->input1_multiplier, params->input1_shift);
        const int32_t sb = add_rescale(input2[i], params->input2_offset, params->left_shift,
                                       params->input2_multiplier, params->input2_shift);
        int32_t r = td_mul_by_quant_mult((int32_t)((uint32_t)sa + (uint32_t)sb),
                                         params->output_multiplier, params->output_shift) +
                    params->output_offset;
        r = r < params->activation.min ? params->activation.min : r;
        r = r > params->activation.max ? params->activation.max : r;
        output[i] = (int8_t)r;
    }
    return TD_OK;
}
