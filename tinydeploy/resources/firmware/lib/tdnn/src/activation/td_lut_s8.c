/* Elementwise 8-bit -> 8-bit table lookup: LOGISTIC, HARD_SWISH and 8-bit QUANTIZE, whose
 * int8 / uint8 input takes only 256 values (the generator fills the table with TFLM's
 * integer arithmetic evaluated on each of them). */
#include "../common/td_internal.h"

td_status td_lut_s8(const int8_t *table, const int8_t *input, int8_t *output, int32_t size)
{
    int32_t i = 0;
    if (!table || !input || !output || size < 0) {
        return TD_ERR_ARG;
    }
    /* four lookups per pass: the loads of one pass are independent */
    for (; i + 4 <= size; i += 4) {
        const int8_t a = table[(uint8_t)input[i]];
        const int8_t b = table[(uint8_t)input[i + 1]];
        const int8_t c = table[(uint8_t)input[i + 2]];
        const int8_t d = table[(uint8_t)input[i + 3]];
        output[i] = a;
        output[i + 1] = b;
        output[i + 2] = c;
        output[i + 3] = d;
    }
    for (; i < size; i++) {
        output[i] = table[(uint8_t)input[i]];
    }
    return TD_OK;
}
