/* Constant PAD of an int8 NHWC tensor (TFLM's int8 PAD / PADV2): rows of padding are
 * memset, each input row is copied once between its left/right and channel padding. */
#include "../common/td_internal.h"

td_status td_pad_s8(const td_pad_params *params, const td_dims *input_dims, const int8_t *input,
                    int8_t *output)
{
    int32_t y, x;
    if (!params || !input_dims || !input || !output || input_dims->h < 0 || input_dims->w < 0 ||
        input_dims->c < 0 || params->pad_top < 0 || params->pad_bottom < 0 ||
        params->pad_left < 0 || params->pad_right < 0 || params->pad_front < 0 ||
        params->pad_back < 0 || params->pad_value < -128 || params->pad_value > 127) {
        return TD_ERR_ARG;
    }
    if (input_dims->n != 1) {
        return TD_ERR_UNSUPPORTED;
    }
    {
        const int32_t c = input_dims->c;
        const int32_t oc = params->pad_front + c + params->pad_back;
        const int32_t ow = params->pad_left + input_dims->w + params->pad_right;
        const int32_t row_bytes = ow * oc;
        const int value = params->pad_value;
        memset(output, value, (size_t)(params->pad_top * row_bytes));
        output += params->pad_top * row_bytes;
        for (y = 0; y < input_dims->h; y++) {
            memset(output, value, (size_t)(params->pad_left * oc));
            output += params->pad_left * oc;
            if (params->pad_front == 0 && params->pad_back == 0) {
                memcpy(output, input, (size_t)(input_dims->w * c));
                output += input_dims->w * c;
                input += input_dims->w * c;
            } else {
                for (x = 0; x < input_dims->w; x++) {
                    memset(output, value, (size_t)params->pad_front);
                    memcpy(output + params->pad_front, input, (size_t)c);
                    memset(output + params->pad_front + c, value, (size_t)params->pad_back);
                    output += oc;
                    input += c;
                }
            }
            memset(output, value, (size_t)(params->pad_right * oc));
            output += params->pad_right * oc;
        }
        memset(output, value, (size_t)(params->pad_bottom * row_bytes));
    }
    return TD_OK;
}
