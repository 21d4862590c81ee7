/* Sparse conv (CSR and N:M, through their taps), portable C and Cortex-M DSP: 2x2 output
 * blocks over a band of the input. td_conv_sparse_s8 (td_conv_sparse_s8.c) runs it after
 * its checks, with beff = bias + input_offset * row_sum and the band buffer in scratch.
 *
 * The band holds kh + stride_h input rows, zero-point padded left/right (the padded cells
 * hold the zero point, i.e. contribute value * zp, which beff cancels exactly as for real
 * zero-point pixels), so interior and border positions take the same branch-free path and
 * no padded copy of the whole input exists.
 *
 * Conv outputs are computed in 2x2 blocks (two conv rows, two columns): every tap load (one
 * 32-bit word: offset + value) feeds four multiply-accumulates. With fused_maxpool a block
 * is exactly one pool window; the maximum of the four accumulators is requantised once when
 * the channel's requantisation is monotonic (multiplier >= 0, shift <= 0). */
#include "td_conv_internal.h"

/* Value of a tap word (top half, sign-extended) without implementation-defined shifts. */
static inline int32_t tap_value(uint32_t t)
{
    return (int32_t)((t >> 16) ^ 0x8000u) - 0x8000;
}

#if defined(TD_DSP_ASM)
/* The 2x2 tap loop shared by taps4 and pooled_max_row_dsp: for each tap word w in [t, end)
 * (t advances), q = b + offset(w) and a0..a3 += value(w) * q[0], q[d1], q[d2], q[d3]
 * (SMLATB takes the value from w's top half). Needs t != end on entry. */
/* clang-format off */
#define TD_ASM_TAPS4_LOOP                                                                    \
    "1:\n\t"                                                                                 \
    "ldr %[w], [%[t]], #4\n\t"                                                               \
    "uxtah %[q], %[b], %[w]\n\t"                                                             \
    "ldrsb %[x], [%[q]]\n\t"                                                                 \
    "smlatb %[a0], %[w], %[x], %[a0]\n\t"                                                    \
    "ldrsb %[x], [%[q], %[d1]]\n\t"                                                          \
    "smlatb %[a1], %[w], %[x], %[a1]\n\t"                                                    \
    "ldrsb %[x], [%[q], %[d2]]\n\t"                                                          \
    "smlatb %[a2], %[w], %[x], %[a2]\n\t"                                                    \
    "ldrsb %[x], [%[q], %[d3]]\n\t"                                                          \
    "smlatb %[a3], %[w], %[x], %[a3]\n\t"                                                    \
    "cmp %[t], %[e]\n\t"                                                                     \
    "bne 1b\n\t"
/* clang-format on */
#endif

/* 4 positions b, b+d1, b+d2, b+d3 of one row's taps [t, end). */
static inline void taps4(const uint32_t *t, const uint32_t *end, const int8_t *b, int32_t d1,
                         int32_t d2, int32_t d3, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    if (t == end) {
        return;
    }
#if defined(TD_DSP_ASM)
    {
        int32_t w, q, x;
        /* clang-format off */
        __asm__ volatile(
            TD_ASM_TAPS4_LOOP
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [t] "+r"(t),
              [w] "=&r"(w), [q] "=&r"(q), [x] "=&r"(x)
            : [b] "r"(b), [d1] "r"(d1), [d2] "r"(d2), [d3] "r"(d3), [e] "r"(end)
            : "cc", "memory");
        /* clang-format on */
    }
#else
    for (; t != end; t++) {
        const uint32_t w = *t;
        const int8_t *q = b + (w & 0xFFFFu);
        const int32_t v = tap_value(w);
        a0 += v * q[0];
        a1 += v * q[d1];
        a2 += v * q[d2];
        a3 += v * q[d3];
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

#if defined(TD_DSP_ASM)
/* Pooled windows of one channel across a band, entirely in one asm block (the C loop around
 * taps4 spilled ~40 instructions per window): for each window, accumulators = beff, the
 * 2x2 tap loop, then the largest accumulator is stored to max_out (int32, one per window).
 * Only for channels with monotonic requantisation (requantised afterwards in one batch). */
typedef struct {
    const uint32_t *t;      /* +0  first tap of the row */
    int32_t beff;           /* +4 */
    int32_t step;           /* +8  bytes between windows: 2 * sx */
    int32_t count;          /* +12 windows, >= 1 */
    int32_t *max_out;       /* +16 */
} pool_plan;

static void pooled_max_row_dsp(pool_plan *pp, const uint32_t *end, const int8_t *b, int32_t d1,
                               int32_t d2, int32_t d3)
{
    int32_t a0, a1, a2, a3, w, q;
    const uint32_t *t;
    pool_plan *x = pp;
    /* clang-format off */
    __asm__ volatile(
        "push {%[x]}\n\t"
        "2:\n\t"
        "ldr %[x], [sp]\n\t"
        "ldr %[a0], [%[x], #4]\n\t"
        "ldr %[t], [%[x], #0]\n\t"
        "mov %[a1], %[a0]\n\t"
        "mov %[a2], %[a0]\n\t"
        "mov %[a3], %[a0]\n\t"
        "cmp %[t], %[e]\n\t"
        "beq 3f\n\t"
        TD_ASM_TAPS4_LOOP
        "3:\n\t"
        "cmp %[a0], %[a1]\n\t"
        "it lt\n\t"
        "movlt %[a0], %[a1]\n\t"
        "cmp %[a0], %[a2]\n\t"
        "it lt\n\t"
        "movlt %[a0], %[a2]\n\t"
        "cmp %[a0], %[a3]\n\t"
        "it lt\n\t"
        "movlt %[a0], %[a3]\n\t"
        "ldr %[x], [sp]\n\t"
        "ldr %[q], [%[x], #16]\n\t"
        "str %[a0], [%[q]], #4\n\t"
        "str %[q], [%[x], #16]\n\t"
        "ldr %[q], [%[x], #8]\n\t"
        "add %[b], %[b], %[q]\n\t"
        "ldr %[q], [%[x], #12]\n\t"
        "subs %[q], %[q], #1\n\t"
        "str %[q], [%[x], #12]\n\t"
        "bne 2b\n\t"
        "add sp, sp, #4\n\t"
        : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [t] "=&r"(t),
          [w] "=&r"(w), [q] "=&r"(q), [x] "+r"(x), [b] "+r"(b)
        : [d1] "r"(d1), [d2] "r"(d2), [d3] "r"(d3), [e] "r"(end)
        : "cc", "memory");
    /* clang-format on */
}
#endif

/* Edge blocks of the unpooled conv: 2 positions (b, b+d1) or 1. */
static inline void taps2(const uint32_t *t, const uint32_t *end, const int8_t *b, int32_t d1,
                         int32_t *a0p, int32_t *a1p)
{
    int32_t a0 = *a0p, a1 = *a1p;
    for (; t != end; t++) {
        const uint32_t w = *t;
        const int8_t *q = b + (w & 0xFFFFu);
        const int32_t v = tap_value(w);
        a0 += v * q[0];
        a1 += v * q[d1];
    }
    *a0p = a0;
    *a1p = a1;
}

static inline int32_t taps1(const uint32_t *t, const uint32_t *end, const int8_t *b, int32_t a0)
{
    for (; t != end; t++) {
        a0 += tap_value(*t) * b[*t & 0xFFFFu];
    }
    return a0;
}

/* beff[out_c] (4-byte aligned) and one band of kh + stride_h padded rows. */
int32_t td_conv_sparse_s8_2x2_get_buffer_size(const td_conv_params *params,
                                              const td_dims *input_dims, const td_dims *filter_dims)
{
    const int32_t wp = input_dims->w + params->pad_left + params->pad_right;
    return 3 + 4 * filter_dims->n + (filter_dims->h + params->stride_h) * wp * input_dims->c;
}

static inline void row_range(const td_sparse_conv_desc *d, int32_t r, uint32_t *s, uint32_t *e)
{
    if (d->row_ptr_u16) {
        *s = d->row_ptr_u16[r];
        *e = d->row_ptr_u16[r + 1];
    } else if (d->row_ptr_u32) {
        *s = d->row_ptr_u32[r];
        *e = d->row_ptr_u32[r + 1];
    } else {
        *s = (uint32_t)(r * d->per_row);
        *e = *s + (uint32_t)d->per_row;
    }
}

/* One output channel's requantisation, constants derived once per channel and band. */
typedef struct {
    int32_t mult, shift, ooff, omin, omax;
    int32_t fast;   /* multiplier >= 0 and shift < 0: td_requant_channel_s8's folded form */
    int32_t mono;   /* multiplier >= 0 and shift <= 0: max of accumulators first (pool) */
    int32_t e;      /* -shift when fast */
} rq_chan;

static inline void rq_init(rq_chan *q, int32_t mult, int32_t shift, const td_conv_params *p)
{
    q->mult = mult;
    q->shift = shift;
    q->ooff = p->output_offset;
    q->omin = p->activation.min;
    q->omax = p->activation.max;
    q->fast = mult >= 0 && shift < 0;
    q->mono = mult >= 0 && shift <= 0;
    q->e = q->fast ? -shift : 1;
}

/* Same result as td_requant_s8. */
static inline int8_t rq(const rq_chan *q, int32_t a)
{
    if (q->fast) {
        int32_t v = td_mul_by_quant_mult_rshift(a, q->mult, q->e) + q->ooff;
        v = v < q->omin ? q->omin : v;
        v = v > q->omax ? q->omax : v;
        return (int8_t)v;
    }
    return td_requant_s8(a, q->mult, q->shift, q->ooff, q->omin, q->omax);
}

static inline int8_t max_i8(int8_t a, int8_t b)
{
    return a > b ? a : b;
}

/* Windows of one band whose maxima the DSP path keeps on the stack at once. */
#define TD_POOL_MAX_BATCH 64

/* Channel r of every pooled window of one band: out[px * rows]. */
static void pooled_band_row(const uint32_t *t, const uint32_t *e, const int8_t *b, int32_t npx,
                            int32_t sx, int32_t sy, int32_t beff, const rq_chan *q, int8_t *out,
                            int32_t rows)
{
    const int32_t step = 2 * sx, d3 = sx + sy;
    int32_t px;
#if defined(TD_DSP_ASM)
    if (q->fast && npx > 0 && npx <= TD_POOL_MAX_BATCH) {
        int32_t m[TD_POOL_MAX_BATCH];
        pool_plan pp;
        pp.t = t;
        pp.beff = beff;
        pp.step = step;
        pp.count = npx;
        pp.max_out = m;
        pooled_max_row_dsp(&pp, e, b, sx, sy, d3);
        td_requant_channel_s8(m, npx, q->mult, q->shift, q->ooff, q->omin, q->omax, out, rows);
        return;
    }
#endif
    for (px = 0; px < npx; px++, b += step, out += rows) {
        int32_t a[4];
        a[0] = a[1] = a[2] = a[3] = beff;
        taps4(t, e, b, sx, sy, d3, a);
        if (q->mono) { /* requantisation monotonic: max of the accumulators first */
            int32_t m = a[0] > a[1] ? a[0] : a[1];
            m = a[2] > m ? a[2] : m;
            *out = rq(q, a[3] > m ? a[3] : m);
        } else {
            *out = max_i8(max_i8(rq(q, a[0]), rq(q, a[1])), max_i8(rq(q, a[2]), rq(q, a[3])));
        }
    }
}

/* Channel r of one band of the unpooled conv: nr (1-2) conv rows x conv_w columns, in
 * blocks of 2 columns; out: first conv row's outputs (stride rows), the second row follows
 * out_row bytes later. */
static void conv_band_row(const uint32_t *t, const uint32_t *e, const int8_t *b, int32_t conv_w,
                          int32_t nr, int32_t sx, int32_t sy, int32_t beff, const rq_chan *q,
                          int8_t *out, int32_t rows, int32_t out_row)
{
    const int32_t d3 = sx + sy;
    int32_t ox;
    for (ox = 0; ox < conv_w; ox += 2, b += 2 * sx, out += 2 * rows) {
        int32_t a[4];
        a[0] = a[1] = a[2] = a[3] = beff;
        if (ox + 1 < conv_w) {
            if (nr == 2) {
                taps4(t, e, b, sx, sy, d3, a);
                out[out_row] = rq(q, a[2]);
                out[out_row + rows] = rq(q, a[3]);
            } else {
                taps2(t, e, b, sx, &a[0], &a[1]);
            }
            out[0] = rq(q, a[0]);
            out[rows] = rq(q, a[1]);
        } else {
            if (nr == 2) {
                taps2(t, e, b, sy, &a[0], &a[2]);
                out[out_row] = rq(q, a[2]);
            } else {
                a[0] = taps1(t, e, b, a[0]);
            }
            out[0] = rq(q, a[0]);
        }
    }
}

td_status td_conv_sparse_s8_2x2(const td_sparse_conv_desc *d, const td_conv_params *params,
                                const td_quant_params *quant, const td_dims *input_dims,
                                const int8_t *input, const td_dims *filter_dims,
                                const int32_t *beff, int8_t *band, int32_t conv_h, int32_t conv_w,
                                int8_t *output)
{
    const int32_t rows = d->rows, c = input_dims->c, kh = filter_dims->h;
    const int32_t wp = input_dims->w + params->pad_left + params->pad_right;
    const int32_t sx = params->stride_w * c, sy = params->stride_h * wp * c;
    const int32_t band_rows = kh + params->stride_h;
    const td_conv_taps *tp = d->taps;
    int32_t r, oy;
    if (params->fused_maxpool) {
        const int32_t ph = conv_h / 2, pw = conv_w / 2;
        int32_t py;
        for (py = 0; py < ph; py++) {
            const int8_t *bnd =
                td_internal_band(params, input_dims, input,
                                 2 * py * params->stride_h - params->pad_top, band_rows, band);
            for (r = 0; r < rows; r++) {
                uint32_t s, e;
                rq_chan q;
                row_range(d, r, &s, &e);
                rq_init(&q, quant->multiplier[r], quant->shift[r], params);
                pooled_band_row(tp->taps + s, tp->taps + e, bnd, pw, sx, sy, beff[r], &q,
                                output + py * pw * rows + r, rows);
            }
        }
        return TD_OK;
    }
    for (oy = 0; oy < conv_h; oy += 2) {
        const int32_t nr = oy + 1 < conv_h ? 2 : 1;
        const int8_t *bnd =
            td_internal_band(params, input_dims, input, oy * params->stride_h - params->pad_top,
                             nr == 2 ? band_rows : kh, band);
        for (r = 0; r < rows; r++) {
            uint32_t s, e;
            rq_chan q;
            row_range(d, r, &s, &e);
            rq_init(&q, quant->multiplier[r], quant->shift[r], params);
            conv_band_row(tp->taps + s, tp->taps + e, bnd, conv_w, nr, sx, sy, beff[r], &q,
                          output + oy * conv_w * rows + r, rows, conv_w * rows);
        }
    }
    return TD_OK;
}
