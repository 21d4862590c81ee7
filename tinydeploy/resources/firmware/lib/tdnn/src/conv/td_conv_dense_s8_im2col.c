/* conv2d, dense OHWI weights, any shape: im2col of two output positions into one int16
 * buffer (input offset applied, padding = 0), then a 2-channel x 2-column kernel (SMLAD on
 * Cortex-M DSP). On DSP cores, for even out_c and the K of td_conv_dsp_mm3.h, three
 * positions and the 2 x 3 kernel instead. With fused_maxpool the four conv outputs of a 2x2
 * window are reduced before anything is stored.
 *
 * Column buffer layout: K = 4*G + T. Group g (K entries 4g..4g+3) of column j lives at
 * int16 offset gs*g + 4j, gs = 8 (two columns) or 12 (three) (DSP order x0,x2,x1,x3 to pair
 * with SXTB16 / SXTB16 ROR 8 of the weights; natural order otherwise); the T tail entries of
 * column j at gs*G + 4j. */
#include "td_conv_dsp_mm3.h"

#if defined(__ARM_FEATURE_DSP)
/* The 2 weight rows x 2 columns SMLAD loop shared by td_dsp_dot_2x2 and td_dsp_mat_mult_2col: n groups of 4
 * K entries; q0/q1 walk the weight rows, p the interleaved int16 columns. */
#if defined(TD_DSP_ASM)
/* clang-format off */
#define TD_ASM_DOT_2X2_LOOP                                                                      \
    "1:\n\t"                                                                             \
    "ldrd %[xa], %[xb], [%[p]], #8\n\t"                                                  \
    "ldrd %[ya], %[yb], [%[p]], #8\n\t"                                                  \
    "ldr %[w], [%[q0]], #4\n\t"                                                          \
    "sxtb16 %[t], %[w]\n\t"                                                              \
    "smlad %[a00], %[t], %[xa], %[a00]\n\t"                                              \
    "smlad %[a01], %[t], %[ya], %[a01]\n\t"                                              \
    "sxtb16 %[t], %[w], ror #8\n\t"                                                      \
    "smlad %[a00], %[t], %[xb], %[a00]\n\t"                                              \
    "smlad %[a01], %[t], %[yb], %[a01]\n\t"                                              \
    "ldr %[w], [%[q1]], #4\n\t"                                                          \
    "sxtb16 %[t], %[w]\n\t"                                                              \
    "smlad %[a10], %[t], %[xa], %[a10]\n\t"                                              \
    "smlad %[a11], %[t], %[ya], %[a11]\n\t"                                              \
    "sxtb16 %[t], %[w], ror #8\n\t"                                                      \
    "smlad %[a10], %[t], %[xb], %[a10]\n\t"                                              \
    "smlad %[a11], %[t], %[yb], %[a11]\n\t"                                              \
    "subs %[n], %[n], #1\n\t"                                                            \
    "bne 1b\n\t"
/* clang-format on */
#endif

/* 2 weight rows x 2 interleaved int16 columns, `groups` >= 1 groups of 4 K entries.
 * x layout per group: col0 (x0,x2,x1,x3), col1 (x0,x2,x1,x3) (16 bytes, 4-byte aligned). */
static inline void td_dsp_dot_2x2(const int8_t *w0, const int8_t *w1, const int16_t *x,
                                  int32_t groups, int32_t *a00p, int32_t *a01p, int32_t *a10p,
                                  int32_t *a11p)
{
    int32_t a00 = *a00p, a01 = *a01p, a10 = *a10p, a11 = *a11p;
#if defined(TD_DSP_ASM)
    int32_t xa, xb, ya, yb, w, t;
    /* clang-format off */
    __asm__ volatile(
        TD_ASM_DOT_2X2_LOOP
        : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [q0] "+r"(w0),
          [q1] "+r"(w1), [p] "+r"(x), [n] "+r"(groups), [xa] "=&r"(xa), [xb] "=&r"(xb),
          [ya] "=&r"(ya), [yb] "=&r"(yb), [w] "=&r"(w), [t] "=&r"(t)
        :
        : "cc", "memory");
    /* clang-format on */
#else
    for (; groups > 0; groups--, x += 8, w0 += 4, w1 += 4) {
        const int32_t xa = (int32_t)td_read_u32(x), xb = (int32_t)td_read_u32(x + 2);
        const int32_t ya = (int32_t)td_read_u32(x + 4), yb = (int32_t)td_read_u32(x + 6);
        const int32_t wa = (int32_t)td_read_u32(w0), wb = (int32_t)td_read_u32(w1);
        a00 = td_smlad_s8x4(wa, xa, xb, a00);
        a01 = td_smlad_s8x4(wa, ya, yb, a01);
        a10 = td_smlad_s8x4(wb, xa, xb, a10);
        a11 = td_smlad_s8x4(wb, ya, yb, a11);
    }
#endif
    *a00p = a00;
    *a01p = a01;
    *a10p = a10;
    *a11p = a11;
}

#if defined(TD_DSP_ASM)
/* Whole 2-column matrix kernel for K % 4 == 0 and an even number of rows: for each pair of
 * weight rows, the 2x2 SMLAD loop over the interleaved columns, then the four
 * accumulators (bias included) are stored and the pointers advanced, all in one asm block
 * (the C version spilled ~60 instructions per row pair around the inner loop). */
typedef struct {
    int32_t k;              /* bytes per weight row, multiple of 4 */
    const int16_t *cols;    /* interleaved columns */
    int32_t groups;         /* k / 4, >= 1 */
    const int32_t *bias;    /* current bias pair */
    int32_t bias_step;      /* 4 (bytes) or 0 when bias is a zero pair */
    int32_t *acc;           /* acc[0] col0 ch0, acc[col_stride] col1 ch0, acc[ch_stride] ch1 */
    int32_t col_stride;     /* bytes */
    int32_t ch_stride;      /* bytes */
    int32_t pairs;          /* row pairs, >= 1 */
} td_dsp_mm_plan;

static inline void td_dsp_mat_mult_2col(const int8_t *w0, td_dsp_mm_plan *plan)
{
    int32_t a00, a01, a10, a11, xa, xb, ya, yb, w, n;
    const int16_t *p;
    const int8_t *w1 = w0 + plan->k;
    td_dsp_mm_plan *t = plan;
    /* clang-format off */
    __asm__ volatile(
        "push {%[t]}\n\t"
        "2:\n\t"
        "ldr %[xa], [%[t], #12]\n\t"
        "ldr %[xb], [%[t], #16]\n\t"
        "ldr %[a00], [%[xa]]\n\t"
        "ldr %[a10], [%[xa], %[xb]]\n\t"
        "add %[xa], %[xa], %[xb], lsl #1\n\t"
        "str %[xa], [%[t], #12]\n\t"
        "mov %[a01], %[a00]\n\t"
        "mov %[a11], %[a10]\n\t"
        "ldr %[p], [%[t], #4]\n\t"
        "ldr %[n], [%[t], #8]\n\t"
        TD_ASM_DOT_2X2_LOOP
        "ldr %[t], [sp]\n\t"
        "ldr %[xa], [%[t], #20]\n\t"
        "ldr %[xb], [%[t], #24]\n\t"
        "ldr %[ya], [%[t], #28]\n\t"
        "str %[a00], [%[xa]]\n\t"
        "str %[a01], [%[xa], %[xb]]\n\t"
        "str %[a10], [%[xa], %[ya]]\n\t"
        "add %[yb], %[xa], %[ya]\n\t"
        "str %[a11], [%[yb], %[xb]]\n\t"
        "add %[xa], %[xa], %[ya], lsl #1\n\t"
        "str %[xa], [%[t], #20]\n\t"
        "ldr %[xa], [%[t], #0]\n\t"
        "mov %[q0], %[q1]\n\t"
        "add %[q1], %[q1], %[xa]\n\t"
        "ldr %[xa], [%[t], #32]\n\t"
        "subs %[xa], %[xa], #1\n\t"
        "str %[xa], [%[t], #32]\n\t"
        "bne 2b\n\t"
        "pop {%[t]}\n\t"
        : [a00] "=&r"(a00), [a01] "=&r"(a01), [a10] "=&r"(a10), [a11] "=&r"(a11),
          [q0] "+r"(w0), [q1] "+r"(w1), [p] "=&r"(p), [n] "=&r"(n), [xa] "=&r"(xa),
          [xb] "=&r"(xb), [ya] "=&r"(ya), [yb] "=&r"(yb), [w] "=&r"(w), [t] "+r"(t)
        :
        : "cc", "memory");
    /* clang-format on */
}
#endif

#if defined(TD_DSP_ASM)
/* The 3-column kernel on the interleaved layout (fill_column with gs = 12), built for the K
 * of 3x3 convs with 8, 16, 32 or 64 input channels, each with an unroll dividing K / 4. */
static int32_t td_dsp_mm3_supports(int32_t k)
{
    return k == 72 || k == 144 || k == 288 || k == 576;
}

/* wide: int16 weights (mm3_wide), rows of 2 * k bytes. */
static void td_dsp_mm3(const void *w0, td_dsp_mm3_plan *plan, int32_t k, int32_t wide)
{
    if (wide) {
        if (k == 72) {
            td_dsp_mat_mult_3col(w0, plan, 144, 6, 8, 16, 24, 1);
        } else {
            td_dsp_mat_mult_3col(w0, plan, 288, 6, 8, 16, 24, 1);
        }
        return;
    }
    switch (k) {
    case 72: td_dsp_mat_mult_3col(w0, plan, 72, 6, 8, 16, 24, 0); break;
    case 144: td_dsp_mat_mult_3col(w0, plan, 144, 6, 8, 16, 24, 0); break;
    case 288: td_dsp_mat_mult_3col(w0, plan, 288, 6, 8, 16, 24, 0); break;
    default: /* 576 */ td_dsp_mat_mult_3col(w0, plan, 576, 6, 8, 16, 24, 0); break;
    }
}
#endif
#endif /* __ARM_FEATURE_DSP */

/* The 3-column path widens the weights to int16 once per call (SXTB16 order, loaded by
 * LDRD: 17 instead of 21 kernel instructions per 24 MACs) for K 72 and 144 when that takes
 * at most TD_MM3_WIDE_MAX bytes of scratch (ResNet-8's 16 -> 32 conv: 9 KB) and no more than
 * the layer's input tensor: the copy then never dominates the arena at its layer (TinyNet's
 * conv2 would double its RAM: 2.3 KB of weights for a 1.6 KB input, on 8 KB STM32F100s). */
#define TD_MM3_WIDE_MAX 10240
static int32_t mm3_wide(int32_t k, int32_t out_c, const td_dims *in)
{
    const int32_t bytes = 2 * out_c * k;
    return (k == 72 || k == 144) && (out_c & 1) == 0 && bytes <= TD_MM3_WIDE_MAX &&
           bytes <= in->h * in->w * in->c;
}

/* Output positions whose accumulators are requantised together (channel by channel). The
 * fused-pool path batches fewer pooled outputs, since it also holds the 4 conv positions of
 * one window: both paths then fit TD_ACC_ROWS x out_c accumulators (RAM matters more than
 * the ~1% the smaller pooled batch costs). */
#define TD_CONV_BATCH 8
#define TD_POOL_BATCH 4
#define TD_ACC_ROWS 12 /* max(TD_CONV_BATCH, TD_POOL_BATCH + 4, TD_CONV3_BATCH) */
#define TD_MAX_COLS 3 /* columns the int16 buffer holds */

typedef struct {
    const td_conv_params *p;
    const td_quant_params *q;
    const td_dims *in;
    const int8_t *input;
    int32_t kh, kw, k, k4, out_c; /* k4: K rounded up to 4 (rows padded when K % 4 != 0) */
    int32_t *acc;    /* TD_ACC_ROWS x out_c accumulators */
    int16_t *cols;   /* gs * (G + 1) int16, two or three interleaved columns */
    int32_t gs;      /* int16 entries per group of 4 K entries: 4 x columns (8 or 12) */
    int8_t *col8;    /* int8 receptive field, k4 bytes (+4 slack) */
} conv_ctx;

/* Receptive field of conv output (oy, ox) as int8, padding = input zero point. */
static void im2col_s8(const conv_ctx *cx, int32_t oy, int32_t ox, int8_t *col)
{
    const int32_t h = cx->in->h, w = cx->in->w, c = cx->in->c, kw = cx->kw;
    const int32_t iy0 = oy * cx->p->stride_h - cx->p->pad_top;
    const int32_t ix0 = ox * cx->p->stride_w - cx->p->pad_left;
    const int8_t pad = (int8_t)(-cx->p->input_offset);
    int32_t ky, kx;
    for (ky = 0; ky < cx->kh; ky++) {
        const int32_t iy = iy0 + ky;
        const int8_t *row = cx->input + iy * w * c;
        if (iy < 0 || iy >= h) {
            memset(col, pad, (size_t)(kw * c));
        } else if (c == 1) {
            for (kx = 0; kx < kw; kx++) {
                const int32_t ix = ix0 + kx;
                col[kx] = (ix < 0 || ix >= w) ? pad : row[ix];
            }
        } else if (ix0 >= 0 && ix0 + kw <= w) {
            memcpy(col, row + ix0 * c, (size_t)(kw * c));
        } else {
            for (kx = 0; kx < kw; kx++) {
                const int32_t ix = ix0 + kx;
                if (ix < 0 || ix >= w) {
                    memset(col + kx * c, pad, (size_t)c);
                } else {
                    memcpy(col + kx * c, row + ix * c, (size_t)c);
                }
            }
        }
        col += kw * c;
    }
}

/* Widens n int8 values (K entries kstart.., kstart % 4 == 0) of column j, adding offset. */
static void widen(const int8_t *src, int32_t n, int32_t kstart, int32_t k, int32_t off,
                  int16_t *cols, int32_t gs, int32_t j)
{
    const int32_t off2 = td_pack_s16x2(off, off);
    int16_t *dst = cols + (kstart >> 2) * gs + 4 * j; /* kstart >= 0 */
    int32_t i = 0;
    for (; i + 4 <= n; i += 4, dst += gs) {
        td_widen4_s8(src + i, off, off2, dst);
    }
    if (i < n) { /* tail of the whole column: only when kstart + n == k */
        int16_t *tail = cols + gs * (k / 4) + 4 * j;
        for (; i < n; i++) {
            tail[i - 4 * (n / 4)] = (int16_t)(src[i] + off);
        }
    }
}

static void zero_groups(int16_t *cols, int32_t kstart, int32_t n, int32_t gs, int32_t j)
{
    int16_t *dst = cols + (kstart >> 2) * gs + 4 * j; /* kstart >= 0 */
    int32_t i;
    for (i = 0; i < n; i += 4, dst += gs) {
        td_write_u32(dst, 0u);
        td_write_u32(dst + 2, 0u);
    }
}

/* in_c % 4 != 0 (e.g. 1 or 3): interior windows are gathered with inline copies of kw * c
 * bytes per kernel row (no bounds tests, no memcpy calls; 3 x 3 x 3 rows as one 9-byte
 * copy), then widened. */
static void fill_column_bytes(const conv_ctx *cx, int32_t oy, int32_t ox, int32_t j)
{
    const int32_t c = cx->in->c, w = cx->in->w, row_k = cx->kw * c;
    const int32_t iy0 = oy * cx->p->stride_h - cx->p->pad_top;
    const int32_t ix0 = ox * cx->p->stride_w - cx->p->pad_left;
    if (iy0 >= 0 && ix0 >= 0 && iy0 + cx->kh <= cx->in->h && ix0 + cx->kw <= w) {
        const int8_t *src = cx->input + (iy0 * w + ix0) * c;
        int8_t *d = cx->col8;
        int32_t ky, i;
        if (row_k == 9) {
            for (ky = 0; ky < cx->kh; ky++, src += w * c, d += 9) {
                TD_MEMCPY(d, src, 9);
            }
        } else {
            for (ky = 0; ky < cx->kh; ky++, src += w * c, d += row_k) {
                for (i = 0; i < row_k; i++) {
                    d[i] = src[i];
                }
            }
        }
    } else {
        im2col_s8(cx, oy, ox, cx->col8);
    }
    widen(cx->col8, cx->k4, 0, cx->k4, cx->p->input_offset, cx->cols, cx->gs, j);
}

/* in_c % 4 == 0, window inside the image: kh contiguous input rows of kw * c bytes. */
static inline void fill_column_interior(const conv_ctx *cx, int32_t iy0, int32_t ix0, int32_t j)
{
    const int32_t c = cx->in->c, row_k = cx->kw * c, stride = cx->in->w * c;
    const int8_t *src = cx->input + (iy0 * cx->in->w + ix0) * c;
    const int32_t off = cx->p->input_offset, off2 = td_pack_s16x2(off, off), gs = cx->gs;
    int16_t *dst = cx->cols + 4 * j;
    int32_t ky, i;
#if defined(__ARM_FEATURE_DSP)
    if (gs == 12 && (row_k & 7) == 0) { /* 3 columns: two groups per pass */
        uint32_t *d = (uint32_t *)(void *)dst;
        for (ky = 0; ky < cx->kh; ky++, src += stride) {
            for (i = 0; i < row_k; i += 8, d += 12) {
                const int32_t v0 = (int32_t)td_read_u32(src + i);
                const int32_t v1 = (int32_t)td_read_u32(src + i + 4);
                d[0] = (uint32_t)__sxtab16(off2, v0);
                d[1] = (uint32_t)td_sxtab16_ror8(off2, v0);
                d[6] = (uint32_t)__sxtab16(off2, v1);
                d[7] = (uint32_t)td_sxtab16_ror8(off2, v1);
            }
        }
        return;
    }
#endif
    if (gs == 8) { /* two columns: the constant stride keeps this loop as tight as before */
        for (ky = 0; ky < cx->kh; ky++, src += stride) {
            for (i = 0; i < row_k; i += 4, dst += 8) {
                td_widen4_s8(src + i, off, off2, dst);
            }
        }
        return;
    }
    for (ky = 0; ky < cx->kh; ky++, src += stride) {
        for (i = 0; i < row_k; i += 4, dst += gs) {
            td_widen4_s8(src + i, off, off2, dst);
        }
    }
}

/* Column j of the int16 buffer: the receptive field of conv output (oy, ox), input offset
 * added, padding 0. */
static void fill_column(const conv_ctx *cx, int32_t oy, int32_t ox, int32_t j)
{
    const int32_t c = cx->in->c, off = cx->p->input_offset;
    const int32_t h = cx->in->h, w = cx->in->w, kw = cx->kw, row_k = kw * c;
    const int32_t iy0 = oy * cx->p->stride_h - cx->p->pad_top;
    const int32_t ix0 = ox * cx->p->stride_w - cx->p->pad_left;
    int32_t ky, kx;
    if ((c & 3) != 0) {
        fill_column_bytes(cx, oy, ox, j);
        return;
    }
    if (iy0 >= 0 && ix0 >= 0 && iy0 + cx->kh <= h && ix0 + kw <= w) {
        fill_column_interior(cx, iy0, ix0, j);
        return;
    }
    for (ky = 0; ky < cx->kh; ky++) { /* border: per kernel row, per tap when it leaves */
        const int32_t iy = iy0 + ky;
        const int32_t k0 = ky * row_k;
        const int8_t *row = cx->input + iy * w * c;
        if (iy < 0 || iy >= h) {
            zero_groups(cx->cols, k0, row_k, cx->gs, j);
        } else if (ix0 >= 0 && ix0 + kw <= w) {
            widen(row + ix0 * c, row_k, k0, cx->k, off, cx->cols, cx->gs, j);
        } else {
            for (kx = 0; kx < kw; kx++) {
                const int32_t ix = ix0 + kx;
                if (ix < 0 || ix >= w) {
                    zero_groups(cx->cols, k0 + kx * c, c, cx->gs, j);
                } else {
                    widen(row + ix * c, c, k0 + kx * c, cx->k, off, cx->cols, cx->gs, j);
                }
            }
        }
    }
}

static void tail_2x2(const int8_t *w0, const int8_t *w1, const int16_t *t0, int32_t tail,
                     int32_t *a)
{
    const int16_t *t1 = t0 + 4;
    int32_t i;
    for (i = 0; i < tail; i++) {
        a[0] += w0[i] * t0[i];
        a[1] += w0[i] * t1[i];
        a[2] += w1[i] * t0[i];
        a[3] += w1[i] * t1[i];
    }
}

/* Accumulators (bias included) of all out_c channels for the two buffered columns:
 * column j of channel oc goes to acc[oc * ch_stride + j * col_stride]. */
static void mat_mult(const int8_t *filter, const int32_t *bias, int32_t out_c, int32_t k,
                     const int16_t *cols, int32_t *acc, int32_t ch_stride, int32_t col_stride)
{
    static const int32_t zero_bias = 0;
    const int32_t groups = k >> 2, tail = k & 3;
    const int16_t *tails = cols + 8 * groups;
    const int32_t bstep = bias ? 1 : 0;
    const int32_t *b = bias ? bias : &zero_bias;
    const int8_t *w0 = filter;
    int32_t oc = 0;
#if defined(TD_DSP_ASM)
    if (tail == 0 && groups > 0 && out_c >= 2) {
        static const int32_t zero_pair[2] = {0, 0};
        td_dsp_mm_plan plan;
        plan.k = k;
        plan.cols = cols;
        plan.groups = groups;
        plan.bias = bias ? bias : zero_pair;
        plan.bias_step = bias ? 4 : 0;
        plan.acc = acc;
        plan.col_stride = 4 * col_stride;
        plan.ch_stride = 4 * ch_stride;
        plan.pairs = out_c / 2;
        td_dsp_mat_mult_2col(w0, &plan);
        oc = 2 * (out_c / 2);
        w0 += oc * k;
        b += bstep * oc;
        acc += oc * ch_stride;
    }
#endif
    for (; oc < out_c; oc += 2) {
        const int8_t *w1 = oc + 1 < out_c ? w0 + k : w0; /* odd out_c: row repeated */
        int32_t a[4];
        a[0] = a[1] = b[0];
        a[2] = a[3] = oc + 1 < out_c ? b[bstep] : 0;
#if defined(__ARM_FEATURE_DSP)
        if (groups > 0) {
            td_dsp_dot_2x2(w0, w1, cols, groups, &a[0], &a[1], &a[2], &a[3]);
        }
#else
        {
            const int16_t *x = cols;
            int32_t g, e;
            for (g = 0; g < groups; g++, x += 8) {
                for (e = 0; e < 4; e++) {
                    a[0] += w0[4 * g + e] * x[e];
                    a[1] += w0[4 * g + e] * x[4 + e];
                    a[2] += w1[4 * g + e] * x[e];
                    a[3] += w1[4 * g + e] * x[4 + e];
                }
            }
        }
#endif
        if (tail) {
            tail_2x2(w0 + 4 * groups, w1 + 4 * groups, tails, tail, a);
        }
        acc[0] = a[0];
        acc[col_stride] = a[1];
        if (oc + 1 < out_c) {
            acc[ch_stride] = a[2];
            acc[ch_stride + col_stride] = a[3];
        }
        acc += 2 * ch_stride;
        w0 += 2 * k;
        b += 2 * bstep;
    }
}

/* Requantises a batch: acc is channel-major [out_c][batch], npos positions used. */
static void requant_batch(const conv_ctx *cx, const int32_t *acc, int32_t npos, int32_t batch,
                          int8_t *out)
{
    const int32_t n = cx->out_c;
    int32_t oc;
    for (oc = 0; oc < n; oc++) {
        td_requant_channel_s8(acc + oc * batch, npos, cx->q->multiplier[oc], cx->q->shift[oc],
                              cx->p->output_offset, cx->p->activation.min, cx->p->activation.max,
                              out + oc, n);
    }
}

/* 2x2 max pooling of the four conv positions in tmp (position-major, out_c each) into
 * column `slot` of the channel-major batch. With multiplier >= 0 and shift <= 0 the
 * requantisation is monotonic, so the largest accumulator is kept and requantised later
 * with the batch; otherwise (left shifts may wrap) the four values are requantised and the
 * int8 maximum stored in out directly (and the batch entry is ignored). */
static void pool_into_batch(const conv_ctx *cx, const int32_t *tmp, int32_t *batch, int32_t slot,
                            int8_t *out)
{
    const int32_t n = cx->out_c;
    const int32_t *mult = cx->q->multiplier, *shift = cx->q->shift;
    const int32_t ooff = cx->p->output_offset;
    const int32_t amin = cx->p->activation.min, amax = cx->p->activation.max;
    int32_t oc;
    for (oc = 0; oc < n; oc++) {
        const int32_t a = tmp[oc], b = tmp[n + oc], c = tmp[2 * n + oc], d = tmp[3 * n + oc];
        if (mult[oc] >= 0 && shift[oc] <= 0) {
            int32_t m = a > b ? a : b;
            m = c > m ? c : m;
            batch[oc * TD_POOL_BATCH + slot] = d > m ? d : m;
        } else {
            int8_t m = td_requant_s8(a, mult[oc], shift[oc], ooff, amin, amax);
            int8_t v = td_requant_s8(b, mult[oc], shift[oc], ooff, amin, amax);
            m = v > m ? v : m;
            v = td_requant_s8(c, mult[oc], shift[oc], ooff, amin, amax);
            m = v > m ? v : m;
            v = td_requant_s8(d, mult[oc], shift[oc], ooff, amin, amax);
            out[oc] = v > m ? v : m;
        }
    }
}

/* Requantises the monotonic channels of a pooled batch (see pool_into_batch). */
static void requant_pooled_batch(const conv_ctx *cx, const int32_t *batch, int32_t cnt, int8_t *out)
{
    const int32_t n = cx->out_c;
    int32_t oc;
    for (oc = 0; oc < n; oc++) {
        if (cx->q->multiplier[oc] >= 0 && cx->q->shift[oc] <= 0) {
            td_requant_channel_s8(batch + oc * TD_POOL_BATCH, cnt, cx->q->multiplier[oc],
                                  cx->q->shift[oc], cx->p->output_offset, cx->p->activation.min,
                                  cx->p->activation.max, out + oc, n);
        }
    }
}

#if defined(TD_DSP_ASM)
/* Unpooled conv through the 3-column kernel (even out_c, K it is built for): positions in
 * triplets (a short last one repeats its last position), requantised TD_CONV3_BATCH at a
 * time. */
static void conv_3col(const conv_ctx *cx, const void *w, int32_t wide, const int32_t *bias,
                      int32_t npos, int32_t conv_w, int8_t *output)
{
    static const int32_t zero_pair[2] = {0, 0};
    const int32_t n = cx->out_c, k = cx->k4;
    const int32_t fast = td_conv_requant_fast_ok(cx->q, bias, n, cx->k);
    td_dsp_mm3_plan plan;
    int32_t p;
    for (p = 0; p < npos; p += TD_CONV3_BATCH) {
        const int32_t cnt = npos - p < TD_CONV3_BATCH ? npos - p : TD_CONV3_BATCH;
        int32_t i;
        for (i = 0; i < cnt; i += 3) {
            const int32_t p0 = p + i;
            const int32_t p1 = i + 1 < cnt ? p0 + 1 : p0;
            const int32_t p2 = i + 2 < cnt ? p0 + 2 : p1;
            fill_column(cx, p0 / conv_w, p0 % conv_w, 0);
            fill_column(cx, p1 / conv_w, p1 % conv_w, 1);
            fill_column(cx, p2 / conv_w, p2 % conv_w, 2);
            plan.cols = cx->cols;
            plan.bias = bias ? bias : zero_pair;
            plan.bias_step = bias ? 8 : 0;
            plan.acc = cx->acc + i;
            plan.w_end = (const int8_t *)w + (wide ? 2 : 1) * n * k;
            td_dsp_mm3(w, &plan, k, wide);
        }
        if (fast) {
            td_conv_requant_batch_fast(cx->p, cx->q, n, cx->acc, cnt, TD_CONV3_BATCH,
                                       output + p * n);
        } else {
            requant_batch(cx, cx->acc, cnt, TD_CONV3_BATCH, output + p * n);
        }
    }
}
#endif

#if defined(TD_DSP_ASM)
/* Fused-pool conv through the 3-column kernel: 3 pooling windows per batch, their 12 conv
 * positions as 4 triplets (fewer windows at the end: the last position repeats). Each
 * window's four accumulators are reduced as in pool_into_batch, then requantised. */
static void pool_3col(const conv_ctx *cx, const void *w, int32_t wide, const int32_t *bias,
                      int32_t npool, int32_t pw, int8_t *output)
{
    static const int32_t zero_pair[2] = {0, 0};
    const int32_t n = cx->out_c, k = cx->k4;
    const int32_t *mult = cx->q->multiplier, *shift = cx->q->shift;
    const int32_t ooff = cx->p->output_offset;
    const int32_t amin = cx->p->activation.min, amax = cx->p->activation.max;
    td_dsp_mm3_plan plan;
    int32_t p;
    plan.bias_step = bias ? 8 : 0;
    plan.w_end = (const int8_t *)w + (wide ? 2 : 1) * n * k;
    for (p = 0; p < npool; p += 3) {
        const int32_t cnt = npool - p < 3 ? npool - p : 3, npos = 4 * cnt;
        int32_t t, oc;
        for (t = 0; t < npos; t += 3) {
            int32_t j;
            for (j = 0; j < 3; j++) {
                const int32_t q = t + j < npos ? t + j : npos - 1; /* window q/4, corner q%4 */
                const int32_t win = p + (q >> 2);
                fill_column(cx, 2 * (win / pw) + ((q >> 1) & 1), 2 * (win % pw) + (q & 1), j);
            }
            plan.cols = cx->cols;
            plan.bias = bias ? bias : zero_pair;
            plan.acc = cx->acc + t;
            td_dsp_mm3(w, &plan, k, wide);
        }
        for (oc = 0; oc < n; oc++) {
            int32_t *a = cx->acc + oc * TD_CONV3_BATCH, i;
            if (mult[oc] >= 0 && shift[oc] <= 0) { /* monotonic: requantise the maxima */
                for (i = 0; i < cnt; i++) {
                    int32_t m = a[4 * i] > a[4 * i + 1] ? a[4 * i] : a[4 * i + 1];
                    m = a[4 * i + 2] > m ? a[4 * i + 2] : m;
                    a[i] = a[4 * i + 3] > m ? a[4 * i + 3] : m;
                }
                td_requant_channel_s8(a, cnt, mult[oc], shift[oc], ooff, amin, amax,
                                      output + p * n + oc, n);
            } else {
                for (i = 0; i < cnt; i++) {
                    output[(p + i) * n + oc] =
                        td_requant_max4_s8(a + 4 * i, mult[oc], shift[oc], ooff, amin, amax);
                }
            }
        }
    }
}
#endif

int32_t td_conv_dense_s8_im2col_get_buffer_size(const td_conv_params *params,
                                                const td_dims *input_dims,
                                                const td_dims *filter_dims)
{
    /* TD_ACC_ROWS x out_c accumulators (4-byte aligned), up to TD_MAX_COLS interleaved int16
     * columns, one int8 receptive field (+4 slack), for K % 4 != 0 the zero-padded weight
     * rows, for mm3_wide the int16 weights (the same on every core: the host computes the
     * target's scratch) */
    const int32_t k = filter_dims->h * filter_dims->w * input_dims->c;
    const int32_t k4 = TD_ALIGN4(k);
    (void)params;
    return 3 + 4 * TD_ACC_ROWS * filter_dims->n + 8 * TD_MAX_COLS * (k4 / 4 + 1) + k4 + 4 +
           (k4 != k ? filter_dims->n * k4 : 0) +
           (mm3_wide(k, filter_dims->n, input_dims) ? 3 + 2 * filter_dims->n * k : 0);
}

void td_conv_dense_s8_im2col(const td_conv_params *params, const td_quant_params *quant,
                             const td_dims *input_dims, const int8_t *input,
                             const td_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                             int32_t conv_h, int32_t conv_w, const td_dims *output_dims,
                             int8_t *output, void *scratch)
{
    conv_ctx cx;
    cx.p = params;
    cx.q = quant;
    cx.in = input_dims;
    cx.input = input;
    cx.kh = filter_dims->h;
    cx.kw = filter_dims->w;
    cx.k = filter_dims->h * filter_dims->w * input_dims->c;
    cx.k4 = TD_ALIGN4(cx.k);
    cx.out_c = filter_dims->n;
    cx.acc = (int32_t *)td_align_ptr4(scratch);
    cx.cols = (int16_t *)(cx.acc + TD_ACC_ROWS * cx.out_c);
    cx.gs = 8;
    cx.col8 = (int8_t *)(cx.cols + 4 * TD_MAX_COLS * (cx.k4 / 4 + 1));
    memset(cx.col8 + cx.k, (int8_t)(-params->input_offset), (size_t)(cx.k4 - cx.k));
    if (cx.k4 != cx.k) {
        /* K % 4 != 0 (e.g. in_c == 1, 3x3): rows copied once per call with zero padding to
         * k4, so the SMLAD kernel needs no tail and the padded column entries are 0. */
        int8_t *wpad = cx.col8 + cx.k4 + 4;
        int32_t oc;
        for (oc = 0; oc < cx.out_c; oc++) {
            memcpy(wpad + oc * cx.k4, filter + oc * cx.k, (size_t)cx.k);
            memset(wpad + oc * cx.k4 + cx.k, 0, (size_t)(cx.k4 - cx.k));
        }
        filter = wpad;
    }
    {
        /* a local copy: cx is passed by address, so cx.k4 would be reloaded after calls */
        const int32_t kk = cx.k4;
#if defined(TD_DSP_ASM)
        const int32_t mm3 = (cx.out_c & 1) == 0 && td_dsp_mm3_supports(kk);
        const int32_t wide = mm3 && mm3_wide(kk, cx.out_c, cx.in);
        const void *w = filter;
        if (wide) { /* after the int8 receptive field; K % 4 == 0 here (no padded rows) */
            int16_t *wbuf = (int16_t *)td_align_ptr4(cx.col8 + kk + 4);
            int32_t i;
            for (i = 0; i < cx.out_c * kk; i += 4) {
                td_widen4_s8(filter + i, 0, 0, wbuf + i);
            }
            w = wbuf;
        }
        if (params->fused_maxpool && mm3) {
            cx.gs = 12;
            pool_3col(&cx, w, wide, bias, output_dims->h * output_dims->w, output_dims->w, output);
            return;
        }
#endif
        if (params->fused_maxpool) {
            const int32_t ph = output_dims->h, pw = output_dims->w, n = cx.out_c;
            const int32_t npool = ph * pw;
            int32_t *tmp = cx.acc + TD_POOL_BATCH * n; /* 4 conv positions x out_c */
            int32_t p;
            for (p = 0; p < npool; p += TD_POOL_BATCH) {
                const int32_t cnt = npool - p < TD_POOL_BATCH ? npool - p : TD_POOL_BATCH;
                int32_t i;
                for (i = 0; i < cnt; i++) {
                    const int32_t py = (p + i) / pw, px = (p + i) % pw;
                    fill_column(&cx, 2 * py, 2 * px, 0);
                    fill_column(&cx, 2 * py, 2 * px + 1, 1);
                    mat_mult(filter, bias, n, kk, cx.cols, tmp, 1, n);
                    fill_column(&cx, 2 * py + 1, 2 * px, 0);
                    fill_column(&cx, 2 * py + 1, 2 * px + 1, 1);
                    mat_mult(filter, bias, n, kk, cx.cols, tmp + 2 * n, 1, n);
                    pool_into_batch(&cx, tmp, cx.acc, i, output + (p + i) * n);
                }
                requant_pooled_batch(&cx, cx.acc, cnt, output + p * n);
            }
        }
#if defined(TD_DSP_ASM)
        else if (mm3) {
            cx.gs = 12;
            conv_3col(&cx, w, wide, bias, conv_h * conv_w, conv_w, output);
        }
#endif
        else {
            const int32_t npos = conv_h * conv_w, n = cx.out_c;
            int32_t p;
            for (p = 0; p < npos; p += TD_CONV_BATCH) {
                const int32_t cnt = npos - p < TD_CONV_BATCH ? npos - p : TD_CONV_BATCH;
                int32_t i;
                for (i = 0; i < cnt; i += 2) {
                    const int32_t p0 = p + i;
                    const int32_t p1 = i + 1 < cnt ? p0 + 1 : p0; /* odd tail: repeat */
                    fill_column(&cx, p0 / conv_w, p0 % conv_w, 0);
                    fill_column(&cx, p1 / conv_w, p1 % conv_w, 1);
                    mat_mult(filter, bias, n, kk, cx.cols, cx.acc + i, TD_CONV_BATCH, 1);
                }
                requant_batch(&cx, cx.acc, cnt, TD_CONV_BATCH, output + p * n);
            }
        }
    }
}
