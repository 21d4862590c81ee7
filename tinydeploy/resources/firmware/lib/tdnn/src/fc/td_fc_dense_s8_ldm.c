/* Fully connected, dense [out][in] weights, Cortex-M DSP (Thumb-2), K % 4 == 0 and
 * word-aligned weights: the input (+offset) is widened once into int16 scratch in SXTB16
 * pair order, then two rows per pass run in an asm loop that loads 8 weights of a row and 8
 * inputs with one LDM each (19 instructions per 16 MACs; fc1 at 1.35 instructions/MAC).
 * td_fc_dense_s8 runs it when td_fc_dense_s8_ldm_applies. */
#include "td_fc_internal.h"

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

/* clang-format off */
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
/* clang-format on */

/* r1/r2 acc0/acc1, r3/r4 rows, r5 x, r6-r9 inputs, r10/r11 weights, r12 temp, lr end16. */
__attribute__((naked, noinline)) TD_NOIPA static void fc2_run_asm(fc2_run *run
                                                                  __attribute__((unused)))
{
    /* clang-format off */
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
    /* clang-format on */
}

/* All rows two at a time (an odd last row is computed twice) against the widened input.
 * Parameters are copied to locals: the int8 output stores may alias them. */
static void fc2_rows(const td_fc_params *params, const td_quant_params *quant, int32_t k,
                     const int16_t *xs, int32_t out_features, const int8_t *weights,
                     const int32_t *bias, int8_t *output)
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
            a0 = td_smlad_s8x4((int32_t)td_read_u32(w0 + last), x02, x13, a0);
            a1 = td_smlad_s8x4((int32_t)td_read_u32(w1 + last), x02, x13, a1);
        }
        output[o] = td_requant_rshift_s8(a0, mults[o], shifts[o], ooff, amin, amax);
        if (two) {
            output[o + 1] = td_requant_rshift_s8(a1, mults[o + 1], shifts[o + 1], ooff, amin, amax);
        }
    }
}

int32_t td_fc_dense_s8_ldm_get_buffer_size(int32_t in_features)
{
    return 3 + 2 * TD_ALIGN4(in_features); /* the widened input */
}

void td_fc_dense_s8_ldm(const td_fc_params *params, const td_quant_params *quant,
                        int32_t in_features, const int8_t *input, int32_t out_features,
                        const int8_t *weights, const int32_t *bias, int8_t *output, void *scratch)
{
    int16_t *xs = (int16_t *)td_align_ptr4(scratch);
    td_fc_widen_pairs(input, in_features >> 2, params->input_offset, xs);
    fc2_rows(params, quant, in_features, xs, out_features, weights, bias, output);
}
#else
typedef int td_fc_dense_s8_ldm_unused; /* ISO C: no empty translation unit */
#endif
