/* Depthwise conv2d, dense weights, 3x3, depth multiplier 1, strides 1 or 2, Cortex-M DSP
 * extension (M4, M7, M33; Helium cores take td_dwconv_dense_s8_mve first). td_dwconv_dense_s8
 * runs it when td_dwconv_dense_s8_3x3_band_applies, for channels 0 .. 4 * floor(in_c / 4) - 1
 * (the last in_c % 4 stay on the portable loop).
 *
 * One channel at a time, its 9 weights in registers. Outputs run in *passes* along one image
 * axis (rows, or columns when the image is taller than wide, so that narrow maps such as
 * DS-CNN's 25x5 still give long passes), at most 2 * (DWB_ENTRIES - 1) outputs (stride 1) or
 * DWB_ENTRIES - 1 (stride 2) per pass segment. The input (+ offset) is widened once into
 * int16 pairs of two neighbouring pixels along the pass, 4 channels at a time: band entry j
 * of a channel holds 3 words (x[2j], x[2j + 1]), one per input line across the pass (a ring:
 * line R sits in slot R % 3, so each input line is widened once for all the output lines
 * that read it; the weights are rotated instead of the data). With P = entry j, Q = entry
 * j + 1 and per line t the weight pairs (w0, w1)_t, (w1, w2)_t:
 *   stride 1, output 2j     = 3 SMLAD(P_t, (w0, w1)_t) + 3 SMLABT(Q_t, (w1, w2)_t)
 *             output 2j + 1 = 3 SMLATB(P_t, (w0, w1)_t) + 3 SMLAD(Q_t, (w1, w2)_t)
 *   stride 2, output j      = as output 2j above,
 * so a pair of outputs takes 2 (stride 1) or 3 LDM and 12 MACs; the asm runs 4 pairs per
 * loop, entered through TBH on pairs % 4. Padding is 0 in the band (x + offset = 0), so
 * borders and interior share one loop. An entry costs 14 instructions to build (2 LDR,
 * PKHBT / PKHTB, 4 SXTAB16, 4 STR, two entries per loop); at stride 2 each input pixel
 * feeds 9 / 4 MACs, so widening is ~0.8 per MAC there (~0.2 at stride 1) on top of ~1.6 in
 * the asm: that, not a repeated widening, is why stride 2 costs more. dwb_segment is
 * compiled once per stride; at stride 2 lines without padding columns call the run only.
 *
 * Requantisation (every channel: multiplier >= 0, right shift 1 <= e <= 22,
 * |bias| < 2^30 - 2^19, else the wrapper takes the older DSP variant): weights and bias are
 * doubled (a2 = 2 * acc), H + (2zp + 1) 2^(e-1) is one SMMLAR, then + [acc < 0], >> e, SSAT
 * (see td_dwconv_dense_s8_3x3_dsp.c for the derivation). Activation ranges narrower than int8
 * are clamped afterwards per line, 4 channels per SSUB8/SEL pair.
 *
 * Stack (GCC 12 -O2, M4): dwb_segment_s1 / _s2 1,856 / 1,896 bytes (the band, 4 channels x
 * DWB_ENTRIES x 3 words = 1,200; the rotated weights, 4 x 3 x 6 words = 288; 4 pass
 * descriptors, 192), the asm 80, td_dwconv_dense_s8_3x3_band 128. */
#include "td_conv_internal.h"

#if defined(__ARM_FEATURE_DSP) && !defined(__ARM_FEATURE_MVE)

/* Band entries per channel: a pass segment has at most 2 * (DWB_ENTRIES - 1) outputs at
 * stride 1 and DWB_ENTRIES - 1 at stride 2 (25: MobileNetV1's 48x48 -> 24x24 stride-2 pass
 * is one segment; two segments cost 3.13 instead of 2.81 instructions per MAC). */
#define DWB_ENTRIES 25
#define DWB_CH_WORDS (3 * DWB_ENTRIES)

/* One pass of one channel (the asm reads these offsets: keep the order). */
typedef struct {
    const int32_t *p;        /* first band entry */
    int32_t out_off;         /* bytes from the line's output base to the first output */
    int32_t step;            /* bytes between outputs of the pass */
    const int32_t *wt;       /* the channel's weights, 3 rotations x 6 words */
    int32_t mult, cst, e;    /* requantisation constants */
    const int32_t *end;      /* end of the output pairs: p + 3 (stride 1) or 6 words per pair */
    const int32_t *tail_end; /* end + 3 words if the pass has an odd number of outputs */
    int32_t bias2[2];        /* 2 * bias, twice (one LDRD sets both accumulators) */
    int32_t pairs_mod4;      /* output pairs % 4, 4 if none (where the 4-pair loop enters) */
} dwb_pass;

/* Run the passes d .. dend - 1 of one output line: out = the line's output base, rot =
 * 24 * (first input line of the window % 3) (the weight rotation in bytes). _s1: stride 1
 * along the pass (outputs 2j, 2j + 1 from entries j, j + 1), _s2: stride 2 (outputs j, j + 1
 * from entries j .. j + 2; entry j holds pixels 2j, 2j + 1). */
void td_dwb_line_s1(const dwb_pass *d, const dwb_pass *dend, int8_t *out, int32_t rot);
void td_dwb_line_s2(const dwb_pass *d, const dwb_pass *dend, int8_t *out, int32_t rot);

/* Register use: r0 band pointer, r1 output, r2 output step, r3-r5 the pair weights
 * (w0, w1) of slots 0-2, r6-r8 (w1, w2) of slots 0-2, r9 / r10 two accumulators, r11, r12,
 * lr one band entry (slots 0-2). Frame: [sp] mult, cst, e, end, tail_end, bias2, bias2, then
 * the descriptor pointer, its end, the line's output base and the rotation.
 * Output 2j (stride 1) or j (stride 2) with P = entry j and Q = entry j + 1:
 *   a = 2 bias + sum_t SMLAD(P_t, (w0, w1)_t) + SMLABT(Q_t, (w1, w2)_t)
 * output 2j + 1 (stride 1) = sum_t SMLATB(P_t, (w0, w1)_t) + SMLAD(Q_t, (w1, w2)_t). */
#define DWB_ASM_HEAD(name)                                                                         \
    "    .pushsection .text." name ",\"ax\",%progbits\n"                                           \
    "    .syntax unified\n"                                                                        \
    "    .thumb\n"                                                                                 \
    "    .align 2\n"                                                                               \
    "    .global " name "\n"                                                                       \
    "    .hidden " name "\n"                                                                       \
    "    .type " name ", %function\n"                                                              \
    "    .thumb_func\n" name ":\n"                                                                 \
    "    push   {r4-r11, lr}\n"                                                                    \
    "    sub    sp, sp, #44\n"                                                                     \
    "    add    r12, sp, #28\n"                                                                    \
    "    stm    r12, {r0-r3}\n"                                                                    \
    "1:  ldr    lr, [sp, #28]\n"                                                                   \
    "    ldm    lr!, {r0-r3}\n"                                                                    \
    "    ldm    lr!, {r4-r11}\n"                                                                   \
    "    stm    sp, {r4-r10}\n"                                                                    \
    "    str    lr, [sp, #28]\n"                                                                   \
    "    ldrd   r4, r5, [sp, #36]\n"                                                               \
    "    add    r1, r1, r4\n"                                                                      \
    "    add    r3, r3, r5\n"                                                                      \
    "    ldm    r3, {r3-r8}\n"                                                                     \
    "    tbh    [pc, r11, lsl #1]\n"                                                               \
    "9:  .hword (2f - 9b) / 2, (8f - 9b) / 2, (7f - 9b) / 2, (5f - 9b) / 2, (3f - 9b) / 2\n"       \
    "    .align 1\n"
/* requantise r9, r10, store them at r1 and r1 + r2 */
#define DWB_ASM_RQ2                                                                                \
    "    ldrd   r11, r12, [sp]\n"                                                                  \
    "    smmlar lr, r9, r11, r12\n"                                                                \
    "    add    r9, lr, r9, asr #31\n"                                                             \
    "    smmlar lr, r10, r11, r12\n"                                                               \
    "    add    r10, lr, r10, asr #31\n"                                                           \
    "    ldr    r11, [sp, #8]\n"                                                                   \
    "    asr    r9, r9, r11\n"                                                                     \
    "    asr    r10, r10, r11\n"                                                                   \
    "    ssat   r9, #8, r9\n"                                                                      \
    "    ssat   r10, #8, r10\n"                                                                    \
    "    strb   r9, [r1]\n"                                                                        \
    "    strb   r10, [r1, r2]\n"                                                                   \
    "    add    r1, r1, r2, lsl #1\n"
/* the odd last output (entries r0, r0 + 12), then the next pass */
#define DWB_ASM_TAIL(name)                                                                         \
    "3:  ldr    r11, [sp, #16]\n"                                                                  \
    "    cmp    r0, r11\n"                                                                         \
    "    beq    4f\n"                                                                              \
    "    ldr    r9, [sp, #20]\n"                                                                   \
    "    ldm    r0!, {r11, r12, lr}\n"                                                             \
    "    smlad  r9, r11, r3, r9\n"                                                                 \
    "    smlad  r9, r12, r4, r9\n"                                                                 \
    "    smlad  r9, lr, r5, r9\n"                                                                  \
    "    ldm    r0, {r11, r12, lr}\n"                                                              \
    "    smlabt r9, r11, r6, r9\n"                                                                 \
    "    smlabt r9, r12, r7, r9\n"                                                                 \
    "    smlabt r9, lr, r8, r9\n"                                                                  \
    "    ldrd   r11, r12, [sp]\n"                                                                  \
    "    smmlar lr, r9, r11, r12\n"                                                                \
    "    add    r9, lr, r9, asr #31\n"                                                             \
    "    ldr    r11, [sp, #8]\n"                                                                   \
    "    asr    r9, r9, r11\n"                                                                     \
    "    ssat   r9, #8, r9\n"                                                                      \
    "    strb   r9, [r1]\n"                                                                        \
    "4:  ldrd   r0, r1, [sp, #28]\n"                                                               \
    "    cmp    r0, r1\n"                                                                          \
    "    bne    1b\n"                                                                              \
    "    add    sp, sp, #44\n"                                                                     \
    "    pop    {r4-r11, pc}\n"                                                                    \
    "    .size " name ", .-" name "\n"                                                             \
    "    .popsection\n"

/* clang-format off */
/* one output pair at stride 1 / 2, then its requantisation */
#define DWB_ASM_PAIR_S1                  \
    "    ldrd   r9, r10, [sp, #20]\n"    \
    "    ldm    r0!, {r11, r12, lr}\n"   \
    "    smlad  r9, r11, r3, r9\n"       \
    "    smlatb r10, r11, r3, r10\n"     \
    "    smlad  r9, r12, r4, r9\n"       \
    "    smlatb r10, r12, r4, r10\n"     \
    "    smlad  r9, lr, r5, r9\n"        \
    "    smlatb r10, lr, r5, r10\n"      \
    "    ldm    r0, {r11, r12, lr}\n"    \
    "    smlabt r9, r11, r6, r9\n"       \
    "    smlad  r10, r11, r6, r10\n"     \
    "    smlabt r9, r12, r7, r9\n"       \
    "    smlad  r10, r12, r7, r10\n"     \
    "    smlabt r9, lr, r8, r9\n"        \
    "    smlad  r10, lr, r8, r10\n"      \
    DWB_ASM_RQ2
#define DWB_ASM_PAIR_S2                  \
    "    ldrd   r9, r10, [sp, #20]\n"    \
    "    ldm    r0!, {r11, r12, lr}\n"   \
    "    smlad  r9, r11, r3, r9\n"       \
    "    smlad  r9, r12, r4, r9\n"       \
    "    smlad  r9, lr, r5, r9\n"        \
    "    ldm    r0!, {r11, r12, lr}\n"   \
    "    smlabt r9, r11, r6, r9\n"       \
    "    smlad  r10, r11, r3, r10\n"     \
    "    smlabt r9, r12, r7, r9\n"       \
    "    smlad  r10, r12, r4, r10\n"     \
    "    smlabt r9, lr, r8, r9\n"        \
    "    smlad  r10, lr, r5, r10\n"      \
    "    ldm    r0, {r11, r12, lr}\n"    \
    "    smlabt r10, r11, r6, r10\n"     \
    "    smlabt r10, r12, r7, r10\n"     \
    "    smlabt r10, lr, r8, r10\n"      \
    DWB_ASM_RQ2
/* four pairs per loop (pairs % 4 = 3, 2, 1 enter at the second, third, fourth), while
 * r0 != end */
#define DWB_ASM_LOOP(pair)               \
    "2:\n" pair "5:\n" pair "7:\n" pair "8:\n" pair \
    "    ldr    r11, [sp, #12]\n"        \
    "    cmp    r0, r11\n"               \
    "    bne    2b\n"

__asm__(DWB_ASM_HEAD("td_dwb_line_s1") DWB_ASM_LOOP(DWB_ASM_PAIR_S1)
        DWB_ASM_TAIL("td_dwb_line_s1"));
__asm__(DWB_ASM_HEAD("td_dwb_line_s2") DWB_ASM_LOOP(DWB_ASM_PAIR_S2)
        DWB_ASM_TAIL("td_dwb_line_s2"));
/* clang-format on */

/* The image seen along the passes: "along" is the pass axis, "across" the axis of lines. */
typedef struct {
    int32_t n_along, n_across;     /* outputs */
    int32_t in_along, in_across;   /* input pixels */
    int32_t pad_along, pad_across; /* leading padding */
    int32_t s_along, s_across;     /* strides */
    int32_t in_along_b, in_across_b;   /* input bytes between pixels / lines */
    int32_t out_along_b, out_across_b; /* output bytes between outputs / lines */
    int32_t kstride_along, kstride_across; /* filter bytes per tap along / across */
} dwb_geom;

static int32_t dwb_fast_channel(const td_quant_params *quant, const int32_t *bias, int32_t ch)
{
    const int32_t b = bias ? bias[ch] : 0, s = quant->shift[ch];
    return quant->multiplier[ch] >= 0 && s <= -1 && s >= -22 && b < (1 << 30) - (1 << 19) &&
           b > -((1 << 30) - (1 << 19));
}

int32_t td_dwconv_dense_s8_3x3_band_applies(const td_dwconv_params *params,
                                            const td_quant_params *quant, const int32_t *bias,
                                            const td_dims *input_dims, const td_dims *filter_dims)
{
    int32_t ch;
    const int32_t oh =
        td_conv_out_size(input_dims->h, params->pad_top, params->pad_bottom, 3, params->stride_h);
    const int32_t ow =
        td_conv_out_size(input_dims->w, params->pad_left, params->pad_right, 3, params->stride_w);
    /* outputs at most 3 x 3: the passes are too short to pay for their set-up (3x3x256 s1:
     * 7.6 instructions per MAC against 6.8 for td_dwconv_dense_s8_3x3_dsp) */
    if (params->depth_multiplier != 1 || filter_dims->h != 3 || filter_dims->w != 3 ||
        input_dims->c < 4 || params->stride_h > 2 || params->stride_w > 2 || (oh <= 3 && ow <= 3)) {
        return 0;
    }
    for (ch = 0; ch < (input_dims->c & ~3); ch++) {
        if (!dwb_fast_channel(quant, bias, ch)) {
            return 0;
        }
    }
    return 1;
}

/* n >= 1 entries whose pixels are all inside (s: the first pixel of entry 0). */
static inline void dwb_build_run(int32_t *dst, const int8_t *s, int32_t step, int32_t n,
                                 int32_t off2)
{
#if defined(TD_DSP_ASM)
    int32_t xa, xb, lo, hi;
    /* clang-format off */
    /* two entries per loop (an odd count takes one first) */
#define DWB_ASM_ENTRY                                  \
        "   ldr     %[xb], [%[s], %[step]]\n\t"        \
        "   ldr     %[xa], [%[s]]\n\t"                 \
        "   add     %[s], %[s], %[step], lsl #1\n\t"   \
        "   pkhbt   %[lo], %[xa], %[xb], lsl #16\n\t"  \
        "   pkhtb   %[hi], %[xb], %[xa], asr #16\n\t"  \
        "   sxtab16 %[xa], %[off2], %[lo]\n\t"         \
        "   sxtab16 %[xb], %[off2], %[lo], ror #8\n\t" \
        "   str     %[xb], [%[d], %[c1]]\n\t"          \
        "   sxtab16 %[lo], %[off2], %[hi]\n\t"         \
        "   sxtab16 %[hi], %[off2], %[hi], ror #8\n\t" \
        "   str     %[lo], [%[d], %[c2]]\n\t"          \
        "   str     %[hi], [%[d], %[c3]]\n\t"          \
        "   str     %[xa], [%[d]], #12\n\t"
    __asm__ volatile(
        "   tst     %[n], #1\n\t"
        "   beq     1f\n\t"
        DWB_ASM_ENTRY
        "   subs    %[n], %[n], #1\n\t"
        "   beq     2f\n\t"
        "1:\n\t"
        DWB_ASM_ENTRY
        DWB_ASM_ENTRY
        "   subs    %[n], %[n], #2\n\t"
        "   bne     1b\n\t"
        "2:"
        : [d] "+r"(dst), [s] "+r"(s), [n] "+r"(n), [xa] "=&r"(xa), [xb] "=&r"(xb),
          [lo] "=&r"(lo), [hi] "=&r"(hi)
        : [step] "r"(step), [off2] "r"(off2), [c1] "i"(4 * DWB_CH_WORDS),
          [c2] "i"(8 * DWB_CH_WORDS), [c3] "i"(12 * DWB_CH_WORDS)
        : "memory", "cc");
#undef DWB_ASM_ENTRY
    /* clang-format on */
#else
    for (; n > 0; n--, dst += 3, s += 2 * step) {
        const uint32_t xa = td_read_u32(s), xb = td_read_u32(s + step);
        const uint32_t lo = (xa & 0xFFFFu) | (xb << 16), hi = (xb & 0xFFFF0000u) | (xa >> 16);
        dst[0] = __sxtab16(off2, (int32_t)lo);
        dst[DWB_CH_WORDS] = td_sxtab16_ror8(off2, (int32_t)lo);
        dst[2 * DWB_CH_WORDS] = __sxtab16(off2, (int32_t)hi);
        dst[3 * DWB_CH_WORDS] = td_sxtab16_ror8(off2, (int32_t)hi);
    }
#endif
}

/* Where a segment's band entries read the input along the pass (the same for every line):
 * entry j = pixels ix0 + 2j, ix0 + 2j + 1; both inside for j0 <= j < j1, both outside (zero
 * in every line, written once per segment) for j < z0 and j >= z1; z0 <= j < j0 has only its
 * second pixel inside, j1 <= j < z1 only its first. */
typedef struct {
    int32_t n_e, z0, j0, j1, z1, ix0, in_n, step;
} dwb_plan;

/* One entry from its two pixels' words of 4 channels (a padding pixel: pad4, which reads as
 * x + offset = 0). */
static inline void dwb_entry(int32_t *dst, uint32_t xa, uint32_t xb, int32_t off2)
{
    const uint32_t lo = (xa & 0xFFFFu) | (xb << 16), hi = (xb & 0xFFFF0000u) | (xa >> 16);
    dst[0] = __sxtab16(off2, (int32_t)lo);
    dst[DWB_CH_WORDS] = td_sxtab16_ror8(off2, (int32_t)lo);
    dst[2 * DWB_CH_WORDS] = __sxtab16(off2, (int32_t)hi);
    dst[3 * DWB_CH_WORDS] = td_sxtab16_ror8(off2, (int32_t)hi);
}

/* The entries of 4 channels for one input line into one ring slot (dst: channel 0's entry
 * 0 in that slot; src: the line's first input byte of the group, NULL for a padding line). */
static TD_NOINLINE void dwb_build(int32_t *dst, const dwb_plan *pl, const int8_t *src, int32_t off2,
                                  uint32_t pad4)
{
    int32_t j;
    if (!src) {
        for (j = 0; j < pl->n_e; j++, dst += 3) {
            dst[0] = dst[DWB_CH_WORDS] = dst[2 * DWB_CH_WORDS] = dst[3 * DWB_CH_WORDS] = 0;
        }
        return;
    }
    for (j = pl->z0; j < pl->j0; j++) { /* (padding, inside) */
        dwb_entry(dst + 3 * j, pad4, td_read_u32(src + (pl->ix0 + 2 * j + 1) * pl->step), off2);
    }
    if (pl->j1 > pl->j0) {
        dwb_build_run(dst + 3 * pl->j0, src + (pl->ix0 + 2 * pl->j0) * pl->step, pl->step,
                      pl->j1 - pl->j0, off2);
    }
    for (j = pl->j1; j < pl->z1; j++) { /* (inside, padding) */
        dwb_entry(dst + 3 * j, td_read_u32(src + (pl->ix0 + 2 * j) * pl->step), pad4, off2);
    }
}

/* Words from .. to - 1 of the 4 channels' bands set to 0. */
static void dwb_zero(int32_t *band, int32_t from, int32_t to)
{
    for (; from < to; from++) {
        band[from] = band[from + DWB_CH_WORDS] = band[from + 2 * DWB_CH_WORDS] =
            band[from + 3 * DWB_CH_WORDS] = 0;
    }
}

/* The 4 channels ch .. ch + 3 over output segment [a0, a0 + n) of every line. */
static inline __attribute__((always_inline)) void
dwb_segment(const dwb_geom *g, const td_dwconv_params *params, const td_quant_params *quant,
            const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output,
            int32_t ch, int32_t a0, int32_t n, const int32_t s1)
{
    int32_t band[4 * DWB_CH_WORDS];
    int32_t wt[4][18];
    dwb_pass pass[4];
    const int32_t off2 = td_pack_s16x2(params->input_offset, params->input_offset);
    const uint32_t pad4 = 0x01010101u * (uint8_t)-params->input_offset;
    const int32_t n_e = s1 ? (n + 1) / 2 + 1 : n + 1; /* band entries */
    const int32_t ix0 = a0 * g->s_along - g->pad_along;
    dwb_plan pl;
    const int32_t clamp = params->activation.min > -128 || params->activation.max < 127;
    const uint32_t lo4 = 0x01010101u * (uint8_t)params->activation.min;
    const uint32_t hi4 = 0x01010101u * (uint8_t)params->activation.max;
    int32_t k, o, line, built = -1, slot = 0;
    pl.n_e = n_e, pl.ix0 = ix0, pl.in_n = g->in_along, pl.step = g->in_along_b;
    pl.j0 = ix0 < 0 ? (1 - ix0) / 2 : 0;
    pl.j0 = pl.j0 < n_e ? pl.j0 : n_e;
    pl.j1 = (g->in_along - ix0) / 2; /* ix0 + 2j + 1 <= in_along - 1 */
    pl.j1 = pl.j1 < n_e ? pl.j1 : n_e;
    pl.j1 = pl.j1 > pl.j0 ? pl.j1 : pl.j0;
    for (pl.z0 = 0; pl.z0 < pl.j0 && ix0 + 2 * pl.z0 + 1 < 0;) {
        pl.z0++;
    }
    for (pl.z1 = n_e; pl.z1 > pl.j1 && ix0 + 2 * (pl.z1 - 1) >= g->in_along;) {
        pl.z1--;
    }
    dwb_zero(band, 0, 3 * pl.z0); /* entries outside the input, in every slot */
    dwb_zero(band, 3 * pl.z1, 3 * n_e);
    for (k = 0; k < 4; k++) {
        const int32_t c = ch + k, e = -quant->shift[c];
        dwb_pass *d = &pass[k];
        int32_t *w = wt[k];
        const int8_t *f = filter + c;
        const int32_t sa = g->kstride_along, sc = g->kstride_across;
        /* (w0, w1) and (w1, w2) along the pass of across taps 0, 1, 2, doubled */
        const int32_t u0 = td_pack_s16x2(2 * f[0], 2 * f[sa]);
        const int32_t v0 = td_pack_s16x2(2 * f[sa], 2 * f[2 * sa]);
        const int32_t u1 = td_pack_s16x2(2 * f[sc], 2 * f[sc + sa]);
        const int32_t v1 = td_pack_s16x2(2 * f[sc + sa], 2 * f[sc + 2 * sa]);
        const int32_t u2 = td_pack_s16x2(2 * f[2 * sc], 2 * f[2 * sc + sa]);
        const int32_t v2 = td_pack_s16x2(2 * f[2 * sc + sa], 2 * f[2 * sc + 2 * sa]);
        /* rotation r (words 6r ..): slot i holds across tap (i - r) mod 3 */
        w[0] = u0, w[1] = u1, w[2] = u2, w[3] = v0, w[4] = v1, w[5] = v2;
        w[6] = u2, w[7] = u0, w[8] = u1, w[9] = v2, w[10] = v0, w[11] = v1;
        w[12] = u1, w[13] = u2, w[14] = u0, w[15] = v1, w[16] = v2, w[17] = v0;
        d->p = band + k * DWB_CH_WORDS;
        d->out_off = a0 * g->out_along_b + k;
        d->step = g->out_along_b;
        d->wt = wt[k];
        d->mult = quant->multiplier[c];
        d->cst = (2 * params->output_offset + 1) * (1 << (e - 1));
        d->e = e;
        d->end = d->p + (s1 ? 3 : 6) * (n / 2);
        d->tail_end = d->end + 3 * (n & 1);
        d->bias2[0] = d->bias2[1] = 2 * (bias ? bias[c] : 0);
        d->pairs_mod4 = n / 2 ? (n / 2) & 3 : 4;
    }
    /* stride 2, lines without padding columns: the run alone, its arguments in locals (pl's
     * address escapes into dwb_build) */
    const int32_t plain = !s1 && pl.z0 == pl.j0 && pl.j1 == pl.z1 && pl.j1 > pl.j0;
    const int8_t *const run_src = input + ch + (pl.ix0 + 2 * pl.j0) * pl.step;
    int32_t *const run_dst = band + 3 * pl.j0;
    const int32_t run_n = pl.j1 - pl.j0, run_step = pl.step;
    for (o = 0; o < g->n_across; o++) {
        const int32_t r0 = o * g->s_across;
        int8_t *out = output + o * g->out_across_b + ch;
        for (line = built + 1 > r0 ? built + 1 : r0; line <= r0 + 2; line++) {
            const int32_t iy = line - g->pad_across;
            if (s1) {
                const int8_t *src =
                    iy >= 0 && iy < g->in_across ? input + iy * g->in_across_b + ch : NULL;
                dwb_build(band + slot, &pl, src, off2, pad4); /* slot = line % 3 */
            } else if (plain && (uint32_t)iy < (uint32_t)g->in_across) {
                dwb_build_run(run_dst + slot, run_src + iy * g->in_across_b, run_step, run_n, off2);
            } else {
                const int8_t *src =
                    iy >= 0 && iy < g->in_across ? input + iy * g->in_across_b + ch : NULL;
                dwb_build(band + slot, &pl, src, off2, pad4);
            }
            slot = slot == 2 ? 0 : slot + 1;
        }
        built = r0 + 2;
        /* slot is now (r0 + 3) % 3 = r0 % 3: the rotation of this line's window */
        if (s1) {
            td_dwb_line_s1(pass, pass + 4, out, 24 * slot);
        } else {
            td_dwb_line_s2(pass, pass + 4, out, 24 * slot);
        }
        if (clamp) {
            int8_t *po = out + a0 * g->out_along_b;
            for (k = 0; k < n; k++, po += g->out_along_b) {
                uint32_t v = td_read_u32(po), t;
                __asm__("ssub8 %1, %0, %2\n\t"
                        "sel   %0, %0, %2\n\t"
                        "ssub8 %1, %3, %0\n\t"
                        "sel   %0, %0, %3"
                        : "+r"(v), "=&r"(t)
                        : "r"(lo4), "r"(hi4)
                        : "cc");
                td_write_u32(po, v);
            }
        }
    }
}

/* dwb_segment compiled once per stride along the pass. */
static TD_NOINLINE void dwb_segment_s1(const dwb_geom *g, const td_dwconv_params *params,
                                       const td_quant_params *quant, const int8_t *input,
                                       const int8_t *filter, const int32_t *bias, int8_t *output,
                                       int32_t ch, int32_t a0, int32_t n)
{
    dwb_segment(g, params, quant, input, filter, bias, output, ch, a0, n, 1);
}

static TD_NOINLINE void dwb_segment_s2(const dwb_geom *g, const td_dwconv_params *params,
                                       const td_quant_params *quant, const int8_t *input,
                                       const int8_t *filter, const int32_t *bias, int8_t *output,
                                       int32_t ch, int32_t a0, int32_t n)
{
    dwb_segment(g, params, quant, input, filter, bias, output, ch, a0, n, 0);
}

void td_dwconv_dense_s8_3x3_band(const td_dwconv_params *params, const td_quant_params *quant,
                                 const td_dims *input_dims, const int8_t *input,
                                 const int8_t *filter, const int32_t *bias,
                                 const td_dims *output_dims, int8_t *output)
{
    const int32_t h = input_dims->h, w = input_dims->w, c = input_dims->c;
    const int32_t oh = output_dims->h, ow = output_dims->w;
    dwb_geom g;
    int32_t ch, a0;
    if (ow >= oh) { /* passes along rows */
        g.n_along = ow, g.n_across = oh, g.in_along = w, g.in_across = h;
        g.pad_along = params->pad_left, g.pad_across = params->pad_top;
        g.s_along = params->stride_w, g.s_across = params->stride_h;
        g.in_along_b = c, g.in_across_b = w * c;
        g.out_along_b = c, g.out_across_b = ow * c;
        g.kstride_along = c, g.kstride_across = 3 * c;
    } else { /* passes down columns */
        g.n_along = oh, g.n_across = ow, g.in_along = h, g.in_across = w;
        g.pad_along = params->pad_top, g.pad_across = params->pad_left;
        g.s_along = params->stride_h, g.s_across = params->stride_w;
        g.in_along_b = w * c, g.in_across_b = c;
        g.out_along_b = ow * c, g.out_across_b = c;
        g.kstride_along = 3 * c, g.kstride_across = c;
    }
    const int32_t seg = (g.s_along == 1 ? 2 : 1) * (DWB_ENTRIES - 1);
    for (ch = 0; ch + 4 <= c; ch += 4) {
        for (a0 = 0; a0 < g.n_along; a0 += seg) {
            const int32_t n = g.n_along - a0 < seg ? g.n_along - a0 : seg;
            if (g.s_along == 1) {
                dwb_segment_s1(&g, params, quant, input, filter, bias, output, ch, a0, n);
            } else {
                dwb_segment_s2(&g, params, quant, input, filter, bias, output, ch, a0, n);
            }
        }
    }
}

#endif
