/* Depthwise conv2d, dense weights, 3x3, depth multiplier 1, Cortex-M DSP extension (M4, M7,
 * M33; Helium cores take td_dwconv_dense_s8_mve first). td_dwconv_dense_s8 runs it when
 * td_dwconv_dense_s8_3x3_dsp_applies (any stride and padding, in_c >= 4) for the channels
 * 0 .. 4 * floor(in_c / 4) - 1; the last in_c % 4 channels stay on the portable loop.
 *
 * Channel-major: 4 channels at a time (one word of each input pixel). Their 9 taps' weights
 * are widened once per group into SXTB16 pairs on the stack, E = (w_c0, w_c2) and
 * O = (w_c1, w_c3); per input word x, SXTAB16 / SXTAB16 ROR 8 give (x_c0, x_c2) and
 * (x_c1, x_c3) with the input offset added, and SMLABB / SMLATT accumulate the 4 channels
 * (8 instructions per tap: LDR, LDRD of the weights, 2 SXTAB16, 4 MACs). Outputs whose
 * window lies inside the image run in dw4_run (asm taps and requantisation on optimised
 * builds, the same arithmetic through ACLE intrinsics at -O0). Padding reads as
 * -input_offset (x + offset = 0, as the portable loop's skipped taps): a row with padding
 * rows (or a narrow row, <= 8 outputs, with padding columns) first copies its 3 input rows
 * padded into a band on the stack (one word per pixel, <= DW4_BAND_WORDS per row) and runs
 * all its outputs from there; other border windows are gathered into 9 words. A group
 * whose quantisation the fast requantisation below does not take (see dw4_group) runs the
 * same taps over the valid window and td_requant_s8: bit-exact with TFLM either way. */
#include "td_conv_internal.h"

#if defined(__ARM_FEATURE_DSP) && !defined(__ARM_FEATURE_MVE)

/* Widest padded band (words per row) kept on the stack (3 rows: 600 bytes). */
#define DW4_BAND_WORDS 50

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
    int32_t rq[14]; /* fast: per channel mult, cst, e; then lo4, hi4 (dw4_run's asm) */
    int32_t fast;
} dw4_group;

typedef struct {
    int32_t ooff, amin, amax;
} dw4_q;

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

/* (a2 * b + 2^31 + (c << 32)) >> 32: SMMULR plus c. */
static inline int32_t dw4_smmlar(int32_t a, int32_t b, int32_t c)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}

/* The 9 taps of one output whose window lies inside the image, into *a0 .. *a3 (p: the
 * window's top-left input byte, c: bytes per pixel, rs: bytes per input row). */
static inline void dw4_window(const int8_t *p, int32_t c, int32_t rs, const int32_t *wt,
                              int32_t off2, int32_t *pa0, int32_t *pa1, int32_t *pa2, int32_t *pa3)
{
    int32_t a0 = *pa0, a1 = *pa1, a2 = *pa2, a3 = *pa3;
#if defined(TD_DSP_ASM)
    int32_t x, xo, we, wo;
    /* clang-format off */
#define DW4_ASM_TAP(addr, k)                        \
    "ldr     %[x], " addr "\n\t"                    \
    "ldrd    %[we], %[wo], [%[wt], #" k "]\n\t"     \
    "sxtab16 %[xo], %[off2], %[x], ror #8\n\t"      \
    "sxtab16 %[x], %[off2], %[x]\n\t"               \
    "smlabb  %[a0], %[we], %[x], %[a0]\n\t"         \
    "smlatt  %[a2], %[we], %[x], %[a2]\n\t"         \
    "smlabb  %[a1], %[wo], %[xo], %[a1]\n\t"        \
    "smlatt  %[a3], %[wo], %[xo], %[a3]\n\t"
    __asm__(DW4_ASM_TAP("[%[p]]", "0")
            DW4_ASM_TAP("[%[p], %[c]]", "8")
            DW4_ASM_TAP("[%[p], %[c], lsl #1]", "16")
            "add     %[p], %[p], %[rs]\n\t"
            DW4_ASM_TAP("[%[p]]", "24")
            DW4_ASM_TAP("[%[p], %[c]]", "32")
            DW4_ASM_TAP("[%[p], %[c], lsl #1]", "40")
            "add     %[p], %[p], %[rs]\n\t"
            DW4_ASM_TAP("[%[p]]", "48")
            DW4_ASM_TAP("[%[p], %[c]]", "56")
            DW4_ASM_TAP("[%[p], %[c], lsl #1]", "64")
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [p] "+r"(p),
              [x] "=&r"(x), [xo] "=&r"(xo), [we] "=&r"(we), [wo] "=&r"(wo)
            : [c] "r"(c), [rs] "r"(rs), [wt] "r"(wt), [off2] "r"(off2)
            : "memory");
    /* clang-format on */
#else
    int32_t ky;
    TD_UNROLL8
    for (ky = 0; ky < 3; ky++, p += rs, wt += 6) {
        const uint32_t x0 = td_read_u32(p);
        const uint32_t x1 = td_read_u32(p + c);
        const uint32_t x2 = td_read_u32(p + 2 * c);
        DW4_TAP(x0, wt[0], wt[1], a0, a1, a2, a3);
        DW4_TAP(x1, wt[2], wt[3], a0, a1, a2, a3);
        DW4_TAP(x2, wt[4], wt[5], a0, a1, a2, a3);
    }
#endif
    *pa0 = a0;
    *pa1 = a1;
    *pa2 = a2;
    *pa3 = a3;
}

/* A run of n outputs of a fast group whose windows lie inside the image (p: the first
 * window's top-left input byte, rs: bytes per input row, sc: bytes between windows): the 9
 * taps, the requantisation above saturated to int8 (SSAT), the 4 bytes packed and clamped
 * to the activation range (lo4 / hi4: its bounds in every byte) with SSUB8 / SEL, one
 * word store per output. */
static TD_NOINLINE void dw4_run(const dw4_group *g, const int8_t *p, int32_t c, int32_t rs,
                                int32_t sc, int8_t *out, int32_t oc, int32_t n, int32_t off2)
{
    for (; n > 0; n--, p += sc, out += oc) {
        int32_t a0 = g->bias[0], a1 = g->bias[1], a2 = g->bias[2], a3 = g->bias[3];
        dw4_window(p, c, rs, g->wt, off2, &a0, &a1, &a2, &a3);
#if defined(TD_DSP_ASM)
        {
            int32_t m, k, e;
            /* clang-format off */
#define DW4_ASM_RQ(a, o)                                  \
    "ldrd    %[m], %[k], [%[rq], #" o "]\n\t"              \
    "ldr     %[e], [%[rq], #" o " + 8]\n\t"                \
    "smmlar  %[m], %[" a "], %[m], %[k]\n\t"               \
    "add     %[m], %[m], %[" a "], asr #31\n\t"            \
    "asr     %[m], %[m], %[e]\n\t"                         \
    "ssat    %[" a "], #8, %[m]\n\t"
            __asm__ volatile(DW4_ASM_RQ("a0", "0") DW4_ASM_RQ("a1", "12") DW4_ASM_RQ("a2", "24")
                    DW4_ASM_RQ("a3", "36")
                    "bfi     %[a0], %[a1], #8, #8\n\t"
                    "bfi     %[a0], %[a2], #16, #8\n\t"
                    "bfi     %[a0], %[a3], #24, #8\n\t"
                    "ldrd    %[m], %[k], [%[rq], #48]\n\t"
                    "ssub8   %[e], %[a0], %[m]\n\t"
                    "sel     %[a0], %[a0], %[m]\n\t"
                    "ssub8   %[e], %[k], %[a0]\n\t"
                    "sel     %[a0], %[a0], %[k]\n\t"
                    "str     %[a0], [%[out]]"
                    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [m] "=&r"(m),
                      [k] "=&r"(k), [e] "=&r"(e)
                    : [rq] "r"(g->rq), [out] "r"(out)
                    : "memory", "cc");
#undef DW4_ASM_RQ
            /* clang-format on */
        }
#else
        a0 = __ssat((dw4_smmlar(a0, g->mult[0], g->cst[0]) + (a0 >> 31)) >> g->shift[0], 8);
        a1 = __ssat((dw4_smmlar(a1, g->mult[1], g->cst[1]) + (a1 >> 31)) >> g->shift[1], 8);
        a2 = __ssat((dw4_smmlar(a2, g->mult[2], g->cst[2]) + (a2 >> 31)) >> g->shift[2], 8);
        a3 = __ssat((dw4_smmlar(a3, g->mult[3], g->cst[3]) + (a3 >> 31)) >> g->shift[3], 8);
        uint32_t v, t;
        v = ((uint32_t)a0 & 0xFFu) | (((uint32_t)a1 & 0xFFu) << 8) |
            (((uint32_t)a2 & 0xFFu) << 16) | ((uint32_t)a3 << 24);
        __asm__("ssub8 %1, %0, %2\n\t"
                "sel   %0, %0, %2\n\t"
                "ssub8 %1, %3, %0\n\t"
                "sel   %0, %0, %3"
                : "+r"(v), "=&r"(t)
                : "r"((uint32_t)g->rq[12]), "r"((uint32_t)g->rq[13])
                : "cc");
        td_write_u32(out, v);
#endif
    }
}

/* ---- small maps (at most DW4S_MAX outputs a side): every output on its own, its valid
 * taps only. A window's rows and columns are each full (F), missing the first (L: padding
 * above / left) or missing the last (R: padding below / right), so 9 unrolled tap
 * sequences cover every window of pad <= 1 with >= 2 input rows / columns in reach; the
 * padded taps are skipped (x + offset = 0 there), so no band is copied and the cost follows
 * the real MACs (3x3 outputs of a 3x3 map: 49 of 81 taps). ---- */
#define DW4S_MAX 8

/* the class of a window whose first input line is i0 of n (0 F, 1 L, 2 R, -1 other) */
static int32_t dw4s_class(int32_t i0, int32_t n)
{
    const int32_t k0 = i0 < 0 ? -i0 : 0, k1 = n - i0 < 3 ? n - i0 : 3;
    return k0 == 0 && k1 == 3 ? 0 : k0 == 1 && k1 == 3 ? 1 : k0 == 0 && k1 == 2 ? 2 : -1;
}

/* The classes of n <= DW4S_MAX output lines (stride s, padding before pad, n_in input
 * lines) into cls; 0 when one has none. */
static int32_t dw4s_classes(int32_t n, int32_t s, int32_t pad, int32_t n_in, int8_t *cls)
{
    int32_t i;
    if (n > DW4S_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        cls[i] = (int8_t)dw4s_class(i * s - pad, n_in);
        if (cls[i] < 0) {
            return 0;
        }
    }
    return 1;
}

int32_t td_dwconv_dense_s8_3x3_dsp_small(const td_dwconv_params *params, const td_dims *input_dims,
                                         const td_dims *output_dims)
{
    int8_t cls[DW4S_MAX];
    return dw4s_classes(output_dims->h, params->stride_h, params->pad_top, input_dims->h, cls) &&
           dw4s_classes(output_dims->w, params->stride_w, params->pad_left, input_dims->w, cls);
}

#if defined(TD_DSP_ASM)
/* clang-format off */
/* one tap: DW4_ASM_TAP of dw4_window above */
#define DW4S_COLF(k0, k1, k2) DW4_ASM_TAP("[%[p]]", k0) DW4_ASM_TAP("[%[p], %[c]]", k1) \
    DW4_ASM_TAP("[%[p], %[c], lsl #1]", k2)
#define DW4S_COLL(k0, k1, k2) DW4_ASM_TAP("[%[p], %[c]]", k1) DW4_ASM_TAP("[%[p], %[c], lsl #1]", k2)
#define DW4S_COLR(k0, k1, k2) DW4_ASM_TAP("[%[p]]", k0) DW4_ASM_TAP("[%[p], %[c]]", k1)
#define DW4S_NEXT "add     %[p], %[p], %[rs]\n\t"
#define DW4S_ROWF(COL) COL("0", "8", "16") DW4S_NEXT COL("24", "32", "40") DW4S_NEXT \
    COL("48", "56", "64")
#define DW4S_ROWL(COL) DW4S_NEXT COL("24", "32", "40") DW4S_NEXT COL("48", "56", "64")
#define DW4S_ROWR(COL) COL("0", "8", "16") DW4S_NEXT COL("24", "32", "40")
#define DW4S_CASE(n, body)                                                                  \
    case n:                                                                                 \
        __asm__(body                                                                        \
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [p] "+r"(p), \
                  [x] "=&r"(x), [xo] "=&r"(xo), [we] "=&r"(we), [wo] "=&r"(wo)              \
                : [c] "r"(c), [rs] "r"(rs), [wt] "r"(wt), [off2] "r"(off2)                  \
                : "memory");                                                                \
        break;
/* clang-format on */
#endif

/* The valid taps of window class cls (3 * row class + column class) into *pa0 .. *pa3 (p:
 * the window's top-left input byte, possibly in the padding, which is never read). */
static inline __attribute__((always_inline)) void
dw4s_window(int32_t cls, const int8_t *p, int32_t c, int32_t rs, const int32_t *wt, int32_t off2,
            int32_t *pa0, int32_t *pa1, int32_t *pa2, int32_t *pa3)
{
    int32_t a0 = *pa0, a1 = *pa1, a2 = *pa2, a3 = *pa3;
#if defined(TD_DSP_ASM)
    int32_t x, xo, we, wo;
    switch (cls) {
        DW4S_CASE(0, DW4S_ROWF(DW4S_COLF))
        DW4S_CASE(1, DW4S_ROWF(DW4S_COLL))
        DW4S_CASE(2, DW4S_ROWF(DW4S_COLR))
        DW4S_CASE(3, DW4S_ROWL(DW4S_COLF))
        DW4S_CASE(4, DW4S_ROWL(DW4S_COLL))
        DW4S_CASE(5, DW4S_ROWL(DW4S_COLR))
        DW4S_CASE(6, DW4S_ROWR(DW4S_COLF))
        DW4S_CASE(7, DW4S_ROWR(DW4S_COLL))
    default: DW4S_CASE(8, DW4S_ROWR(DW4S_COLR))
    }
#else
    const int32_t ry = cls / 3, cx = cls % 3;
    const int32_t ky0 = ry == 1 ? 1 : 0, ky1 = ry == 2 ? 2 : 3;
    const int32_t kx0 = cx == 1 ? 1 : 0, kx1 = cx == 2 ? 2 : 3;
    int32_t ky, kx;
    for (ky = ky0; ky < ky1; ky++) {
        for (kx = kx0; kx < kx1; kx++) {
            const uint32_t xv = td_read_u32(p + ky * rs + kx * c);
            DW4_TAP(xv, wt[6 * ky + 2 * kx], wt[6 * ky + 2 * kx + 1], a0, a1, a2, a3);
        }
    }
#endif
    *pa0 = a0;
    *pa1 = a1;
    *pa2 = a2;
    *pa3 = a3;
}

/* Requantise a fast group's 4 sums (see dw4_group) and store them as one word. sign: add
 * [acc < 0] (not needed when activation.min >= output_offset: an output of a negative sum
 * is <= output_offset either way, so the clamp makes it exact); clamp: the activation range
 * is narrower than int8. */
static inline void dw4s_store(const dw4_group *g, int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                              int32_t sign, int32_t clamp, int8_t *out)
{
    const int32_t *rq = g->rq;
    uint32_t v;
    a0 = __ssat((dw4_smmlar(a0, rq[0], rq[1]) + (sign ? a0 >> 31 : 0)) >> rq[2], 8);
    a1 = __ssat((dw4_smmlar(a1, rq[3], rq[4]) + (sign ? a1 >> 31 : 0)) >> rq[5], 8);
    a2 = __ssat((dw4_smmlar(a2, rq[6], rq[7]) + (sign ? a2 >> 31 : 0)) >> rq[8], 8);
    a3 = __ssat((dw4_smmlar(a3, rq[9], rq[10]) + (sign ? a3 >> 31 : 0)) >> rq[11], 8);
    v = (uint32_t)a0;
    __asm__("bfi %0, %1, #8, #8\n\t"
            "bfi %0, %2, #16, #8\n\t"
            "bfi %0, %3, #24, #8"
            : "+r"(v)
            : "r"(a1), "r"(a2), "r"(a3));
    if (clamp) {
        uint32_t t;
        __asm__("ssub8 %1, %0, %2\n\t"
                "sel   %0, %0, %2\n\t"
                "ssub8 %1, %3, %0\n\t"
                "sel   %0, %0, %3"
                : "+r"(v), "=&r"(t)
                : "r"((uint32_t)rq[12]), "r"((uint32_t)rq[13])
                : "cc");
    }
    td_write_u32(out, v);
}

/* One fast group over a small map: pix[i] = (window offset of output i) * 16 + its class. */
static inline __attribute__((always_inline)) void
dw4s_group_body(const dw4_group *g, const int8_t *in, int32_t c, int32_t rs, const int32_t *pix,
                int32_t n, int32_t off2, int32_t sign, int32_t clamp, int8_t *out)
{
    const int32_t *end = pix + n;
    for (; pix < end; pix++, out += c) {
        const int32_t e = *pix;
        int32_t a0 = g->bias[0], a1 = g->bias[1], a2 = g->bias[2], a3 = g->bias[3];
        dw4s_window(e & 15, in + (e >> 4), c, rs, g->wt, off2, &a0, &a1, &a2, &a3);
        dw4s_store(g, a0, a1, a2, a3, sign, clamp, out);
    }
}

/* A small map's fast group: doubled widened weights, doubled bias, requantisation constants
 * (the fast case of dw4_prepare, every channel of the layer checked once beforehand). */
static inline void dw4s_prepare(const td_quant_params *quant, const int8_t *filter,
                                const int32_t *bias, int32_t c, int32_t ch, int32_t ooff,
                                dw4_group *g)
{
    int32_t k;
    TD_UNROLL8
    for (k = 0; k < 9; k++) {
        const int32_t v = (int32_t)td_read_u32(filter + k * c + ch);
        const int32_t e = __sxtb16(v), o = td_sxtb16_ror8(v);
        g->wt[2 * k] = __sadd16(e, e);
        g->wt[2 * k + 1] = __sadd16(o, o);
    }
    TD_UNROLL8
    for (k = 0; k < 4; k++) {
        const int32_t e = -quant->shift[ch + k];
        g->bias[k] = bias ? 2 * bias[ch + k] : 0;
        g->rq[3 * k] = quant->multiplier[ch + k];
        g->rq[3 * k + 1] = (2 * ooff + 1) * (1 << (e - 1));
        g->rq[3 * k + 2] = e;
    }
}

/* Every 4-channel group of a small map (see DW4S_MAX; rcls / ccls: the classes of the
 * output rows / columns) whose every channel is fast. Two bodies (code size): the exact
 * general one, and the one without sign correction and clamp (MobileNet's ReLU6 layers:
 * activation.min = output_offset = -128). */
static TD_NOINLINE void dw4s_run(const td_dwconv_params *params, const td_quant_params *quant,
                                 const td_dims *input_dims, const int8_t *input,
                                 const int8_t *filter, const int32_t *bias, int32_t oh, int32_t ow,
                                 const int8_t *rcls, const int8_t *ccls, int8_t *output)
{
    const int32_t w = input_dims->w, c = input_dims->c;
    const int32_t sh = params->stride_h, sw = params->stride_w;
    const int32_t off2 = td_pack_s16x2(params->input_offset, params->input_offset);
    const int32_t ooff = params->output_offset;
    const int32_t amin = params->activation.min, amax = params->activation.max;
    const int32_t general = amin < ooff || amin > -128 || amax < 127;
    /* the window pointer of output (0, 0), possibly in the padding (never read) */
    const intptr_t base =
        (intptr_t)input - (intptr_t)((params->pad_top * w + params->pad_left) * c);
    int32_t pix[DW4S_MAX * DW4S_MAX];
    dw4_group g;
    int32_t ch, oy, ox;
    for (oy = 0; oy < oh; oy++) {
        for (ox = 0; ox < ow; ox++) {
            pix[oy * ow + ox] = (oy * sh * w + ox * sw) * c * 16 + 3 * rcls[oy] + ccls[ox];
        }
    }
    g.rq[12] = (int32_t)(0x01010101u * (uint8_t)amin);
    g.rq[13] = (int32_t)(0x01010101u * (uint8_t)amax);
    for (ch = 0; ch + 4 <= c; ch += 4) {
        const int8_t *in = (const int8_t *)(base + ch);
        dw4s_prepare(quant, filter, bias, c, ch, ooff, &g);
        if (general) {
            dw4s_group_body(&g, in, c, w * c, pix, oh * ow, off2, 1, 1, output + ch);
        } else {
            dw4s_group_body(&g, in, c, w * c, pix, oh * ow, off2, 0, 0, output + ch);
        }
    }
}

/* Whether every channel 0 .. 4 * floor(c / 4) - 1 takes the fast requantisation. */
static int32_t dw4s_all_fast(const td_quant_params *quant, const int32_t *bias, int32_t c)
{
    int32_t k;
    for (k = 0; k < (c & ~3); k++) {
        const int32_t b = bias ? bias[k] : 0;
        const int32_t s = quant->shift[k];
        if (quant->multiplier[k] < 0 || s > -1 || s < -22 || b >= (1 << 30) - (1 << 19) ||
            b <= -((1 << 30) - (1 << 19))) {
            return 0;
        }
    }
    return 1;
}

/* The groups dw4_run does not take (g->fast == 0). */
static inline int8_t dw4_requant(const dw4_group *g, const dw4_q *q, int32_t k, int32_t a)
{
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
            g->rq[3 * k] = g->mult[k];
            g->rq[3 * k + 1] = g->cst[k];
            g->rq[3 * k + 2] = -s;
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
    const uint32_t lo4 = 0x01010101u * (uint8_t)params->activation.min;
    const uint32_t hi4 = 0x01010101u * (uint8_t)params->activation.max;
    const int32_t pad4 = (int32_t)(0x01010101u * (uint8_t)-params->input_offset);
    const int32_t bw = (ow - 1) * sw + 3; /* band words per row */
    /* rows with padding columns take the band too when they are narrow (gathering their
     * border windows one by one costs more than the band then) */
    const int32_t band_cols = ow <= 8 && (pl > 0 || (ow - 1) * sw + 3 > pl + w);
    dw4_q qv;
    const dw4_q *q = &qv;
    dw4_group g;
    int32_t ch, oy, ox, ky, kx;
    qv.ooff = params->output_offset;
    qv.amin = params->activation.min;
    qv.amax = params->activation.max;
    int8_t rcls[DW4S_MAX], ccls[DW4S_MAX];
    if (dw4s_classes(oh, sh, pt, h, rcls) && dw4s_classes(ow, sw, pl, w, ccls) &&
        dw4s_all_fast(quant, bias, c)) {
        dw4s_run(params, quant, input_dims, input, filter, bias, oh, ow, rcls, ccls, output);
        return;
    }
    for (ch = 0; ch + 4 <= c; ch += 4) {
        dw4_prepare(quant, filter, bias, c, ch, params->output_offset, &g);
        g.rq[12] = (int32_t)lo4;
        g.rq[13] = (int32_t)hi4;
        for (oy = 0; oy < oh; oy++) {
            const int32_t iy0 = oy * sh - pt;
            const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
            const int32_t ky1 = h - iy0 < 3 ? h - iy0 : 3;
            int8_t *orow = output + oy * ow * c + ch;
            if (g.fast && bw <= DW4_BAND_WORDS && (ky0 != 0 || ky1 != 3 || band_cols)) {
                /* the row's 3 input rows, padded, one word per pixel: all ow outputs in one run */
                int32_t band[3 * DW4_BAND_WORDS], j;
                for (ky = 0; ky < 3; ky++) {
                    const int32_t iy = iy0 + ky;
                    int32_t *br = band + ky * bw;
                    const int32_t j1 = iy >= 0 && iy < h ? (pl + w < bw ? pl + w : bw) : 0;
                    const int8_t *src = input + iy * w * c + ch;
                    j = iy >= 0 && iy < h ? pl : 0;
                    for (kx = 0; kx < j; kx++) {
                        br[kx] = pad4;
                    }
                    for (; j < j1; j++) {
                        br[j] = (int32_t)td_read_u32(src + (j - pl) * c);
                    }
                    for (; j < bw; j++) {
                        br[j] = pad4;
                    }
                }
                dw4_run(&g, (const int8_t *)band, 4, 4 * bw, 4 * sw, orow, c, ow, off2);
                continue;
            }
            for (ox = 0; ox < ow; ox++) {
                const int32_t ix0 = ox * sw - pl;
                const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t kx1 = w - ix0 < 3 ? w - ix0 : 3;
                int32_t a0, a1, a2, a3;
                if (g.fast && ky0 == 0 && ky1 == 3 && ix0 >= 0 && ix0 + 3 <= w) {
                    /* the interior run: outputs ox .. ox1 - 1 */
                    const int32_t ox1 = (w - 3 + pl) / sw + 1 < ow ? (w - 3 + pl) / sw + 1 : ow;
                    dw4_run(&g, input + (iy0 * w + ix0) * c + ch, c, w * c, sw * c, orow + ox * c,
                            c, ox1 - ox, off2);
                    ox = ox1 - 1;
                    continue;
                }
                if (g.fast) { /* a border window: padded taps read as -input_offset */
                    int32_t win[9];
                    win[0] = win[1] = win[2] = win[3] = win[4] = win[5] = win[6] = win[7] = win[8] =
                        pad4;
                    for (ky = ky0; ky < ky1; ky++) {
                        const int32_t row = (iy0 + ky) * w + ix0;
                        for (kx = kx0; kx < kx1; kx++) {
                            win[3 * ky + kx] = (int32_t)td_read_u32(input + (row + kx) * c + ch);
                        }
                    }
                    dw4_run(&g, (const int8_t *)win, 4, 12, 0, orow + ox * c, c, 1, off2);
                    continue;
                }
                a0 = g.bias[0];
                a1 = g.bias[1];
                a2 = g.bias[2];
                a3 = g.bias[3];
                for (ky = ky0; ky < ky1; ky++) {
                    const int32_t row = (iy0 + ky) * w + ix0;
                    for (kx = kx0; kx < kx1; kx++) {
                        const uint32_t x = td_read_u32(input + (row + kx) * c + ch);
                        DW4_TAP(x, g.wt[6 * ky + 2 * kx], g.wt[6 * ky + 2 * kx + 1], a0, a1, a2,
                                a3);
                    }
                }
                dw4_store(&g, q, orow + ox * c, a0, a1, a2, a3);
            }
        }
    }
}

#endif
