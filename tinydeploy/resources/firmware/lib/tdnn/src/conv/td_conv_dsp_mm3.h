/* td_conv_dsp_mm3.h - the 2-row x 3-column SMLAD conv kernels shared by the im2col and band
 * variants (td_conv_dense_s8_im2col.c, td_conv_dense_s8_band.c), private to src/conv. */
#ifndef TD_CONV_DSP_MM3_H
#define TD_CONV_DSP_MM3_H

#include "td_conv_internal.h"

/* Positions whose accumulators a 3-column kernel fills before they are requantised (a
 * multiple of 3): acc is channel-major [out_c][TD_CONV3_BATCH]. */
#define TD_CONV3_BATCH 12

/* Requantises npos positions of a channel-major [out_c][batch] accumulator batch into
 * out (position-major, out_c per position). */
static inline void td_conv_requant_batch(const td_conv_params *p, const td_quant_params *q,
                                         int32_t out_c, const int32_t *acc, int32_t npos,
                                         int32_t batch, int8_t *out)
{
    int32_t oc;
    for (oc = 0; oc < out_c; oc++) {
        td_requant_channel_s8(acc + oc * batch, npos, q->multiplier[oc], q->shift[oc],
                              p->output_offset, p->activation.min, p->activation.max, out + oc,
                              out_c);
    }
}

#if defined(TD_DSP_ASM)
/* A faster td_conv_requant_batch for calls where every channel has multiplier >= 0, shift
 * -21..-1 and |bias| + K * 128 * 255 < 2^30 (td_conv_requant_fast_ok, checked once per
 * call), so that |acc| < 2^30 and 2 * acc fits. With e = -shift and s = [acc < 0], TFLM's
 * RDBP(SRDHM(acc, m), e) + ooff is then floor((SMMULR(2 * acc, m) - s + 2^(e-1) + ooff * 2^e)
 * / 2^e): SMMULR(2a, m) = floor((a * m + 2^30) / 2^31) is SRDHM, RDBP(x, e) =
 * floor((x - [x < 0] + 2^(e-1)) / 2^e), and [x < 0] may be s (see td_requant_channel_s8);
 * the sum stays below 2^31. One SMMLAR (constant folded in), a subtract, a shift, SSAT. */
static inline int32_t td_conv_requant_fast_ok(const td_quant_params *q, const int32_t *bias,
                                              int32_t out_c, int32_t k)
{
    const int32_t lim = (1 << 30) - 1 - k * 32640;
    int32_t oc;
    if (k > 32768) {
        return 0;
    }
    for (oc = 0; oc < out_c; oc++) {
        const int32_t b = bias ? bias[oc] : 0;
        if (q->multiplier[oc] < 0 || q->shift[oc] > -1 || q->shift[oc] < -21 || b >= lim ||
            b <= -lim) {
            return 0;
        }
    }
    return 1;
}

static inline int32_t td_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

static inline void td_conv_requant_batch_fast(const td_conv_params *p, const td_quant_params *q,
                                              int32_t out_c, const int32_t *acc, int32_t npos,
                                              int32_t batch, int8_t *out)
{
    const int32_t ooff = p->output_offset, amin = p->activation.min, amax = p->activation.max;
    int32_t oc, i;
    for (oc = 0; oc < out_c; oc++, acc += batch) {
        const int32_t m = q->multiplier[oc], e = -q->shift[oc];
        const int32_t c = (int32_t)((1u << (e - 1)) + (uint32_t)ooff * (1u << e));
        int8_t *o = out + oc;
        if (amin == -128 && amax == 127) { /* SSAT is the clamp */
            for (i = 0; i < npos; i++, o += out_c) {
                const int32_t a = acc[i];
                *o =
                    (int8_t)__ssat((td_smmlar(2 * a, m, c) - (int32_t)((uint32_t)a >> 31)) >> e, 8);
            }
        } else {
            for (i = 0; i < npos; i++, o += out_c) {
                const int32_t a = acc[i];
                int32_t y = __ssat((td_smmlar(2 * a, m, c) - (int32_t)((uint32_t)a >> 31)) >> e, 8);
                y = y < amin ? amin : y;
                *o = (int8_t)(y > amax ? amax : y);
            }
        }
    }
}

/* 2 weight rows x 3 columns for a K known at compile time (all row pairs of one call, in
 * one asm block): row 1 is read at [row 0 + K], which frees the register a second weight
 * pointer would take, so the three columns fit next to 6 accumulators, 4 widened weight
 * pairs and an LDRD pair. Per group of 4 K entries: 2 LDR + 4 SXTB16 + 3 LDRD + 12 SMLAD
 * for 24 MACs; the K loop runs `unroll` groups per pass and keeps its end on the stack.
 * Group g of column j (two words) is at byte cols + g * group_step + (col1, col2 for j = 1,
 * 2): interleaved (8, 16, step 24) or column-major (2K, 4K, step 8). The accumulator of
 * channel oc, column j goes to acc[oc * TD_CONV3_BATCH + j]. */
typedef struct {
    const int16_t *cols;  /* 0: the three columns */
    const int32_t *bias;  /* 4: current bias pair */
    int32_t bias_step;    /* 8: bytes, 8 or 0 when bias is a zero pair */
    int32_t *acc;         /* 12: accumulators of the current pair, column 0 */
    const int8_t *w_end;  /* 16: end of the weight rows */
} td_dsp_mm3_plan;

/* clang-format off */
#define TD_ASM_MM3_COL(ld, x0, x1)                                                           \
    ld                                                                                       \
    "smlad %[" x0 "], %[e0], %[xa], %[" x0 "]\n\t"                                         \
    "smlad %[" x1 "], %[e1], %[xa], %[" x1 "]\n\t"                                         \
    "smlad %[" x0 "], %[o0], %[xb], %[" x0 "]\n\t"                                         \
    "smlad %[" x1 "], %[o1], %[xb], %[" x1 "]\n\t"
/* clang-format on */

static inline __attribute__((always_inline)) void
td_dsp_mat_mult_3col(const void *w0, td_dsp_mm3_plan *plan, const int32_t k, const int32_t unroll,
                     const int32_t col1, const int32_t col2, const int32_t group_step,
                     const int32_t wide)
{
    int32_t a00, a01, a02, a10, a11, a12, e0, o0, e1, o1, xb;
    const int16_t *p;
    td_dsp_mm3_plan *xa = plan; /* the plan pointer, then a column register */
    /* clang-format off */
    __asm__ volatile(
        "push {%[xa]}\n\t"
        "sub sp, sp, #4\n\t" /* [sp]: end of row 0 (K loop), [sp, #4]: plan */
        "2:\n\t"
        "ldr %[xa], [sp, #4]\n\t"
        "ldrd %[xb], %[e0], [%[xa], #4]\n\t"
        "ldrd %[a00], %[a10], [%[xb]]\n\t"
        "add %[xb], %[xb], %[e0]\n\t"
        "str %[xb], [%[xa], #4]\n\t"
        "ldr %[p], [%[xa]]\n\t"
        "mov %[a01], %[a00]\n\t"
        "mov %[a02], %[a00]\n\t"
        "mov %[a11], %[a10]\n\t"
        "mov %[a12], %[a10]\n\t"
        "add %[xb], %[q], %[k]\n\t"
        "str %[xb], [sp]\n\t"
        "1:\n\t"
        ".rept %c[u]\n\t"
        ".if %c[wide]\n\t"
        "ldrd %[e1], %[o1], [%[q], %[k]]\n\t"
        "ldrd %[e0], %[o0], [%[q]], #8\n\t"
        ".else\n\t"
        "ldr %[o1], [%[q], %[k]]\n\t"
        "ldr %[o0], [%[q]], #4\n\t"
        "sxtb16 %[e0], %[o0]\n\t"
        "sxtb16 %[o0], %[o0], ror #8\n\t"
        "sxtb16 %[e1], %[o1]\n\t"
        "sxtb16 %[o1], %[o1], ror #8\n\t"
        ".endif\n\t"
        TD_ASM_MM3_COL("ldrd %[xa], %[xb], [%[p], %[c1]]\n\t", "a01", "a11")
        TD_ASM_MM3_COL("ldrd %[xa], %[xb], [%[p], %[c2]]\n\t", "a02", "a12")
        TD_ASM_MM3_COL("ldrd %[xa], %[xb], [%[p]], %[gs]\n\t", "a00", "a10")
        ".endr\n\t"
        "ldr %[xa], [sp]\n\t"
        "cmp %[q], %[xa]\n\t"
        "bne 1b\n\t"
        "ldr %[xa], [sp, #4]\n\t"
        "ldr %[xb], [%[xa], #12]\n\t"
        "str %[a00], [%[xb]]\n\t"
        "str %[a01], [%[xb], #4]\n\t"
        "str %[a02], [%[xb], #8]\n\t"
        "str %[a10], [%[xb], %[b0]]\n\t"
        "str %[a11], [%[xb], %[b1]]\n\t"
        "str %[a12], [%[xb], %[b2]]\n\t"
        "add %[xb], %[xb], %[b3]\n\t"
        "str %[xb], [%[xa], #12]\n\t"
        "add %[q], %[q], %[k]\n\t"
        "ldr %[xb], [%[xa], #16]\n\t"
        "cmp %[q], %[xb]\n\t"
        "bne 2b\n\t"
        "add sp, sp, #8\n\t"
        : [a00] "=&r"(a00), [a01] "=&r"(a01), [a02] "=&r"(a02), [a10] "=&r"(a10),
          [a11] "=&r"(a11), [a12] "=&r"(a12), [e0] "=&r"(e0), [o0] "=&r"(o0), [e1] "=&r"(e1),
          [o1] "=&r"(o1), [xb] "=&r"(xb), [p] "=&r"(p), [q] "+r"(w0), [xa] "+r"(xa)
        : [k] "n"(k), [u] "n"(unroll), [c1] "n"(col1), [c2] "n"(col2), [gs] "n"(group_step), [wide] "n"(wide),
          [b0] "n"(4 * TD_CONV3_BATCH), [b1] "n"(4 * TD_CONV3_BATCH + 4),
          [b2] "n"(4 * TD_CONV3_BATCH + 8), [b3] "n"(8 * TD_CONV3_BATCH)
        : "cc", "memory");
    /* clang-format on */
}

/* The same 2 x 3 block read straight from a band of widened input rows (SXTB16 order per 4
 * channels, no im2col): with stride s, the three windows of conv positions ox, ox + 1,
 * ox + 2 start 2 * c * s and 4 * c * s bytes after the first one, so one pointer reads all
 * three. A window is walked in segments of 12 groups (48 int16: a 3 x c kernel row for
 * c = 16) whose band addresses the plan lists;
 * between segments the kernel loads the next address. With wide = 1 the weights are int16
 * in SXTB16 order (rows of k bytes), loaded by LDRD: 17 instructions per 24 MACs. */
#define TD_BAND_MAX_SEGS 3 /* 3 kernel rows (c = 16) */
typedef struct {
    const int32_t *bias;  /* 0: current bias pair */
    int32_t bias_step;    /* 4: bytes, 8 or 0 when bias is a zero pair */
    int32_t *acc;         /* 8: accumulators of the current pair, column 0 */
    const int8_t *w_end;  /* 12: end of the weight rows */
    const int16_t *const *seg_end; /* 16: &seg[nseg + 1] (the loop loads one past the last) */
    const int16_t *seg[TD_BAND_MAX_SEGS + 1]; /* 20: column 0's segments */
} td_dsp_band_plan;

static inline __attribute__((always_inline)) void
td_dsp_mat_mult_band(const void *w0, td_dsp_band_plan *plan, const int32_t k, const int32_t col1,
                     const int32_t col2, const int32_t wide)
{
    int32_t a00, a01, a02, a10, a11, a12, e0, o0, e1, o1, xb;
    const int16_t *p;
    td_dsp_band_plan *xa = plan; /* the plan pointer, then a column register */
    /* clang-format off */
    __asm__ volatile(
        "push {%[xa]}\n\t"
        "sub sp, sp, #4\n\t" /* [sp]: next segment entry, [sp, #4]: plan */
        "2:\n\t"
        "ldr %[xa], [sp, #4]\n\t"
        "ldrd %[xb], %[e0], [%[xa]]\n\t"
        "ldrd %[a00], %[a10], [%[xb]]\n\t"
        "add %[xb], %[xb], %[e0]\n\t"
        "str %[xb], [%[xa]]\n\t"
        "ldr %[p], [%[xa], #20]\n\t"
        "add %[xb], %[xa], #24\n\t"
        "str %[xb], [sp]\n\t"
        "mov %[a01], %[a00]\n\t"
        "mov %[a02], %[a00]\n\t"
        "mov %[a11], %[a10]\n\t"
        "mov %[a12], %[a10]\n\t"
        "1:\n\t"
        ".rept 12\n\t"
        ".if %c[wide]\n\t"
        "ldrd %[e1], %[o1], [%[q], %[k]]\n\t"
        "ldrd %[e0], %[o0], [%[q]], #8\n\t"
        ".else\n\t"
        "ldr %[o1], [%[q], %[k]]\n\t"
        "ldr %[o0], [%[q]], #4\n\t"
        "sxtb16 %[e0], %[o0]\n\t"
        "sxtb16 %[o0], %[o0], ror #8\n\t"
        "sxtb16 %[e1], %[o1]\n\t"
        "sxtb16 %[o1], %[o1], ror #8\n\t"
        ".endif\n\t"
        TD_ASM_MM3_COL("ldrd %[xa], %[xb], [%[p], %[c1]]\n\t", "a01", "a11")
        TD_ASM_MM3_COL("ldrd %[xa], %[xb], [%[p], %[c2]]\n\t", "a02", "a12")
        TD_ASM_MM3_COL("ldrd %[xa], %[xb], [%[p]], #8\n\t", "a00", "a10")
        ".endr\n\t"
        "ldr %[xb], [sp]\n\t"
        "ldr %[p], [%[xb]], #4\n\t"
        "str %[xb], [sp]\n\t"
        "ldr %[xa], [sp, #4]\n\t"
        "ldr %[xa], [%[xa], #16]\n\t"
        "cmp %[xb], %[xa]\n\t"
        "bne 1b\n\t"
        "ldr %[xa], [sp, #4]\n\t"
        "ldr %[xb], [%[xa], #8]\n\t"
        "str %[a00], [%[xb]]\n\t"
        "str %[a01], [%[xb], #4]\n\t"
        "str %[a02], [%[xb], #8]\n\t"
        "str %[a10], [%[xb], %[b0]]\n\t"
        "str %[a11], [%[xb], %[b1]]\n\t"
        "str %[a12], [%[xb], %[b2]]\n\t"
        "add %[xb], %[xb], %[b3]\n\t"
        "str %[xb], [%[xa], #8]\n\t"
        "add %[q], %[q], %[k]\n\t"
        "ldr %[xb], [%[xa], #12]\n\t"
        "cmp %[q], %[xb]\n\t"
        "bne 2b\n\t"
        "add sp, sp, #8\n\t"
        : [a00] "=&r"(a00), [a01] "=&r"(a01), [a02] "=&r"(a02), [a10] "=&r"(a10),
          [a11] "=&r"(a11), [a12] "=&r"(a12), [e0] "=&r"(e0), [o0] "=&r"(o0), [e1] "=&r"(e1),
          [o1] "=&r"(o1), [xb] "=&r"(xb), [p] "=&r"(p), [q] "+r"(w0), [xa] "+r"(xa)
        : [k] "n"(k), [c1] "n"(col1), [c2] "n"(col2), [wide] "n"(wide),
          [b0] "n"(4 * TD_CONV3_BATCH), [b1] "n"(4 * TD_CONV3_BATCH + 4),
          [b2] "n"(4 * TD_CONV3_BATCH + 8), [b3] "n"(8 * TD_CONV3_BATCH)
        : "cc", "memory");
    /* clang-format on */
}
#endif /* TD_DSP_ASM */

#endif /* TD_CONV_DSP_MM3_H */
