/* Elementwise int8 ADD with TFLM's quantized-add arithmetic (reference int8 Add). */
#include "../common/td_internal.h"
#include "../common/td_mve.h"

td_status td_add_s8(const td_add_params *params, const int8_t *input1, const int8_t *input2,
                    int8_t *output, int32_t size)
{
    int32_t i;
    if (!params || !input1 || !input2 || !output || size < 0 || params->left_shift < 0 ||
        params->left_shift > 30 || params->input1_shift > 0 || params->input2_shift > 0 ||
        params->output_shift > 0 || td_internal_check_act(&params->activation) != TD_OK) {
        return TD_ERR_ARG;
    }
#if defined(__ARM_FEATURE_MVE)
    td_add_s8_mve(params, input1, input2, output, size);
    return TD_OK;
#endif
    for (i = 0; i < size; i++) {
        const int32_t a =
            (int32_t)((uint32_t)(input1[i] + params->input1_offset) << params->left_shift);
        const int32_t b =
            (int32_t)((uint32_t)(input2[i] + params->input2_offset) << params->left_shift);
        const int32_t sa = td_mul_by_quant_mult(a, params->input1_multiplier, params->input1_shift);
        const int32_t sb = td_mul_by_quant_mult(b, params->input2_multiplier, params->input2_shift);
        int32_t r = td_mul_by_quant_mult((int32_t)((uint32_t)sa + (uint32_t)sb),
                                         params->output_multiplier, params->output_shift) +
                    params->output_offset;
        r = r < params->activation.min ? params->activation.min : r;
        r = r > params->activation.max ? params->activation.max : r;
        output[i] = (int8_t)r;
    }
    return TD_OK;
}
