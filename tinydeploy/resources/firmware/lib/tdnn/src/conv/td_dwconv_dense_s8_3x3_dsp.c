/* Depthwise conv2d, dense weights, 3x3, depth multiplier 1, Cortex-M DSP extension (M4, M7,
 * M33; Helium cores take td_dwconv_dense_s8_mve first). td_dwconv_dense_s8 runs it when
 * td_dwconv_dense_s8_3x3_dsp_applies (any stride and padding, in_c >= 4) for the channels
 * 0 .. 4 * floor(in_c / 4) - 1; the last in_c % 4 channels stay on the portable loop.
 *
 * Channel-major: 4 channels at a time (one word of each input pixel). Their 9 taps' weights
 * are widened once into SXTB16 pairs on the stack, E = (w_c0, w_c2) and O = (w_c1, w_c3);
 * per input word x, SXTAB16 / SXTAB16 ROR 8 give (x_c0, x_c2) and (x_c1, x_c3) with the
 * input offset added, and SMLABB / SMLATT accumulate the 4 channels. Two horizontally
 * adjacent outputs whose windows lie inside the image columns share every weight load
 * (rows outside the image are skipped, as in the portable loop: padding contributes 0);
 * the other outputs take the same arithmetic over their valid taps only. Requantisation is
 * td_requant_channel_s8's fast path (multiplier >= 0, right shift) with its per-channel
 * constants derived once per group, else td_requant_s8: bit-exact with TFLM either way. */
#include "td_conv_internal.h"

#if defined(__ARM_FEATURE_DSP) && !defined(__ARM_FEATURE_MVE)

int32_t td_dwconv_dense_s8_3x3_dsp_applies(const td_dwconv_params *params,
                                           const td_dims *input_dims, const td_dims *filter_dims)
{
    return params->depth_multiplier == 1 && filter_dims->h == 3 && filter_dims->w == 3 &&
           input_dims->c >= 4;
}

/* Per 4-channel group: the widened weights (tap t: wt[2t] = E, wt[2t + 1] = O), the bias
 * and the requantisation constants of each channel. fast: every channel has multiplier >= 0,
 * a right shift 1 <= e <= 22 and |bias| < 2^30 - 2^19; then weights and bias are doubled,
 * so that with a2 = 2 * acc (|acc| < 2^30: |sum| <= 9 * 255 * 128 < 2^19)
 *   H = SRDHM(acc, mult) = (a2 * mult + 2^31) >> 32                   (SMMULR)
 *   out = (H + (2zp + 1) * 2^(e-1) - [a2 < 0]) >> e
 * which is TFLM's rounding right shift plus the output offset ([H < 0] may be replaced by
 * [acc < 0], see td_requant_channel_s8; |H| < 2^30 and |(2zp + 1) 2^(e-1)| < 2^29 keep it
 * in 32 bits), then the activation clamp. Otherwise td_requant_s8 on the plain sums. */
typedef struct {
    int32_t wt[18];
    int32_t bias[4];
    int32_t mult[4];
    int32_t shift[4]; /* fast: e; else the TFLM shift */
    int32_t cst[4];   /* fast: (2zp + 1) * 2^(e-1) */
    int32_t fast;
} dw4_group;

typedef struct {
    int32_t ooff, amin, amax;
} dw4_q;

static inline int32_t dw4_smmulr(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* a0..a3 (channels c0..c3) += the 4 products of input word x and tap weights (we, wo). */
#define DW4_TAP(x, we, wo, a0, a1, a2, a3)                                                         \
    do {                                                                                           \
        const int32_t xe_ = __sxtab16(off2, (int32_t)x);                                           \
        const int32_t xo_ = td_sxtab16_ror8(off2, x);                                              \
        a0 = __smlabb(we, xe_, a0);                                                                \
        a2 = __smlatt(we, xe_, a2);                                                                \
        a1 = __smlabb(wo, xo_, a1);                                                                \
        a3 = __smlatt(wo, xo_, a3);                                                                \
    } while (0)

/* The 9 taps of one output whose window lies inside the image: acc[k] += its 4 channels'
 * sums (p: the window's top-left input word, rs: bytes per input row). */
static TD_NOINLINE void dw4_window(const int8_t *p, int32_t c, int32_t rs, const int32_t *wt,
                                   int32_t off2, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], ky;
    TD_UNROLL8
    for (ky = 0; ky < 3; ky++, p += rs, wt += 6) {
        const uint32_t x0 = td_read_u32(p);
        const uint32_t x1 = td_read_u32(p + c);
        const uint32_t x2 = td_read_u32(p + 2 * c);
        DW4_TAP(x0, wt[0], wt[1], a0, a1, a2, a3);
        DW4_TAP(x1, wt[2], wt[3], a0, a1, a2, a3);
        DW4_TAP(x2, wt[4], wt[5], a0, a1, a2, a3);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

static inline int8_t dw4_requant(const dw4_group *g, const dw4_q *q, int32_t k, int32_t a)
{
    if (g->fast) {
        int32_t v = (dw4_smmulr(a, g->mult[k]) + g->cst[k] + (a >> 31)) >> g->shift[k];
        v = v < q->amin ? q->amin : v;
        return (int8_t)(v > q->amax ? q->amax : v);
    }
    return td_requant_s8(a, g->mult[k], g->shift[k], q->ooff, q->amin, q->amax);
}

static inline void dw4_store(const dw4_group *g, const dw4_q *q, int8_t *out, int32_t a0,
                             int32_t a1, int32_t a2, int32_t a3)
{
    out[0] = dw4_requant(g, q, 0, a0);
    out[1] = dw4_requant(g, q, 1, a1);
    out[2] = dw4_requant(g, q, 2, a2);
    out[3] = dw4_requant(g, q, 3, a3);
}

static void dw4_prepare(const td_quant_params *quant, const int8_t *filter, const int32_t *bias,
                        int32_t c, int32_t ch, int32_t ooff, dw4_group *g)
{
    int32_t k;
    g->fast = 1;
    for (k = 0; k < 4; k++) {
        const int32_t b = bias ? bias[ch + k] : 0;
        const int32_t s = quant->shift[ch + k];
        if (quant->multiplier[ch + k] < 0 || s > -1 || s < -22 || b >= (1 << 30) - (1 << 19) ||
            b <= -((1 << 30) - (1 << 19))) {
            g->fast = 0;
        }
    }
    for (k = 0; k < 9; k++) {
        const int32_t v = (int32_t)td_read_u32(filter + k * c + ch);
        const int32_t e = __sxtb16(v), o = td_sxtb16_ror8(v);
        g->wt[2 * k] = g->fast ? __sadd16(e, e) : e;
        g->wt[2 * k + 1] = g->fast ? __sadd16(o, o) : o;
    }
    for (k = 0; k < 4; k++) {
        const int32_t b = bias ? bias[ch + k] : 0;
        const int32_t s = quant->shift[ch + k];
        g->mult[k] = quant->multiplier[ch + k];
        if (g->fast) {
            g->bias[k] = 2 * b;
            g->shift[k] = -s;
            g->cst[k] = (2 * ooff + 1) * (1 << (-s - 1));
        } else {
            g->bias[k] = b;
            g->shift[k] = s;
            g->cst[k] = 0;
        }
    }
}

void td_dwconv_dense_s8_3x3_dsp(const td_dwconv_params *params, const td_quant_params *quant,
                                const td_dims *input_dims, const int8_t *input,
                                const int8_t *filter, const int32_t *bias,
                                const td_dims *output_dims, int8_t *output)
{
    const int32_t h = input_dims->h, w = input_dims->w, c = input_dims->c;
    const int32_t oh = output_dims->h, ow = output_dims->w;
    const int32_t sh = params->stride_h, sw = params->stride_w;
    const int32_t pt = params->pad_top, pl = params->pad_left;
    const int32_t off2 = td_pack_s16x2(params->input_offset, params->input_offset);
    dw4_q qv;
    const dw4_q *q = &qv;
    dw4_group g;
    int32_t ch, oy, ox, ky, kx;
    qv.ooff = params->output_offset;
    qv.amin = params->activation.min;
    qv.amax = params->activation.max;
    for (ch = 0; ch + 4 <= c; ch += 4) {
        dw4_prepare(quant, filter, bias, c, ch, params->output_offset, &g);
        for (oy = 0; oy < oh; oy++) {
            const int32_t iy0 = oy * sh - pt;
            const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
            const int32_t ky1 = h - iy0 < 3 ? h - iy0 : 3;
            int8_t *orow = output + oy * ow * c + ch;
            for (ox = 0; ox < ow; ox++) {
                const int32_t ix0 = ox * sw - pl;
                int32_t acc[4];
                acc[0] = g.bias[0];
                acc[1] = g.bias[1];
                acc[2] = g.bias[2];
                acc[3] = g.bias[3];
                if (ky0 == 0 && ky1 == 3 && ix0 >= 0 && ix0 + 3 <= w) {
                    dw4_window(input + (iy0 * w + ix0) * c + ch, c, w * c, g.wt, off2, acc);
                } else {
                    const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
                    const int32_t kx1 = w - ix0 < 3 ? w - ix0 : 3;
                    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
                    for (ky = ky0; ky < ky1; ky++) {
                        const int32_t row = (iy0 + ky) * w + ix0;
                        for (kx = kx0; kx < kx1; kx++) {
                            const uint32_t x = td_read_u32(input + (row + kx) * c + ch);
                            DW4_TAP(x, g.wt[6 * ky + 2 * kx], g.wt[6 * ky + 2 * kx + 1], a0, a1, a2,
                                    a3);
                        }
                    }
                    acc[0] = a0;
                    acc[1] = a1;
                    acc[2] = a2;
                    acc[3] = a3;
                }
                dw4_store(&g, q, orow + ox * c, acc[0], acc[1], acc[2], acc[3]);
            }
        }
    }
}

#endif
