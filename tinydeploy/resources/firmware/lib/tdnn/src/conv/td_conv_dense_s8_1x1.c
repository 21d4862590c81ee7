/* conv2d, dense weights, 1x1 kernel, no padding, any stride, no fused pool (the pointwise
 * convs of DS-CNN and MobileNet, ResNet's 1x1 shortcuts): a GEMM of output pixels x output
 * channels. Pixels go in blocks (4; 6 on DSP cores for in_c <= 16); a block's inputs are
 * widened to int16 once and then serve every output channel, so small in_c is not dominated
 * by per-pixel work.
 *
 * Portable path (pw_block_c): (x + input_offset) widened once per block, 4 accumulators per
 * channel, TFLM requantisation; the last block repeats its last pixel (the repeated slots
 * store the same bytes to the same place). It runs on cores without DSP (and on the host).
 *
 * Cortex-M DSP path (pw_block<n>_asm, one call per block of n <= 4 pixels, all channels; the
 * last block of a call has n = npix % 4 when that is not 0): the inputs are stored doubled,
 * 2 * (x + input_offset) in [-510, 510], as int16 pairs in SXTB16 order, 8n bytes per group
 * of 4 input channels (slot j at 8j: (x0, x2), (x1, x3)). One weight word (SXTB16, SXTB16
 * ROR 8) serves the n pixels: 15 instructions per 16 MACs for n = 4.
 * The doubled accumulator a2 = 2 * (bias + sum) turns TFLM's requantisation into
 *   H = SRDHM(acc, mult) = (a2 * mult + 2^31) >> 32                          (SMMLAR)
 *   out = (H + (2 zp + 1) 2^(e-1) - [a2 < 0]) >> e      (right shift e, 1 <= e <= 22)
 * (RoundingDivideByPOT plus the output offset; [H < 0] may be replaced by [acc < 0], see
 * td_requant_channel_s8), then SSAT 8: 4 instructions per output. Exact while |acc| < 2^30
 * (|bias| + in_c * 255 * 128 < 2^30) and |H + (2zp + 1) 2^(e-1)| < 2^31 (e <= 22); a call
 * with any channel outside that (multiplier < 0, a left shift, e > 22, a huge bias) that is
 * not fully pruned (all weights 0: it gets multiplier 0 and a Z that yields its constant
 * output), or with in_c % 4 != 0, is not taken (td_conv_dense_s8 then runs im2col). A narrower
 * activation range than int8 is applied afterwards over the output (SSUB8 / SEL).
 *
 * DSP, in_c 8 (out_c % 8 == 0) and 16 (out_c % 4 == 0): blocks of pixels leave the inputs in
 * memory (one LDRD per 4 MACs and a weight word per channel and block); pw_row<c>_asm
 * instead keeps one pixel's widened inputs in registers and streams per-channel records
 * (the weights widened and doubled once per call) with LDM, the same requantisation, minus
 * its sign correction where activation.min >= output_offset makes that exact: ~1.27 (in_c 8)
 * and ~1.10 (in_c 16) instructions per MAC on M4 (1.40 and 1.17 with the correction) instead
 * of 1.98 and 1.40. The records need
 * (in_c / 2 + 4) words per channel: within the im2col share of the layer's scratch. */
#include "td_conv_internal.h"

#if defined(__ARM_FEATURE_DSP) && defined(__thumb2__)
#define TD_PW_ASM 1
#endif

/* One block for the asm routine (field order and offsets are part of its contract). */
typedef struct {
    int8_t *out[4];         /*  0: output of slot j at the current channel (advanced) */
    const int16_t *x;       /* 16: widened inputs, 32 bytes per group of 4 channels */
    int32_t passes;         /* 20: passes of the 4-group loop, ceil((groups - 1) / 4) */
    const int8_t *filter;   /* 24: weight row 0 */
    const int32_t *rec;     /* 28: per channel {2 * bias, multiplier, Z, e - 1} */
    const int32_t *rec_end; /* 32 */
    int32_t entry;          /* 36: loop copy the first pass enters (4: no loop) */
    const int8_t *src[4];   /* 40: input pixel of slot j (advanced while widening) */
    int32_t off2;           /* 56: input_offset in both halves */
    int32_t groups;         /* 60: in_c / 4 */
    uint32_t entry_addr;    /* 64: 0, or the entry address the routine last used */
} pw_block;

/* A block of 6 pixels for in_c <= 16 (pw_block6_asm; offsets are part of its contract). */
typedef struct {
    int8_t *out[6];         /*  0 */
    const int16_t *x;       /* 24: 48 bytes per group of 4 channels */
    const int8_t *filter;   /* 28 */
    const int32_t *rec;     /* 32 */
    const int32_t *rec_end; /* 36 */
    int32_t entry;          /* 40: 3 - (groups - 1): copy the first pass enters, 3 none */
    const int8_t *src[6];   /* 44 */
    int32_t off2;           /* 68 */
    int32_t groups;         /* 72: 1..4 */
    uint32_t entry_addr;    /* 76: 0, or the entry address the routine last used */
} pw_block6;

/* A run of pixels for pw_row<c>_asm (field order is part of its contract). */
typedef struct {
    const int8_t *src;      /*  0: first pixel's inputs */
    int32_t src_step;       /*  4 */
    int32_t off2;           /*  8: input_offset in both halves */
    const int32_t *rec;     /* 12: per channel {2 * bias, c / 2 weight pairs, mult, Z, e - 1} */
    const int32_t *rec_end; /* 16 */
    const int8_t *out_end;  /* 20: out + pixels * out_c */
    int8_t *out;            /* 24: the first pixel's outputs (all follow consecutively) */
} pw_row;

int32_t td_conv_dense_s8_1x1_shape(const td_conv_params *params, const td_dims *input_dims,
                                   const td_dims *filter_dims)
{
    (void)input_dims;
    return filter_dims->h == 1 && filter_dims->w == 1 && params->pad_top == 0 &&
           params->pad_left == 0 && params->pad_bottom == 0 && params->pad_right == 0 &&
           params->fused_maxpool == 0;
}

#if defined(TD_PW_ASM)
/* A channel the asm requantises exactly (see the top of the file): multiplier >= 0, shift in
 * [-22, -1], |bias| <= lim (unsigned range tests, no branches). */
static inline int32_t pw_channel_ok(int32_t mult, int32_t shift, int32_t b, int32_t lim)
{
    return (mult >= 0) & ((uint32_t)(-1 - shift) < 22u) &
           ((uint32_t)b + (uint32_t)lim <= 2u * (uint32_t)lim);
}

/* All in_c weights of a row zero (a fully pruned channel: its output is one constant). */
static int32_t pw_dead(const int8_t *row, int32_t in_c)
{
    int32_t i;
    for (i = 0; i < in_c; i += 4) {
        if (td_read_u32(row + i) != 0u) {
            return 0;
        }
    }
    return 1;
}

/* |bias| limit keeping |acc| < 2^30 (in_c <= 16384, so > 0). */
static int32_t pw_bias_limit(int32_t in_c)
{
    return (1 << 30) - 1 - in_c * 255 * 128;
}

/* Every channel within the asm's exact range or fully pruned. Weights are only read for
 * channels outside the range (the converter gives pruned channels tiny weight scales, hence
 * shifts near -30, or multiplier 0). */
static int32_t pw_asm_ok(const td_quant_params *quant, const int8_t *filter, const int32_t *bias,
                         int32_t out_c, int32_t in_c)
{
    int32_t lim, oc;
    if ((in_c & 3) != 0 || in_c > 16384) {
        return 0;
    }
    lim = pw_bias_limit(in_c);
    for (oc = 0; oc < out_c; oc++) {
        if (!pw_channel_ok(quant->multiplier[oc], quant->shift[oc], bias ? bias[oc] : 0, lim) &&
            !pw_dead(filter + oc * in_c, in_c)) {
            return 0;
        }
    }
    return 1;
}
#endif

int32_t td_conv_dense_s8_1x1_applies(const td_conv_params *params, const td_quant_params *quant,
                                     const td_dims *input_dims, const td_dims *filter_dims,
                                     const int8_t *filter, const int32_t *bias)
{
    if (!td_conv_dense_s8_1x1_shape(params, input_dims, filter_dims)) {
        return 0;
    }
#if defined(TD_PW_ASM)
    return pw_asm_ok(quant, filter, bias, filter_dims->n, input_dims->c);
#elif defined(__ARM_FEATURE_DSP)
    (void)quant;
    (void)filter;
    (void)bias;
    return 0; /* DSP without the asm: the im2col variant's SMLAD kernel is faster */
#else
    (void)quant;
    (void)filter;
    (void)bias;
    return 1;
#endif
}

int32_t td_conv_dense_s8_1x1_get_buffer_size(const td_conv_params *params,
                                             const td_dims *input_dims, const td_dims *filter_dims)
{
    /* 4 words per channel (asm records), 6 pixels of int16 inputs (in_c rounded up to 4) */
    (void)params;
    return 3 + 16 * filter_dims->n + 12 * TD_ALIGN4(input_dims->c);
}

#if defined(TD_PW_ASM)
/* The asm routine, one per slot count n = 1..4 (the last block of a call may have fewer than
 * 4 pixels). Registers: r0.. the slots' accumulators, r4/r5 input pair, r6/r7 weight halves,
 * r8 weights, r9 inputs, r10 loop count, r11 block, r12 rec_end, lr rec; [sp] the loop entry.
 * Per channel: the first group of 4 input channels starts the accumulators from 2 * bias;
 * the other groups - 1 run in a 4-group loop entered part way (its entry and pass count
 * from the block, the epilogue directly when groups == 1); then the n outputs are
 * requantised and stored through the block's pointers. With n = 4: 15 instructions per
 * group of 4 input channels, 2 per loop pass and 28 per channel. */
/* clang-format off */
#define TD_PW_W                                                                                \
    "ldr    r6, [r8], #4\n\t"                                                                  \
    "sxtb16 r7, r6, ror #8\n\t"                                                                \
    "sxtb16 r6, r6\n\t"
#define TD_PW_S(a)                                                                             \
    "ldrd   r4, r5, [r9], #8\n\t"                                                              \
    "smlad  " a ", r6, r4, " a "\n\t"                                                          \
    "smlad  " a ", r7, r5, " a "\n\t"
/* first group: slot a at byte offset off starts from r0 = 2 * bias; slot 0 comes last */
#define TD_PW_F(a, off)                                                                        \
    "ldrd   r4, r5, [r9, #" off "]\n\t"                                                        \
    "smlad  " a ", r6, r4, r0\n\t"                                                             \
    "smlad  " a ", r7, r5, " a "\n\t"
#define TD_PW_F0(step)                                                                         \
    "ldrd   r4, r5, [r9], #" step "\n\t"                                                       \
    "smlad  r0, r6, r4, r0\n\t"                                                                \
    "smlad  r0, r7, r5, r0\n\t"
#define TD_PW_Q(a)                                                                             \
    "sub    r7, r5, " a ", lsr #31\n\t"                                                        \
    "smmlar " a ", " a ", r4, r7\n\t"                                                          \
    "asr    " a ", " a ", r6\n\t"                                                              \
    "ssat   " a ", #8, " a ", asr #1\n\t"
#define TD_PW_ST(a, p) "strb   " a ", [" p "], #1\n\t"
/* widening of group g of slot src: 2 * (x + off) as (x0, x2), (x1, x3) */
#define TD_PW_X(src)                                                                           \
    "ldr    r7, [" src "], #4\n\t"                                                              \
    "sxtab16 r8, r5, r7\n\t"                                                                  \
    "sxtab16 r7, r5, r7, ror #8\n\t"                                                          \
    "sadd16 r8, r8, r8\n\t"                                                                   \
    "sadd16 r7, r7, r7\n\t"                                                                   \
    "strd   r8, r7, [r10], #8\n\t"

#define TD_PW_ROUTINE(name, SRCS, WIDEN, FIRST, GROUP, REQUANT, PTRS, STORES)                 \
    __attribute__((naked, noinline)) TD_NOIPA static void name(pw_block *blk                   \
                                                               __attribute__((unused)))        \
    {                                                                                          \
        __asm__ volatile(                                                                      \
            "push   {r4-r11, lr}\n\t"                                                          \
            "sub    sp, sp, #8\n\t"                                                            \
            "mov    r11, r0\n\t"                                                               \
            "ldr    r10, [r11, #16]\n\t"                                                       \
            "add    r0, r11, #40\n\t"                                                          \
            "ldm    r0, {" SRCS "}\n\t"                                                        \
            "ldrd   r5, r6, [r11, #56]\n\t"                                                    \
            "0:\n\t" WIDEN                                                                      \
            "subs   r6, r6, #1\n\t"                                                            \
            "bne    0b\n\t"                                                                    \
            "ldrd   r8, lr, [r11, #24]\n\t"                                                    \
            "ldrd   r12, r0, [r11, #32]\n\t"                                                   \
            "ldr    r1, [r11, #64]\n\t"                                                        \
            "cbnz   r1, 7f\n\t"                                                                \
            "adr.w  r1, 2f\n\t"                                                                \
            "adr.w  r2, 3f\n\t"                                                                \
            "cmp    r0, #1\n\t"                                                                \
            "it     eq\n\t"                                                                    \
            "moveq  r1, r2\n\t"                                                                \
            "adr.w  r2, 4f\n\t"                                                                \
            "cmp    r0, #2\n\t"                                                                \
            "it     eq\n\t"                                                                    \
            "moveq  r1, r2\n\t"                                                                \
            "adr.w  r2, 5f\n\t"                                                                \
            "cmp    r0, #3\n\t"                                                                \
            "it     eq\n\t"                                                                    \
            "moveq  r1, r2\n\t"                                                                \
            "adr.w  r2, 6f\n\t"                                                                \
            "cmp    r0, #4\n\t"                                                                \
            "it     eq\n\t"                                                                    \
            "moveq  r1, r2\n\t"                                                                \
            "orr    r1, r1, #1\n\t"                                                            \
            "str    r1, [r11, #64]\n\t"                                                        \
            "7:\n\t"                                                                           \
            "str    r1, [sp]\n\t"                                                              \
            "1:\n\t"                                                                           \
            "ldr    r0, [lr], #4\n\t"                                                          \
            "ldrd   r9, r10, [r11, #16]\n\t"                                                   \
            FIRST                                                                              \
            "ldr    pc, [sp]\n\t"                                                              \
            "2:\n\t" GROUP "3:\n\t" GROUP "4:\n\t" GROUP "5:\n\t" GROUP                        \
            "subs   r10, r10, #1\n\t"                                                          \
            "bne    2b\n\t"                                                                    \
            "6:\n\t"                                                                           \
            "ldm    lr!, {r4, r5, r6}\n\t"                                                     \
            REQUANT                                                                            \
            "ldm    r11, {" PTRS "}\n\t"                                                       \
            STORES                                                                             \
            "stm    r11, {" PTRS "}\n\t"                                                       \
            "cmp    lr, r12\n\t"                                                               \
            "bne    1b\n\t"                                                                    \
            "add    sp, sp, #8\n\t"                                                            \
            "pop    {r4-r11, pc}\n\t");                                                        \
    }

TD_PW_ROUTINE(pw_block4_asm, "r1, r2, r3, r4", TD_PW_X("r1") TD_PW_X("r2") TD_PW_X("r3") TD_PW_X("r4"),
              TD_PW_W TD_PW_F("r1", "8") TD_PW_F("r2", "16") TD_PW_F("r3", "24") TD_PW_F0("32"),
              TD_PW_W TD_PW_S("r0") TD_PW_S("r1") TD_PW_S("r2") TD_PW_S("r3"),
              TD_PW_Q("r0") TD_PW_Q("r1") TD_PW_Q("r2") TD_PW_Q("r3"), "r4, r5, r6, r7",
              TD_PW_ST("r0", "r4") TD_PW_ST("r1", "r5") TD_PW_ST("r2", "r6") TD_PW_ST("r3", "r7"))
TD_PW_ROUTINE(pw_block3_asm, "r1, r2, r3", TD_PW_X("r1") TD_PW_X("r2") TD_PW_X("r3"), TD_PW_W TD_PW_F("r1", "8") TD_PW_F("r2", "16") TD_PW_F0("24"),
              TD_PW_W TD_PW_S("r0") TD_PW_S("r1") TD_PW_S("r2"),
              TD_PW_Q("r0") TD_PW_Q("r1") TD_PW_Q("r2"), "r4, r5, r6",
              TD_PW_ST("r0", "r4") TD_PW_ST("r1", "r5") TD_PW_ST("r2", "r6"))
TD_PW_ROUTINE(pw_block2_asm, "r1, r2", TD_PW_X("r1") TD_PW_X("r2"), TD_PW_W TD_PW_F("r1", "8") TD_PW_F0("16"),
              TD_PW_W TD_PW_S("r0") TD_PW_S("r1"), TD_PW_Q("r0") TD_PW_Q("r1"), "r4, r5",
              TD_PW_ST("r0", "r4") TD_PW_ST("r1", "r5"))
TD_PW_ROUTINE(pw_block1_asm, "r1", TD_PW_X("r1"), TD_PW_W TD_PW_F0("8"), TD_PW_W TD_PW_S("r0"), TD_PW_Q("r0"), "r4",
              TD_PW_ST("r0", "r4"))

/* 6 pixels x all channels for in_c <= 16 (1..4 groups, no loop counter): the 6 accumulators
 * r0-r5 leave no register for a count, so the groups after the first run in 3 straight
 * copies entered part way. r6/r7 input pair, r8/r9 weight halves, r10 weights, r11 inputs,
 * r12 block, lr rec; [sp] entry, [sp, #4] rec_end. Per channel 21 instructions per group
 * of 4 input channels (24 MACs) and 42 for the rest: 84 per 48 MACs at in_c 8, 126 per 96
 * at in_c 16 (the 4-pixel routine: 60 per 32, 90 per 64). */
#define TD_PW6_X(src)                                                                          \
    "ldr    r7, [" src "], #4\n\t"                                                              \
    "sxtab16 r8, r9, r7\n\t"                                                                  \
    "sxtab16 r7, r9, r7, ror #8\n\t"                                                          \
    "sadd16 r8, r8, r8\n\t"                                                                   \
    "sadd16 r7, r7, r7\n\t"                                                                   \
    "strd   r8, r7, [r10], #8\n\t"
#define TD_PW6_W                                                                               \
    "ldr    r8, [r10], #4\n\t"                                                                 \
    "sxtb16 r9, r8, ror #8\n\t"                                                                \
    "sxtb16 r8, r8\n\t"
#define TD_PW6_S(a)                                                                            \
    "ldrd   r6, r7, [r11], #8\n\t"                                                             \
    "smlad  " a ", r8, r6, " a "\n\t"                                                          \
    "smlad  " a ", r9, r7, " a "\n\t"
#define TD_PW6_F(a, off)                                                                       \
    "ldrd   r6, r7, [r11, #" off "]\n\t"                                                       \
    "smlad  " a ", r8, r6, r0\n\t"                                                             \
    "smlad  " a ", r9, r7, " a "\n\t"
#define TD_PW6_GROUP                                                                           \
    TD_PW6_W TD_PW6_S("r0") TD_PW6_S("r1") TD_PW6_S("r2") TD_PW6_S("r3") TD_PW6_S("r4")        \
    TD_PW6_S("r5")
#define TD_PW6_Q(a)                                                                            \
    "sub    r9, r7, " a ", lsr #31\n\t"                                                        \
    "smmlar " a ", " a ", r6, r9\n\t"                                                          \
    "asr    " a ", " a ", r8\n\t"                                                              \
    "ssat   " a ", #8, " a ", asr #1\n\t"

__attribute__((naked, noinline)) TD_NOIPA static void pw_block6_asm(pw_block6 *blk
                                                                    __attribute__((unused)))
{
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "sub    sp, sp, #8\n\t"
        "mov    r12, r0\n\t"
        "ldr    r10, [r12, #24]\n\t"
        "add    r0, r12, #44\n\t"
        "ldm    r0, {r1, r2, r3, r4, r5, r6}\n\t"
        "ldrd   r9, r0, [r12, #68]\n\t"
        "0:\n\t"
        TD_PW6_X("r1") TD_PW6_X("r2") TD_PW6_X("r3") TD_PW6_X("r4") TD_PW6_X("r5") TD_PW6_X("r6")
        "subs   r0, r0, #1\n\t"
        "bne    0b\n\t"
        "ldrd   r10, lr, [r12, #28]\n\t"
        "ldrd   r1, r0, [r12, #36]\n\t"
        "str    r1, [sp, #4]\n\t"
        "ldr    r1, [r12, #76]\n\t"
        "cbnz   r1, 7f\n\t"
        "adr.w  r1, 2f\n\t"
        "adr.w  r2, 3f\n\t"
        "cmp    r0, #1\n\t"
        "it     eq\n\t"
        "moveq  r1, r2\n\t"
        "adr.w  r2, 4f\n\t"
        "cmp    r0, #2\n\t"
        "it     eq\n\t"
        "moveq  r1, r2\n\t"
        "adr.w  r2, 6f\n\t"
        "cmp    r0, #3\n\t"
        "it     eq\n\t"
        "moveq  r1, r2\n\t"
        "orr    r1, r1, #1\n\t"
        "str    r1, [r12, #76]\n\t"
        "7:\n\t"
        "str    r1, [sp]\n\t"
        "1:\n\t"
        "ldr    r0, [lr], #4\n\t"
        "ldr    r11, [r12, #24]\n\t"
        TD_PW6_W TD_PW6_F("r1", "8") TD_PW6_F("r2", "16") TD_PW6_F("r3", "24")
        TD_PW6_F("r4", "32") TD_PW6_F("r5", "40")
        "ldrd   r6, r7, [r11], #48\n\t"
        "smlad  r0, r8, r6, r0\n\t"
        "smlad  r0, r9, r7, r0\n\t"
        "ldr    pc, [sp]\n\t"
        "2:\n\t" TD_PW6_GROUP "3:\n\t" TD_PW6_GROUP "4:\n\t" TD_PW6_GROUP
        "6:\n\t"
        "ldm    lr!, {r6, r7, r8}\n\t"
        TD_PW6_Q("r0") TD_PW6_Q("r1") TD_PW6_Q("r2") TD_PW6_Q("r3") TD_PW6_Q("r4")
        TD_PW6_Q("r5")
        "ldm    r12, {r6, r7, r8}\n\t"
        "strb   r0, [r6], #1\n\t"
        "strb   r1, [r7], #1\n\t"
        "strb   r2, [r8], #1\n\t"
        "stm    r12, {r6, r7, r8}\n\t"
        "add    r9, r12, #12\n\t"
        "ldm    r9, {r6, r7, r8}\n\t"
        "strb   r3, [r6], #1\n\t"
        "strb   r4, [r7], #1\n\t"
        "strb   r5, [r8], #1\n\t"
        "stm    r9, {r6, r7, r8}\n\t"
        "ldr    r9, [sp, #4]\n\t"
        "cmp    lr, r9\n\t"
        "bne    1b\n\t"
        "add    sp, sp, #8\n\t"
        "pop    {r4-r11, pc}\n\t");
}

/* One pixel at a time for in_c 8 and 16 (pw_row<c>_asm, one call per run of pixels whose
 * inputs are src_step apart; the outputs are consecutive): the pixel's inputs, widened to
 * (x + input_offset) pairs, stay in r0..r(c/2 - 1) while the channels stream past; a
 * channel's record {2 * bias, c / 2 doubled weight pairs, multiplier, Z, e - 1} comes in
 * with LDMs (1 for c 8, 4 for c 16), its sum needs c / 2 SMLADs and it is requantised in 3
 * instructions (4 with the sign correction) and stored with STRB: 9 (10) per channel at
 * c 8, 16 (17) at c 16, a loop test per 8 (c 8) or 4 (c 16) channels. Without the sign
 * correction (the _pos routines) a negative accumulator may round differently, but both
 * results are <= output_offset: exact whenever activation.min >= output_offset.
 * Stack: the first 6 words of pw_row (src advanced per pixel). */
#define TD_PWR_C8(SIGN)                                                                        \
    "ldm    lr!, {r4-r11}\n\t"                                                                 \
    "smlad  r4, r5, r0, r4\n\t"                                                                \
    "smlad  r4, r6, r1, r4\n\t"                                                                \
    "smlad  r4, r7, r2, r4\n\t"                                                                \
    "smlad  r4, r8, r3, r4\n\t" SIGN                                                           \
    "smmlar r4, r4, r9, r10\n\t"                                                               \
    "asr    r4, r4, r11\n\t"                                                                   \
    "ssat   r4, #8, r4, asr #1\n\t"                                                            \
    "strb   r4, [r12], #1\n\t"
#define TD_PWR_C8_SIGN "sub    r10, r10, r4, lsr #31\n\t"
#define TD_PWR_C16(SIGN)                                                                       \
    "ldm    lr!, {r8-r11}\n\t"                                                                 \
    "smlad  r8, r9, r0, r8\n\t"                                                                \
    "smlad  r8, r10, r1, r8\n\t"                                                               \
    "smlad  r8, r11, r2, r8\n\t"                                                               \
    "ldm    lr!, {r9-r11}\n\t"                                                                 \
    "smlad  r8, r9, r3, r8\n\t"                                                                \
    "smlad  r8, r10, r4, r8\n\t"                                                               \
    "smlad  r8, r11, r5, r8\n\t"                                                               \
    "ldm    lr!, {r9-r10}\n\t"                                                                 \
    "smlad  r8, r9, r6, r8\n\t"                                                                \
    "smlad  r8, r10, r7, r8\n\t"                                                               \
    "ldm    lr!, {r9-r11}\n\t" SIGN                                                            \
    "smmlar r8, r8, r9, r10\n\t"                                                               \
    "asr    r8, r8, r11\n\t"                                                                   \
    "ssat   r8, #8, r8, asr #1\n\t"                                                            \
    "strb   r8, [r12], #1\n\t"
#define TD_PWR_C16_SIGN "sub    r10, r10, r8, lsr #31\n\t"
/* widen input word raw (4 channels) into pair registers lo, hi */
#define TD_PWR_X(lo, hi, off2)                                                                 \
    "sxtab16 " lo ", " off2 ", " hi "\n\t"                                                     \
    "sxtab16 " hi ", " off2 ", " hi ", ror #8\n\t"
#define TD_PWR_ROUTINE(name, LOAD, WIDEN, CHANNELS, T0)                                        \
    __attribute__((naked, noinline)) TD_NOIPA static void name(const pw_row *row               \
                                                               __attribute__((unused)))        \
    {                                                                                          \
        __asm__ volatile("push   {r4-r11, lr}\n\t"                                             \
                         "ldr    r12, [r0, #24]\n\t"                                           \
                         "ldm    r0, {r1-r6}\n\t"                                              \
                         "push   {r1-r6}\n\t"                                                  \
                         "1:\n\t" LOAD WIDEN                                                   \
                         "2:\n\t" CHANNELS                                                     \
                         "ldr    " T0 ", [sp, #16]\n\t"                                        \
                         "cmp    lr, " T0 "\n\t"                                               \
                         "bne    2b\n\t"                                                       \
                         "ldr    " T0 ", [sp, #20]\n\t"                                        \
                         "cmp    r12, " T0 "\n\t"                                              \
                         "bne    1b\n\t"                                                       \
                         "add    sp, sp, #24\n\t"                                              \
                         "pop    {r4-r11, pc}\n\t");                                           \
    }
/* c 8: r4 src, r5 step, r6 off2, lr rec; raw words into r1, r3 */
#define TD_PWR_LOAD8                                                                           \
    "ldm    sp, {r4, r5, r6, lr}\n\t"                                                         \
    "ldr    r1, [r4]\n\t"                                                                      \
    "ldr    r3, [r4, #4]\n\t"                                                                  \
    "add    r4, r4, r5\n\t"                                                                    \
    "str    r4, [sp]\n\t"
#define TD_PWR_WIDEN8 TD_PWR_X("r0", "r1", "r6") TD_PWR_X("r2", "r3", "r6")
/* c 16: r8 src, r9 step, r10 off2, lr rec; raw words into r1, r3, r5, r7 */
#define TD_PWR_LOAD16                                                                          \
    "ldm    sp, {r8, r9, r10, lr}\n\t"                                                        \
    "ldr    r1, [r8]\n\t"                                                                      \
    "ldr    r3, [r8, #4]\n\t"                                                                  \
    "ldr    r5, [r8, #8]\n\t"                                                                  \
    "ldr    r7, [r8, #12]\n\t"                                                                 \
    "add    r8, r8, r9\n\t"                                                                    \
    "str    r8, [sp]\n\t"
#define TD_PWR_WIDEN16                                                                         \
    TD_PWR_X("r0", "r1", "r10") TD_PWR_X("r2", "r3", "r10") TD_PWR_X("r4", "r5", "r10")        \
    TD_PWR_X("r6", "r7", "r10")
#define TD_PWR_X8(C) C C C C C C C C
#define TD_PWR_X4(C) C C C C

TD_PWR_ROUTINE(pw_row8_asm, TD_PWR_LOAD8, TD_PWR_WIDEN8, TD_PWR_X8(TD_PWR_C8(TD_PWR_C8_SIGN)),
               "r4")
TD_PWR_ROUTINE(pw_row8_pos_asm, TD_PWR_LOAD8, TD_PWR_WIDEN8, TD_PWR_X8(TD_PWR_C8("")), "r4")
TD_PWR_ROUTINE(pw_row16_asm, TD_PWR_LOAD16, TD_PWR_WIDEN16,
               TD_PWR_X4(TD_PWR_C16(TD_PWR_C16_SIGN)), "r8")
TD_PWR_ROUTINE(pw_row16_pos_asm, TD_PWR_LOAD16, TD_PWR_WIDEN16, TD_PWR_X4(TD_PWR_C16("")), "r8")
/* clang-format on */

/* Per channel {2 * bias, multiplier, (2 zp + 1) 2^(e-1), e - 1} (shift = -e). */
static void pw_records(const td_quant_params *quant, const int32_t *bias, int32_t output_offset,
                       int32_t in_c, int32_t out_c, int32_t *rec)
{
    const int32_t lim = pw_bias_limit(in_c), z = 2 * output_offset + 1;
    int32_t oc;
    for (oc = 0; oc < out_c; oc++, rec += 4) {
        const int32_t m = quant->multiplier[oc], shift = quant->shift[oc];
        const int32_t b = bias ? bias[oc] : 0;
        if (pw_channel_ok(m, shift, b, lim)) {
            rec[0] = 2 * b;
            rec[1] = m;
            rec[2] = (int32_t)((uint32_t)z << (-1 - shift));
            rec[3] = -1 - shift;
        } else {
            /* fully pruned (pw_asm_ok): accumulator 0, multiplier 0, and Z = 2q + 1 with
             * e = 1 give (2q + 1) >> 1 = q, the TFLM output of its bias */
            rec[0] = rec[1] = rec[3] = 0;
            rec[2] = 2 * td_requant_s8(b, m, shift, output_offset, -128, 127) + 1;
        }
    }
}

/* Per channel {2 * bias, in_c / 2 doubled weight pairs (SXTB16 order: (w0, w2), (w1, w3) per
 * group of 4), multiplier, Z, e - 1} for pw_row<c>_asm (a fully pruned channel's weights
 * are all 0). pw_records first writes the 4-word records to the last 4 * out_c words of
 * the region; expanding them forward never overwrites one not yet read (channel oc's
 * expanded record ends at word (in_c / 2 + 4)(oc + 1) <= in_c / 2 * out_c + 4 (oc + 1),
 * where channel oc + 1's 4-word record starts). */
static void pw_row_records(const td_quant_params *quant, const int8_t *filter, const int32_t *bias,
                           int32_t output_offset, int32_t in_c, int32_t out_c, int32_t *rec)
{
    const int32_t *q = rec + in_c / 2 * out_c;
    int32_t oc, k;
    pw_records(quant, bias, output_offset, in_c, out_c, rec + in_c / 2 * out_c);
    for (oc = 0; oc < out_c; oc++, filter += in_c, q += 4) {
        const int32_t b2 = q[0], m = q[1], z = q[2], e1 = q[3];
        *rec++ = b2;
        for (k = 0; k < in_c; k += 4) {
            *rec++ = td_pack_s16x2(2 * filter[k], 2 * filter[k + 2]);
            *rec++ = td_pack_s16x2(2 * filter[k + 1], 2 * filter[k + 3]);
        }
        *rec++ = m;
        *rec++ = z;
        *rec++ = e1;
    }
}

/* max(v, lo) then min(v, hi) per byte: SSUB8 sets the GE flags SEL picks by (asm: the GE
 * dependency between the two is explicit here). */
static inline int32_t pw_clamp4(int32_t v, int32_t lo, int32_t hi)
{
    int32_t t;
    __asm__("ssub8 %[t], %[v], %[lo]\n\t"
            "sel   %[v], %[v], %[lo]\n\t"
            "ssub8 %[t], %[v], %[hi]\n\t"
            "sel   %[v], %[hi], %[v]\n\t"
            : [v] "+r"(v), [t] "=&r"(t)
            : [lo] "r"(lo), [hi] "r"(hi)
            : "cc");
    return v;
}

/* Activation range narrower than int8: clamp the outputs, 4 bytes at a time. */
static void pw_clamp(int8_t *out, int32_t n, int32_t amin, int32_t amax)
{
    const int32_t lo = (int32_t)(0x01010101u * (uint8_t)amin);
    const int32_t hi = (int32_t)(0x01010101u * (uint8_t)amax);
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        td_write_u32(out + i, (uint32_t)pw_clamp4((int32_t)td_read_u32(out + i), lo, hi));
    }
    for (; i < n; i++) {
        out[i] = out[i] < amin ? (int8_t)amin : (out[i] > amax ? (int8_t)amax : out[i]);
    }
}

/* Direct calls (no function pointer: the firmware's stack analysis follows them). */
static void pw_row_run(const pw_row *r, int32_t in_c, int32_t pos)
{
    if (in_c == 8) {
        if (pos) {
            pw_row8_pos_asm(r);
        } else {
            pw_row8_asm(r);
        }
    } else if (pos) {
        pw_row16_pos_asm(r);
    } else {
        pw_row16_asm(r);
    }
}

/* in_c 8 with out_c % 8 == 0, or in_c 16 with out_c % 4 == 0, when the records fit the
 * scratch td_conv_dense_s8_get_buffer_size gives (the im2col variant's share makes them
 * fit at every such shape): the pixel-at-a-time routines. Returns 0 when not taken. */
static int32_t pw_rows(const td_conv_params *params, const td_quant_params *quant,
                       const td_dims *input_dims, const int8_t *input, const td_dims *filter_dims,
                       const int8_t *filter, const int32_t *bias, int32_t conv_h, int32_t conv_w,
                       int8_t *output, void *scratch)
{
    const int32_t in_c = input_dims->c, out_c = filter_dims->n;
    const int32_t words = (in_c / 2 + 4) * out_c;
    const int32_t row_step = params->stride_h * input_dims->w * in_c;
    /* no sign correction needed when every output <= output_offset is clamped anyway */
    const int32_t pos = params->activation.min >= params->output_offset;
    pw_row r;
    int32_t oy;
    if (!((in_c == 8 && out_c % 8 == 0) || (in_c == 16 && out_c % 4 == 0)) ||
        3 + 4 * words > td_conv_dense_s8_get_buffer_size(params, input_dims, filter_dims)) {
        return 0;
    }
    if (conv_h <= 0 || conv_w <= 0 || out_c <= 0) {
        return 1; /* no outputs (the routines handle at least one pixel and channel) */
    }
    r.rec = (const int32_t *)td_align_ptr4(scratch);
    r.rec_end = r.rec + words;
    pw_row_records(quant, filter, bias, params->output_offset, in_c, out_c,
                   (int32_t *)td_align_ptr4(scratch));
    r.off2 = td_pack_s16x2(params->input_offset, params->input_offset);
    r.src_step = params->stride_w * in_c;
    if (params->stride_w == 1 && params->stride_h == 1) {
        /* every pixel's inputs follow the previous one's: one run */
        r.src = input;
        r.out = output;
        r.out_end = output + conv_h * conv_w * out_c;
        pw_row_run(&r, in_c, pos);
    } else {
        for (oy = 0; oy < conv_h; oy++) {
            r.src = input + oy * row_step;
            r.out = output + oy * conv_w * out_c;
            r.out_end = r.out + conv_w * out_c;
            pw_row_run(&r, in_c, pos);
        }
    }
    if (params->activation.min > -128 || params->activation.max < 127) {
        pw_clamp(output, conv_h * conv_w * out_c, params->activation.min, params->activation.max);
    }
    return 1;
}
#else
/* One block of 4 pixel slots, all channels: (x + off) widened once, direct sums. */
static void pw_block_c(const int8_t *const src[4], int8_t *const dst[4], int16_t *x,
                       const td_conv_params *params, const td_quant_params *quant,
                       const int8_t *filter, const int32_t *bias, int32_t in_c, int32_t out_c)
{
    const int32_t off = params->input_offset, ooff = params->output_offset;
    const int32_t amin = params->activation.min, amax = params->activation.max;
    const int16_t *x1 = x + in_c, *x2 = x + 2 * in_c, *x3 = x + 3 * in_c;
    int32_t j, k, oc;
    for (j = 0; j < 4; j++) {
        for (k = 0; k < in_c; k++) {
            x[j * in_c + k] = (int16_t)(src[j][k] + off);
        }
    }
    for (oc = 0; oc < out_c; oc++, filter += in_c) {
        const int32_t mult = quant->multiplier[oc], shift = quant->shift[oc];
        int32_t a0 = bias ? bias[oc] : 0, a1 = a0, a2 = a0, a3 = a0;
        for (k = 0; k < in_c; k++) {
            const int32_t w = filter[k];
            a0 += w * x[k];
            a1 += w * x1[k];
            a2 += w * x2[k];
            a3 += w * x3[k];
        }
        dst[0][oc] = td_requant_rshift_s8(a0, mult, shift, ooff, amin, amax);
        dst[1][oc] = td_requant_rshift_s8(a1, mult, shift, ooff, amin, amax);
        dst[2][oc] = td_requant_rshift_s8(a2, mult, shift, ooff, amin, amax);
        dst[3][oc] = td_requant_rshift_s8(a3, mult, shift, ooff, amin, amax);
    }
}
#endif

void td_conv_dense_s8_1x1(const td_conv_params *params, const td_quant_params *quant,
                          const td_dims *input_dims, const int8_t *input,
                          const td_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                          int32_t conv_h, int32_t conv_w, int8_t *output, void *scratch)
{
    const int32_t in_c = input_dims->c, out_c = filter_dims->n, npix = conv_h * conv_w;
    const int32_t row_step = params->stride_h * input_dims->w * in_c;
    const int32_t col_step = params->stride_w * in_c;
    int32_t *rec = (int32_t *)td_align_ptr4(scratch);
    int16_t *x = (int16_t *)(rec + 4 * out_c);
    int32_t p, j, ox = 0;
    const int8_t *row = input;
#if defined(TD_PW_ASM)
    const int32_t rest = in_c / 4 - 1; /* groups after the first */
    pw_block blk;
    if (pw_rows(params, quant, input_dims, input, filter_dims, filter, bias, conv_h, conv_w, output,
                scratch)) {
        return;
    }
    pw_records(quant, bias, params->output_offset, in_c, out_c, rec);
    blk.x = x;
    blk.passes = (rest + 3) / 4;
    blk.filter = filter;
    blk.rec = rec;
    blk.rec_end = rec + 4 * out_c;
    blk.entry = rest == 0 ? 4 : (4 - (rest & 3)) & 3;
    blk.off2 = td_pack_s16x2(params->input_offset, params->input_offset);
    blk.groups = in_c / 4;
    blk.entry_addr = 0;
    p = 0;
    if (in_c <= 16) {
        /* blocks of 6 pixels (then 4 and the tail below) */
        pw_block6 b6;
        b6.x = x;
        b6.filter = filter;
        b6.rec = rec;
        b6.rec_end = rec + 4 * out_c;
        b6.entry = 3 - rest;
        b6.off2 = blk.off2;
        b6.groups = blk.groups;
        b6.entry_addr = 0;
        for (; p + 6 <= npix; p += 6) {
            for (j = 0; j < 6; j++) {
                b6.src[j] = row + ox * col_step;
                b6.out[j] = output + (p + j) * out_c;
                if (++ox == conv_w) {
                    ox = 0;
                    row += row_step;
                }
            }
            pw_block6_asm(&b6);
        }
    }
    if (params->stride_h == 1 && params->stride_w == 1) {
        /* pixel q's inputs at input + q * in_c: full blocks without the row walk */
        for (; p + 4 <= npix; p += 4) {
            const int8_t *s0 = input + p * in_c;
            int8_t *o0 = output + p * out_c;
            blk.src[0] = s0;
            blk.src[1] = s0 + in_c;
            blk.src[2] = s0 + 2 * in_c;
            blk.src[3] = s0 + 3 * in_c;
            blk.out[0] = o0;
            blk.out[1] = o0 + out_c;
            blk.out[2] = o0 + 2 * out_c;
            blk.out[3] = o0 + 3 * out_c;
            pw_block4_asm(&blk);
        }
        ox = p % conv_w;
        row = input + (p / conv_w) * row_step;
    }
    for (; p < npix; p += 4) {
        const int32_t n = npix - p < 4 ? npix - p : 4;
        for (j = 0; j < n; j++) {
            blk.src[j] = row + ox * col_step;
            blk.out[j] = output + (p + j) * out_c;
            if (++ox == conv_w) {
                ox = 0;
                row += row_step;
            }
        }
        if (n == 4) {
            pw_block4_asm(&blk);
        } else {
            blk.entry_addr = 0; /* the tail routine's own loop entry */
            if (n == 3) {
                pw_block3_asm(&blk);
            } else if (n == 2) {
                pw_block2_asm(&blk);
            } else {
                pw_block1_asm(&blk);
            }
        }
    }
    if (params->activation.min > -128 || params->activation.max < 127) {
        pw_clamp(output, npix * out_c, params->activation.min, params->activation.max);
    }
#else
    const int8_t *src[4];
    int8_t *dst[4];
    (void)x;
    for (p = 0; p < npix; p += 4) {
        /* slots j: pixels p + j, the last real pixel repeated past npix */
        for (j = 0; j < 4; j++) {
            if (p + j < npix) {
                src[j] = row + ox * col_step;
                dst[j] = output + (p + j) * out_c;
                if (++ox == conv_w) {
                    ox = 0;
                    row += row_step;
                }
            } else {
                src[j] = src[j - 1];
                dst[j] = dst[j - 1];
            }
        }
        pw_block_c(src, dst, x, params, quant, filter, bias, in_c, out_c);
    }
#endif
}
