/* td_mve.h - Helium (MVE, Cortex-M55) helpers private to the tdnn sources. Empty unless
 * __ARM_FEATURE_MVE is defined (integer MVE is enough: the kernels use no float lanes). */
#ifndef TD_MVE_H
#define TD_MVE_H

#if defined(__ARM_FEATURE_MVE)
#include <arm_mve.h>

#include "td_internal.h"

/* TFLM MultiplyByQuantizedMultiplier + output offset + clamp on 4 lanes, bit-exact with
 * td_requant_s8 for every shift in [-31, 30] and multiplier >= 0:
 *  - left shift (shift > 0): VSHL by register wraps exactly like TFLM's int32 `x << left`;
 *  - SaturatingRoundingDoublingHighMul is VQRDMULH (floor((2ab + 2^31) / 2^32), with the
 *    one overflow INT32_MIN * INT32_MIN saturating as gemmlowp does);
 *  - RoundingDivideByPOT rounds half away from zero, VRSHL (by -right) rounds half up: for
 *    negative x, floor((x + 2^(r-1) - 1) / 2^r) is VRSHL of x - 1, so 1 is subtracted from
 *    the negative lanes first ((x & shift) >> 31 is -1 exactly when x < 0 and shift < 0;
 *    the subtraction saturates, which leaves INT32_MIN's result unchanged);
 *  - the offset is added with saturation, which gives what td_requant_s8's pre-clamp gives. */
static inline int32x4_t td_mve_requant(int32x4_t acc, int32x4_t mult, int32x4_t shift, int32_t ooff,
                                       int32_t amin, int32_t amax)
{
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t right = vminq_s32(shift, zero);
    int32x4_t v = vshlq_s32(acc, vmaxq_s32(shift, zero));
    v = vqrdmulhq_s32(v, mult);
    v = vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, right), 31));
    v = vrshlq_s32(v, right);
    v = vqaddq_n_s32(v, ooff);
    v = vmaxq_s32(v, vdupq_n_s32(amin));
    return vminq_s32(v, vdupq_n_s32(amax));
}

/* Requantises the 4 lanes of acc (bias included) as channels i .. i + 3 (mult[i..],
 * shift[i..]) and stores the lanes p enables to out[i..]. */
static inline void td_mve_requant_store(int32x4_t acc, const int32_t *mult, const int32_t *shift,
                                        int32_t i, mve_pred16_t p, int32_t ooff, int32_t amin,
                                        int32_t amax, int8_t *out)
{
    acc = td_mve_requant(acc, vldrwq_z_s32(mult + i, p), vldrwq_z_s32(shift + i, p), ooff, amin,
                         amax);
    vstrbq_p_s32(out + i, acc, p);
}

/* The tail of the fully connected kernels for rows o .. o + 3 (lanes p): their sums of
 * w * x with the raw int8 input (acc[0..3]) plus input_offset times their weight sums
 * (wsum), plus bias[o..] (unless bias is NULL), requantised and stored to out[o..]. */
static inline void td_mve_fc_store(const int32_t *acc, int32x4_t wsum, int32_t input_offset,
                                   const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                   int32_t o, mve_pred16_t p, int32_t ooff, int32_t amin,
                                   int32_t amax, int8_t *out)
{
    int32x4_t v = vmlaq_n_s32(vldrwq_s32(acc), wsum, input_offset);
    if (bias) {
        v = vaddq_s32(v, vldrwq_z_s32(bias + o, p));
    }
    td_mve_requant_store(v, mult, shift, o, p, ooff, amin, amax, out);
}

/* Requantises cnt positions' accumulators red[j * red_stride + oc] (+ beff[oc]), oc < n, into
 * out[j * out_stride + oc]: the per-channel constants of 4 channels are loaded once for
 * all positions. */
static inline void td_mve_requant_windows(const int32_t *red, int32_t red_stride,
                                          const int32_t *beff, const int32_t *mult,
                                          const int32_t *shift, int32_t n, int32_t cnt,
                                          int32_t ooff, int32_t amin, int32_t amax, int8_t *out,
                                          int32_t out_stride)
{
    int32_t q, j;
    if ((n & 3) == 0) { /* no predication */
        for (q = 0; q < n; q += 4) {
            const int32x4_t b = vldrwq_s32(beff + q), m = vldrwq_s32(mult + q);
            const int32x4_t sv = vldrwq_s32(shift + q);
            for (j = 0; j < cnt; j++) {
                const int32x4_t v = vaddq_s32(vldrwq_s32(red + j * red_stride + q), b);
                vstrbq_s32(out + j * out_stride + q, td_mve_requant(v, m, sv, ooff, amin, amax));
            }
        }
        return;
    }
    for (q = 0; q < n; q += 4) {
        const mve_pred16_t p = vctp32q((uint32_t)(n - q));
        const int32x4_t b = vldrwq_z_s32(beff + q, p), m = vldrwq_z_s32(mult + q, p);
        const int32x4_t sv = vldrwq_z_s32(shift + q, p);
        for (j = 0; j < cnt; j++) {
            const int32x4_t v = vaddq_s32(vldrwq_z_s32(red + j * red_stride + q, p), b);
            vstrbq_p_s32(out + j * out_stride + q, td_mve_requant(v, m, sv, ooff, amin, amax), p);
        }
    }
}

/* (a, b, c, d) as one vector (lane inserts; the compiler picks the VMOV forms). */
static inline int32x4_t td_mve_vec4(int32_t a, int32_t b, int32_t c, int32_t d)
{
    int32x4_t t = vdupq_n_s32(a);
    t = vsetq_lane_s32(b, t, 1);
    t = vsetq_lane_s32(c, t, 2);
    return vsetq_lane_s32(d, t, 3);
}

/* max(a, b, c, d): two VMOVs (lane order irrelevant: d fills two lanes) and one VMAXV. */
static inline int32_t td_mve_max4(int32_t a, int32_t b, int32_t c, int32_t d)
{
    int32x4_t t;
    __asm__("vmov %q[t][2], %q[t][0], %[b], %[c]\n\t"
            "vmov %q[t][3], %q[t][1], %[d], %[d]\n\t"
            "vmaxv.s32 %[a], %q[t]"
            : [a] "+r"(a), [t] "=&w"(t)
            : [b] "r"(b), [c] "r"(c), [d] "r"(d));
    return a;
}

/* n >= 0 bytes src -> dst in a tail-predicated loop (WLSTP/LETP: 3 instructions per 16). */
static inline void td_mve_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    /* clang-format off */
    __asm__ volatile("wlstp.8 lr, %[n], 2f\n\t"
                     "1:\n\t"
                     "vldrb.u8 q0, [%[s]], #16\n\t"
                     "vstrb.8 q0, [%[d]], #16\n\t"
                     "letp lr, 1b\n\t"
                     "2:"
                     : [d] "+r"(dst), [s] "+r"(src)
                     : [n] "r"(n)
                     : "q0", "lr", "memory");
    /* clang-format on */
}

/* n >= 0 bytes of value v at dst (tail-predicated loop, 2 instructions per 16). */
static inline void td_mve_fill(int8_t *dst, int8_t v, int32_t n)
{
    /* clang-format off */
    __asm__ volatile("vdup.8 q0, %[v]\n\t"
                     "wlstp.8 lr, %[n], 2f\n\t"
                     "1:\n\t"
                     "vstrb.8 q0, [%[d]], #16\n\t"
                     "letp lr, 1b\n\t"
                     "2:"
                     : [d] "+r"(dst)
                     : [n] "r"(n), [v] "r"((int32_t)v)
                     : "q0", "lr", "memory");
    /* clang-format on */
}

/* Sum of the n int8 values of a row (any n >= 0), 16 per VADDVA, the tail predicated. */
static inline int32_t td_mve_row_sum(const int8_t *w, int32_t n)
{
    int32_t s = 0;
    for (; n > 0; n -= 16, w += 16) {
        const mve_pred16_t p = vctp8q((uint32_t)n);
        s = vaddvaq_p_s8(s, vldrbq_z_s8(w, p), p);
    }
    return s;
}

/* Entry point of td_add_s8_mve.c (td_add_s8 dispatches to it; the other ops declare their
 * Helium variants in their internal headers). */
void td_add_s8_mve(const td_add_params *p, const int8_t *input1, const int8_t *input2,
                   int8_t *output, int32_t size);

#endif /* __ARM_FEATURE_MVE */

#endif /* TD_MVE_H */
