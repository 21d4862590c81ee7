/* Elementwise int8 ADD (TFLM quantized add), Helium (MVE) path: 4 elements per vector in
 * 32-bit lanes: widen (VLDRB.S32), offset, left shift (VSHL by register, wrapping as the
 * scalar code's uint32 shift), each input's MultiplyByQuantizedMultiplier with a right
 * shift (VQRDMULH by the scalar multiplier, then the rounding divide with the sign fix-up of
 * td_mve_requant), wrapping sum, the output's, offset, clamp; tails
 * predicated. Compiled to nothing unless __ARM_FEATURE_MVE (td_add_s8 dispatches). */
#include "../common/td_mve.h"
#include "td_add_internal.h"

#if defined(__ARM_FEATURE_MVE)

/* MultiplyByQuantizedMultiplier for shift <= 0 (right shifts only), scalar constants. */
static inline int32x4_t mbqm_right(int32x4_t v, int32_t mult, int32x4_t right)
{
    v = vqrdmulhq_n_s32(v, mult);
    v = vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, right), 31));
    return vrshlq_s32(v, right);
}

void td_add_s8_mve(const td_add_params *p, const int8_t *input1, const int8_t *input2,
                   int8_t *output, int32_t size)
{
    const int32x4_t r1 = vdupq_n_s32(p->input1_shift), r2 = vdupq_n_s32(p->input2_shift);
    const int32x4_t ro = vdupq_n_s32(p->output_shift);
    const int32x4_t amin = vdupq_n_s32(p->activation.min);
    const int32x4_t amax = vdupq_n_s32(p->activation.max);
    int32_t i;
    for (i = 0; i < size; i += 4) {
        const mve_pred16_t q = vctp32q((uint32_t)(size - i));
        int32x4_t a = vaddq_n_s32(vldrbq_z_s32(input1 + i, q), p->input1_offset);
        int32x4_t b = vaddq_n_s32(vldrbq_z_s32(input2 + i, q), p->input2_offset);
        a = mbqm_right(vshlq_r_s32(a, p->left_shift), p->input1_multiplier, r1);
        b = mbqm_right(vshlq_r_s32(b, p->left_shift), p->input2_multiplier, r2);
        a = mbqm_right(vaddq_s32(a, b), p->output_multiplier, ro);
        a = vaddq_n_s32(a, p->output_offset); /* int32 add, as the scalar code */
        vstrbq_p_s32(output + i, vminq_s32(vmaxq_s32(a, amin), amax), q);
    }
}

/* With the input tables (td_add_s8_lut_applies): per 4 lanes two byte loads widened to u32
 * offsets, two gathers from the tables, and the requantisation of td_add_s8_lut.c (VRMULH is
 * SMMLAR without the accumulate), then the clamp; whole vectors unpredicated, one
 * predicated tail. */
static inline int32x4_t add_lut4(const int32_t *t1, const int32_t *t2, uint32x4_t u1, uint32x4_t u2,
                                 int32_t mo, int32_t c, int32_t e, int32_t ooff, int32_t exact,
                                 int32x4_t amin, int32x4_t amax)
{
    const int32x4_t s2 = vaddq_s32(vldrwq_gather_shifted_offset_s32(t1, u1),
                                   vldrwq_gather_shifted_offset_s32(t2, u2));
    int32x4_t r = vaddq_n_s32(vrmulhq_s32(s2, vdupq_n_s32(mo)), c);
    if (exact) { /* TD_ADD_TIES_EXACT: the sign test */
        r = vsubq_s32(r, vreinterpretq_s32_u32(vshrq_n_u32(vreinterpretq_u32_s32(s2), 31)));
    }
    r = vshlq_r_s32(r, -e);
    if (ooff) {
        r = vaddq_n_s32(r, ooff);
    }
    return vminq_s32(vmaxq_s32(r, amin), amax);
}

void td_add_s8_lut_mve(const td_add_params *p, const int8_t *input1, const int8_t *input2,
                       int8_t *output, int32_t size)
{
    const int32_t e = -p->output_shift;
    const int32_t ooff_in = e <= 22 ? p->output_offset : 0;
    const int32_t ooff_out = p->output_offset - ooff_in;
    const int32_t exact = p->table_ties == TD_ADD_TIES_EXACT;
    const int32_t c = (int32_t)(((uint32_t)1 << (e - 1)) + (uint32_t)ooff_in * ((uint32_t)1 << e)) -
                      (p->table_ties == TD_ADD_TIES_DOWN ? 1 : 0);
    const int32_t mo = p->output_multiplier;
    const int32_t *t1 = p->input1_table, *t2 = p->input2_table; /* locals: no reload per store */
    const int32x4_t amin = vdupq_n_s32(p->activation.min);
    const int32x4_t amax = vdupq_n_s32(p->activation.max);
    const uint8_t *x1 = (const uint8_t *)input1, *x2 = (const uint8_t *)input2;
    int32_t i;
    for (i = 0; i + 4 <= size; i += 4) {
        vstrbq_s32(output + i, add_lut4(t1, t2, vldrbq_u32(x1 + i), vldrbq_u32(x2 + i), mo, c, e,
                                        ooff_out, exact, amin, amax));
    }
    if (i < size) {
        const mve_pred16_t q = vctp32q((uint32_t)(size - i));
        vstrbq_p_s32(output + i,
                     add_lut4(t1, t2, vldrbq_z_u32(x1 + i, q), vldrbq_z_u32(x2 + i, q), mo, c, e,
                              ooff_out, exact, amin, amax),
                     q);
    }
}

#else
typedef int td_add_s8_mve_unused; /* ISO C: no empty translation unit */
#endif /* __ARM_FEATURE_MVE */
