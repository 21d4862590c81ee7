/* QUANTIZE float32 -> int8 with TFLM's AffineQuantize arithmetic (no libm). */
#include "../common/td_internal.h"

td_status td_quantize_f32_s8(const td_quantize_params *params, const float *input, int8_t *output,
                             int32_t size)
{
    int32_t i;
    if (!params || !input || !output || size < 0 || !(params->scale > 0.0f) ||
        params->zero_point < -128 || params->zero_point > 127) {
        return TD_ERR_ARG;
    }
    /* clamping to [-128 - zp, 127 - zp] before rounding gives TFLM's clamp after it (the
     * bounds are integers) and keeps the int conversion in range; NaN becomes -128 */
    /* locals: int8 stores may alias *params, which would be reloaded every element */
    const float scale = params->scale;
    const int32_t zero_point = params->zero_point;
    const float lo = (float)(-128 - zero_point);
    const float hi = (float)(127 - zero_point);
    for (i = 0; i < size; i++) {
        float r = input[i] / scale; /* one IEEE float32 division, as TFLM */
        r = (r >= lo) ? r : lo;
        r = (r <= hi) ? r : hi;
        /* std::round: the truncated value plus one step away from zero when the (exact)
         * fraction is at least one half */
        int32_t q = (int32_t)r;
        const float frac = r - (float)q;
        q += (frac >= 0.5f) ? 1 : (frac <= -0.5f) ? -1 : 0;
        output[i] = (int8_t)(q + zero_point);
    }
    return TD_OK;
}
