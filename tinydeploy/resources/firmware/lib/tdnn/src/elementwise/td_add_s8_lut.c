/* Elementwise int8 ADD from the two input tables (td_add_params.input1_table, input2_table):
 * per element two table loads, one add and one requantisation; bit-exact with TFLM.
 *
 * Why it is exact. The tables hold T1 = 2*sa, T2 = 2*sb (sa, sb: TFLM's rescaled inputs),
 * and |sa|, |sb| <= 2^28 (|x + offset| <= 256, left_shift <= 20, SRDHM and RDBP never
 * grow a value), so s2 = T1 + T2 = 2s with |s| <= 2^29 never overflows. TFLM then computes
 *   out = clamp(RDBP(SRDHM(s, mo), e) + ooff),   mo >= 0, e = -output_shift in [1, 31].
 *  - SRDHM(s, mo) = floor((s*mo + 2^30) / 2^31) (s != INT32_MIN: no saturation)
 *                 = floor((s2*mo + 2^31) / 2^32) = SMMLAR(s2, mo, 0);
 *  - RDBP(h, e) = floor((h + 2^(e-1) - [h < 0]) / 2^e) for e >= 1, and adding ooff * 2^e
 *    inside the floor adds ooff outside: with c = 2^(e-1) + ooff*2^e,
 *    out = clamp((SMMLAR(s2, mo, c) - [h < 0]) >> e);
 *  - [h < 0] matters only when h is a tie (h = 2^(e-1) mod 2^e, so h != 0); as mo >= 0,
 *    s >= 0 gives h >= 0 and s < 0 gives h <= 0, so at every tie [h < 0] = [s2 < 0]:
 *    out = clamp((SMMLAR(s2, mo, c) - (s2 >>> 31)) >> e).
 *  - No int32 overflow: |h| <= |s| <= 2^29 and, for e <= 22, |c| <= 2^21 + 2^29. Larger e
 *    keep c = 2^(e-1) and add ooff after the shift.
 *  - The sign test only matters at ties (h = 2^(e-1) mod 2^e). When the C generator has
 *    found (over all 65,536 input pairs) that no negative sum is a tie, every tie may round
 *    up (TD_ADD_TIES_UP: no test); when no positive sum is one, every tie may round down
 *    (TD_ADD_TIES_DOWN: c - 1, no test).
 * On Cortex-M DSP cores with the full int8 clamp and e <= 22 that is 10 instructions per
 * element (LDRB, LDRB, LDR, LDR, ADD, SMMLAR, SUB, ASR, SSAT, STRB; 9 without the sign
 * test), 8 per loop pass. */
#include "td_add_internal.h"

/* SMMLAR: c + floor((a * b + 2^31) / 2^32). */
static inline int32_t add_smmlar(int32_t a, int32_t b, int32_t c)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
#else
    return c + (int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32);
#endif
}

#if defined(TD_DSP_ASM)
/* clang-format off */
/* one element; SIGN is the TD_ADD_TIES_EXACT sign test (or nothing) */
#define TD_ADD_LUT_ONE(SIGN)                                                                 \
    "ldrb   %[x], [%[p1]], #1\n\t"                                                           \
    "ldrb   %[y], [%[p2]], #1\n\t"                                                           \
    "ldr    %[x], [%[t1], %[x], lsl #2]\n\t"                                                 \
    "ldr    %[y], [%[t2], %[y], lsl #2]\n\t"                                                 \
    "add    %[x], %[x], %[y]\n\t"                                                            \
    "smmlar %[y], %[x], %[mo], %[c]\n\t"                                                     \
    SIGN                                                                                     \
    "asr    %[y], %[y], %[e]\n\t"                                                            \
    "ssat   %[y], #8, %[y]\n\t"                                                              \
    "strb   %[y], [%[po]], #1\n\t"
#define TD_ADD_SIGN "sub    %[y], %[y], %[x], lsr #31\n\t"
#define TD_ADD_LUT_LOOP(SIGN)                                                                \
    __asm__ volatile(                                                                        \
        "1:\n\t"                                                                             \
        TD_ADD_LUT_ONE(SIGN) TD_ADD_LUT_ONE(SIGN) TD_ADD_LUT_ONE(SIGN) TD_ADD_LUT_ONE(SIGN)  \
        TD_ADD_LUT_ONE(SIGN) TD_ADD_LUT_ONE(SIGN) TD_ADD_LUT_ONE(SIGN) TD_ADD_LUT_ONE(SIGN)  \
        "cmp    %[po], %[end]\n\t"                                                           \
        "bne    1b\n\t"                                                                      \
        : [p1] "+r"(p1), [p2] "+r"(p2), [po] "+r"(po), [x] "=&r"(x), [y] "=&r"(y)            \
        : [t1] "r"(t1), [t2] "r"(t2), [mo] "r"(mo), [c] "r"(c), [e] "r"(e), [end] "r"(end)   \
        : "cc", "memory")
/* clang-format on */

/* n > 0 elements, n % 8 == 0, full int8 clamp, c with the output offset (and the tie
 * rounding) folded in; the sign test only for TD_ADD_TIES_EXACT. */
static void add_lut_full_range(const int32_t *t1, const int32_t *t2, const int8_t *p1,
                               const int8_t *p2, int8_t *po, int32_t n, int32_t mo, int32_t c,
                               int32_t e, int32_t exact_ties)
{
    const int8_t *end = po + n;
    int32_t x, y;
    if (exact_ties) {
        TD_ADD_LUT_LOOP(TD_ADD_SIGN);
    } else {
        TD_ADD_LUT_LOOP("");
    }
}
#endif

/* Elements [i, n) in C; `exact` a constant after inlining (two loops, no test inside). */
static inline void add_lut_c(const int32_t *t1, const int32_t *t2, const int8_t *input1,
                             const int8_t *input2, int8_t *output, int32_t i, int32_t n, int32_t mo,
                             int32_t c, int32_t e, int32_t ooff, int32_t amin, int32_t amax,
                             int32_t exact)
{
    if (amin == -128 && amax == 127 && ooff == 0) {
        for (; i < n; i++) {
            const int32_t s2 = t1[(uint8_t)input1[i]] + t2[(uint8_t)input2[i]];
            int32_t r = (add_smmlar(s2, mo, c) - (exact ? (int32_t)((uint32_t)s2 >> 31) : 0)) >> e;
            if ((uint32_t)(r + 128) > 255u) {
                r = (r >> 31) ^ 127; /* -128 or 127 */
            }
            output[i] = (int8_t)r;
        }
        return;
    }
    for (; i < n; i++) {
        const int32_t s2 = t1[(uint8_t)input1[i]] + t2[(uint8_t)input2[i]];
        int32_t r =
            ((add_smmlar(s2, mo, c) - (exact ? (int32_t)((uint32_t)s2 >> 31) : 0)) >> e) + ooff;
        r = r < amin ? amin : r;
        r = r > amax ? amax : r;
        output[i] = (int8_t)r;
    }
}

void td_add_s8_lut(const td_add_params *p, const int8_t *input1, const int8_t *input2,
                   int8_t *output, int32_t size)
{
    const int32_t *t1 = p->input1_table, *t2 = p->input2_table;
    const int32_t mo = p->output_multiplier, e = -p->output_shift;
    const int32_t amin = p->activation.min, amax = p->activation.max;
    /* the output offset goes inside the shift when that cannot overflow (see above) */
    const int32_t ooff_in = e <= 22 ? p->output_offset : 0;
    const int32_t ooff_out = p->output_offset - ooff_in;
    const int32_t exact = p->table_ties == TD_ADD_TIES_EXACT;
    const int32_t c = (int32_t)(((uint32_t)1 << (e - 1)) + (uint32_t)ooff_in * ((uint32_t)1 << e)) -
                      (p->table_ties == TD_ADD_TIES_DOWN ? 1 : 0);
    int32_t i = 0;
#if defined(TD_DSP_ASM)
    if (amin == -128 && amax == 127 && ooff_out == 0 && size >= 8) {
        i = size & ~7;
        add_lut_full_range(t1, t2, input1, input2, output, i, mo, c, e, exact);
    }
#endif
    if (exact) {
        add_lut_c(t1, t2, input1, input2, output, i, size, mo, c, e, ooff_out, amin, amax, 1);
    } else {
        add_lut_c(t1, t2, input1, input2, output, i, size, mo, c, e, ooff_out, amin, amax, 0);
    }
}
