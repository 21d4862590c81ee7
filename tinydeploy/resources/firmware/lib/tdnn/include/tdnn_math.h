/*
 * tdnn_math.h - the one shared requantisation helper (TFLite Micro / gemmlowp exact) and the
 * two gemmlowp fixed-point primitives it is made of.
 */
#ifndef TDNN_MATH_H
#define TDNN_MATH_H

#include <stdint.h>

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

/* gemmlowp SaturatingRoundingDoublingHighMul: round(a * b / 2^31), ties away from zero, with
 * INT32_MIN * INT32_MIN saturating to INT32_MAX (the only product that overflows). As in
 * td_mul_by_quant_mult, "(ab + nudge) / 2^31 truncating" equals "(ab + 2^30) >> 31". */
static inline int32_t td_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 30)) >> 31);
}

/* gemmlowp RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from zero;
 * exponent in [0, 31]. */
static inline int32_t td_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLM MultiplyByQuantizedMultiplier with double rounding:
 *   RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x << max(shift,0), mult), max(-shift,0))
 * shift in [-31, 30]; the left shift wraps in 32 bits exactly like TFLM's int32 code.
 * SRDHM's "(ab + nudge) / 2^31 truncating toward zero" equals "(ab + 2^30) >> 31" (floor)
 * for every product except INT32_MIN * INT32_MIN, which saturates. */
static inline int32_t td_mul_by_quant_mult(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int32_t xs = (int32_t)((uint32_t)x << left);
    int32_t high;
    if (xs == INT32_MIN && multiplier == INT32_MIN) {
        high = INT32_MAX;
    } else {
        high = (int32_t)(((int64_t)xs * multiplier + ((int64_t)1 << 30)) >> 31);
    }
    {
        const int32_t mask = (int32_t)(((int64_t)1 << right) - 1);
        const int32_t remainder = high & mask;
        const int32_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
        return (high >> right) + (remainder > threshold ? 1 : 0);
    }
}

/* Requantise an int32 accumulator (bias already added) to int8 with offset and clamp. */
static inline int8_t td_requant_s8(int32_t acc, int32_t multiplier, int32_t shift,
                                   int32_t output_offset, int32_t act_min, int32_t act_max)
{
    int32_t v = td_mul_by_quant_mult(acc, multiplier, shift);
    /* Pre-clamp so adding the offset cannot overflow (TFLM's int32 add would); exact because
     * |offset| <= 128 and the final clamp is within int8. */
#if defined(__ARM_FEATURE_DSP)
    v = __ssat(v, 10);
#else
    v = v < -512 ? -512 : (v > 511 ? 511 : v);
#endif
    v += output_offset;
    v = v < act_min ? act_min : v;
    v = v > act_max ? act_max : v;
    return (int8_t)v;
}

/* Requantises n contiguous accumulators of ONE output channel into out[i * out_stride];
 * per-channel constants are derived once. Same results as td_requant_s8 element-wise.
 *
 * Fast path (multiplier >= 0, shift = -e < 0): the two roundings fold into one exact 64-bit
 * expression. With P = acc * multiplier, SRDHM = floor((P + 2^30) / 2^31) and
 * RDBP(H, e) = floor((H + 2^(e-1) - [H < 0]) / 2^e); nesting floors gives
 *   floor((P + 2^30 + 2^(30+e) - [H < 0] * 2^31) / 2^(31+e)),
 * and [H < 0] may be replaced by [acc < 0]: when -2^30 <= P < 0 both forms give 0. As
 * 31 + e >= 32 the result is the high word shifted right by e - 1. */
static inline void td_requant_channel_s8(const int32_t *acc, int32_t n, int32_t multiplier,
                                         int32_t shift, int32_t output_offset, int32_t act_min,
                                         int32_t act_max, int8_t *out, int32_t out_stride)
{
    if (shift < 0 && multiplier >= 0) {
        const int32_t e1 = -shift - 1;
        const int64_t k0 = ((int64_t)1 << 30) + ((int64_t)1 << (30 - shift));
#if defined(__ARM_FEATURE_DSP)
        if (act_min == -128 && act_max == 127) { /* full int8 range: one SSAT */
            for (; n > 0; n--, out += out_stride) {
                const int32_t a = *acc++;
                const int64_t u =
                    (int64_t)a * multiplier + (k0 - (int64_t)((uint32_t)a & 0x80000000u));
                *out = (int8_t)__ssat(((int32_t)(u >> 32) >> e1) + output_offset, 8);
            }
            return;
        }
#endif
        for (; n > 0; n--, out += out_stride) {
            const int32_t a = *acc++;
            const int64_t u = (int64_t)a * multiplier + (k0 - (int64_t)((uint32_t)a & 0x80000000u));
            int32_t v = ((int32_t)(u >> 32) >> e1) + output_offset;
            v = v < act_min ? act_min : v;
            v = v > act_max ? act_max : v;
            *out = (int8_t)v;
        }
        return;
    }
    for (; n > 0; n--, out += out_stride) {
        *out = td_requant_s8(*acc++, multiplier, shift, output_offset, act_min, act_max);
    }
}

#endif /* TDNN_MATH_H */
