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
 * same taps over the valid window and td_requant_s8: bit-exact with TFLM either way.
 * Maps of at most 8x8 outputs (padding <= 1) take the small-map path first (dw4s_run, see
 * below); groups it declines (quantisation outside its check) continue in dw4_groups. */
#include <stddef.h>

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

/* ---- small maps (at most DW4S_MAX outputs a side, any stride): every output on its own,
 * its valid taps only. A window's rows and columns are each full (F), missing the first
 * (L: padding above / left) or missing the last (R: padding below / right), so 9 unrolled tap
 * sequences cover every window of pad <= 1 with >= 2 input rows / columns in reach; the
 * padded taps are skipped (x + offset = 0 there), so the cost follows the real MACs (3x3
 * outputs of a 3x3 map: 49 of 81 taps). One asm loop per group runs every output from a
 * per-call table. Stride 1 (a pixel feeds up to 9 taps): the input pixels the windows reach
 * are first widened once per group (+ offset) into a buffer of int16 pairs with a fixed row
 * stride (DW4S_RS), so a tap is 6 instructions at immediate offsets (LDRD of the pixel's
 * pairs, LDRD of the weight pairs, 4 MACs); the table's (window pointer, class) drives TBH
 * into the class's taps, then the shared requantisation. Other strides (<= 2.25 taps a
 * pixel): the taps read the input (8 instructions, dw4_window's), each window row at an
 * offset from the output pointer (the same table for every group), and the table holds the
 * class's code address: LDM loads it into PC with the window pointer. ---- */
#define DW4S_MAX 8
#define DW4S_BW 10                  /* buffer entries per row: DW4S_MAX - 1 + 3 (stride 1) */
#define DW4S_RS 80                  /* bytes per buffer row: 8 * DW4S_BW */
#define DW4S_END 9                  /* the table's end mark (a class past the 9) */
#define DW4S_RAW 1                  /* dw4s_group_run modes: the taps read the input */
#define DW4S_GENERAL_RQ 2           /* sign correction and clamp */
#define DW4S_TB 520 /* input-reading table: bytes to its second half, 8 * (DW4S_MAX^2 + 1) */

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

/* A small map's group (byte offsets fixed: the asm below addresses them as immediates):
 * doubled bias, requantisation constants (channel k: multiplier, (2zp + 1) * 2^(e-1), e at
 * 16 + 12k), activation bounds in every byte, doubled widened weights (tap t: E, O at
 * 72 + 8t). */
typedef struct {
    int32_t bias[4];  /* 0 */
    int32_t rq[12];   /* 16 */
    int32_t lo4, hi4; /* 64, 68 */
    int32_t wt[18];   /* 72 */
    int32_t c, off2;  /* bytes per pixel; the input offset in both halves */
    int32_t r7;       /* the asm's save slot for r7 (no stack the call graph does not see) */
} dw4s_group;

typedef char dw4s_layout_check[(offsetof(dw4s_group, rq) == 16 && offsetof(dw4s_group, lo4) == 64 &&
                                offsetof(dw4s_group, wt) == 72)
                                   ? 1
                                   : -1];

#if defined(TD_DSP_ASM)
/* clang-format off */
#define DW4S_STR_(x) #x
#define DW4S_STR(x) DW4S_STR_(x)
#define DW4S_WT(ky, kx) "ldrd    %[we], %[wo], [%[g], #(72 + (3 * " #ky " + " #kx ") * 8)]\n\t"
#define DW4S_MACS                                                                          \
    "smlabb  %[a0], %[we], %[xe], %[a0]\n\t"                                               \
    "smlatt  %[a2], %[we], %[xe], %[a2]\n\t"                                               \
    "smlabb  %[a1], %[wo], %[xo], %[a1]\n\t"                                               \
    "smlatt  %[a3], %[wo], %[xo], %[a3]\n\t"
/* widened buffer (p: the window's top-left entry): tap (ky, kx) = LDRD of the pixel's pairs,
 * LDRD of the weight pairs, 4 MACs */
#define DW4S_BTAP(ky, kx)                                                                  \
    "ldrd    %[xe], %[xo], [%[p], #(" #ky " * " DW4S_STR(DW4S_RS) " + " #kx " * 8)]\n\t"  \
    DW4S_WT(ky, kx) DW4S_MACS
#define DW4S_BROW(ky)
/* the input itself (each window row's first pixel: the output pointer plus the table's
 * entry for the row, the same for every group): LDR, LDRD of the weight pairs, SXTAB16 x 2
 * (+ offset), 4 MACs */
#define DW4S_RTAP(ky, kx)                                                                  \
    "ldr     %[xe], [%[p]" DW4S_RCOL##kx "]\n\t"                                           \
    DW4S_WT(ky, kx)                                                                        \
    "sxtab16 %[xo], r7, %[xe], ror #8\n\t"                                                 \
    "sxtab16 %[xe], r7, %[xe]\n\t"                                                         \
    DW4S_MACS
#define DW4S_RCOL0 ""
#define DW4S_RCOL1 ", %[c]"
#define DW4S_RCOL2 ", %[c], lsl #1"
#define DW4S_RROW(ky) DW4S_RROW##ky
#define DW4S_RROW0 "add     %[p], %[p], %[out]\n\t"
#define DW4S_RROW1 "ldr     %[p], [%[tab], #" DW4S_STR(DW4S_TB) " - 8]\n\t" DW4S_RROW0
#define DW4S_RROW2 "ldr     %[p], [%[tab], #" DW4S_STR(DW4S_TB) " - 4]\n\t" DW4S_RROW0
#define DW4S_COLF(T, R, ky) R(ky) T(ky, 0) T(ky, 1) T(ky, 2)
#define DW4S_COLL(T, R, ky) R(ky) T(ky, 1) T(ky, 2)
#define DW4S_COLR(T, R, ky) R(ky) T(ky, 0) T(ky, 1)
#define DW4S_ROWF(COL, T, R) COL(T, R, 0) COL(T, R, 1) COL(T, R, 2)
#define DW4S_ROWL(COL, T, R) COL(T, R, 1) COL(T, R, 2)
#define DW4S_ROWR(COL, T, R) COL(T, R, 0) COL(T, R, 1)
#define DW4S_BLOCK(label, ROW, COL, T, R) label ":\n\t" ROW(COL, T, R) "b       20b\n\t"
/* one channel's requantisation (see dw4_group), sign: [acc < 0] */
#define DW4S_RQ(a, sign)                                                                   \
    "ldm     %[p]!, {%[xe], %[xo], %[we]}\n\t"                                             \
    "smmlar  %[xe], %[" a "], %[xe], %[xo]\n\t"                                           \
    sign                                                                                   \
    "asr     %[xe], %[xe], %[we]\n\t"                                                      \
    "ssat    %[" a "], #8, %[xe]\n\t"
#define DW4S_SIGN(a) "add     %[xe], %[xe], %[" a "], asr #31\n\t"
#define DW4S_CLAMP                                                                         \
    "ldrd    %[xe], %[xo], [%[g], #64]\n\t"                                                \
    "ssub8   %[we], %[a0], %[xe]\n\t"                                                      \
    "sel     %[a0], %[a0], %[xe]\n\t"                                                      \
    "ssub8   %[we], %[xo], %[a0]\n\t"                                                      \
    "sel     %[a0], %[a0], %[xo]\n\t"
/* Requantise the 4 accumulators, store the output word, step to the next output. */
#define DW4S_RQSTORE(SA0, SA1, SA2, SA3, CLAMP)                                            \
    "add     %[p], %[g], #16\n\t"                                                          \
    DW4S_RQ("a0", SA0) DW4S_RQ("a1", SA1) DW4S_RQ("a2", SA2) DW4S_RQ("a3", SA3)             \
    "bfi     %[a0], %[a1], #8, #8\n\t"                                                     \
    "bfi     %[a0], %[a2], #16, #8\n\t"                                                    \
    "bfi     %[a0], %[a3], #24, #8\n\t"                                                    \
    CLAMP                                                                                  \
    "str     %[a0], [%[out]]\n\t"                                                          \
    "add     %[out], %[out], %[c]\n\t"
/* Every output of the table: enter at the loop head (21), which loads the next entry's
 * window pointer and class and the bias and branches (TBH) to the class's taps (10-18) or
 * the end (19); each class's taps end at the requantisation (20), which stores the output
 * word (outputs are c bytes apart, as input pixels) and falls into the head. */
#define DW4S_LOOP(T, R, ES, SA0, SA1, SA2, SA3, CLAMP)                                         \
    "str     r7, [%[g], #152]\n\t"                                                         \
    "ldr     r7, [%[g], #148]\n\t"                                                         \
    "b       21f\n\t"                                                                      \
    "20:\n\t"                                                                              \
    DW4S_RQSTORE(SA0, SA1, SA2, SA3, CLAMP)                                                \
    "21:\n\t"                                                                              \
    "ldrd    %[p], %[wo], [%[tab]], #" ES "\n\t"                                               \
    "ldm     %[g], {%[a0], %[a1], %[a2], %[a3]}\n\t"                                       \
    "tbh     [pc, %[wo], lsl #1]\n\t"                                                      \
    "22:\n\t"                                                                              \
    ".hword  (10f - 22b) / 2, (11f - 22b) / 2, (12f - 22b) / 2, (13f - 22b) / 2\n\t"       \
    ".hword  (14f - 22b) / 2, (15f - 22b) / 2, (16f - 22b) / 2, (17f - 22b) / 2\n\t"       \
    ".hword  (18f - 22b) / 2, (19f - 22b) / 2\n\t"                                         \
    DW4S_BLOCK("10", DW4S_ROWF, DW4S_COLF, T, R)                                           \
    DW4S_BLOCK("11", DW4S_ROWF, DW4S_COLL, T, R)                                           \
    DW4S_BLOCK("12", DW4S_ROWF, DW4S_COLR, T, R)                                           \
    DW4S_BLOCK("13", DW4S_ROWL, DW4S_COLF, T, R)                                           \
    DW4S_BLOCK("14", DW4S_ROWL, DW4S_COLL, T, R)                                           \
    DW4S_BLOCK("15", DW4S_ROWL, DW4S_COLR, T, R)                                           \
    DW4S_BLOCK("16", DW4S_ROWR, DW4S_COLF, T, R)                                           \
    DW4S_BLOCK("17", DW4S_ROWR, DW4S_COLL, T, R)                                           \
    DW4S_BLOCK("18", DW4S_ROWR, DW4S_COLR, T, R)                                           \
    "19:\n\t"                                                                              \
    "ldr     r7, [%[g], #152]\n\t"
/* The bodies reading the input dispatch through the table itself: its entries hold the
 * address of their class's taps, which LDM loads into PC with the window pointer (one
 * instruction for the entry, the branch and the pointer). Called with out = NULL they only
 * store their 10 addresses (classes 0..8, the end; Thumb bit set) at tab. The ReLU6 body
 * also repeats the requantisation and the dispatch after every class's taps. */
#define DW4S_RADDR(k) "adr     r7, 1" #k "f\n\t" "orr     r7, r7, #1\n\t"                     \
    "str     r7, [%[tab], #" #k " * 4]\n\t"
#define DW4S_RQUERY                                                                        \
    "str     r7, [%[g], #152]\n\t"                                                         \
    "cmp     %[out], #0\n\t"                                                               \
    "bne     30f\n\t"                                                                      \
    DW4S_RADDR(0) DW4S_RADDR(1) DW4S_RADDR(2) DW4S_RADDR(3) DW4S_RADDR(4)                  \
    DW4S_RADDR(5) DW4S_RADDR(6) DW4S_RADDR(7) DW4S_RADDR(8) DW4S_RADDR(9)                  \
    "b       19f\n\t"                                                                      \
    "30:\n\t"                                                                              \
    "ldr     r7, [%[g], #148]\n\t"
#define DW4S_RHEAD                                                                         \
    "ldm     %[g], {%[a0], %[a1], %[a2], %[a3]}\n\t"                                       \
    "ldmia   %[tab]!, {%[p], pc}\n\t"
#define DW4S_RBLOCK(label, ROW, COL, TAIL) label ":\n\t" ROW(COL, DW4S_RTAP, DW4S_RROW) TAIL
#define DW4S_RBLOCKS(TAIL)                                                                 \
    DW4S_RBLOCK("10", DW4S_ROWF, DW4S_COLF, TAIL)                                          \
    DW4S_RBLOCK("11", DW4S_ROWF, DW4S_COLL, TAIL)                                          \
    DW4S_RBLOCK("12", DW4S_ROWF, DW4S_COLR, TAIL)                                          \
    DW4S_RBLOCK("13", DW4S_ROWL, DW4S_COLF, TAIL)                                          \
    DW4S_RBLOCK("14", DW4S_ROWL, DW4S_COLL, TAIL)                                          \
    DW4S_RBLOCK("15", DW4S_ROWL, DW4S_COLR, TAIL)                                          \
    DW4S_RBLOCK("16", DW4S_ROWR, DW4S_COLF, TAIL)                                          \
    DW4S_RBLOCK("17", DW4S_ROWR, DW4S_COLL, TAIL)                                          \
    DW4S_RBLOCK("18", DW4S_ROWR, DW4S_COLR, TAIL)                                          \
    "19:\n\t"                                                                              \
    "ldr     r7, [%[g], #152]\n\t"
#define DW4S_RLOOP_RELU6                                                                   \
    DW4S_RQUERY DW4S_RHEAD                                                                 \
    DW4S_RBLOCKS(DW4S_RQSTORE("", "", "", "", "") DW4S_RHEAD)
#define DW4S_RLOOP_GENERAL                                                                 \
    DW4S_RQUERY                                                                            \
    "b       21f\n\t"                                                                      \
    "20:\n\t"                                                                              \
    DW4S_RQSTORE(DW4S_SIGN("a0"), DW4S_SIGN("a1"), DW4S_SIGN("a2"), DW4S_SIGN("a3"),        \
                 DW4S_CLAMP)                                                               \
    "21:\n\t"                                                                              \
    DW4S_RHEAD                                                                             \
    DW4S_RBLOCKS("b       20b\n\t")
/* clang-format on */
#endif

/* One group's outputs. tab: per output 4 words, its window's top-left, its class and (raw)
 * its window's second and third rows, ended by class DW4S_END; raw: as byte offsets from
 * the output's pointer, else pointers into the widened buffer.
 * raw: the windows are in the input (c bytes per pixel, + offset widened per tap), else in
 * the widened buffer. general: the sign correction and the activation clamp (not needed
 * when activation.min = output_offset = -128 and max = 127, see dw4s_run). */
static TD_NOINLINE void dw4s_group_run(dw4s_group *g, const int32_t *tab, int8_t *out, int32_t mode)
{
    const int32_t raw = mode & DW4S_RAW, general = mode & DW4S_GENERAL_RQ;
#if defined(TD_DSP_ASM)
    /* every operand in a fixed register (LDM's lists: a0..a3 and xe < xo < we in register
     * order), none in r7: the asm saves it and holds the input offset there (14 registers;
     * r7 may be the frame pointer) */
    register int32_t a0 __asm__("r0"), a1 __asm__("r1"), a2 __asm__("r2"), a3 __asm__("r3");
    register int32_t xe __asm__("r4"), xo __asm__("r5"), we __asm__("r6"), wo __asm__("r8");
    register const int32_t *p __asm__("r10");
    register const int32_t *tp __asm__("r9") = tab;
    register int8_t *op __asm__("r11") = out;
    register dw4s_group *gp __asm__("r12") = g;
    register int32_t cp __asm__("lr") = g->c;
    /* clang-format off */
#define DW4S_OPERANDS                                                                      \
    : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [xe] "=&r"(xe),      \
      [xo] "=&r"(xo), [we] "=&r"(we), [wo] "=&r"(wo), [p] "=&r"(p), [tab] "+r"(tp),         \
      [out] "+r"(op)                                                                       \
    : [g] "r"(gp), [c] "r"(cp)                                                             \
    : "memory", "cc"
#define DW4S_GENERAL(T, R, ES)                                                             \
    DW4S_LOOP(T, R, ES, DW4S_SIGN("a0"), DW4S_SIGN("a1"), DW4S_SIGN("a2"), DW4S_SIGN("a3"),  \
              DW4S_CLAMP)
    if (raw && general) {
        __asm__ volatile(DW4S_RLOOP_GENERAL DW4S_OPERANDS);
    } else if (raw) {
        __asm__ volatile(DW4S_RLOOP_RELU6 DW4S_OPERANDS);
    } else if (general) {
        __asm__ volatile(DW4S_GENERAL(DW4S_BTAP, DW4S_BROW, "8") DW4S_OPERANDS);
    } else {
        __asm__ volatile(DW4S_LOOP(DW4S_BTAP, DW4S_BROW, "8", "", "", "", "", "") DW4S_OPERANDS);
    }
#undef DW4S_GENERAL
#undef DW4S_OPERANDS
    /* clang-format on */
#else
    const int32_t c = g->c, off2 = g->off2;
    for (; tab[1] != DW4S_END; tab += 2, out += c) {
        const int32_t ry = tab[1] / 3, cx = tab[1] % 3;
        const int32_t ky0 = ry == 1 ? 1 : 0, ky1 = ry == 2 ? 2 : 3;
        const int32_t kx0 = cx == 1 ? 1 : 0, kx1 = cx == 2 ? 2 : 3;
        int32_t a[4], k, ky, kx;
        uint32_t v = 0, t;
        for (k = 0; k < 4; k++) {
            a[k] = g->bias[k];
        }
        for (ky = ky0; ky < ky1; ky++) {
            for (kx = kx0; kx < kx1; kx++) {
                const int32_t *wt = g->wt + 2 * (3 * ky + kx);
                int32_t xe, xo;
                if (raw) {
                    const int32_t d = ky == 0 ? tab[0] : tab[DW4S_TB / 4 + ky - 1];
                    const int8_t *row = (const int8_t *)((intptr_t)out + d);
                    const uint32_t x = td_read_u32(row + kx * c);
                    xe = __sxtab16(off2, (int32_t)x);
                    xo = td_sxtab16_ror8(off2, x);
                } else {
                    const int32_t *x =
                        (const int32_t *)(intptr_t)tab[0] + ky * (DW4S_RS / 4) + 2 * kx;
                    xe = x[0];
                    xo = x[1];
                }
                a[0] = __smlabb(wt[0], xe, a[0]);
                a[2] = __smlatt(wt[0], xe, a[2]);
                a[1] = __smlabb(wt[1], xo, a[1]);
                a[3] = __smlatt(wt[1], xo, a[3]);
            }
        }
        for (k = 0; k < 4; k++) {
            const int32_t *rq = g->rq + 3 * k;
            const int32_t r = dw4_smmlar(a[k], rq[0], rq[1]) + (general ? a[k] >> 31 : 0);
            v |= ((uint32_t)__ssat(r >> rq[2], 8) & 0xFFu) << (8 * k);
        }
        if (general) {
            __asm__("ssub8 %1, %0, %2\n\t"
                    "sel   %0, %0, %2\n\t"
                    "ssub8 %1, %3, %0\n\t"
                    "sel   %0, %0, %3"
                    : "+r"(v), "=&r"(t)
                    : "r"((uint32_t)g->lo4), "r"((uint32_t)g->hi4)
                    : "cc");
        }
        td_write_u32(out, v);
    }
#endif
}

/* A small map's group: the doubled widened weights (f: channel ch of tap 0, c: bytes per
 * tap), the doubled bias and the requantisation constants (k2 = 2 * output_offset + 1).
 * 0 when a channel is outside the fast requantisation (see dw4_group, here with
 * |bias| < 2^29, a cheaper check; g is then partly written and not used). */
static inline int32_t dw4s_prepare(const td_quant_params *quant, const int8_t *f, const int32_t *bp,
                                   int32_t c, int32_t ch, int32_t k2, dw4s_group *g)
{
    uint32_t bad = 0;
#if defined(TD_DSP_ASM)
    {
        int32_t e0, o0, e1, o1, e2, o2;
        int32_t *wt = g->wt;
        /* clang-format off */
#define DW4S_WIDEN(e, o)                                                                   \
    "sxtb16  %[" o "], %[" e "], ror #8\n\t"                                               \
    "sxtb16  %[" e "], %[" e "]\n\t"                                                       \
    "sadd16  %[" e "], %[" e "], %[" e "]\n\t"                                             \
    "sadd16  %[" o "], %[" o "], %[" o "]\n\t"
#define DW4S_WNEXT "add     %[f], %[f], %[c3]\n\t"
#define DW4S_WROW(NEXT)                                                                          \
    "ldr     %[e0], [%[f]]\n\t"                                                            \
    "ldr     %[e1], [%[f], %[c]]\n\t"                                                      \
    "ldr     %[e2], [%[f], %[c], lsl #1]\n\t"                                              \
    DW4S_WIDEN("e0", "o0") DW4S_WIDEN("e1", "o1") DW4S_WIDEN("e2", "o2")                     \
    "strd    %[e0], %[o0], [%[wt]], #8\n\t"                                              \
    "strd    %[e1], %[o1], [%[wt]], #8\n\t"                                              \
    "strd    %[e2], %[o2], [%[wt]], #8\n\t" NEXT
        __asm__ volatile(DW4S_WROW(DW4S_WNEXT) DW4S_WROW(DW4S_WNEXT) DW4S_WROW("")
                         : [e0] "=&r"(e0), [o0] "=&r"(o0), [e1] "=&r"(e1), [o1] "=&r"(o1),
                           [e2] "=&r"(e2), [o2] "=&r"(o2), [f] "+r"(f), [wt] "+r"(wt)
                         : [c] "r"(c), [c3] "r"(3 * c)
                         : "memory");
#undef DW4S_WROW
#undef DW4S_WNEXT
#undef DW4S_WIDEN
        /* clang-format on */
    }
    {
        const int32_t *mp = quant->multiplier + ch, *sp = quant->shift + ch;
        int32_t m, sh, b, t, u;
        /* clang-format off */
        /* channel k: bad |= m < 0 (bit 0), e - 1 outside 0 .. 21 (t or t + 10 >= 32),
         * |b| >= 2^29 (b + 2^29 outside 0 .. 2^30 - 1); rq = (m, k2 << (e - 1), e),
         * bias = 2b */
#define DW4S_QCH(k, rq, bo)                                                                \
    "ldr     %[m], [%[mp], #" k "]\n\t"                                                    \
    "ldr     %[sh], [%[sp], #" k "]\n\t"                                                   \
    "ldr     %[b], [%[bp], #" k "]\n\t"                                                    \
    "orr     %[bad], %[bad], %[m], lsr #31\n\t"                                            \
    "mvn     %[t], %[sh]\n\t"                                                              \
    "add     %[u], %[t], #10\n\t"                                                          \
    "orr     %[bad], %[bad], %[t], lsr #5\n\t"                                             \
    "orr     %[bad], %[bad], %[u], lsr #5\n\t"                                             \
    "lsl     %[t], %[k2], %[t]\n\t"                                                        \
    "rsb     %[sh], %[sh], #0\n\t"                                                         \
    "str     %[m], [%[g], #" rq "]\n\t"                                                    \
    "strd    %[t], %[sh], [%[g], #" rq " + 4]\n\t"                                         \
    "add     %[u], %[b], #0x20000000\n\t"                                                  \
    "orr     %[bad], %[bad], %[u], lsr #30\n\t"                                            \
    "lsl     %[b], %[b], #1\n\t"                                                           \
    "str     %[b], [%[g], #" bo "]\n\t"
        __asm__ volatile(DW4S_QCH("0", "16", "0") DW4S_QCH("4", "28", "4")
                         DW4S_QCH("8", "40", "8") DW4S_QCH("12", "52", "12")
                         : [bad] "+r"(bad), [m] "=&r"(m), [sh] "=&r"(sh), [b] "=&r"(b),
                           [t] "=&r"(t), [u] "=&r"(u)
                         : [mp] "r"(mp), [sp] "r"(sp), [bp] "r"(bp), [k2] "r"(k2), [g] "r"(g)
                         : "memory");
#undef DW4S_QCH
        /* clang-format on */
    }
#else
    int32_t k;
    TD_UNROLL8
    for (k = 0; k < 9; k++) {
        const int32_t v = (int32_t)td_read_u32(f + k * c);
        const int32_t e = __sxtb16(v), o = td_sxtb16_ror8(v);
        g->wt[2 * k] = __sadd16(e, e);
        g->wt[2 * k + 1] = __sadd16(o, o);
    }
    TD_UNROLL8
    for (k = 0; k < 4; k++) {
        const int32_t m = quant->multiplier[ch + k], s = quant->shift[ch + k], b = bp[k];
        const uint32_t e1 = (uint32_t)(-1 - s); /* e - 1 */
        bad |= ((uint32_t)m >> 31) | (e1 > 21u) | ((uint32_t)(b + (1 << 29)) >> 30);
        g->rq[3 * k] = m;
        g->rq[3 * k + 1] = (int32_t)((uint32_t)k2 << (e1 & 31u));
        g->rq[3 * k + 2] = -s;
        g->bias[k] = (int32_t)((uint32_t)b << 1);
    }
#endif
    return bad == 0;
}

/* n pixels of one input row (s: channel ch of the first, c: bytes per pixel) widened into
 * consecutive buffer entries from d: E = (x_c0, x_c2) + offset, O = (x_c1, x_c3) + offset. */
static inline void dw4s_widen_row(const int8_t *s, int32_t c, int32_t n, int32_t off2, int32_t *d)
{
#if defined(TD_DSP_ASM)
    int32_t x0, x1, x2, x3, x4, x5, x6, x7;
    /* clang-format off */
#define DW4S_PIX(x, o, k) "sxtab16 %[" o "], %[off2], %[" x "], ror #8\n\t"              \
    "sxtab16 %[" x "], %[off2], %[" x "]\n\t"                                              \
    "strd    %[" x "], %[" o "], [%[d], #" k "]\n\t"
    __asm__ volatile(
        "subs    %[n], %[n], #4\n\t"
        "blt     2f\n\t"
        "1:\n\t" /* 4 pixels */
        "ldr     %[x0], [%[s]]\n\t"
        "ldr     %[x2], [%[s], %[c]]\n\t"
        "add     %[s], %[s], %[c], lsl #1\n\t"
        "ldr     %[x4], [%[s]]\n\t"
        "ldr     %[x6], [%[s], %[c]]\n\t"
        "add     %[s], %[s], %[c], lsl #1\n\t"
        DW4S_PIX("x0", "x1", "0") DW4S_PIX("x2", "x3", "8") DW4S_PIX("x4", "x5", "16")
        DW4S_PIX("x6", "x7", "24")
        "add     %[d], %[d], #32\n\t"
        "subs    %[n], %[n], #4\n\t"
        "bge     1b\n\t"
        "2:\n\t"
        "tst     %[n], #2\n\t"
        "beq     3f\n\t"
        "ldr     %[x0], [%[s]]\n\t"
        "ldr     %[x2], [%[s], %[c]]\n\t"
        "add     %[s], %[s], %[c], lsl #1\n\t"
        DW4S_PIX("x0", "x1", "0") DW4S_PIX("x2", "x3", "8")
        "add     %[d], %[d], #16\n\t"
        "3:\n\t"
        "tst     %[n], #1\n\t"
        "beq     4f\n\t"
        "ldr     %[x0], [%[s]]\n\t"
        DW4S_PIX("x0", "x1", "0")
        "4:\n\t"
        : [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3), [x4] "=&r"(x4),
          [x5] "=&r"(x5), [x6] "=&r"(x6), [x7] "=&r"(x7), [s] "+r"(s), [n] "+r"(n), [d] "+r"(d)
        : [c] "r"(c), [off2] "r"(off2)
        : "memory", "cc");
#undef DW4S_PIX
    /* clang-format on */
#else
    for (; n > 0; n--, s += c, d += 2) {
        const uint32_t x = td_read_u32(s);
        d[0] = __sxtab16(off2, (int32_t)x);
        d[1] = td_sxtab16_ror8(off2, x);
    }
#endif
}

/* One group's input rows 0 .. ny - 1 (rs bytes apart), columns 0 .. nx - 1, widened into
 * the buffer rows from dst (the entry of pixel (0, 0)). */
static TD_NOINLINE void dw4s_widen(const int8_t *src, int32_t c, int32_t rs, int32_t ny, int32_t nx,
                                   int32_t off2, int32_t *dst)
{
    for (; ny > 0; ny--, src += rs, dst += 2 * DW4S_BW) {
        dw4s_widen_row(src, c, nx, off2, dst);
    }
}

/* The 4-channel groups of a small map (see DW4S_MAX; rcls / ccls: the classes of the output
 * rows / columns) up to the first with a channel outside the fast requantisation: returns
 * its first channel (4 * floor(c / 4) when every group ran). The general body corrects the
 * sign and clamps; MobileNet's ReLU6 layers (activation.min = output_offset = -128, max 127)
 * need neither. */
static TD_NOINLINE int32_t dw4s_run(const td_dwconv_params *params, const td_quant_params *quant,
                                    const td_dims *input_dims, const int8_t *input,
                                    const int8_t *filter, const int32_t *bias, int32_t oh,
                                    int32_t ow, const int8_t *rcls, const int8_t *ccls,
                                    int8_t *output)
{
    const int32_t h = input_dims->h, w = input_dims->w, c = input_dims->c;
    const int32_t sh = params->stride_h, sw = params->stride_w;
    const int32_t pt = params->pad_top, pl = params->pad_left;
    const int32_t off2 = td_pack_s16x2(params->input_offset, params->input_offset);
    const int32_t ooff = params->output_offset;
    const int32_t amin = params->activation.min, amax = params->activation.max;
    const int32_t general = amin < ooff || amin > -128 || amax < 127;
    /* stride 1: each input pixel feeds up to 9 taps, widening it once pays (6 instructions a
     * tap against 8); at stride 2 (<= 2.25 taps a pixel) the taps widen the input */
    const int32_t raw = sh != 1 || sw != 1;
    const int32_t mode = (raw ? DW4S_RAW : 0) | (general ? DW4S_GENERAL_RQ : 0);
    /* the input rows / columns the windows reach */
    const int32_t ny = (oh - 1) * sh + 3 - pt < h ? (oh - 1) * sh + 3 - pt : h;
    const int32_t nx = (ow - 1) * sw + 3 - pl < w ? (ow - 1) * sw + 3 - pl : w;
    /* the table (2 words an entry), then the buffer (stride 1) or the table's second half */
    int32_t mem[2 * (DW4S_MAX * DW4S_MAX + 1) + 2 * DW4S_BW * DW4S_BW];
    int32_t *const tab = mem, *const buf = mem + DW4S_TB / 4;
    static const int32_t no_bias[4] = {0, 0, 0, 0};
    int32_t cls[10]; /* the table's class marks: classes 0..8, the end */
    dw4s_group g;
    int32_t ch, oy, ox, r, n = 0;
    g.lo4 = (int32_t)(0x01010101u * (uint8_t)amin);
    g.hi4 = (int32_t)(0x01010101u * (uint8_t)amax);
    g.c = c;
    g.off2 = off2;
    for (r = 0; r < 10; r++) {
        cls[r] = r;
    }
#if defined(TD_DSP_ASM)
    if (raw) { /* the input-reading bodies take their classes' code addresses */
        dw4s_group_run(&g, cls, NULL, mode);
    }
#endif
    for (oy = 0; oy < oh; oy++) {
        for (ox = 0; ox < ow; ox++, n++) {
            tab[2 * n + 1] = cls[3 * rcls[oy] + ccls[ox]];
            if (!raw) {
                tab[2 * n] = (int32_t)(intptr_t)(buf + 2 * (oy * DW4S_BW + ox));
                continue;
            }
            for (r = 0; r < 3; r++) { /* window row r from output n's pointer (any group) */
                const intptr_t row = (intptr_t)input + ((oy * sh - pt + r) * w + ox * sw - pl) * c;
                tab[r == 0 ? 2 * n : DW4S_TB / 4 + 2 * n + r - 1] =
                    (int32_t)(row - ((intptr_t)output + n * c));
            }
        }
    }
    tab[2 * n] = 0;
    tab[2 * n + 1] = cls[DW4S_END];
    for (ch = 0; ch + 4 <= c; ch += 4) {
        if (!dw4s_prepare(quant, filter + ch, bias ? bias + ch : no_bias, c, ch, 2 * ooff + 1,
                          &g)) {
            break;
        }
        if (!raw) {
            dw4s_widen(input + ch, c, w * c, ny, nx, off2, buf + 2 * (pt * DW4S_BW + pl));
        }
        dw4s_group_run(&g, tab, output + ch, mode);
    }
    return ch;
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

/* The groups from channel ch on, outside the small-map path (its own frame: the band). */
static TD_NOINLINE void dw4_groups(const td_dwconv_params *params, const td_quant_params *quant,
                                   const td_dims *input_dims, const int8_t *input,
                                   const int8_t *filter, const int32_t *bias,
                                   const td_dims *output_dims, int8_t *output, int32_t ch)
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
    int32_t oy, ox, ky, kx;
    qv.ooff = params->output_offset;
    qv.amin = params->activation.min;
    qv.amax = params->activation.max;
    for (; ch + 4 <= c; ch += 4) {
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

void td_dwconv_dense_s8_3x3_dsp(const td_dwconv_params *params, const td_quant_params *quant,
                                const td_dims *input_dims, const int8_t *input,
                                const int8_t *filter, const int32_t *bias,
                                const td_dims *output_dims, int8_t *output)
{
    int8_t rcls[DW4S_MAX], ccls[DW4S_MAX];
    int32_t ch = 0;
    if (dw4s_classes(output_dims->h, params->stride_h, params->pad_top, input_dims->h, rcls) &&
        dw4s_classes(output_dims->w, params->stride_w, params->pad_left, input_dims->w, ccls)) {
        /* the groups from the first outside the fast requantisation on take dw4_groups */
        ch = dw4s_run(params, quant, input_dims, input, filter, bias, output_dims->h,
                      output_dims->w, rcls, ccls, output);
    }
    if (ch + 4 <= input_dims->c) {
        dw4_groups(params, quant, input_dims, input, filter, bias, output_dims, output, ch);
    }
}

#endif
