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

#else
typedef int td_add_s8_mve_unused; /* ISO C: no empty translation unit */
#endif /* __ARM_FEATURE_MVE */
