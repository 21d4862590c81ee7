/* conv2d, dense weights, in_c == 1, kw == 3, stride_w == 1 (TinyNet's first layer without
 * the fused-pool variant's quantisation, or another kh / stride_h): 2x2 output blocks over
 * a zero-point padded band of the input. */
#include "td_conv_internal.h"

int32_t td_conv_dense_s8_c1_k3_applies(const td_conv_params *params, const td_dims *input_dims,
                                       const td_dims *filter_dims)
{
    return input_dims->c == 1 && filter_dims->w == 3 && params->stride_w == 1;
}

/* Scratch: the prepared kernel rows (2 words per kernel row and channel, 4-byte aligned),
 * then one band of kh + stride_h padded rows plus 4 bytes of slack (the last word load of
 * a row). */
int32_t td_conv_dense_s8_c1_k3_get_buffer_size(const td_conv_params *params,
                                               const td_dims *input_dims,
                                               const td_dims *filter_dims)
{
    const int32_t wp = input_dims->w + params->pad_left + params->pad_right;
    return 3 + 8 * filter_dims->h * filter_dims->n +
           TD_ALIGN4((filter_dims->h + params->stride_h) * wp + 4);
}

/* Im2col would spend more than the 9 MACs per channel on gathering. Instead the input is
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
static inline void c1_block(const c1_ctx *cx, int32_t oc, const int8_t *t, int32_t sy, int32_t *acc)
{
    const int32_t *w = cx->wprep + 2 * cx->kh * oc;
    const int32_t off = cx->p->input_offset;
    int32_t a0, a1, a2, a3, ky;
    a0 = a1 = a2 = a3 = cx->bias ? cx->bias[oc] : 0;
#if defined(__ARM_FEATURE_DSP)
    {
        const int32_t off2 = td_pack_s16x2(off, off);
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

void td_conv_dense_s8_c1_k3(const td_conv_params *params, const td_quant_params *quant,
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
        wprep[2 * i] = td_pack_s16x2(f[0], f[2]);
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
                    out[oc] = td_requant_max4_s8(a, mult[oc], shift[oc], ooff, amin, amax);
                }
            }
        }
        return;
    }
    for (oy = 0; oy < conv_h; oy += 2) {
        const int32_t two = oy + 1 < conv_h;
        const int8_t *bnd = td_internal_band(params, input_dims, input, oy * sh - params->pad_top,
                                             two ? kh + sh : kh, band);
        for (ox = 0; ox < conv_w; ox += 2) {
            int8_t *out0 = output + (oy * conv_w + ox) * n;
            for (oc = 0; oc < n; oc++) {
                int32_t a[4];
                if (two && ox + 1 < conv_w) {
                    c1_block(&cx, oc, bnd + ox, sy, a);
                    td_requant_channel_s8(a, 2, mult[oc], shift[oc], ooff, amin, amax, out0 + oc,
                                          n);
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
