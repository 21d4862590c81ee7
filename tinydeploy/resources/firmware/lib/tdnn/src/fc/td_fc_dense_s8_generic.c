/* Fully connected, dense [out][in] weights, any shape. Cortex-M DSP: with K >= 4 and at
 * least 4 rows the input (+offset) is widened once into int16 scratch in SXTB16 pair order
 * and four rows per pass share every input load (SMLAD); the remaining rows (and every row
 * on other cores) run two at a time, DSP cores widening the input on the fly (SXTAB16). */
#include "td_fc_internal.h"

#if defined(__ARM_FEATURE_DSP)
#if defined(TD_DSP_ASM)
/* 4 weight rows x 1 int16 vector in (x0,x2,x1,x3) groups, `groups` >= 1. The end pointer
 * lives on the stack so the loop fits in 13 registers. */
TD_NOINLINE static void td_dsp_dot_4x1(const int8_t *w0, const int8_t *w1, const int8_t *w2,
                                       const int8_t *w3, const int16_t *x, int32_t groups,
                                       int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t xa, xb = (int32_t)(uintptr_t)(x + 4 * groups), w, t;
    /* clang-format off */
    __asm__ volatile(
        "push {%[xb]}\n\t"
        "1:\n\t"
        "ldrd %[xa], %[xb], [%[p]], #8\n\t"
        "ldr %[w], [%[q0]], #4\n\t"
        "sxtb16 %[t], %[w]\n\t"
        "smlad %[a0], %[t], %[xa], %[a0]\n\t"
        "sxtb16 %[t], %[w], ror #8\n\t"
        "smlad %[a0], %[t], %[xb], %[a0]\n\t"
        "ldr %[w], [%[q1]], #4\n\t"
        "sxtb16 %[t], %[w]\n\t"
        "smlad %[a1], %[t], %[xa], %[a1]\n\t"
        "sxtb16 %[t], %[w], ror #8\n\t"
        "smlad %[a1], %[t], %[xb], %[a1]\n\t"
        "ldr %[w], [%[q2]], #4\n\t"
        "sxtb16 %[t], %[w]\n\t"
        "smlad %[a2], %[t], %[xa], %[a2]\n\t"
        "sxtb16 %[t], %[w], ror #8\n\t"
        "smlad %[a2], %[t], %[xb], %[a2]\n\t"
        "ldr %[w], [%[q3]], #4\n\t"
        "sxtb16 %[t], %[w]\n\t"
        "smlad %[a3], %[t], %[xa], %[a3]\n\t"
        "sxtb16 %[t], %[w], ror #8\n\t"
        "smlad %[a3], %[t], %[xb], %[a3]\n\t"
        "ldr %[t], [sp]\n\t"
        "cmp %[p], %[t]\n\t"
        "bne 1b\n\t"
        "add sp, sp, #4\n\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [q0] "+r"(w0),
          [q1] "+r"(w1), [q2] "+r"(w2), [q3] "+r"(w3), [p] "+r"(x), [xa] "=&r"(xa),
          [xb] "+r"(xb), [w] "=&r"(w), [t] "=&r"(t)
        :
        : "cc", "memory");
    /* clang-format on */
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#else
/* The same through intrinsics (-O0). */
static void td_dsp_dot_4x1(const int8_t *w0, const int8_t *w1, const int8_t *w2, const int8_t *w3,
                           const int16_t *x, int32_t groups, int32_t *acc)
{
    int32_t g;
    for (g = 0; g < groups; g++, x += 4) {
        const int32_t xa = (int32_t)td_read_u32(x), xb = (int32_t)td_read_u32(x + 2);
        acc[0] = td_smlad_s8x4((int32_t)td_read_u32(w0 + 4 * g), xa, xb, acc[0]);
        acc[1] = td_smlad_s8x4((int32_t)td_read_u32(w1 + 4 * g), xa, xb, acc[1]);
        acc[2] = td_smlad_s8x4((int32_t)td_read_u32(w2 + 4 * g), xa, xb, acc[2]);
        acc[3] = td_smlad_s8x4((int32_t)td_read_u32(w3 + 4 * g), xa, xb, acc[3]);
    }
}
#endif
#endif /* __ARM_FEATURE_DSP */

int32_t td_fc_dense_s8_generic_get_buffer_size(int32_t in_features)
{
    return 3 + 2 * TD_ALIGN4(in_features); /* the widened input (DSP cores) */
}

void td_fc_dense_s8_generic(const td_fc_params *params, const td_quant_params *quant,
                            int32_t in_features, const int8_t *input, int32_t out_features,
                            const int8_t *weights, const int32_t *bias, int8_t *output,
                            void *scratch)
{
    const int32_t k = in_features, off = params->input_offset;
    const int32_t ooff = params->output_offset;
    int32_t o = 0;
#if defined(__ARM_FEATURE_DSP)
    if (k >= 4 && out_features >= 4) {
        const int32_t groups = k >> 2;
        int16_t *xs = (int16_t *)td_align_ptr4(scratch);
        int32_t r, i;
        td_fc_widen_pairs(input, groups, off, xs);
        for (; o + 4 <= out_features; o += 4) {
            const int8_t *w0 = weights + o * k;
            int32_t acc[4];
            for (r = 0; r < 4; r++) {
                acc[r] = bias ? bias[o + r] : 0;
            }
            td_dsp_dot_4x1(w0, w0 + k, w0 + 2 * k, w0 + 3 * k, xs, groups, acc);
            for (i = 4 * groups; i < k; i++) {
                const int32_t x = input[i] + off;
                for (r = 0; r < 4; r++) {
                    acc[r] += w0[r * k + i] * x;
                }
            }
            for (r = 0; r < 4; r++) {
                output[o + r] = td_requant_s8(acc[r], quant->multiplier[o + r], quant->shift[o + r],
                                              ooff, params->activation.min, params->activation.max);
            }
        }
    }
#else
    (void)scratch;
#endif
    for (; o < out_features; o += 2) {
        const int32_t two = (o + 1 < out_features);
        const int8_t *w0 = weights + o * k;
        const int8_t *w1 = two ? w0 + k : w0;
        int32_t a0 = bias ? bias[o] : 0;
        int32_t a1 = bias ? bias[o + two] : 0;
        int32_t i = 0;
#if defined(__ARM_FEATURE_DSP)
        const int32_t off2 = td_pack_s16x2(off, off);
        for (; i + 4 <= k; i += 4) {
            const int32_t xv = (int32_t)td_read_u32(input + i);
            const int32_t x02 = __sxtab16(off2, xv), x13 = td_sxtab16_ror8(off2, xv);
            a0 = td_smlad_s8x4((int32_t)td_read_u32(w0 + i), x02, x13, a0);
            a1 = td_smlad_s8x4((int32_t)td_read_u32(w1 + i), x02, x13, a1);
        }
#endif
        for (; i < k; i++) {
            const int32_t x = input[i] + off;
            a0 += w0[i] * x;
            a1 += w1[i] * x;
        }
        output[o] = td_requant_s8(a0, quant->multiplier[o], quant->shift[o], ooff,
                                  params->activation.min, params->activation.max);
        if (two) {
            output[o + 1] = td_requant_s8(a1, quant->multiplier[o + 1], quant->shift[o + 1], ooff,
                                          params->activation.min, params->activation.max);
        }
    }
}
