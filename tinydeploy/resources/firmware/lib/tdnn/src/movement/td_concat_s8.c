/* CONCATENATION of int8 tensors along one axis (TFLM's int8 kernel: a byte copy). One input
 * at a time into its column of output blocks. Blocks shorter than TD_CONCAT_MEMCPY bytes
 * (channel concats of narrow branches) are copied a word at a time in place: a memcpy call
 * per 4-byte block costs several times the bytes it moves. */
#include "../common/td_internal.h"

#define TD_CONCAT_MEMCPY 64

td_status td_concat_s8(const int8_t *const *inputs, const int32_t *block_sizes, int32_t num_inputs,
                       int32_t outer, int8_t *output)
{
    int32_t o, i, k, total = 0;
    if (!inputs || !block_sizes || !output || num_inputs < 1 || outer < 0) {
        return TD_ERR_ARG;
    }
    for (i = 0; i < num_inputs; i++) {
        if (!inputs[i] || block_sizes[i] < 0) {
            return TD_ERR_ARG;
        }
        total += block_sizes[i];
    }
    for (i = 0; i < num_inputs; i++) {
        const int32_t n = block_sizes[i];
        const int8_t *src = inputs[i];
        int8_t *dst = output;
        if (n >= TD_CONCAT_MEMCPY) {
            for (o = 0; o < outer; o++, src += n, dst += total) {
                memcpy(dst, src, (size_t)n);
            }
        } else {
            for (o = 0; o < outer; o++, src += n, dst += total) {
                for (k = 0; k + 4 <= n; k += 4) {
                    td_write_u32(dst + k, td_read_u32(src + k));
                }
                for (; k < n; k++) {
                    dst[k] = src[k];
                }
            }
        }
        output += n;
    }
    return TD_OK;
}
