/* int8 SOFTMAX over the last axis with TFLM's reference arithmetic (int8 in, int8 out). */
#include "../common/td_internal.h"
#include "../common/td_fixedpoint.h"

/* TFLM's fixed-point formats: exp() takes Q5.26 differences, exps are summed in Q12.19 */
#define TD_SOFTMAX_DIFF_INT_BITS 5
#define TD_SOFTMAX_ACC_INT_BITS 12

/* exp of one input difference d (<= 0) in Q0.31: TFLM's
 * MultiplyByQuantizedMultiplierGreaterThanOne(d, multiplier, left_shift) rescales it to
 * Q5.26 (the left shift wraps like TFLM's int32 multiply by 2^left_shift). */
static inline int32_t softmax_exp(int32_t d, int32_t multiplier, int32_t left_shift)
{
    return td_exp_on_negative_values_q5(td_srdhm((int32_t)((uint32_t)d << left_shift), multiplier));
}

/* RoundingDivideByPOT for any exponent 0..62, rounded exactly (TFLM's assert-guarded
 * range ends at 31): |x| <= 2^31, so from 32 on the quotient is 0 except -2^31 / 2^32 = -1/2,
 * which rounds away from zero. */
static inline int32_t softmax_rdbp_wide(int32_t x, int32_t exponent)
{
    if (exponent < 32) {
        return td_rounding_divide_by_pot(x, exponent);
    }
    return (exponent == 32 && x == INT32_MIN) ? -1 : 0;
}

static void softmax_row(const td_softmax_params *params, const int8_t *input, int8_t *output,
                        int32_t depth)
{
    const int32_t mult = params->input_multiplier, shift = params->input_left_shift;
    const int32_t diff_min = params->diff_min;
    int32_t max = input[0], headroom, x, scale, exponent, i;
    uint32_t sum = 0;
    for (i = 1; i < depth; i++) {
        max = input[i] > max ? input[i] : max;
    }
    for (i = 0; i < depth; i++) {
        const int32_t d = input[i] - max;
        if (d >= diff_min) {
            /* Q0.31 -> Q12.19: exps are >= 0 (td_fixedpoint.h), so RoundingDivideByPOT(e, 12) is
             * floor((e + 2^11) / 2^12), in uint32 because e may be INT32_MAX */
            sum += ((uint32_t)softmax_exp(d, mult, shift) + (1u << 11)) >> TD_SOFTMAX_ACC_INT_BITS;
        }
    }
    /* TFLM GetReciprocal: sum = (1 + x) * 2^(12 - headroom) with x in [0, 1) in Q0.31 */
    headroom = td_clz32(sum);
    x = (int32_t)((uint32_t)((uint64_t)sum << headroom) - 0x80000000u);
    scale = td_one_over_one_plus_x_q31(x);
    /* RoundingDivideByPOT(SRDHM(scale, e), num_bits_over_unit + 31 - 8) */
    exponent = (TD_SOFTMAX_ACC_INT_BITS - headroom) + 31 - 8;
    if (scale >= 0 && exponent >= 1 && exponent <= 31) {
        /* the usual case: both roundings in one 64-bit multiply (td_mul_by_quant_mult_rshift,
         * exact for a multiplier >= 0), the result clamped by one compare against 255 (the
         * quotient is >= 0 as e and scale are) */
        for (i = 0; i < depth; i++) {
            const int32_t d = input[i] - max;
            int32_t v = 0;
            if (d >= diff_min) {
                v = td_mul_by_quant_mult_rshift(softmax_exp(d, mult, shift), scale, exponent);
                v = v > 255 ? 255 : v;
            }
            output[i] = (int8_t)(v - 128);
        }
        return;
    }
    for (i = 0; i < depth; i++) { /* only for sums that wrapped (depth >= 4096) or >= 2^28 */
        const int32_t d = input[i] - max;
        int32_t v = 0;
        if (d >= diff_min) {
            v = softmax_rdbp_wide(td_srdhm(scale, softmax_exp(d, mult, shift)), exponent);
            v = v < 0 ? 0 : (v > 255 ? 255 : v);
        }
        output[i] = (int8_t)(v - 128);
    }
}

td_status td_softmax_s8(const td_softmax_params *params, const int8_t *input, int8_t *output,
                        int32_t rows, int32_t depth)
{
    int32_t r;
    if (!params || !input || !output || rows < 0 || depth < 1 || params->input_multiplier < 0 ||
        params->input_left_shift < 0 || params->input_left_shift > 31 || params->diff_min > 0) {
        return TD_ERR_ARG;
    }
    for (r = 0; r < rows; r++, input += depth, output += depth) {
        softmax_row(params, input, output, depth);
    }
    return TD_OK;
}
