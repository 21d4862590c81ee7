/* MEAN over H and W (global average pooling), TFLM's int8 MEAN: per channel the int32 sum
 * of the raw values, then TFLM's requantisation with 1/count folded into the multiplier. */
#include "../common/td_internal.h"

td_status td_mean_s8(const td_mean_params *params, const td_dims *input_dims, const int8_t *input,
                     int8_t *output)
{
    int32_t ch, i, v;
    if (!params || !input_dims || !input || !output || input_dims->h < 1 || input_dims->w < 1 ||
        input_dims->c < 1 || params->multiplier < 0 || params->shift < -31 || params->shift > 30) {
        return TD_ERR_ARG;
    }
    if (input_dims->n != 1) {
        return TD_ERR_UNSUPPORTED;
    }
    {
        const int32_t c = input_dims->c;
        const int32_t count = input_dims->h * input_dims->w;
        for (ch = 0; ch < c; ch++) {
            const int8_t *p = input + ch;
            int32_t sum = 0;
            for (i = 0; i < count; i++, p += c) {
                sum += *p;
            }
            v = td_mul_by_quant_mult(
                    (int32_t)((uint32_t)sum + (uint32_t)params->input_offset * (uint32_t)count),
                    params->multiplier, params->shift) +
                params->output_offset;
            v = v < -128 ? -128 : (v > 127 ? 127 : v);
            output[ch] = (int8_t)v;
        }
    }
    return TD_OK;
}
