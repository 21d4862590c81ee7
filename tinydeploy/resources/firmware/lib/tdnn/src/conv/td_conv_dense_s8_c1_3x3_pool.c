/* conv2d, dense weights, in_c == 1, 3x3, stride 1, fused 2x2 max-pool (TinyNet conv1, 1.34
 * instructions/MAC on Cortex-M4): one pooling window at a time for all output channels.
 * td_conv_dense_s8 runs it when td_conv_dense_s8_c1_3x3_pool_applies (else the in_c == 1,
 * kw == 3 variant, td_conv_dense_s8_c1_k3.c). */
#include "td_conv_internal.h"

/* One pooling window (the 2x2 conv outputs TL, TR, BL, BR over padded band columns x..x+3
 * of band rows 0..3) at a time, all output channels per window. Requantisation is monotonic
 * for multiplier >= 0 and a right shift, so only the window maximum is requantised (else
 * all four, and the int8 maximum is kept). Rows come from a ring of 4 padded band rows in
 * scratch (padded row y in slot y % 4, so consecutive pool rows share two), or straight from
 * the input when a row needs no padding.
 *
 * Portable path (c1p_run_c): direct 3x3 sums. Cortex-M DSP path (c1p_run_asm, one call per
 * pool row): the window's inputs (+ offset) are prepared once as 12 int16-pair words shared
 * by all channels: per band row r, E_r = (x0, x2) and O_r = (x1, x3) of its 4 bytes (SXTAB16),
 * and the vertical pairs Lo01 = (O0.lo, O1.lo), Hi01 = (E0.hi, E1.hi), Lo12, Hi12 (PKHBT /
 * PKHTB). With a channel's kernel as A_r = (w_r0, w_r2), Mw = (w_01, w_11) and w_21, each
 * conv output is 5 dual MACs (r = 0..2):
 *   TL = sum A_r.E_r + Mw.Lo01 + w_21*O2.lo       TR = sum A_r.O_r + Mw.Hi01 + w_21*E2.hi
 *   BL = sum A_r.E_r+1 + Mw.Lo12 + w_21*O3.lo     BR = sum A_r.O_r+1 + Mw.Hi12 + w_21*E3.hi
 * then 3 compares for the maximum and 7 instructions to requantise it (see c1p_asm_ok). */

/* One pool row for the asm routine (field order is part of its contract). */
typedef struct {
    const int8_t *row[4];   /* padded band rows 0..3 at column 0, advanced by 2 per window */
    int32_t off2;           /* input_offset in both halves */
    int32_t z;              /* 2 * output_offset + 1 */
    const int32_t *blocks;  /* per channel: A0, A1, A2, Mw, W21s, 2 * bias (see c1p_blocks) */
    const int32_t *mult;    /* quant->multiplier */
    int8_t *out;            /* first window's n outputs */
    int8_t *out_end;        /* past the last window's outputs */
    int32_t odd;            /* n & 1 */
} c1p_run;

#if defined(__ARM_FEATURE_DSP) && defined(__thumb2__)
/* The asm routine handles a call when every channel has multiplier >= 0, a right shift
 * 1 <= e <= 22 and |bias| < 2^30 - 2^19. It accumulates 2 * (sum + bias) (doubled weights
 * and bias, |sum| <= 9 * 255 * 128 < 2^19), so that with a2 = 2 * acc
 *   H = SRDHM(acc, mult) = (a2 * mult + 2^31) >> 32                    (SMMULR)
 * and TFLM's rounding right shift plus output offset becomes one SMMLAR and two shifts:
 *   out = (H + (2zp + 1) * 2^(e-1) - [a2 < 0]) >> e                     ([H < 0] may be
 * replaced by [acc < 0], see td_requant_channel_s8); |H| < 2^30 and |(2zp+1) 2^(e-1)| < 2^29
 * keep it in 32 bits. The result is saturated to int8 (the activation clamp, when narrower,
 * is applied afterwards over the output).
 * A channel whose 9 weights are all zero (fully pruned: the converter gives it a tiny weight
 * scale, hence shifts near -30) outputs one constant, so it is taken whatever its shift:
 * c1p_blocks gives it e = 1 and a bias with the same constant (c1p_dead_bias). */
static int32_t c1p_dead(const int8_t *f)
{
    int32_t k;
    for (k = 0; k < 9; k++) {
        if (f[k] != 0) {
            return 0;
        }
    }
    return 1;
}

static int32_t c1p_asm_ok(const td_quant_params *quant, const int8_t *filter, const int32_t *bias,
                          int32_t n)
{
    int32_t oc;
    for (oc = 0; oc < n; oc++) {
        const int32_t b = bias ? bias[oc] : 0;
        if (quant->multiplier[oc] < 0) {
            return 0;
        }
        if (c1p_dead(filter + 9 * oc)) {
            continue;
        }
        if (quant->shift[oc] > -1 || quant->shift[oc] < -22 || b >= (1 << 30) - (1 << 19) ||
            b <= -((1 << 30) - (1 << 19))) {
            return 0;
        }
    }
    return 1;
}

/* For a dead channel with multiplier m >= 0: a bias b (|b| < 2^11) that the asm, with e = 1,
 * turns into q, the int8 output TFLM gives for the true bias. With e = 1 the asm yields
 * (H + 2zp + 1 - [b < 0]) >> 1, H = SRDHM(b, m), which is q when H = 2 (q - zp); H grows by
 * 0 or 1 per step of b (m < 2^31), so the search below always ends (m = 0: q = zp, b = 0). */
static int32_t c1p_dead_bias(int32_t q, int32_t zp, int32_t m)
{
    const int32_t target = 2 * (q - zp);
    int32_t b = m ? (int32_t)(((int64_t)target << 31) / m) : 0;
    while (td_mul_by_quant_mult(b, m, 0) < target) {
        b++;
    }
    while (td_mul_by_quant_mult(b, m, 0) > target) {
        b--;
    }
    return b;
}

/* Per channel 6 words: A0 = (2w00, 2w02), A1 = (2w10, 2w12), A2 = (2w20, 2w22),
 * Mw = (2w01, 2w11), W21s = e - 1 | more << 8 | 2w21 << 16 (more: another channel follows),
 * 2 * bias. */
static void c1p_blocks(const td_quant_params *quant, const int8_t *filter, const int32_t *bias,
                       int32_t output_offset, int32_t n, int32_t *blk)
{
    int32_t oc;
    for (oc = 0; oc < n; oc++, blk += 6, filter += 9) {
        const int32_t more = oc + 1 < n ? 0x100 : 0;
        if (c1p_dead(filter)) {
            const int32_t b = bias ? bias[oc] : 0;
            const int32_t q =
                td_requant_s8(b, quant->multiplier[oc], quant->shift[oc], output_offset, -128, 127);
            blk[0] = blk[1] = blk[2] = blk[3] = 0;
            blk[4] = td_pack_s16x2(0 | more, 0); /* e - 1 = 0 */
            blk[5] = 2 * c1p_dead_bias(q, output_offset, quant->multiplier[oc]);
            continue;
        }
        blk[0] = td_pack_s16x2(2 * filter[0], 2 * filter[2]);
        blk[1] = td_pack_s16x2(2 * filter[3], 2 * filter[5]);
        blk[2] = td_pack_s16x2(2 * filter[6], 2 * filter[8]);
        blk[3] = td_pack_s16x2(2 * filter[1], 2 * filter[4]);
        blk[4] = td_pack_s16x2((-quant->shift[oc] - 1) | more, 2 * filter[7]);
        blk[5] = 2 * (bias ? bias[oc] : 0);
    }
}

/* One output channel of a pooling window: the 4 conv sums of the window (SMLAD over the
 * 12 widened input words on the stack), their max, and its requantisation; written once,
 * used twice per pass of the 2-channel unrolled loop below. */
/* clang-format off */
#define TD_C1P_CHANNEL              \
    "ldm    r11!, {r0-r5}\n\t"      \
    "ldm    sp, {r6-r10}\n\t"       \
    "smlad  r6, r0, r6, r5\n\t"     \
    "smlad  r7, r0, r7, r5\n\t"     \
    "smlad  r6, r1, r8, r6\n\t"     \
    "smlad  r7, r1, r9, r7\n\t"     \
    "smlad  r9, r0, r9, r5\n\t"     \
    "smlad  r5, r0, r8, r5\n\t"     \
    "smlad  r6, r2, r10, r6\n\t"    \
    "smlad  r5, r1, r10, r5\n\t"    \
    "smlatt r7, r4, r10, r7\n\t"    \
    "ldrd   r8, r10, [sp, #20]\n\t" \
    "smlad  r7, r2, r8, r7\n\t"     \
    "smlad  r9, r1, r8, r9\n\t"     \
    "smlatb r6, r4, r8, r6\n\t"     \
    "smlad  r5, r2, r10, r5\n\t"    \
    "smlatt r9, r4, r10, r9\n\t"    \
    "ldrd   r8, r10, [sp, #28]\n\t" \
    "smlad  r9, r2, r8, r9\n\t"     \
    "smlatb r5, r4, r8, r5\n\t"     \
    "smlad  r6, r3, r10, r6\n\t"    \
    "ldrd   r8, r10, [sp, #36]\n\t" \
    "smlad  r7, r3, r8, r7\n\t"     \
    "smlad  r5, r3, r10, r5\n\t"    \
    "ldrd   r1, r2, [sp, #44]\n\t"  \
    "smlad  r9, r3, r1, r9\n\t"     \
    "cmp    r6, r7\n\t"             \
    "it     lt\n\t"                 \
    "movlt  r6, r7\n\t"             \
    "cmp    r5, r9\n\t"             \
    "it     lt\n\t"                 \
    "movlt  r5, r9\n\t"             \
    "cmp    r6, r5\n\t"             \
    "it     lt\n\t"                 \
    "movlt  r6, r5\n\t"             \
    "ldr    r0, [lr], #4\n\t"       \
    "lsl    r2, r2, r4\n\t"         \
    "sub    r2, r2, r6, lsr #31\n\t"\
    "smmlar r2, r6, r0, r2\n\t"     \
    "asr    r2, r2, r4\n\t"         \
    "ssat   r2, #8, r2, asr #1\n\t" \
    "strb   r2, [r12], #1\n\t"
/* clang-format on */

/* Stack frame (after push {r4-r11, lr}): [sp, #0..51] the window's 13 words E0, O0, E1, O1,
 * E2, O2, E3, O3, Lo01, Hi01, Lo12, Hi12, Z (one STM / five loads per channel); #52 run,
 * #56 out_end, #60 blocks, #64 mult, #68 channel loop entry. Channel registers: r0-r2
 * A0-A2, r3 Mw, r4 W21s, r5 bias then BL, r6 TL, r7 TR, r9 BR, r8/r10 data, r11 blocks,
 * r12 out, lr multipliers. The channel loop is unrolled twice (odd n enters at the second
 * copy): 43 instructions per window and channel plus 25 per window. */
__attribute__((naked, noinline)) TD_NOIPA static void c1p_run_asm(c1p_run *run
                                                                  __attribute__((unused)))
{
    /* clang-format off */
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "sub    sp, sp, #76\n\t"
        "str    r0, [sp, #52]\n\t"
        "ldr    r12, [r0, #32]\n\t"
        "ldr    r1, [r0, #36]\n\t"
        "str    r1, [sp, #56]\n\t"
        "ldrd   r1, r2, [r0, #24]\n\t"
        "strd   r1, r2, [sp, #60]\n\t"
        "ldr    r1, [r0, #40]\n\t"
        "adr.w  r2, 3f\n\t"
        "adr.w  r3, 4f\n\t"
        "cmp    r1, #0\n\t"
        "it     ne\n\t"
        "movne  r2, r3\n\t"
        "orr    r2, r2, #1\n\t"
        "str    r2, [sp, #68]\n\t"
        "1:\n\t" /* window: the 13 words */
        "ldr    r9, [sp, #52]\n\t"
        "ldm    r9, {r0, r2, r4, r6, r8, lr}\n\t"
        "ldr    r1, [r0], #2\n\t"
        "ldr    r3, [r2], #2\n\t"
        "ldr    r5, [r4], #2\n\t"
        "ldr    r7, [r6], #2\n\t"
        "stm    r9, {r0, r2, r4, r6}\n\t"
        "sxtab16 r0, r8, r1\n\t"
        "sxtab16 r1, r8, r1, ror #8\n\t"
        "sxtab16 r2, r8, r3\n\t"
        "sxtab16 r3, r8, r3, ror #8\n\t"
        "sxtab16 r4, r8, r5\n\t"
        "sxtab16 r5, r8, r5, ror #8\n\t"
        "sxtab16 r6, r8, r7\n\t"
        "sxtab16 r7, r8, r7, ror #8\n\t"
        "pkhbt  r8, r1, r3, lsl #16\n\t"
        "pkhtb  r9, r2, r0, asr #16\n\t"
        "pkhbt  r10, r3, r5, lsl #16\n\t"
        "pkhtb  r11, r4, r2, asr #16\n\t"
        "stm    sp, {r0-r11, lr}\n\t"
        "ldrd   r11, lr, [sp, #60]\n\t"
        "ldr    pc, [sp, #68]\n\t"
        "3:\n\t"
        TD_C1P_CHANNEL
        "4:\n\t"
        TD_C1P_CHANNEL
        "tst    r4, #0x100\n\t"
        "bne    3b\n\t"
        "ldr    r0, [sp, #56]\n\t"
        "cmp    r12, r0\n\t"
        "bne    1b\n\t"
        "add    sp, sp, #76\n\t"
        "pop    {r4-r11, pc}\n\t");
    /* clang-format on */
}
#define TD_C1P_ASM 1
#endif

#if !defined(TD_C1P_ASM)
/* Portable pool row: direct 3x3 sums from the band rows, TFLM requantisation. */
static void c1p_run_c(const c1p_run *run, const td_conv_params *params,
                      const td_quant_params *quant, const int8_t *filter, const int32_t *bias,
                      int32_t n)
{
    const int32_t off = params->input_offset, ooff = params->output_offset;
    const int32_t amin = params->activation.min, amax = params->activation.max;
    int8_t *out = run->out;
    int32_t x, oc, r, c;
    for (x = 0; out != run->out_end; x += 2, out += n) {
        for (oc = 0; oc < n; oc++) {
            const int8_t *f = filter + 9 * oc;
            const int32_t mult = quant->multiplier[oc], shift = quant->shift[oc];
            int32_t a[4];
            a[0] = a[1] = a[2] = a[3] = bias ? bias[oc] : 0;
            for (r = 0; r < 3; r++) {
                const int8_t *t = run->row[r] + x, *u = run->row[r + 1] + x;
                for (c = 0; c < 3; c++) {
                    const int32_t w = f[3 * r + c];
                    a[0] += w * (t[c] + off);
                    a[1] += w * (t[c + 1] + off);
                    a[2] += w * (u[c] + off);
                    a[3] += w * (u[c + 1] + off);
                }
            }
            out[oc] = td_requant_max4_s8(a, mult, shift, ooff, amin, amax);
        }
    }
}
#endif

int32_t td_conv_dense_s8_c1_3x3_pool_shape(const td_conv_params *params, const td_dims *input_dims,
                                           const td_dims *filter_dims)
{
    return input_dims->c == 1 && filter_dims->h == 3 && filter_dims->w == 3 &&
           params->stride_h == 1 && params->stride_w == 1 && params->fused_maxpool == 1;
}

/* The shapes of this variant; on DSP cores also the quantisation the asm takes (else the
 * general in_c == 1 kw == 3 variant runs, see td_conv_dense_s8_c1_k3.c). */
int32_t td_conv_dense_s8_c1_3x3_pool_applies(const td_conv_params *params,
                                             const td_quant_params *quant,
                                             const td_dims *input_dims, const td_dims *filter_dims,
                                             const int8_t *filter, const int32_t *bias)
{
    if (!td_conv_dense_s8_c1_3x3_pool_shape(params, input_dims, filter_dims)) {
        return 0;
    }
#if defined(TD_C1P_ASM)
    return c1p_asm_ok(quant, filter, bias, filter_dims->n);
#else
    (void)quant;
    (void)filter;
    (void)bias;
    return 1;
#endif
}

/* Input geometry and the ring of 4 padded rows (wp bytes each) in scratch. */
typedef struct {
    const int8_t *input;
    int8_t *ring;
    int32_t h, w, pt, pl, pr, wp;
    int8_t zp;
} c1p_band;

/* Padded band row y (0 = the top padding row) of the input, as a pointer to its column 0:
 * the input row itself when it needs no padding, else ring slot y % 4, filled here. */
static const int8_t *c1p_row(const c1p_band *b, int32_t y)
{
    const int32_t iy = y - b->pt, w = b->w;
    const int8_t *src;
    int8_t *dst = b->ring + (y & 3) * b->wp, *d;
    int32_t i;
    if (iy < 0 || iy >= b->h) {
        memset(dst, b->zp, (size_t)b->wp);
        return dst;
    }
    src = b->input + iy * w;
    if (b->wp == w) {
        return src;
    }
    for (d = dst, i = b->pl; i > 0; i--) {
        *d++ = b->zp;
    }
    if (w >= 4) { /* words, the last one overlapping */
        for (i = 0; i + 4 < w; i += 4) {
            td_write_u32(d + i, td_read_u32(src + i));
        }
        td_write_u32(d + w - 4, td_read_u32(src + w - 4));
    } else {
        for (i = 0; i < w; i++) {
            d[i] = src[i];
        }
    }
    d += w;
    for (i = b->pr; i > 0; i--) {
        *d++ = b->zp;
    }
    return dst;
}

/* Scratch: 6 words of channel constants per output channel (4-byte aligned), then the
 * ring of 4 padded rows. */
int32_t td_conv_dense_s8_c1_3x3_pool_get_buffer_size(const td_conv_params *params,
                                                     const td_dims *input_dims,
                                                     const td_dims *filter_dims)
{
    const int32_t wp = input_dims->w + params->pad_left + params->pad_right;
    return 3 + 24 * filter_dims->n + 4 * wp;
}

void td_conv_dense_s8_c1_3x3_pool(const td_conv_params *params, const td_quant_params *quant,
                                  const td_dims *input_dims, const int8_t *input,
                                  const td_dims *filter_dims, const int8_t *filter,
                                  const int32_t *bias, const td_dims *output_dims, int8_t *output,
                                  void *scratch)
{
    const int32_t n = filter_dims->n, ph = output_dims->h, pw = output_dims->w;
    const int32_t off = params->input_offset;
    int32_t *blocks = (int32_t *)td_align_ptr4(scratch);
    int8_t *ring = (int8_t *)(blocks + 6 * n);
    const int8_t *lo0, *lo1;
    c1p_band band;
    int32_t py;
    c1p_run run;
#if defined(TD_C1P_ASM)
    c1p_blocks(quant, filter, bias, params->output_offset, n, blocks);
#endif
    run.z = 2 * params->output_offset + 1;
    run.off2 = td_pack_s16x2(off, off);
    run.blocks = blocks;
    run.mult = quant->multiplier;
    run.odd = n & 1;
    band.input = input;
    band.ring = ring;
    band.h = input_dims->h;
    band.w = input_dims->w;
    band.pt = params->pad_top;
    band.pl = params->pad_left;
    band.pr = params->pad_right;
    band.wp = band.w + band.pl + band.pr;
    band.zp = (int8_t)(-off);
    lo0 = c1p_row(&band, 0);
    lo1 = c1p_row(&band, 1);
    for (py = 0; py < ph; py++) { /* band rows 2py .. 2py + 3, the first two as before */
        run.row[0] = lo0;
        run.row[1] = lo1;
        run.row[2] = lo0 = c1p_row(&band, 2 * py + 2);
        run.row[3] = lo1 = c1p_row(&band, 2 * py + 3);
        run.out = output + py * pw * n;
        run.out_end = run.out + pw * n;
#if defined(TD_C1P_ASM)
        c1p_run_asm(&run);
#else
        c1p_run_c(&run, params, quant, filter, bias, n);
#endif
    }
#if defined(TD_C1P_ASM)
    if (params->activation.min > -128 || params->activation.max < 127) {
        const int32_t amin = params->activation.min, amax = params->activation.max;
        int32_t i;
        for (i = 0; i < ph * pw * n; i++) {
            const int32_t v = output[i];
            output[i] = (int8_t)(v < amin ? amin : (v > amax ? amax : v));
        }
    }
#endif
}
