/* DEQUANTIZE int8 -> float32 with TFLM's Dequantize arithmetic. */
#include "../common/td_internal.h"

td_status td_dequantize_s8_f32(const td_dequantize_params *params, const int8_t *input,
                               float *output, int32_t size)
{
    int32_t i;
    if (!params || !input || !output || size < 0 || !(params->scale > 0.0f) ||
        params->zero_point < -128 || params->zero_point > 127) {
        return TD_ERR_ARG;
    }
    /* TFLM multiplies in double and rounds to float once; the exact product of a float32
     * scale and |q - zp| <= 255 fits a double, so one float32 multiply rounds the same */
    const float scale = params->scale;
    const int32_t zero_point = params->zero_point;
    for (i = 0; i < size; i++) {
        output[i] = (float)(input[i] - zero_point) * scale;
    }
    return TD_OK;
}
