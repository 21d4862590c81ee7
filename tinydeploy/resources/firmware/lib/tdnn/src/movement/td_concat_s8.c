/* CONCATENATION of int8 tensors along one axis (TFLM's int8 kernel: a byte copy). */
#include "../common/td_internal.h"

td_status td_concat_s8(const int8_t *const *inputs, const int32_t *block_sizes, int32_t num_inputs,
                       int32_t outer, int8_t *output)
{
    int32_t o, i;
    if (!inputs || !block_sizes || !output || num_inputs < 1 || outer < 0) {
        return TD_ERR_ARG;
    }
    for (i = 0; i < num_inputs; i++) {
        if (!inputs[i] || block_sizes[i] < 0) {
            return TD_ERR_ARG;
        }
    }
    for (o = 0; o < outer; o++) {
        for (i = 0; i < num_inputs; i++) {
            const int32_t n = block_sizes[i];
            memcpy(output, inputs[i] + o * n, (size_t)n);
            output += n;
        }
    }
    return TD_OK;
}
