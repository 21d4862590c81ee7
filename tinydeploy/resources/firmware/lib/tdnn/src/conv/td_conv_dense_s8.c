/* conv2d, dense OHWI weights: im2col of two output positions into one int16 buffer (input
 * offset applied, padding = 0), then a 2-channel x 2-column kernel (SMLAD on Cortex-M DSP).
 * With fused_maxpool the four conv outputs of a 2x2 window are reduced before anything is
 * stored. Single-channel inputs have their own paths further down: in_c == 1, 3x3, stride 1
 * with fused pool (conv_c1p, one pooling window at a time), and in_c == 1, kw == 3,
 * stride_w == 1 otherwise (conv_c1_k3, 2x2 blocks).
 *
 * Column buffer layout: K = 4*G + T. Group g (K entries 4g..4g+3) of column j lives at
 * int16 offset 8g + 4j (DSP order x0,x2,x1,x3 to pair with SXTB16 / SXTB16 ROR 8 of the
 * weights; natural order otherwise); the T tail entries of column j at 8G + 4j. */
#include "../common/td_internal.h"
#include "../common/td_mve.h"

/* Output positions whose accumulators are requantised together (channel by channel). The
 * fused-pool path batches fewer pooled outputs, since it also holds the 4 conv positions of
 * one window: both paths then fit TD_ACC_ROWS x out_c accumulators (RAM matters more than
 * the ~1% the smaller pooled batch costs). */
#define TD_CONV_BATCH 8
#define TD_POOL_BATCH 4
#define TD_ACC_ROWS 8 /* max(TD_CONV_BATCH, TD_POOL_BATCH + 4) */

typedef struct {
    const td_conv_params *p;
    const td_quant_params *q;
    const td_dims *in;
    const int8_t *input;
    int32_t kh, kw, k, k4, out_c; /* k4: K rounded up to 4 (rows padded when K % 4 != 0) */
    int32_t *acc;    /* TD_ACC_ROWS x out_c accumulators */
    int16_t *cols;   /* 8 * (G + 1) int16, two interleaved columns */
    int8_t *col8;    /* int8 receptive field, k4 bytes (+4 slack) */
} conv_ctx;

/* in_c == 1, kw == 3, stride_w == 1 (TinyNet's first layer): see conv_c1_k3. */
static int32_t use_c1_k3(const td_conv_params *params, const td_dims *input_dims,
                         const td_dims *filter_dims)
{
    return input_dims->c == 1 && filter_dims->w == 3 && params->stride_w == 1;
}

static int32_t c1_band_bytes(const td_conv_params *params, const td_dims *input_dims,
                             const td_dims *filter_dims)
{
    const int32_t wp = input_dims->w + params->pad_left + params->pad_right;
    return TD_ALIGN4((filter_dims->h + params->stride_h) * wp + 4);
}

int32_t td_conv_dense_s8_get_buffer_size(const td_conv_params *params,
                                         const td_dims *input_dims, const td_dims *filter_dims)
{
    const int32_t k = filter_dims->h * filter_dims->w * input_dims->c;
    const int32_t k4 = TD_ALIGN4(k);
    if (use_c1_k3(params, input_dims, filter_dims)) {
        return 3 + 8 * filter_dims->h * filter_dims->n +
               c1_band_bytes(params, input_dims, filter_dims);
    }
    return 3 + 4 * TD_ACC_ROWS * filter_dims->n + 16 * (k4 / 4 + 1) + k4 + 4 +
           (k4 != k ? filter_dims->n * k4 : 0);
}

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
                  int16_t *cols, int32_t j)
{
    int16_t *dst = cols + 2 * kstart + 4 * j;
    int32_t i = 0;
#if defined(__ARM_FEATURE_DSP)
    const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
    for (; i + 4 <= n; i += 4, dst += 8) {
        const int32_t v = (int32_t)td_read_u32(src + i);
        td_write_u32(dst, (uint32_t)__sxtab16(off2, v));
        td_write_u32(dst + 2, (uint32_t)td_sxtab16_ror8(off2, v));
    }
#else
    for (; i + 4 <= n; i += 4, dst += 8) {
        dst[0] = (int16_t)(src[i] + off);
        dst[1] = (int16_t)(src[i + 1] + off);
        dst[2] = (int16_t)(src[i + 2] + off);
        dst[3] = (int16_t)(src[i + 3] + off);
    }
#endif
    if (i < n) { /* tail of the whole column: only when kstart + n == k */
        int16_t *tail = cols + 8 * (k / 4) + 4 * j;
        for (; i < n; i++) {
            tail[i - 4 * (n / 4)] = (int16_t)(src[i] + off);
        }
    }
}

static void zero_groups(int16_t *cols, int32_t kstart, int32_t n, int32_t j)
{
    int16_t *dst = cols + 2 * kstart + 4 * j;
    int32_t i;
    for (i = 0; i < n; i += 4, dst += 8) {
        td_write_u32(dst, 0u);
        td_write_u32(dst + 2, 0u);
    }
}

/* in_c == 1 fast path: interior windows are gathered with plain byte copies of kw bytes
 * per kernel row (no bounds tests, no memcpy calls), then widened. */
static void fill_column_c1(const conv_ctx *cx, int32_t oy, int32_t ox, int32_t j)
{
    const int32_t w = cx->in->w, kw = cx->kw;
    const int32_t iy0 = oy * cx->p->stride_h - cx->p->pad_top;
    const int32_t ix0 = ox * cx->p->stride_w - cx->p->pad_left;
    if (iy0 >= 0 && ix0 >= 0 && iy0 + cx->kh <= cx->in->h && ix0 + kw <= w) {
        const int8_t *src = cx->input + iy0 * w + ix0;
        int8_t *d = cx->col8;
        int32_t ky, kx;
        for (ky = 0; ky < cx->kh; ky++, src += w, d += kw) {
            for (kx = 0; kx < kw; kx++) {
                d[kx] = src[kx];
            }
        }
    } else {
        im2col_s8(cx, oy, ox, cx->col8);
    }
    widen(cx->col8, cx->k4, 0, cx->k4, cx->p->input_offset, cx->cols, j);
}

static void fill_column(const conv_ctx *cx, int32_t oy, int32_t ox, int32_t j)
{
    const int32_t c = cx->in->c, off = cx->p->input_offset;
    if (c == 1) {
        fill_column_c1(cx, oy, ox, j);
        return;
    }
    if ((c & 3) == 0) {
        const int32_t iy0 = oy * cx->p->stride_h - cx->p->pad_top;
        const int32_t ix0 = ox * cx->p->stride_w - cx->p->pad_left;
        if (iy0 >= 0 && ix0 >= 0 && iy0 + cx->kh <= cx->in->h && ix0 + cx->kw <= cx->in->w) {
            /* interior: kh contiguous input rows of kw*c bytes, no padding test */
            const int32_t row_k = cx->kw * c, stride = cx->in->w * c;
            const int8_t *src = cx->input + (iy0 * cx->in->w + ix0) * c;
            int16_t *dst = cx->cols + 4 * j;
            int32_t ky, i;
#if defined(__ARM_FEATURE_DSP)
            const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
            for (ky = 0; ky < cx->kh; ky++, src += stride) {
                for (i = 0; i < row_k; i += 4, dst += 8) {
                    const int32_t v = (int32_t)td_read_u32(src + i);
                    td_write_u32(dst, (uint32_t)__sxtab16(off2, v));
                    td_write_u32(dst + 2, (uint32_t)td_sxtab16_ror8(off2, v));
                }
            }
#else
            for (ky = 0; ky < cx->kh; ky++, src += stride) {
                for (i = 0; i < row_k; i += 4, dst += 8) {
                    dst[0] = (int16_t)(src[i] + off);
                    dst[1] = (int16_t)(src[i + 1] + off);
                    dst[2] = (int16_t)(src[i + 2] + off);
                    dst[3] = (int16_t)(src[i + 3] + off);
                }
            }
#endif
            return;
        }
    }
    if ((c & 3) == 0) {
        const int32_t h = cx->in->h, w = cx->in->w, kw = cx->kw, row_k = kw * c;
        const int32_t iy0 = oy * cx->p->stride_h - cx->p->pad_top;
        const int32_t ix0 = ox * cx->p->stride_w - cx->p->pad_left;
        int32_t ky, kx;
        for (ky = 0; ky < cx->kh; ky++) {
            const int32_t iy = iy0 + ky;
            const int32_t k0 = ky * row_k;
            const int8_t *row = cx->input + iy * w * c;
            if (iy < 0 || iy >= h) {
                zero_groups(cx->cols, k0, row_k, j);
            } else if (ix0 >= 0 && ix0 + kw <= w) {
                widen(row + ix0 * c, row_k, k0, cx->k, off, cx->cols, j);
            } else {
                for (kx = 0; kx < kw; kx++) {
                    const int32_t ix = ix0 + kx;
                    if (ix < 0 || ix >= w) {
                        zero_groups(cx->cols, k0 + kx * c, c, j);
                    } else {
                        widen(row + ix * c, c, k0 + kx * c, cx->k, off, cx->cols, j);
                    }
                }
            }
        }
        return;
    }
    im2col_s8(cx, oy, ox, cx->col8); /* K bytes; K..k4-1 hold the zero point */
    widen(cx->col8, cx->k4, 0, cx->k4, off, cx->cols, j);
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
#if defined(__ARM_FEATURE_DSP)
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

/* Requantises a batch: acc is channel-major [out_c][TD_CONV_BATCH], npos positions used. */
static void requant_batch(const conv_ctx *cx, const int32_t *acc, int32_t npos, int8_t *out)
{
    const int32_t n = cx->out_c;
    int32_t oc;
    for (oc = 0; oc < n; oc++) {
        td_requant_channel_s8(acc + oc * TD_CONV_BATCH, npos, cx->q->multiplier[oc],
                              cx->q->shift[oc], cx->p->output_offset, cx->p->activation.min,
                              cx->p->activation.max, out + oc, n);
    }
}

/* 2x2 max pooling of the four conv positions in tmp (position-major, out_c each) into
 * column `slot` of the channel-major batch. With multiplier >= 0 and shift <= 0 the
 * requantisation is monotonic, so the largest accumulator is kept and requantised later
 * with the batch; otherwise (left shifts may wrap) the four values are requantised and the
 * int8 maximum stored in out directly (and the batch entry is ignored). */
static void pool_into_batch(const conv_ctx *cx, const int32_t *tmp, int32_t *batch,
                            int32_t slot, int8_t *out)
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
static void requant_pooled_batch(const conv_ctx *cx, const int32_t *batch, int32_t cnt,
                                 int8_t *out)
{
    const int32_t n = cx->out_c;
    int32_t oc;
    for (oc = 0; oc < n; oc++) {
        if (cx->q->multiplier[oc] >= 0 && cx->q->shift[oc] <= 0) {
            td_requant_channel_s8(batch + oc * TD_POOL_BATCH, cnt, cx->q->multiplier[oc],
                                  cx->q->shift[oc], cx->p->output_offset,
                                  cx->p->activation.min, cx->p->activation.max, out + oc, n);
        }
    }
}

/* ---- in_c == 1, kw == 3, stride_w == 1 ----
 * Im2col would spend more than the 9 MACs per channel on gathering. Instead the input is
 * read through a zero-point padded band (kh + stride_h rows) and the conv outputs are
 * computed in 2x2 blocks: one 32-bit load of band bytes x0..x3 serves the two horizontally
 * adjacent windows (x0,x1,x2) and (x1,x2,x3) of one kernel row. On DSP cores SXTAB16 adds
 * the input offset to (x0,x2) and (x1,x3) at once and, with the kernel row prepared as the
 * pairs (w0,w2) and w1, each window needs one SMLAD and one SMLABB/SMLABT. */
typedef struct {
    const td_conv_params *p;
    const td_quant_params *q;
    int32_t kh, out_c, band_w;
    const int32_t *wprep; /* per channel, per kernel row: (w0 | w2 << 16), w1 */
    const int32_t *bias;
} c1_ctx;

/* Unpacks (w0 | w2 << 16) without implementation-defined conversions. */
static inline void c1_unpack(int32_t w02, int32_t *w0, int32_t *w2)
{
    const int32_t lo = w02 & 0xFFFF;
    *w0 = lo >= 0x8000 ? lo - 0x10000 : lo;
    *w2 = (w02 - lo) / 65536;
}

/* Accumulators of channel oc for the 2x2 block at band pointer t (row stride band_w,
 * second conv row at +sy). */
static inline void c1_block(const c1_ctx *cx, int32_t oc, const int8_t *t, int32_t sy,
                            int32_t *acc)
{
    const int32_t *w = cx->wprep + 2 * cx->kh * oc;
    const int32_t off = cx->p->input_offset;
    int32_t a0, a1, a2, a3, ky;
    a0 = a1 = a2 = a3 = cx->bias ? cx->bias[oc] : 0;
#if defined(__ARM_FEATURE_DSP)
    {
        const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
        for (ky = 0; ky < cx->kh; ky++, t += cx->band_w, w += 2) {
            const int32_t w02 = w[0], w1 = w[1];
            int32_t v = (int32_t)td_read_u32(t);
            int32_t x02 = __sxtab16(off2, v), x13 = td_sxtab16_ror8(off2, v);
            a0 = __smlabb(w1, x13, __smlad(w02, x02, a0));
            a1 = __smlabt(w1, x02, __smlad(w02, x13, a1));
            v = (int32_t)td_read_u32(t + sy);
            x02 = __sxtab16(off2, v);
            x13 = td_sxtab16_ror8(off2, v);
            a2 = __smlabb(w1, x13, __smlad(w02, x02, a2));
            a3 = __smlabt(w1, x02, __smlad(w02, x13, a3));
        }
    }
#else
    for (ky = 0; ky < cx->kh; ky++, t += cx->band_w, w += 2) {
        const int32_t w1 = w[1];
        int32_t w0, w2;
        const int32_t x0 = t[0] + off, x1 = t[1] + off, x2 = t[2] + off, x3 = t[3] + off;
        const int32_t y0 = t[sy] + off, y1 = t[sy + 1] + off, y2 = t[sy + 2] + off;
        const int32_t y3 = t[sy + 3] + off;
        c1_unpack(w[0], &w0, &w2);
        a0 += w0 * x0 + w1 * x1 + w2 * x2;
        a1 += w0 * x1 + w1 * x2 + w2 * x3;
        a2 += w0 * y0 + w1 * y1 + w2 * y2;
        a3 += w0 * y1 + w1 * y2 + w2 * y3;
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* One conv position (edges of an unpooled output with odd size). */
static int32_t c1_single(const c1_ctx *cx, int32_t oc, const int8_t *t)
{
    const int32_t *w = cx->wprep + 2 * cx->kh * oc;
    const int32_t off = cx->p->input_offset;
    int32_t a = cx->bias ? cx->bias[oc] : 0, ky;
    for (ky = 0; ky < cx->kh; ky++, t += cx->band_w, w += 2) {
        int32_t w0, w2;
        c1_unpack(w[0], &w0, &w2);
        a += w0 * (t[0] + off) + w[1] * (t[1] + off) + w2 * (t[2] + off);
    }
    return a;
}

static void conv_c1_k3(const td_conv_params *params, const td_quant_params *quant,
                       const td_dims *input_dims, const int8_t *input,
                       const td_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                       int32_t conv_h, int32_t conv_w, int8_t *output, void *scratch)
{
    const int32_t kh = filter_dims->h, n = filter_dims->n, sh = params->stride_h;
    const int32_t wp = input_dims->w + params->pad_left + params->pad_right, sy = sh * wp;
    const int32_t *mult = quant->multiplier, *shift = quant->shift;
    const int32_t ooff = params->output_offset;
    const int32_t amin = params->activation.min, amax = params->activation.max;
    int32_t *wprep = (int32_t *)td_align_ptr4(scratch);
    int8_t *band = (int8_t *)(wprep + 2 * kh * n);
    c1_ctx cx;
    int32_t oc, i, oy, ox;
    for (i = 0; i < kh * n; i++) { /* rows (w0, w1, w2) -> (w0 | w2 << 16), w1 */
        const int8_t *f = filter + 3 * i;
        wprep[2 * i] = (int32_t)(((uint32_t)(uint16_t)f[0]) | ((uint32_t)(uint16_t)f[2] << 16));
        wprep[2 * i + 1] = f[1];
    }
    cx.p = params;
    cx.q = quant;
    cx.kh = kh;
    cx.out_c = n;
    cx.band_w = wp;
    cx.wprep = wprep;
    cx.bias = bias;
    if (params->fused_maxpool) {
        const int32_t ph = conv_h / 2, pw = conv_w / 2;
        for (oy = 0; oy < ph; oy++) {
            /* band rows: kh + sh; the last one may be the 4-byte slack of the buffer */
            const int8_t *bnd = td_internal_band(params, input_dims, input,
                                                 2 * oy * sh - params->pad_top, kh + sh, band);
            int8_t *out = output + oy * pw * n;
            for (ox = 0; ox < pw; ox++, out += n) {
                for (oc = 0; oc < n; oc++) {
                    int32_t a[4];
                    c1_block(&cx, oc, bnd + 2 * ox, sy, a);
                    if (mult[oc] >= 0 && shift[oc] <= 0) {
                        int32_t m = a[0] > a[1] ? a[0] : a[1];
                        m = a[2] > m ? a[2] : m;
                        m = a[3] > m ? a[3] : m;
                        td_requant_channel_s8(&m, 1, mult[oc], shift[oc], ooff, amin, amax,
                                              out + oc, 1);
                    } else {
                        int32_t best = -128, k;
                        for (k = 0; k < 4; k++) {
                            const int32_t q =
                                td_requant_s8(a[k], mult[oc], shift[oc], ooff, amin, amax);
                            best = q > best ? q : best;
                        }
                        out[oc] = (int8_t)best;
                    }
                }
            }
        }
        return;
    }
    for (oy = 0; oy < conv_h; oy += 2) {
        const int32_t two = oy + 1 < conv_h;
        const int8_t *bnd = td_internal_band(params, input_dims, input,
                                             oy * sh - params->pad_top, two ? kh + sh : kh,
                                             band);
        for (ox = 0; ox < conv_w; ox += 2) {
            int8_t *out0 = output + (oy * conv_w + ox) * n;
            for (oc = 0; oc < n; oc++) {
                int32_t a[4];
                if (two && ox + 1 < conv_w) {
                    c1_block(&cx, oc, bnd + ox, sy, a);
                    td_requant_channel_s8(a, 2, mult[oc], shift[oc], ooff, amin, amax,
                                          out0 + oc, n);
                    td_requant_channel_s8(a + 2, 2, mult[oc], shift[oc], ooff, amin, amax,
                                          out0 + conv_w * n + oc, n);
                    continue;
                }
                a[0] = c1_single(&cx, oc, bnd + ox);
                td_requant_channel_s8(a, 1, mult[oc], shift[oc], ooff, amin, amax, out0 + oc, 1);
                if (ox + 1 < conv_w) {
                    a[1] = c1_single(&cx, oc, bnd + ox + 1);
                    td_requant_channel_s8(a + 1, 1, mult[oc], shift[oc], ooff, amin, amax,
                                          out0 + n + oc, 1);
                }
                if (two) {
                    a[2] = c1_single(&cx, oc, bnd + ox + sy);
                    td_requant_channel_s8(a + 2, 1, mult[oc], shift[oc], ooff, amin, amax,
                                          out0 + conv_w * n + oc, 1);
                }
            }
        }
    }
}

/* ---- in_c == 1, 3x3, stride 1, fused 2x2 max-pool (TinyNet conv1) ----
 * One pooling window (the 2x2 conv outputs TL, TR, BL, BR over padded band columns x..x+3
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

static int32_t c1p_asm_ok(const td_quant_params *quant, const int8_t *filter,
                          const int32_t *bias, int32_t n)
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
        if (quant->shift[oc] > -1 || quant->shift[oc] < -22 ||
            b >= (1 << 30) - (1 << 19) || b <= -((1 << 30) - (1 << 19))) {
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

static uint32_t c1p_pair(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
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
            const int32_t q = td_requant_s8(b, quant->multiplier[oc], quant->shift[oc],
                                            output_offset, -128, 127);
            blk[0] = blk[1] = blk[2] = blk[3] = 0;
            blk[4] = (int32_t)c1p_pair(0 | more, 0); /* e - 1 = 0 */
            blk[5] = 2 * c1p_dead_bias(q, output_offset, quant->multiplier[oc]);
            continue;
        }
        blk[0] = (int32_t)c1p_pair(2 * filter[0], 2 * filter[2]);
        blk[1] = (int32_t)c1p_pair(2 * filter[3], 2 * filter[5]);
        blk[2] = (int32_t)c1p_pair(2 * filter[6], 2 * filter[8]);
        blk[3] = (int32_t)c1p_pair(2 * filter[1], 2 * filter[4]);
        blk[4] = (int32_t)c1p_pair((-quant->shift[oc] - 1) | more, 2 * filter[7]);
        blk[5] = 2 * (bias ? bias[oc] : 0);
    }
}

/* One output channel of a pooling window: the 4 conv sums of the window (SMLAD over the
 * 12 widened input words on the stack), their max, and its requantisation; written once,
 * used twice per pass of the 2-channel unrolled loop below. */
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

/* Stack frame (after push {r4-r11, lr}): [sp, #0..51] the window's 13 words E0, O0, E1, O1,
 * E2, O2, E3, O3, Lo01, Hi01, Lo12, Hi12, Z (one STM / five loads per channel); #52 run,
 * #56 out_end, #60 blocks, #64 mult, #68 channel loop entry. Channel registers: r0-r2
 * A0-A2, r3 Mw, r4 W21s, r5 bias then BL, r6 TL, r7 TR, r9 BR, r8/r10 data, r11 blocks,
 * r12 out, lr multipliers. The channel loop is unrolled twice (odd n enters at the second
 * copy): 43 instructions per window and channel plus 25 per window. */
__attribute__((naked, noinline)) TD_NOIPA static void c1p_run_asm(c1p_run *run
                                                                  __attribute__((unused)))
{
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
            int32_t a[4], k;
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
            if (mult >= 0 && shift <= 0) {
                int32_t m = a[0];
                for (k = 1; k < 4; k++) {
                    m = a[k] > m ? a[k] : m;
                }
                td_requant_channel_s8(&m, 1, mult, shift, ooff, amin, amax, out + oc, 1);
            } else {
                int32_t best = -128;
                for (k = 0; k < 4; k++) {
                    const int32_t q = td_requant_s8(a[k], mult, shift, ooff, amin, amax);
                    best = q > best ? q : best;
                }
                out[oc] = (int8_t)best;
            }
        }
    }
}
#endif

/* Shapes of this path; on DSP cores also the quantisation the asm takes (else the general
 * in_c == 1 kw == 3 path runs, see conv_c1_k3). */
static int32_t use_c1p(const td_conv_params *params, const td_quant_params *quant,
                       const td_dims *input_dims, const td_dims *filter_dims,
                       const int8_t *filter, const int32_t *bias)
{
    if (input_dims->c != 1 || filter_dims->h != 3 || filter_dims->w != 3 ||
        params->stride_h != 1 || params->stride_w != 1 || params->fused_maxpool != 1) {
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

/* Scratch as conv_c1_k3 sizes it: the 6-word channel blocks fill its 8 * kh * n bytes, the
 * row ring (4 padded rows) its band. */
TD_NOINLINE static void conv_c1p(const td_conv_params *params, const td_quant_params *quant,
                                 const td_dims *input_dims, const int8_t *input,
                                 const td_dims *filter_dims, const int8_t *filter,
                                 const int32_t *bias, const td_dims *output_dims,
                                 int8_t *output, void *scratch)
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
    run.off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
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

td_status td_conv_dense_s8(const td_conv_params *params, const td_quant_params *quant,
                           const td_dims *input_dims, const int8_t *input,
                           const td_dims *filter_dims, const int8_t *filter,
                           const int32_t *bias, const td_dims *output_dims, int8_t *output,
                           void *scratch)
{
    int32_t conv_h, conv_w;
    conv_ctx cx;
    td_status st = td_internal_check_conv(params, quant, input_dims, input, filter_dims,
                                          output_dims, output, &conv_h, &conv_w);
    if (st != TD_OK) {
        return st;
    }
    if (!filter || !scratch) {
        return TD_ERR_ARG;
    }
#if defined(__ARM_FEATURE_MVE)
    if (td_mve_conv_dense_s8(params, quant, input_dims, input, filter_dims, filter, bias, conv_h,
                             conv_w, output_dims, output, scratch)) {
        return TD_OK;
    }
#endif
    if (use_c1p(params, quant, input_dims, filter_dims, filter, bias)) {
        conv_c1p(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output,
                 scratch);
        return TD_OK;
    }
    if (use_c1_k3(params, input_dims, filter_dims)) {
        conv_c1_k3(params, quant, input_dims, input, filter_dims, filter, bias, conv_h, conv_w,
                   output, scratch);
        return TD_OK;
    }
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
    cx.col8 = (int8_t *)(cx.cols + 8 * (cx.k4 / 4 + 1));
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
        const int32_t kk = cx.k4;
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
    } else {
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
            requant_batch(&cx, cx.acc, cnt, output + p * n);
        }
    }
    }
    return TD_OK;
}
