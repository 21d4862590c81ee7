/* Fully connected, dense [out][in] weights. DSP path: the input (+offset) is widened once
 * into int16 scratch in SXTB16 pair order; with word-aligned rows (K % 4 == 0) two rows per
 * pass run in an asm loop that loads 8 weights of a row and 8 inputs with one LDM each
 * (19 instructions per 16 MACs), else four rows per pass share every input load (SMLAD);
 * remaining rows use the two-row loop with on-the-fly SXTAB16. */
#include "td_fc_common.h"
#include "../common/td_mve.h"

#if defined(__ARM_FEATURE_DSP) && defined(__thumb2__)
/* Two rows against the widened input: w0/w1 advance over 8-input blocks (two words each,
 * word aligned), x over the matching 4 words; the loop runs to end16 in 16-input steps, then
 * one more 8-input block if x != end8. acc0/acc1: bias in, sums out. */
typedef struct {
    const int8_t *w0;
    const int8_t *w1;
    const int16_t *x;
    const int16_t *end16;
    const int16_t *end8;
    int32_t acc0;
    int32_t acc1;
} fc2_run;

#define TD_FC2_BLOCK8                                                                        \
    "ldm    r5!, {r6-r9}\n\t"                                                                \
    "ldm    r3!, {r10, r11}\n\t"                                                             \
    "sxtb16 r12, r10\n\t"                                                                    \
    "smlad  r1, r12, r6, r1\n\t"                                                             \
    "sxtb16 r10, r10, ror #8\n\t"                                                            \
    "smlad  r1, r10, r7, r1\n\t"                                                             \
    "sxtb16 r12, r11\n\t"                                                                    \
    "smlad  r1, r12, r8, r1\n\t"                                                             \
    "sxtb16 r11, r11, ror #8\n\t"                                                            \
    "smlad  r1, r11, r9, r1\n\t"                                                             \
    "ldm    r4!, {r10, r11}\n\t"                                                             \
    "sxtb16 r12, r10\n\t"                                                                    \
    "smlad  r2, r12, r6, r2\n\t"                                                             \
    "sxtb16 r10, r10, ror #8\n\t"                                                            \
    "smlad  r2, r10, r7, r2\n\t"                                                             \
    "sxtb16 r12, r11\n\t"                                                                    \
    "smlad  r2, r12, r8, r2\n\t"                                                             \
    "sxtb16 r11, r11, ror #8\n\t"                                                            \
    "smlad  r2, r11, r9, r2\n\t"

/* r1/r2 acc0/acc1, r3/r4 rows, r5 x, r6-r9 inputs, r10/r11 weights, r12 temp, lr end16. */
__attribute__((naked, noinline)) TD_NOIPA static void fc2_run_asm(fc2_run *run
                                                                  __attribute__((unused)))
{
    __asm__ volatile(
        "push   {r0, r4-r11, lr}\n\t"
        "ldm    r0, {r3, r4, r5, lr}\n\t"
        "ldrd   r1, r2, [r0, #20]\n\t"
        "cmp    r5, lr\n\t"
        "beq    2f\n\t"
        "1:\n\t"
        TD_FC2_BLOCK8
        TD_FC2_BLOCK8
        "cmp    r5, lr\n\t"
        "bne    1b\n\t"
        "2:\n\t"
        "ldr    r0, [sp]\n\t"
        "ldr    r12, [r0, #16]\n\t"
        "cmp    r5, r12\n\t"
        "beq    3f\n\t"
        TD_FC2_BLOCK8
        "3:\n\t"
        "strd   r1, r2, [r0, #20]\n\t"
        "pop    {r0, r4-r11, pc}\n\t");
}

/* Requantisation of one accumulator; the common case (multiplier >= 0, right shift) in
 * 32-bit steps. */
static inline int8_t fc2_requant(int32_t acc, int32_t mult, int32_t shift, int32_t ooff,
                                 int32_t amin, int32_t amax)
{
    if (mult >= 0 && shift < 0) {
        int32_t v = td_mul_by_quant_mult_rshift(acc, mult, -shift) + ooff;
        v = v < amin ? amin : v;
        return (int8_t)(v > amax ? amax : v);
    }
    return td_requant_s8(acc, mult, shift, ooff, amin, amax);
}

/* All rows two at a time (an odd last row is computed twice), K % 4 == 0, word-aligned
 * weights; xs holds the widened input. Parameters are copied to locals: the int8 output
 * stores may alias them. */
TD_NOINLINE static void fc2_rows(const td_fc_params *params, const td_quant_params *quant,
                                 int32_t k, const int16_t *xs, int32_t out_features,
                                 const int8_t *weights, const int32_t *bias, int8_t *output)
{
    const int32_t *mults = quant->multiplier, *shifts = quant->shift;
    const int32_t ooff = params->output_offset;
    const int32_t amin = params->activation.min, amax = params->activation.max;
    const int32_t groups = k >> 2, last = 4 * (groups - 1);
    int32_t o;
    fc2_run run;
    run.x = xs;
    run.end16 = xs + 16 * (groups / 4);
    run.end8 = xs + 8 * (groups / 2);
    for (o = 0; o < out_features; o += 2) {
        const int32_t two = o + 1 < out_features;
        const int8_t *w0 = weights + o * k, *w1 = two ? w0 + k : w0;
        int32_t a0, a1;
        run.w0 = w0;
        run.w1 = w1;
        run.acc0 = bias ? bias[o] : 0;
        run.acc1 = bias ? bias[o + two] : 0;
        fc2_run_asm(&run);
        a0 = run.acc0;
        a1 = run.acc1;
        if (groups & 1) { /* one more group of 4 inputs */
            const int32_t x02 = (int32_t)td_read_u32(xs + last);
            const int32_t x13 = (int32_t)td_read_u32(xs + last + 2);
            const int32_t wa = (int32_t)td_read_u32(w0 + last);
            const int32_t wb = (int32_t)td_read_u32(w1 + last);
            a0 = __smlad(__sxtb16(wa), x02, a0);
            a0 = __smlad(td_sxtb16_ror8(wa), x13, a0);
            a1 = __smlad(__sxtb16(wb), x02, a1);
            a1 = __smlad(td_sxtb16_ror8(wb), x13, a1);
        }
        output[o] = fc2_requant(a0, mults[o], shifts[o], ooff, amin, amax);
        if (two) {
            output[o + 1] = fc2_requant(a1, mults[o + 1], shifts[o + 1], ooff, amin, amax);
        }
    }
}
#define TD_FC2_ASM 1
#endif

int32_t td_fc_dense_s8_get_buffer_size(int32_t in_features, int32_t out_features)
{
    (void)out_features;
    return 3 + 2 * TD_ALIGN4(in_features);
}

td_status td_fc_dense_s8(const td_fc_params *params, const td_quant_params *quant,
                         int32_t in_features, const int8_t *input, int32_t out_features,
                         const int8_t *weights, const int32_t *bias, int8_t *output,
                         void *scratch)
{
    const int32_t k = in_features, off = params ? params->input_offset : 0;
    const int32_t ooff = params ? params->output_offset : 0;
    int32_t o = 0, pairs = 0;
    if (td_fc_check(params, quant, in_features, input, out_features, output) != TD_OK ||
        !weights || !scratch) {
        return TD_ERR_ARG;
    }
#if defined(__ARM_FEATURE_MVE)
    if (td_mve_fc_dense_s8(params, quant, in_features, input, out_features, weights, bias,
                           output)) {
        return TD_OK;
    }
#endif
#if defined(__ARM_FEATURE_DSP)
#if defined(TD_FC2_ASM)
    pairs = (k & 3) == 0 && ((uintptr_t)weights & 3) == 0 && out_features >= 2;
#endif
    if (k >= 4 && (out_features >= 4 || pairs)) {
        const int32_t groups = k >> 2;
        const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
        int16_t *xs = (int16_t *)td_align_ptr4(scratch);
        int32_t g, r, i;
        for (g = 0; g < groups; g++) {
            const int32_t v = (int32_t)td_read_u32(input + 4 * g);
            td_write_u32(xs + 4 * g, (uint32_t)__sxtab16(off2, v));
            td_write_u32(xs + 4 * g + 2, (uint32_t)td_sxtab16_ror8(off2, v));
        }
#if defined(TD_FC2_ASM)
        if (pairs) {
            fc2_rows(params, quant, k, xs, out_features, weights, bias, output);
            return TD_OK;
        }
#endif
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
                output[o + r] = td_requant_s8(acc[r], quant->multiplier[o + r],
                                              quant->shift[o + r], ooff,
                                              params->activation.min, params->activation.max);
            }
        }
    }
#endif
    (void)pairs;
    for (; o < out_features; o += 2) {
        const int32_t two = (o + 1 < out_features);
        const int8_t *w0 = weights + o * k;
        const int8_t *w1 = two ? w0 + k : w0;
        int32_t a0 = bias ? bias[o] : 0;
        int32_t a1 = bias ? bias[o + two] : 0;
        int32_t i = 0;
#if defined(__ARM_FEATURE_DSP)
        const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
        for (; i + 4 <= k; i += 4) {
            const int32_t xv = (int32_t)td_read_u32(input + i);
            const int32_t x02 = __sxtab16(off2, xv), x13 = td_sxtab16_ror8(off2, xv);
            const int32_t wa = (int32_t)td_read_u32(w0 + i);
            const int32_t wb = (int32_t)td_read_u32(w1 + i);
            a0 = __smlad(__sxtb16(wa), x02, a0);
            a0 = __smlad(td_sxtb16_ror8(wa), x13, a0);
            a1 = __smlad(__sxtb16(wb), x02, a1);
            a1 = __smlad(td_sxtb16_ror8(wb), x13, a1);
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
            output[o + 1] = td_requant_s8(a1, quant->multiplier[o + 1], quant->shift[o + 1],
                                          ooff, params->activation.min,
                                          params->activation.max);
        }
    }
    return TD_OK;
}
