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

/* Row pairs j .. pairs-1 entirely in asm, requantisation included, for K % 8 == 0, a bias
 * and the full int8 clamp. Per row, with acc the accumulator, m its multiplier, e = -shift:
 *   out = SSAT8((SMMLAR(2*acc, m, (2*ooff + 1) << (e - 1)) - [acc < 0]) >> e)
 * which is td_requant_s8 exactly when m >= 0, 1 <= e <= 22 and |acc| < 2^30 (the proof is
 * that of td_add_s8_lut.c, with 2*acc for s2; (2*ooff + 1) << (e - 1) = 2^(e-1) + ooff*2^e
 * and e <= 22 keep every int32 in range). A pair where a row breaks one of these conditions
 * (checked per row: m's sign, e, the doubling's overflow flag) is left to the caller: the
 * routine returns with j at that pair, nothing of it written. */
typedef struct {
    const int16_t *x;     /* 0: widened input */
    const int16_t *end32; /* 4: x + 32 * (K / 32) */
    const int32_t *bias;  /* 8 */
    const int32_t *mult;  /* 12 */
    const int32_t *shift; /* 16 */
    int8_t *out;          /* 20 */
    int32_t j;            /* 24: the next pair (rows 2j, 2j + 1) */
    int32_t pairs;        /* 28 */
    int32_t k;            /* 32: row length */
    int32_t o21;          /* 36: 2 * output_offset + 1 */
    const int8_t *w;      /* 40: row 2j */
    const void *tail;     /* 44: set by the routine: the code for the last K % 32 inputs */
} fc2q_run;

/* clang-format off */
/* acc (doubled in place), multiplier, shift (clobbered: e - 1) -> int8 result in res; tmp
 * temp. The shift by e is split: ASR by e - 1, then SSAT's ASR #1 (floor of a floor). */
#define TD_FC2Q_REQUANT(acc, m, s, res, tmp)                                                 \
    "mvn    " s ", " s "\n\t"                                                                \
    "orr    " tmp ", " s ", " m ", asr #31\n\t"                                              \
    "cmp    " tmp ", #21\n\t"                                                                \
    "bhi    9f\n\t"                                                                          \
    "adds   " acc ", " acc ", " acc "\n\t"                                                   \
    "bvs    9f\n\t"                                                                          \
    "lsl    " res ", r12, " s "\n\t"                                                         \
    "smmlar " res ", " acc ", " m ", " res "\n\t"                                            \
    "sub    " res ", " res ", " acc ", lsr #31\n\t"                                          \
    "asr    " res ", " res ", " s "\n\t"                                                     \
    "ssat   " res ", #8, " res ", asr #1\n\t"
/* clang-format on */

__attribute__((naked, noinline)) TD_NOIPA static void fc2q_run_asm(fc2q_run *run
                                                                   __attribute__((unused)))
{
    /* clang-format off */
    __asm__ volatile(
        "push   {r0, r4-r11, lr}\n\t"
        /* once per call: where the last K % 32 inputs (0, 8, 16, 24) enter the 8-input
         * blocks after the 32-input loop (a Thumb address for LDR PC) */
        "ldr    r12, [r0, #32]\n\t"
        "and    r12, r12, #24\n\t"
        "cmp    r12, #8\n\t"
        "beq    10f\n\t"
        "cmp    r12, #16\n\t"
        "beq    11f\n\t"
        "cmp    r12, #24\n\t"
        "beq    12f\n\t"
        "adr.w  r12, 3f\n\t"
        "b      13f\n\t"
        "10:\n\t"
        "adr.w  r12, 7f\n\t"
        "b      13f\n\t"
        "11:\n\t"
        "adr.w  r12, 6f\n\t"
        "b      13f\n\t"
        "12:\n\t"
        "adr.w  r12, 5f\n\t"
        "13:\n\t"
        "orr    r12, r12, #1\n\t"
        "str    r12, [r0, #44]\n\t"
        "ldr    r3, [r0, #40]\n\t"
        "ldr    r12, [r0, #32]\n\t"
        "add    r4, r3, r12\n\t"
        "0:\n\t"
        "ldm    r0, {r5, lr}\n\t"
        "ldr    r12, [r0, #24]\n\t"
        "ldr    r11, [r0, #8]\n\t"
        "add    r11, r11, r12, lsl #3\n\t"
        "ldm    r11, {r1, r2}\n\t"
        "cmp    r5, lr\n\t"
        "beq    2f\n\t"
        "1:\n\t"
        TD_FC2_BLOCK8
        TD_FC2_BLOCK8
        TD_FC2_BLOCK8
        TD_FC2_BLOCK8
        "cmp    r5, lr\n\t"
        "bne    1b\n\t"
        "2:\n\t"
        "ldr    r0, [sp]\n\t"
        "ldr    pc, [r0, #44]\n\t"
        "5:\n\t"
        TD_FC2_BLOCK8
        "6:\n\t"
        TD_FC2_BLOCK8
        "7:\n\t"
        TD_FC2_BLOCK8
        "3:\n\t"
        "add    r12, r0, #12\n\t"
        "ldm    r12, {r6, r7, r8, r9}\n\t"
        "add    r6, r6, r9, lsl #3\n\t"
        "add    r7, r7, r9, lsl #3\n\t"
        "add    r8, r8, r9, lsl #1\n\t"
        "ldm    r6, {r6, r10}\n\t"
        "ldm    r7, {r7, r11}\n\t"
        "ldr    r12, [r0, #36]\n\t"
        TD_FC2Q_REQUANT("r1", "r6", "r7", "lr", "lr")
        TD_FC2Q_REQUANT("r2", "r10", "r11", "r7", "r7")
        "strb   lr, [r8]\n\t"
        "strb   r7, [r8, #1]\n\t"
        "add    r9, r9, #1\n\t"
        "str    r9, [r0, #24]\n\t"
        "ldr    r12, [r0, #32]\n\t"
        "mov    r3, r4\n\t"
        "add    r4, r4, r12\n\t"
        "ldr    r12, [r0, #28]\n\t"
        "cmp    r9, r12\n\t"
        "bne    0b\n\t"
        "9:\n\t"
        "pop    {r0, r4-r11, pc}\n\t");
    /* clang-format on */
}

/* Rows o, o + 1 (o + 1 < out_features, else row o twice) against the widened input. */
static void fc2_pair(const td_fc_params *params, const td_quant_params *quant, int32_t k,
                     fc2_run *run, int32_t o, int32_t out_features, const int8_t *weights,
                     const int32_t *bias, int8_t *output)
{
    const int32_t *mults = quant->multiplier, *shifts = quant->shift;
    const int32_t ooff = params->output_offset;
    const int32_t amin = params->activation.min, amax = params->activation.max;
    const int32_t groups = k >> 2, last = 4 * (groups - 1);
    const int32_t two = o + 1 < out_features;
    const int8_t *w0 = weights + o * k, *w1 = two ? w0 + k : w0;
    int32_t a0, a1;
    run->w0 = w0;
    run->w1 = w1;
    run->acc0 = bias ? bias[o] : 0;
    run->acc1 = bias ? bias[o + two] : 0;
    fc2_run_asm(run);
    a0 = run->acc0;
    a1 = run->acc1;
    if (groups & 1) { /* one more group of 4 inputs */
        const int16_t *xs = run->x;
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

/* All rows two at a time (an odd last row is computed twice) against the widened input:
 * with K % 8 == 0, a bias and the full int8 clamp the pairs run in fc2q_run_asm (a pair it
 * declines goes through fc2_pair), else each pair through fc2_pair. Parameters are copied
 * to locals: the int8 output stores may alias them. */
static void fc2_rows(const td_fc_params *params, const td_quant_params *quant, int32_t k,
                     const int16_t *xs, int32_t out_features, const int8_t *weights,
                     const int32_t *bias, int8_t *output)
{
    const int32_t groups = k >> 2;
    int32_t o = 0;
    fc2_run run;
    run.x = xs;
    run.end16 = xs + 16 * (groups / 4);
    run.end8 = xs + 8 * (groups / 2);
    if ((k & 7) == 0 && bias && params->activation.min == -128 && params->activation.max == 127 &&
        out_features >= 2) {
        fc2q_run q;
        q.x = xs;
        q.end32 = xs + 32 * (groups / 8);
        q.bias = bias;
        q.mult = quant->multiplier;
        q.shift = quant->shift;
        q.out = output;
        q.j = 0;
        q.pairs = out_features >> 1;
        q.k = k;
        q.o21 = 2 * params->output_offset + 1;
        q.tail = 0;
        while (q.j < q.pairs) {
            q.w = weights + 2 * q.j * k;
            fc2q_run_asm(&q);
            if (q.j < q.pairs) { /* a pair the asm declined */
                fc2_pair(params, quant, k, &run, 2 * q.j, out_features, weights, bias, output);
                q.j++;
            }
        }
        o = 2 * q.pairs;
    }
    for (; o < out_features; o += 2) {
        fc2_pair(params, quant, k, &run, o, out_features, weights, bias, output);
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
