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
 * is monotonic for right shifts); without it all 4 sums are stored. Either way the results
 * are requantised 4 channels per vector with the per-channel constants loaded once.
 *
 * With K <= 16 (one chunk, e.g. in_c == 1, 3x3) the 4 gathers of a window serve every
 * channel. Compiled to nothing unless __ARM_FEATURE_MVE; td_conv_dense_s8 calls it first
 * and runs its other variants when this returns 0 (a tile of one window would not fit 8-bit
 * offsets, left shifts with the fused pool, or more scratch than
 * td_conv_dense_s8_get_buffer_size gives). */
#include "../common/td_mve.h"
#include "td_conv_internal.h"

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

/* One pool window, all channels: the 4 accumulators of each weight row with the fields at
 * b[0..3], their maximum into red[oc] (bias not added). Offsets into the struct are fixed
 * by the asm below. */
typedef struct {
    const int8_t *b[4];   /* 0: field origins of the window's 4 conv positions */
    const uint8_t *offs;  /* 16: gather offsets, 16 per chunk */
    int32_t tail_off;     /* 20: 16 * nfull (byte offset of the last chunk) */
    int32_t nfull;        /* 24: full chunks (K / 16 rounded down, the tail excluded) */
    int32_t tail_len;     /* 28: K - 16 * nfull, 1..16 */
    const int8_t *w;      /* 32: weight row 0 (rows K bytes apart) */
    int32_t *red;         /* 36: maxima out, n */
    int32_t n;            /* 40: rows (output channels), >= 1 */
    uint32_t pred;        /* 44: VPR mask of the tail chunk's lanes */
    int32_t red_stride;   /* 48: unpooled: bytes between the 4 positions' sums (4 * n) */
} pool_run;

/* Per channel: the last chunk first (predicated weight load, VMLAV starts the 4 sums), then
 * the full chunks in a low-overhead loop of 11 instructions (offsets, weights, 4 gathers,
 * 4 VMLADAVA), then VMAXV over the 4 sums. VMLADAVA accumulates into even registers:
 * r0, r2, r4, r6 hold the sums, r1, r3, r5, r7 the field origins. */
/* Pool: the maximum of the 4 sums (VMAXV), next channel 4 bytes on. */
/* clang-format off */
#define TD_STORE_MAX4                                                                     \
    "vmov   q2[2], q2[0], r2, r4\n\t"                                                     \
    "vmov   q2[3], q2[1], r6, r6\n\t"                                                     \
    "vmaxv.s32  r0, q2\n\t"                                                               \
    "str    r0, [r11], #4\n\t"
/* clang-format on */
/* Unpooled: the 4 positions' sums red_stride bytes apart (r9 is free here). */
/* clang-format off */
#define TD_STORE_4POS                                                                     \
    "ldr    r10, [r12, #48]\n\t"                                                          \
    "str    r0, [r11]\n\t"                                                                \
    "str    r2, [r11, r10]\n\t"                                                           \
    "str    r4, [r11, r10, lsl #1]\n\t"                                                   \
    "add    r9, r10, r10, lsl #1\n\t"                                                     \
    "str    r6, [r11, r9]\n\t"                                                            \
    "add    r11, r11, #4\n\t"
/* clang-format on */

/* clang-format off */
#define TD_WINDOW_ASM(STORE)                                                              \
    __asm__ volatile(                                                                     \
        "push   {r4-r11, lr}\n\t"                                                         \
        "mov    r12, r0\n\t"                                                              \
        "ldr    r1, [r12, #0]\n\t"                                                        \
        "ldr    r3, [r12, #4]\n\t"                                                        \
        "ldr    r5, [r12, #8]\n\t"                                                        \
        "ldr    r7, [r12, #12]\n\t"                                                       \
        "ldr    r8, [r12, #32]\n\t"                                                       \
        "ldr    r11, [r12, #36]\n\t"                                                      \
        "ldr    r10, [r12, #44]\n\t"                                                      \
        "vmsr   p0, r10\n\t"                                                              \
        "2:\n\t"                                                                          \
        "ldr    r9, [r12, #16]\n\t"                                                       \
        "ldr    r10, [r12, #20]\n\t"                                                      \
        "add    r0, r9, r10\n\t"                                                          \
        "vldrb.u8   q0, [r0]\n\t"                                                         \
        "add    r0, r8, r10\n\t"                                                          \
        "vpst\n\t"                                                                        \
        "vldrbt.u8  q1, [r0]\n\t"                                                         \
        "vldrb.u8   q2, [r1, q0]\n\t"                                                     \
        "vmlav.s8   r0, q1, q2\n\t"                                                       \
        "vldrb.u8   q3, [r3, q0]\n\t"                                                     \
        "vmlav.s8   r2, q1, q3\n\t"                                                       \
        "vldrb.u8   q2, [r5, q0]\n\t"                                                     \
        "vmlav.s8   r4, q1, q2\n\t"                                                       \
        "vldrb.u8   q3, [r7, q0]\n\t"                                                     \
        "vmlav.s8   r6, q1, q3\n\t"                                                       \
        "ldr    r10, [r12, #24]\n\t"                                                      \
        "wls    lr, r10, 3f\n\t"                                                          \
        "1:\n\t"                                                                          \
        "vldrb.u8   q0, [r9], #16\n\t"                                                    \
        "vldrb.u8   q1, [r8], #16\n\t"                                                    \
        "vldrb.u8   q2, [r1, q0]\n\t"                                                     \
        "vmlava.s8  r0, q1, q2\n\t"                                                       \
        "vldrb.u8   q3, [r3, q0]\n\t"                                                     \
        "vmlava.s8  r2, q1, q3\n\t"                                                       \
        "vldrb.u8   q2, [r5, q0]\n\t"                                                     \
        "vmlava.s8  r4, q1, q2\n\t"                                                       \
        "vldrb.u8   q3, [r7, q0]\n\t"                                                     \
        "vmlava.s8  r6, q1, q3\n\t"                                                       \
        "le     lr, 1b\n\t"                                                               \
        "3:\n\t"                                                                          \
        "ldr    r10, [r12, #28]\n\t"                                                      \
        "add    r8, r8, r10\n\t"                                                          \
        STORE                                                                             \
        "ldr    r10, [r12, #40]\n\t"                                                      \
        "subs   r10, r10, #1\n\t"                                                         \
        "str    r10, [r12, #40]\n\t"                                                      \
        "bne    2b\n\t"                                                                   \
        "pop    {r4-r11, pc}\n\t")
/* clang-format on */

__attribute__((naked, noinline)) TD_NOIPA static void pool_window_asm(pool_run *run
                                                                      __attribute__((unused)))
{
    TD_WINDOW_ASM(TD_STORE_MAX4);
}

/* The same for 4 adjacent unpooled positions (all 4 sums stored). */
__attribute__((naked, noinline)) TD_NOIPA static void block4_asm(pool_run *run
                                                                 __attribute__((unused)))
{
    TD_WINDOW_ASM(TD_STORE_4POS);
}

/* K <= 16 (one chunk): the 4 fields are gathered once into q4-q7 and serve every channel:
 * 11 instructions per channel (predicated weight load, 4 VMLAV, VMAXV, store). The struct's
 * n is left unchanged. */
/* clang-format off */
#define TD_K16_STORE_MAX4                                                                 \
    "vmov   q1[2], q1[0], r2, r4\n\t"                                                     \
    "vmov   q1[3], q1[1], r6, r6\n\t"                                                     \
    "vmaxv.s32  r0, q1\n\t"                                                               \
    "str    r0, [r11], #4\n\t"
/* clang-format on */
/* r9 = red_stride, r3 = 3 * red_stride (set before the loop; r3 is free after the gathers) */
/* clang-format off */
#define TD_K16_STORE_4POS                                                                 \
    "str    r0, [r11]\n\t"                                                                \
    "str    r2, [r11, r9]\n\t"                                                            \
    "str    r4, [r11, r9, lsl #1]\n\t"                                                    \
    "str    r6, [r11, r3]\n\t"                                                            \
    "add    r11, r11, #4\n\t"
/* clang-format on */

/* clang-format off */
#define TD_K16_ASM(STORE)                                                                 \
    __asm__ volatile(                                                                     \
        "push   {r4-r11, lr}\n\t"                                                         \
        "vpush  {d8-d15}\n\t"                                                             \
        "ldr    r1, [r0, #16]\n\t"                                                        \
        "vldrb.u8   q0, [r1]\n\t"                                                         \
        "ldm    r0, {r2, r3, r4, r5}\n\t"                                                 \
        "vldrb.u8   q4, [r2, q0]\n\t"                                                     \
        "vldrb.u8   q5, [r3, q0]\n\t"                                                     \
        "vldrb.u8   q6, [r4, q0]\n\t"                                                     \
        "vldrb.u8   q7, [r5, q0]\n\t"                                                     \
        "ldr    r8, [r0, #32]\n\t"                                                        \
        "ldr    r10, [r0, #28]\n\t"                                                       \
        "ldr    r11, [r0, #36]\n\t"                                                       \
        "ldr    r1, [r0, #44]\n\t"                                                        \
        "vmsr   p0, r1\n\t"                                                               \
        "ldr    r1, [r0, #40]\n\t"                                                        \
        "ldr    r9, [r0, #48]\n\t"                                                        \
        "add    r3, r9, r9, lsl #1\n\t"                                                   \
        "dls    lr, r1\n\t"                                                               \
        "2:\n\t"                                                                          \
        "vpst\n\t"                                                                        \
        "vldrbt.u8  q0, [r8]\n\t"                                                         \
        "add    r8, r8, r10\n\t"                                                          \
        "vmlav.s8   r0, q0, q4\n\t"                                                       \
        "vmlav.s8   r2, q0, q5\n\t"                                                       \
        "vmlav.s8   r4, q0, q6\n\t"                                                       \
        "vmlav.s8   r6, q0, q7\n\t"                                                       \
        STORE                                                                             \
        "le     lr, 2b\n\t"                                                               \
        "vpop   {d8-d15}\n\t"                                                         \
        "pop    {r4-r11, pc}\n\t")
/* clang-format on */

__attribute__((naked, noinline)) TD_NOIPA static void pool_window_k16_asm(pool_run *run
                                                                          __attribute__((unused)))
{
    TD_K16_ASM(TD_K16_STORE_MAX4);
}

__attribute__((naked, noinline)) TD_NOIPA static void block4_k16_asm(pool_run *run
                                                                     __attribute__((unused)))
{
    TD_K16_ASM(TD_K16_STORE_4POS);
}

/* Tile of input rows iy0 .. iy0 + nrows - 1 and columns ix0 .. ix0 + width - 1, every
 * cell outside the image the zero point; rows of width * c bytes. */
static void fill_tile(const td_conv_params *params, const td_dims *in, const int8_t *input,
                      int32_t iy0, int32_t nrows, int32_t ix0, int32_t width, int8_t *tile)
{
    const int32_t c = in->c, rb = width * c;
    const int32_t lo = ix0 < 0 ? 0 : ix0;
    const int32_t hi = ix0 + width > in->w ? in->w : ix0 + width;
    const int32_t left = (lo - ix0) * c, n = hi > lo ? (hi - lo) * c : 0;
    const int32_t right = rb - left - n;
    const int8_t zp = (int8_t)(-params->input_offset);
    int32_t r;
    for (r = 0; r < nrows; r++, tile += rb) {
        const int32_t iy = iy0 + r;
        if (iy < 0 || iy >= in->h || n == 0) {
            td_mve_fill(tile, zp, rb);
            continue;
        }
        if (left > 0) {
            td_mve_fill(tile, zp, left);
        }
        td_mve_copy(tile + left, input + (iy * in->w + lo) * c, n);
        if (right > 0) {
            td_mve_fill(tile + left + n, zp, right);
        }
    }
}

/* Windows (pool) or 4-position blocks per tile: the largest count whose tile keeps every
 * gather offset below 256 and fits the scratch next to at least one unit's results
 * (per_unit bytes); 0 if not even one does. *batch: units whose results fit beside it. */
static int32_t tile_units(int32_t units, int32_t span, int32_t sw, int32_t kw, int32_t kh,
                          int32_t c, int32_t rows, int32_t fixed, int32_t per_unit, int32_t avail,
                          int32_t *width, int32_t *batch)
{
    int32_t t = units, tiles;
    for (; t > 0; t--) {
        const int32_t w = (span * t - 1) * sw + kw;
        if ((kh - 1) * w * c + kw * c <= 256 && fixed + per_unit + rows * w * c <= avail) {
            break;
        }
    }
    if (t == 0) {
        return 0;
    }
    tiles = (units + t - 1) / t; /* balance: same tile count, smallest tile */
    t = (units + tiles - 1) / tiles;
    *width = (span * t - 1) * sw + kw;
    *batch = per_unit > 0 ? (avail - fixed - rows * *width * c) / per_unit : t;
    *batch = *batch > t ? t : *batch;
    return t;
}

int32_t td_conv_dense_s8_mve(const td_conv_params *params, const td_quant_params *quant,
                             const td_dims *input_dims, const int8_t *input,
                             const td_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                             int32_t conv_h, int32_t conv_w, const td_dims *output_dims,
                             int8_t *output, void *scratch)
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
    int32_t fixed, oc, t, width, batch, *beff, *red;
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
    fixed = 3 + 4 * n + (pool ? 0 : 16 * n) + 16 * pl.nchunk;
    t = tile_units(units, pool ? 2 : 4, sw, kw, kh, c, band_rows, fixed, pool ? 4 * n : 0,
                   td_conv_dense_s8_get_buffer_size(params, input_dims, filter_dims), &width,
                   &batch);
    if (t == 0) {
        return 0;
    }
    beff = (int32_t *)td_align_ptr4(scratch);
    red = beff + n;
    offs = (uint8_t *)(red + (pool ? n * batch : 4 * n));
    tile = (int8_t *)(offs + 16 * pl.nchunk);
    plan_offsets(&pl, kw * c, width * c, offs);
    for (oc = 0; oc < n; oc++) {
        beff[oc] =
            (bias ? bias[oc] : 0) + params->input_offset * td_mve_row_sum(filter + oc * pl.k, pl.k);
    }
    if (pool) {
        const int32_t ph = output_dims->h, pw = output_dims->w;
        const int32_t dx = sw * c, dy = sh * width * c;
        const int32_t nfull = pl.nchunk - 1;
        int32_t py, px0, j0, j;
        pool_run run;
        run.offs = pl.offs;
        run.tail_off = 16 * nfull;
        run.nfull = nfull;
        run.tail_len = pl.k - 16 * nfull;
        run.w = filter;
        run.pred = pl.tail;
        for (py = 0; py < ph; py++) {
            for (px0 = 0; px0 < pw; px0 += t) {
                const int32_t cnt = pw - px0 < t ? pw - px0 : t;
                fill_tile(params, input_dims, input, 2 * py * sh - params->pad_top, band_rows,
                          2 * px0 * sw - params->pad_left, width, tile);
                for (j0 = 0; j0 < cnt; j0 += batch) { /* windows whose maxima fit in red */
                    const int32_t jn = cnt - j0 < batch ? cnt - j0 : batch;
                    for (j = j0; j < j0 + jn; j++) {
                        run.b[0] = tile + 2 * j * dx;
                        run.b[1] = run.b[0] + dx;
                        run.b[2] = run.b[0] + dy;
                        run.b[3] = run.b[2] + dx;
                        run.red = red + (j - j0) * n;
                        run.n = n; /* pool_window_asm counts it down */
                        if (pl.nchunk == 1) {
                            pool_window_k16_asm(&run);
                        } else {
                            pool_window_asm(&run);
                        }
                    }
                    td_mve_requant_windows(red, n, beff, mult, shift, n, jn, ooff, amin, amax,
                                           output + (py * pw + px0 + j0) * n, n);
                }
            }
        }
    } else {
        const int32_t dx = sw * c, nfull = pl.nchunk - 1;
        int32_t oy, ox0, ox;
        pool_run run;
        run.offs = pl.offs;
        run.tail_off = 16 * nfull;
        run.nfull = nfull;
        run.tail_len = pl.k - 16 * nfull;
        run.w = filter;
        run.pred = pl.tail;
        run.red = red;
        run.red_stride = 4 * n;
        for (oy = 0; oy < conv_h; oy++) {
            for (ox0 = 0; ox0 < conv_w; ox0 += 4 * t) {
                const int32_t end = conv_w - ox0 < 4 * t ? conv_w : ox0 + 4 * t;
                fill_tile(params, input_dims, input, oy * sh - params->pad_top, band_rows,
                          ox0 * sw - params->pad_left, width, tile);
                for (ox = ox0; ox < end; ox += 4) {
                    const int32_t cnt = end - ox < 4 ? end - ox : 4;
                    run.b[0] = tile + (ox - ox0) * dx;
                    run.b[1] = cnt > 1 ? run.b[0] + dx : run.b[0];
                    run.b[2] = cnt > 2 ? run.b[0] + 2 * dx : run.b[1];
                    run.b[3] = cnt > 3 ? run.b[0] + 3 * dx : run.b[2];
                    run.n = n; /* block4_asm counts it down */
                    if (pl.nchunk == 1) {
                        block4_k16_asm(&run);
                    } else {
                        block4_asm(&run);
                    }
                    td_mve_requant_windows(red, n, beff, mult, shift, n, cnt, ooff, amin, amax,
                                           output + (oy * conv_w + ox) * n, n);
                }
            }
        }
    }
    return 1;
}

#else
typedef int td_conv_dense_s8_mve_unused; /* ISO C: no empty translation unit */
#endif /* __ARM_FEATURE_MVE */
