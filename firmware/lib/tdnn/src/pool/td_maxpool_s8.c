/* Max pooling (TFLM MAX_POOL_2D int8): max over the non-padded window cells, then clamp. */
#include "td_pool_common.h"

td_status td_maxpool_s8(const td_pool_params *params, const td_dims *input_dims,
                        const int8_t *input, const td_dims *output_dims, int8_t *output)
{
    int32_t oy, ox, ch, y, x;
    td_status st = td_pool_check(params, input_dims, input, output_dims, output);
    if (st != TD_OK) {
        return st;
    }
    for (oy = 0; oy < output_dims->h; oy++) {
        const int32_t iy0 = oy * params->stride_h - params->pad_top;
        const int32_t y0 = iy0 < 0 ? 0 : iy0;
        const int32_t y1 = iy0 + params->filter_h < input_dims->h ? iy0 + params->filter_h
                                                                  : input_dims->h;
        for (ox = 0; ox < output_dims->w; ox++) {
            const int32_t ix0 = ox * params->stride_w - params->pad_left;
            const int32_t x0 = ix0 < 0 ? 0 : ix0;
            const int32_t x1 = ix0 + params->filter_w < input_dims->w ? ix0 + params->filter_w
                                                                      : input_dims->w;
            const int32_t count = (y1 - y0) * (x1 - x0);
            int8_t *out = output + (oy * output_dims->w + ox) * input_dims->c;
            if (count <= 0) {
                return TD_ERR_ARG; /* window entirely in the padding */
            }
            for (ch = 0; ch < input_dims->c; ch++) {
                int32_t acc = -128;
                for (y = y0; y < y1; y++) {
                    const int8_t *row = input + (y * input_dims->w) * input_dims->c + ch;
                    for (x = x0; x < x1; x++) {
                        const int32_t v = row[x * input_dims->c];
                        acc = v > acc ? v : acc;
                    }
                }

                acc = acc < params->activation.min ? params->activation.min : acc;
                acc = acc > params->activation.max ? params->activation.max : acc;
                out[ch] = (int8_t)acc;
            }
        }
    }
    return TD_OK;
}
