/* td_fixedpoint.h - gemmlowp fixed-point functions (exp on negative values, 1 / (1 + x)) as
 * TFLite Micro's int8 SOFTMAX evaluates them, bit for bit, in wrapping int32 arithmetic.
 *
 * Notation: Qm.n is an int32 with m integer and n = 31 - m fractional bits. Additions wrap
 * like the int32 adds of the reference code (done in uint32, so never undefined behaviour);
 * products are td_srdhm, right shifts td_rounding_divide_by_pot (tdnn_math.h), except in
 * exp's inner steps, whose operands are small enough for the cheaper exact forms below
 * (the ranges are checked over every input by tests/kernels/test_softmax_kernel.py). */
#ifndef TD_FIXEDPOINT_H
#define TD_FIXEDPOINT_H

#include <stdint.h>

#include "tdnn_math.h"

static inline int32_t td_add_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t td_sub_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* gemmlowp SaturatingRoundingMultiplyByPOT for an exponent in [1, 30]: x * 2^exponent,
 * saturated to [INT32_MIN, INT32_MAX]. */
static inline int32_t td_sat_shl(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* td_srdhm(a, b) given a2 = 2 * a (so a in [-2^30, 2^30)): (ab + 2^30) >> 31 is
 * (a2 * b + 2^31) >> 32, one SMMULR on DSP cores (no saturation case: a != INT32_MIN). */
static inline int32_t td_srdhm_2a(int32_t a2, int32_t b)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a2), "r"(b));
    return r;
#else
    return (int32_t)(((int64_t)a2 * b + ((int64_t)1 << 31)) >> 32);
#endif
}

/* td_srdhm(a, b) for a >= 0 and b > 0 given b2 = 2 * b as a uint32 (b may exceed 2^30):
 * (a * b2 + 2^31) >> 32 in unsigned arithmetic (UMLAL). */
static inline int32_t td_srdhm_pos(int32_t a, uint32_t b2)
{
    return (int32_t)(((uint64_t)(uint32_t)a * b2 + 0x80000000u) >> 32);
}

/* Count of leading zero bits, 32 for 0 (TFLM's CountLeadingZeros of a uint32). */
static inline int32_t td_clz32(uint32_t x)
{
#if defined(__GNUC__)
    return x ? (int32_t)__builtin_clz(x) : 32;
#else
    int32_t n = 0;
    if (x == 0) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
#endif
}

/* gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl: exp(a) for a in
 * [-1/4, 0) (a in [-2^29, 0), the only inputs exp_on_negative_values gives it), Q0.31 in
 * and out; Taylor series around -1/8 up to the 4th power. Over that domain
 * x = a + 1/8 is in [-2^28, 2^28), x^2 in [0, 2^25], x^3 and x^4/4 + x^3 within +-2^23,
 * x^4 in [0, 2^19], the polynomial in [0, 2^25] and x plus it within +-2^29: so no add
 * wraps, every product takes td_srdhm_2a (one doubled operand fits) and the two rounding
 * halvings see values >= 0, where RoundingDivideByPOT(v, e) is (v + 2^(e-1)) >> e. */
static inline int32_t td_exp_on_quarter_interval(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668; /* exp(-1/8), Q0.31 */
    const int32_t two_thirds = 1431655766;           /* 2 * (1/3 in Q0.31) */
    const int32_t x = a + (1 << 28);                 /* a + 1/8 */
    const int32_t x2 = td_srdhm_2a(2 * x, x);
    const int32_t x3 = td_srdhm_2a(2 * x2, x);
    const int32_t x4 = td_srdhm_2a(2 * x2, x2);
    const int32_t x4_over_4 = (x4 + 2) >> 2;
    /* x^4/24 + x^3/6 + x^2/2 */
    const int32_t poly = (td_srdhm_2a(x4_over_4 + x3, two_thirds) + x2 + 1) >> 1;
    return exp_minus_one_eighth + td_srdhm_2a(2 * (x + poly), exp_minus_one_eighth);
}

/* gemmlowp exp_on_negative_values for a Q5.26 input (a <= 0; any int32 is evaluated as the
 * reference code would): the Q0.31 result. a is split into a remainder in [-1/4, 0), whose
 * exp is the polynomial above, and multiples of 2^k (k = -2..4), each set bit multiplying
 * the result by exp(-2^k). exp(0) is INT32_MAX. The result is never negative: the
 * polynomial gives 1672462419 .. 2147483124 over all 2^24 remainders (checked exhaustively
 * against tinydeploy.quant.softmax) and the barrel multiplies by positive constants. */
static inline int32_t td_exp_on_negative_values_q5(int32_t a)
{
    const int32_t quarter = 1 << 24; /* 1/4 in Q5.26 */
    const int32_t a_mod_quarter_minus_quarter = td_sub_wrap(a & (quarter - 1), quarter);
    const uint32_t remainder = (uint32_t)a_mod_quarter_minus_quarter - (uint32_t)a;
    int32_t result;
    if (a == 0) {
        return INT32_MAX;
    }
    /* Q5.26 -> Q0.31, gemmlowp's saturating shift by 5, which never saturates here: the
     * value is in [-2^24, 0) */
    result = td_exp_on_quarter_interval(a_mod_quarter_minus_quarter * 32);
    /* result >= 0: td_srdhm_pos with the doubled constants; from exp(-1) on they fit an
     * int32 doubled, and result is the other operand (td_srdhm_2a, SMMULR) */
    if (remainder & (1u << 24)) {
        result = td_srdhm_pos(result, 2u * 1672461947u); /* exp(-1/4) */
    }
    if (remainder & (1u << 25)) {
        result = td_srdhm_pos(result, 2u * 1302514674u); /* exp(-1/2) */
    }
    if (remainder & (1u << 26)) {
        result = td_srdhm_2a(2 * 790015084, result); /* exp(-1) */
    }
    if (remainder & (1u << 27)) {
        result = td_srdhm_2a(2 * 290630308, result); /* exp(-2) */
    }
    if (remainder & (1u << 28)) {
        result = td_srdhm_2a(2 * 39332535, result); /* exp(-4) */
    }
    if (remainder & (1u << 29)) {
        result = td_srdhm_2a(2 * 720401, result); /* exp(-8) */
    }
    if (remainder & (1u << 30)) {
        result = td_srdhm_2a(2 * 242, result); /* exp(-16) */
    }
    return result;
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1: 1 / (1 + a) for a in [0, 1), Q0.31 in and
 * out; three Newton-Raphson steps on the half denominator from 48/17 - 32/17 * d (Q2.29). */
static inline int32_t td_one_over_one_plus_x_q31(int32_t a)
{
    /* RoundingHalfSum(a, 1): (a + INT32_MAX +/- 1) / 2, C division truncating */
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = td_add_wrap(1515870810, td_srdhm(half_denominator, -1010580540));
    int32_t i;
    for (i = 0; i < 3; i++) {
        const int32_t one_minus_half_denominator_times_x =
            td_sub_wrap(1 << 29, td_srdhm(half_denominator, x));
        x = td_add_wrap(x, td_sat_shl(td_srdhm(x, one_minus_half_denominator_times_x), 2));
    }
    return td_sat_shl(x, 1); /* Q2.29 halved (Q1.30) -> Q0.31 */
}

#endif /* TD_FIXEDPOINT_H */
