/* conv2d, dense OHWI weights, Helium (MVE) path: gathered receptive fields, VMLADAVA.S8.
 *
 * acc = bias + input_offset * rowsum(w) + sum w * x with the raw int8 input x, so one
 * VMLADAVA does 16 int8 MACs; the input is read through a band of zero-point padded rows
 * (padded cells then contribute w * (zp + input_offset) = 0). A weight row (K = kh*kw*in_c,
 * in place, the last chunk of 16 loaded with a zeroing predicate) is multiplied with the
 * receptive field of a position, chunk by chunk: chunk c of the field is ONE gather load
 * (VLDRB.U8 with 16 byte offsets, computed once per call) from the position's tile address,
 * so no im2col copy is ever made. The band is cut into tiles of columns narrow enough that
 * every offset fits in 8 bits ((kh - 1) * tile row + kw * in_c <= 256; TinyNet conv2: tiles
 * of 4 pool windows, 10 input columns; conv1: whole rows).
 *
 * Four positions share every weight load (the 2x2 pool window, or 4 adjacent outputs of a
 * conv row). With the fused pool the largest of the 4 accumulators is kept (requantisation
 * is monotonic for right shifts) and the window's channels are requantised 4 per vector;
 * without it each channel's 4 outputs are requantised as one vector and scattered.
 *
 * With K <= 16 (one chunk, e.g. in_c == 1, 3x3) the 4 gathers of a window serve every
 * channel. Compiled to nothing unless __ARM_FEATURE_MVE; td_conv_dense_s8 calls it first
 * and runs its generic path when this returns 0 (a tile of one window would not fit 8-bit
 * offsets, left shifts with the fused pool, or more scratch than
 * td_conv_dense_s8_get_buffer_size gives). */
#include "../common/td_mve.h"

#if defined(__ARM_FEATURE_MVE)

#define TD_MVE_MAX_CHUNKS 32 /* K <= 512 */

typedef struct {
    int32_t k, nchunk;
    const uint8_t *offs;  /* 16 offsets per chunk */
    mve_pred16_t tail;    /* lanes of the last chunk inside K */
} mve_conv_plan;

/* 8-bit gather offsets of every chunk for tile rows of rb bytes (all < 256, checked). */
static void plan_offsets(mve_conv_plan *pl, int32_t l, int32_t rb, uint8_t *offs)
{
    int32_t e;
    for (e = 0; e < 16 * pl->nchunk; e++) {
        offs[e] = (uint8_t)(e < pl->k ? (e / l) * rb + e % l : 0);
    }
    pl->offs = offs;
    pl->tail = vctp8q((uint32_t)(pl->k - 16 * (pl->nchunk - 1)));
}

/* Dot products of weight row w with the receptive fields at b0..b3 (4 positions). */
static inline void dot4(const mve_conv_plan *pl, const int8_t *w, const int8_t *b0,
                        const int8_t *b1, const int8_t *b2, const int8_t *b3, int32_t *acc)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, c;
    const uint8_t *o = pl->offs;
    for (c = pl->nchunk - 1; c > 0; c--, o += 16, w += 16) {
        const uint8x16_t off = vldrbq_u8(o);
        const int8x16_t wv = vldrbq_s8(w);
        a0 = vmladavaq_s8(a0, wv, vldrbq_gather_offset_s8(b0, off));
        a1 = vmladavaq_s8(a1, wv, vldrbq_gather_offset_s8(b1, off));
        a2 = vmladavaq_s8(a2, wv, vldrbq_gather_offset_s8(b2, off));
        a3 = vmladavaq_s8(a3, wv, vldrbq_gather_offset_s8(b3, off));
    }
    {
        const uint8x16_t off = vldrbq_u8(o);
        const int8x16_t wv = vldrbq_z_s8(w, pl->tail);
        acc[0] = vmladavaq_s8(a0, wv, vldrbq_gather_offset_s8(b0, off));
        acc[1] = vmladavaq_s8(a1, wv, vldrbq_gather_offset_s8(b1, off));
        acc[2] = vmladavaq_s8(a2, wv, vldrbq_gather_offset_s8(b2, off));
        acc[3] = vmladavaq_s8(a3, wv, vldrbq_gather_offset_s8(b3, off));
    }
}

/* n bytes of value v at dst (n may be <= 0). */
static inline void fill_bytes(int8_t *dst, int8x16_t v, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i += 16) {
        vstrbq_p_s8(dst + i, v, vctp8q((uint32_t)(n - i)));
    }
}

/* Tile of input rows iy0 .. iy0 + nrows - 1 and columns ix0 .. ix0 + width - 1, every
 * cell outside the image the zero point; rows of width * c bytes. */
static void fill_tile(const td_conv_params *params, const td_dims *in, const int8_t *input,
                      int32_t iy0, int32_t nrows, int32_t ix0, int32_t width, int8_t *tile)
{
    const int32_t c = in->c, rb = width * c;
    const int32_t lo = ix0 < 0 ? 0 : ix0;
    const int32_t hi = ix0 + width > in->w ? in->w : ix0 + width;
    const int8x16_t z = vdupq_n_s8((int8_t)(-params->input_offset));
    int32_t r;
    for (r = 0; r < nrows; r++, tile += rb) {
        const int32_t iy = iy0 + r;
        if (iy < 0 || iy >= in->h || hi <= lo) {
            fill_bytes(tile, z, rb);
            continue;
        }
        fill_bytes(tile, z, (lo - ix0) * c);
        {
            const int8_t *src = input + (iy * in->w + lo) * c;
            int8_t *dst = tile + (lo - ix0) * c;
            const int32_t n = (hi - lo) * c;
            int32_t i;
            for (i = 0; i < n; i += 16) {
                const mve_pred16_t p = vctp8q((uint32_t)(n - i));
                vstrbq_p_s8(dst + i, vldrbq_z_s8(src + i, p), p);
            }
        }
        fill_bytes(tile + (hi - ix0) * c, z, (ix0 + width - hi) * c);
    }
}

/* Windows (pool) or 4-position blocks per tile: the largest count whose tile keeps every
 * gather offset below 256 and fits the scratch; 0 if not even one does. */
static int32_t tile_units(int32_t units, int32_t span, int32_t sw, int32_t kw, int32_t kh,
                          int32_t c, int32_t rows, int32_t fixed, int32_t avail, int32_t *width)
{
    int32_t t = units, tiles;
    for (; t > 0; t--) {
        const int32_t w = (span * t - 1) * sw + kw;
        if ((kh - 1) * w * c + kw * c <= 256 && fixed + rows * w * c <= avail) {
            break;
        }
    }
    if (t == 0) {
        return 0;
    }
    tiles = (units + t - 1) / t; /* balance: same tile count, smallest tile */
    t = (units + tiles - 1) / tiles;
    *width = (span * t - 1) * sw + kw;
    return t;
}

int32_t td_mve_conv_dense_s8(const td_conv_params *params, const td_quant_params *quant,
                             const td_dims *input_dims, const int8_t *input,
                             const td_dims *filter_dims, const int8_t *filter,
                             const int32_t *bias, int32_t conv_h, int32_t conv_w,
                             const td_dims *output_dims, int8_t *output, void *scratch)
{
    const int32_t n = filter_dims->n, kh = filter_dims->h, kw = filter_dims->w;
    const int32_t c = input_dims->c, sh = params->stride_h, sw = params->stride_w;
    const int32_t pool = params->fused_maxpool;
    const int32_t band_rows = pool ? kh + sh : kh;
    const int32_t ooff = params->output_offset;
    const int32_t amin = params->activation.min, amax = params->activation.max;
    const int32_t *mult = quant->multiplier, *shift = quant->shift;
    const int32_t units = pool ? output_dims->w : (conv_w + 3) / 4;
    mve_conv_plan pl;
    int32_t fixed, oc, t, width, *beff, *red;
    uint8_t *offs;
    int8_t *tile;
    pl.k = kh * kw * c;
    pl.nchunk = (pl.k + 15) / 16;
    if (pl.nchunk > TD_MVE_MAX_CHUNKS) {
        return 0;
    }
    if (pool) {
        for (oc = 0; oc < n; oc++) {
            if (shift[oc] > 0 || mult[oc] < 0) {
                return 0; /* not monotonic: the generic path requantises before pooling */
            }
        }
    }
    fixed = 3 + 4 * n * (pool ? 2 : 1) + 16 * pl.nchunk;
    t = tile_units(units, pool ? 2 : 4, sw, kw, kh, c, band_rows, fixed,
                   td_conv_dense_s8_get_buffer_size(params, input_dims, filter_dims), &width);
    if (t == 0) {
        return 0;
    }
    beff = (int32_t *)td_align_ptr4(scratch);
    red = beff + n;
    offs = (uint8_t *)(red + (pool ? n : 0));
    tile = (int8_t *)(offs + 16 * pl.nchunk);
    plan_offsets(&pl, kw * c, width * c, offs);
    for (oc = 0; oc < n; oc++) {
        beff[oc] = (bias ? bias[oc] : 0) +
                   params->input_offset * td_mve_row_sum(filter + oc * pl.k, pl.k);
    }
    if (pool) {
        const int32_t ph = output_dims->h, pw = output_dims->w;
        const int32_t dx = sw * c, dy = sh * width * c;
        int32_t py, px0, j;
        for (py = 0; py < ph; py++) {
            for (px0 = 0; px0 < pw; px0 += t) {
                const int32_t cnt = pw - px0 < t ? pw - px0 : t;
                fill_tile(params, input_dims, input, 2 * py * sh - params->pad_top, band_rows,
                          2 * px0 * sw - params->pad_left, width, tile);
                for (j = 0; j < cnt; j++) {
                    const int8_t *b0 = tile + 2 * j * dx, *b1 = b0 + dx;
                    const int8_t *b2 = b0 + dy, *b3 = b2 + dx;
                    const int8_t *w = filter;
                    int32_t acc[4];
                    if (pl.nchunk == 1) { /* the 4 fields serve every channel */
                        const uint8x16_t off = vldrbq_u8(pl.offs);
                        const int8x16_t x0 = vldrbq_gather_offset_s8(b0, off);
                        const int8x16_t x1 = vldrbq_gather_offset_s8(b1, off);
                        const int8x16_t x2 = vldrbq_gather_offset_s8(b2, off);
                        const int8x16_t x3 = vldrbq_gather_offset_s8(b3, off);
                        for (oc = 0; oc < n; oc++, w += pl.k) {
                            const int8x16_t wv = vldrbq_z_s8(w, pl.tail);
                            red[oc] = td_mve_max4(vmladavq_s8(wv, x0), vmladavq_s8(wv, x1),
                                                  vmladavq_s8(wv, x2), vmladavq_s8(wv, x3)) +
                                      beff[oc];
                        }
                    } else {
                        for (oc = 0; oc < n; oc++, w += pl.k) {
                            dot4(&pl, w, b0, b1, b2, b3, acc);
                            red[oc] = td_mve_max4(acc[0], acc[1], acc[2], acc[3]) + beff[oc];
                        }
                    }
                    td_mve_requant_channels(red, mult, shift, n, ooff, amin, amax,
                                            output + (py * pw + px0 + j) * n);
                }
            }
        }
    } else {
        const uint32x4_t soff = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)n);
        const int32_t dx = sw * c;
        int32_t oy, ox0, ox;
        for (oy = 0; oy < conv_h; oy++) {
            for (ox0 = 0; ox0 < conv_w; ox0 += 4 * t) {
                const int32_t end = conv_w - ox0 < 4 * t ? conv_w : ox0 + 4 * t;
                fill_tile(params, input_dims, input, oy * sh - params->pad_top, band_rows,
                          ox0 * sw - params->pad_left, width, tile);
                for (ox = ox0; ox < end; ox += 4) {
                    const int32_t cnt = end - ox < 4 ? end - ox : 4;
                    const mve_pred16_t p = vctp32q((uint32_t)cnt);
                    const int8_t *b0 = tile + (ox - ox0) * dx;
                    const int8_t *b1 = cnt > 1 ? b0 + dx : b0;
                    const int8_t *b2 = cnt > 2 ? b0 + 2 * dx : b0;
                    const int8_t *b3 = cnt > 3 ? b0 + 3 * dx : b0;
                    const int8_t *w = filter;
                    int8_t *out = output + (oy * conv_w + ox) * n;
                    int32_t acc[4];
                    for (oc = 0; oc < n; oc++, w += pl.k) {
                        int32x4_t v;
                        dot4(&pl, w, b0, b1, b2, b3, acc);
                        v = vaddq_n_s32(vldrwq_s32(acc), beff[oc]);
                        v = td_mve_requant(v, vdupq_n_s32(mult[oc]), vdupq_n_s32(shift[oc]),
                                           ooff, amin, amax);
                        vstrbq_scatter_offset_p_s32(out + oc, soff, v, p);
                    }
                }
            }
        }
    }
    return 1;
}

#endif /* __ARM_FEATURE_MVE */
