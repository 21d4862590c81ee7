/* conv2d, dense OHWI weights, 3x3, unpooled, even out_c, DSP cores: no im2col per position.
 * Each input row is widened once (input offset added, zero padding around it) into a ring
 * of three band rows (row iy in slot iy mod 3), and the 2-row x 3-column SMLAD kernels of
 * td_conv_dsp_mm3.h take three consecutive conv positions of a conv row at a time:
 *
 *  - in_c == 3 (first convs on RGB images): rows in natural int16 order; a window is three
 *    9-entry copies into a column-major buffer, and the weights are widened to int16 once
 *    per call (rows padded to K = 28), so the kernel loads them with LDRD, no SXTB16.
 *  - in_c 16 with stride_w 1, when a conv row's last triplet wastes at most 1/16
 *    of the row: rows in SXTB16 order per 4 channels, read by the kernel in place (the
 *    three windows are 2 * c * stride_w bytes apart).
 *
 * Positions are requantised TD_CONV3_BATCH at a time; a conv row's short last triplet
 * repeats (in_c 3) or reads past (slack at the band row's end) its last position. */
#include "td_conv_dsp_mm3.h"

/* int16 entries of one band row: the padded input row plus 2 * stride_w pixels of slack,
 * rounded up to even (the rows, and the in_c 3 weights after them, stay word-aligned). */
static int32_t band_row(const td_conv_params *p, const td_dims *in)
{
    return (in->c * (p->pad_left + in->w + p->pad_right + 2 * p->stride_w) + 5) & ~1;
}

/* in_c 16: weights widened to int16 once per call when they take at most this much scratch
 * (2 * out_c * K bytes; ResNet-8's 16-channel layers: 4.6 KB) and no more than the layer's
 * input tensor (as td_conv_dense_s8_im2col's copy): 17 instead of 21 kernel instructions per
 * 24 MACs. */
#define TD_BAND_WIDE_MAX 8192
static int32_t band_wide(int32_t out_c, const td_dims *in)
{
    const int32_t bytes = 2 * out_c * 9 * in->c;
    return in->c == 16 && bytes <= TD_BAND_WIDE_MAX && bytes <= in->h * in->w * in->c;
}

int32_t td_conv_dense_s8_band_shape(const td_conv_params *params, const td_dims *input_dims,
                                    const td_dims *filter_dims)
{
    const int32_t c = input_dims->c;
    const int32_t conv_w =
        td_conv_out_size(input_dims->w, params->pad_left, params->pad_right, 3, params->stride_w);
    /* positions a conv row's last triplet computes in vain (in_c 16: the im2col variant's
     * triplets run across rows, so it wins where more than 1/16 would be wasted) */
    const int32_t waste = (3 - conv_w % 3) % 3;
    return filter_dims->h == 3 && filter_dims->w == 3 && !params->fused_maxpool &&
           (filter_dims->n & 1) == 0 && conv_w >= 1 &&
           (c == 3 || (c == 16 && 16 * waste <= conv_w && params->stride_w == 1));
}

int32_t td_conv_dense_s8_band_applies(const td_conv_params *params, const td_dims *input_dims,
                                      const td_dims *filter_dims)
{
#if defined(TD_DSP_ASM)
    return td_conv_dense_s8_band_shape(params, input_dims, filter_dims);
#else
    (void)params;
    (void)input_dims;
    (void)filter_dims;
    return 0;
#endif
}

int32_t td_conv_dense_s8_band_get_buffer_size(const td_conv_params *params,
                                              const td_dims *input_dims, const td_dims *filter_dims)
{
    /* accumulators (4-byte aligned), 3 band rows; in_c 3: int16 weights and 3 columns; in_c
     * 16: the int16 weights when they fit TD_BAND_WIDE_MAX */
    const int32_t n = filter_dims->n;
    const int32_t c3 = input_dims->c == 3 ? 2 * (28 * n + 3 * 28) : 0;
    const int32_t wide = band_wide(n, input_dims) ? 2 * n * 9 * input_dims->c : 0;
    return 3 + 4 * TD_CONV3_BATCH * n + 2 * 3 * band_row(params, input_dims) + c3 + wide;
}

#if defined(TD_DSP_ASM)
typedef struct {
    const td_conv_params *p;
    const td_quant_params *q;
    const td_dims *in;
    const int8_t *input;
    int32_t out_c, rw;
    int32_t fast_requant; /* td_conv_requant_fast_ok */
    int32_t held[3]; /* input row in each band slot */
    int16_t *band;
    int32_t *acc;
} band_ctx;

static void band_requant(const band_ctx *bx, int32_t cnt, int8_t *out)
{
    if (bx->fast_requant) {
        td_conv_requant_batch_fast(bx->p, bx->q, bx->out_c, bx->acc, cnt, TD_CONV3_BATCH, out);
    } else {
        td_conv_requant_batch(bx->p, bx->q, bx->out_c, bx->acc, cnt, TD_CONV3_BATCH, out);
    }
}

/* n int8 values + off as int16 in natural order. */
static void widen_natural(const int8_t *src, int32_t n, int32_t off, int16_t *dst)
{
    const int32_t off2 = td_pack_s16x2(off, off);
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const int32_t v = (int32_t)td_read_u32(src + i);
        const uint32_t e = (uint32_t)__sxtab16(off2, v);          /* x0, x2 */
        const uint32_t o = (uint32_t)td_sxtab16_ror8(off2, v);    /* x1, x3 */
        td_write_u32(dst + i, (e & 0xFFFFu) | (o << 16));         /* PKHBT: x0, x1 */
        td_write_u32(dst + i + 2, (o & 0xFFFF0000u) | (e >> 16)); /* PKHTB: x2, x3 */
    }
    for (; i < n; i++) {
        dst[i] = (int16_t)(src[i] + off);
    }
}

/* The three band rows of conv row oy (start of each padded row), widening the input rows
 * the ring does not hold yet. */
static void band_rows(band_ctx *bx, int32_t oy, const int16_t *rows[3])
{
    const int32_t c = bx->in->c, w = bx->in->w, left = c * bx->p->pad_left;
    const int32_t off = bx->p->input_offset, off2 = td_pack_s16x2(off, off);
    const int32_t iy0 = oy * bx->p->stride_h - bx->p->pad_top;
    int32_t r, i;
    for (r = 0; r < 3; r++) {
        const int32_t iy = iy0 + r, slot = ((iy % 3) + 3) % 3;
        int16_t *row = bx->band + slot * bx->rw + left;
        if (bx->held[slot] != iy) {
            const int8_t *src = bx->input + iy * w * c;
            if (iy < 0 || iy >= bx->in->h) {
                memset(row, 0, (size_t)(w * c) * sizeof(int16_t));
            } else if (c == 3) {
                widen_natural(src, 3 * w, off, row);
            } else {
                for (i = 0; i < w * c; i += 4) {
                    td_widen4_s8(src + i, off, off2, row + i);
                }
            }
            bx->held[slot] = iy;
        }
        rows[r] = row - left;
    }
}

static void conv_c3(band_ctx *bx, const int8_t *filter, const int32_t *bias, int32_t conv_h,
                    int32_t conv_w, int8_t *output)
{
    static const int32_t zero_pair[2] = {0, 0};
    const int32_t n = bx->out_c, sw3 = 3 * bx->p->stride_w;
    int16_t *wide = bx->band + 3 * bx->rw;
    int16_t *cols = wide + 28 * n;
    td_dsp_mm3_plan plan;
    int32_t oc, oy, i;
    for (oc = 0; oc < n; oc++) { /* int16 rows padded to 28 */
        for (i = 0; i < 27; i++) {
            wide[28 * oc + i] = filter[27 * oc + i];
        }
        wide[28 * oc + 27] = 0;
    }
    memset(cols, 0, 3 * 28 * sizeof(int16_t)); /* entry 27 (weight 0) stays 0 */
    plan.bias_step = bias ? 8 : 0;
    plan.w_end = (const int8_t *)(wide + 28 * n);
    for (oy = 0; oy < conv_h; oy++) {
        const int16_t *rows[3];
        int32_t ox0;
        band_rows(bx, oy, rows);
        for (ox0 = 0; ox0 < conv_w; ox0 += TD_CONV3_BATCH) {
            const int32_t cnt = conv_w - ox0 < TD_CONV3_BATCH ? conv_w - ox0 : TD_CONV3_BATCH;
            for (i = 0; i < cnt; i += 3) {
                int32_t j;
                for (j = 0; j < 3; j++) {
                    const int32_t ox = ox0 + (i + j < cnt ? i + j : cnt - 1);
                    int16_t *dst = cols + 28 * j;
                    TD_MEMCPY(dst, rows[0] + sw3 * ox, 18);
                    TD_MEMCPY(dst + 9, rows[1] + sw3 * ox, 18);
                    TD_MEMCPY(dst + 18, rows[2] + sw3 * ox, 18);
                }
                plan.cols = cols;
                plan.bias = bias ? bias : zero_pair;
                plan.acc = bx->acc + i;
                /* K = 28 int16 (rows of 56 bytes), column-major columns 56 bytes apart */
                td_dsp_mat_mult_3col(wide, &plan, 56, 7, 56, 112, 8, 1);
            }
            band_requant(bx, cnt, output + (oy * conv_w + ox0) * n);
        }
    }
}

/* The band kernel for in_c 16 (K = 144), stride_w 1, int8 or widened weights (out of line:
 * two asm bodies of ~1 KB; stride 2 and wider in_c are left to the im2col variant, whose
 * per-position im2col costs less there, to keep the code small). */
static TD_NOINLINE void band_kernel(const void *filter, td_dsp_band_plan *plan, int32_t wide)
{
    if (wide) {
        td_dsp_mat_mult_band(filter, plan, 288, 32, 64, 1);
    } else {
        td_dsp_mat_mult_band(filter, plan, 144, 32, 64, 0);
    }
}

static void conv_c16(band_ctx *bx, const int8_t *filter, const int32_t *bias, int32_t conv_h,
                     int32_t conv_w, int8_t *output)
{
    static const int32_t zero_pair[2] = {0, 0};
    const int32_t n = bx->out_c, c = bx->in->c, s = bx->p->stride_w;
    const int32_t parts = c / 16, nseg = 3 * parts; /* 48-entry segments per window (c = 16) */
    const int32_t k = 9 * c, wide = band_wide(n, bx->in);
    int16_t *wbuf = bx->band + 3 * bx->rw; /* widened weights (wide) */
    const void *w = filter;
    td_dsp_band_plan plan;
    int32_t oy, i;
    if (wide) { /* once per call: SXTB16 order, as the kernel would widen them */
        for (i = 0; i < n * k; i += 4) {
            td_widen4_s8(filter + i, 0, 0, wbuf + i);
        }
        w = wbuf;
    }
    plan.bias_step = bias ? 8 : 0;
    plan.w_end = wide ? (const int8_t *)(wbuf + n * k) : filter + n * k;
    plan.seg_end = &plan.seg[nseg + 1];
    for (oy = 0; oy < conv_h; oy++) {
        const int16_t *rows[3];
        int32_t ox0;
        band_rows(bx, oy, rows);
        for (ox0 = 0; ox0 < conv_w; ox0 += TD_CONV3_BATCH) {
            const int32_t cnt = conv_w - ox0 < TD_CONV3_BATCH ? conv_w - ox0 : TD_CONV3_BATCH;
            for (i = 0; i < cnt; i += 3) {
                const int32_t base = (ox0 + i) * s * c;
                int32_t ky, part;
                for (ky = 0; ky < 3; ky++) {
                    for (part = 0; part < parts; part++) {
                        plan.seg[ky * parts + part] = rows[ky] + base + 48 * part;
                    }
                }
                plan.seg[nseg] = plan.seg[0]; /* loaded after the last segment, unused */
                plan.bias = bias ? bias : zero_pair;
                plan.acc = bx->acc + i;
                band_kernel(w, &plan, wide);
            }
            band_requant(bx, cnt, output + (oy * conv_w + ox0) * n);
        }
    }
}
#endif

void td_conv_dense_s8_band(const td_conv_params *params, const td_quant_params *quant,
                           const td_dims *input_dims, const int8_t *input,
                           const td_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                           int32_t conv_h, int32_t conv_w, int8_t *output, void *scratch)
{
#if defined(TD_DSP_ASM)
    band_ctx bx;
    bx.p = params;
    bx.q = quant;
    bx.in = input_dims;
    bx.input = input;
    bx.out_c = filter_dims->n;
    bx.rw = band_row(params, input_dims);
    bx.held[0] = bx.held[1] = bx.held[2] = INT32_MIN;
    bx.fast_requant = td_conv_requant_fast_ok(quant, bias, bx.out_c, 9 * input_dims->c);
    bx.acc = (int32_t *)td_align_ptr4(scratch);
    bx.band = (int16_t *)(bx.acc + TD_CONV3_BATCH * bx.out_c);
    memset(bx.band, 0, (size_t)(3 * bx.rw) * sizeof(int16_t)); /* padding and slack */
    if (input_dims->c == 3) {
        conv_c3(&bx, filter, bias, conv_h, conv_w, output);
    } else {
        conv_c16(&bx, filter, bias, conv_h, conv_w, output);
    }
#else
    (void)params;
    (void)quant;
    (void)input_dims;
    (void)input;
    (void)filter_dims;
    (void)filter;
    (void)bias;
    (void)conv_h;
    (void)conv_w;
    (void)output;
    (void)scratch;
#endif
}
