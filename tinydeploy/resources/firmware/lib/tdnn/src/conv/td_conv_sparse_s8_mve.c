/* Sparse conv (CSR and N:M, through their taps), Helium (MVE) path.
 *
 * A tap is `off | value << 16` (td_conv_taps), so VLD20/VLD21.16 of 8 consecutive taps
 * de-interleaves them into 8 u16 offsets and 8 int16 values: 2 loads, then per conv position
 * of the pool window one VLDRB.S16 gather (8 input bytes at field origin + offsets) and one
 * VMLADAVA.S16: 11 instructions with LETP per 8 taps x 4 positions, in a tail-predicated
 * loop (the row's last taps need no separate path). Rows whose last 8-tap read would leave
 * the taps array use a 4-lane loop instead (VLDRW of the taps, VMOVLB.U16 offsets, VSHR
 * values, VLDRB.S32 gathers, VMLADAVA.S32), whose loads are predicated too. The window's maximum accumulator is
 * kept (requantisation is monotonic for right shifts); the maxima of 4 channels x up to 16
 * windows are then requantised one window (4 channels) per vector.
 *
 * Unpooled convs take blocks of 4 adjacent positions of a conv row through the same loops
 * and store the 4 sums. Left shifts with the pool stay on the generic path
 * (td_conv_sparse_s8 calls this first, after its checks, e.g. 16-bit offsets). */
#include "../common/td_mve.h"
#include "td_conv_internal.h"

#if defined(__ARM_FEATURE_MVE)

/* One channel, one pooled row: offsets fixed by the asm below. */
typedef struct {
    const int8_t *b0;    /* 0: field origin of window 0's first conv position */
    int32_t d1;          /* 4: byte offset of the 2nd position (stride_w * in_c) */
    int32_t d2;          /* 8: 3rd (stride_h * band row bytes) */
    int32_t d3;          /* 12: 4th (d1 + d2) */
    int32_t step;        /* 16: advance of b0 per window (2 * d1) */
    const uint32_t *t;   /* 20: the row's first tap */
    int32_t cnt;         /* 24: the row's taps */
    int32_t windows;     /* 28: windows in the row (>= 1) */
    int32_t *red;        /* 32: maxima out, 16 bytes apart (4 channels interleaved) */
} sparse_pool_run;

/* The 4 field origins are set once and advanced by `step` per window; per window a
 * tail-predicated loop (WLSTP/LETP) over the row's taps, then STORE. r0, r2, r4, r6: the 4
 * sums (even registers: VMLADAVA's accumulator); r1, r3, r5, r7: field origins; r8: taps;
 * r9: windows left; r11: red; r12: the struct. BODY is the loop body for the tap width. */
/* clang-format off */
#define TD_SPARSE_ASM(LOOP, BODY, STORE)                                                  \
    __asm__ volatile(                                                                     \
        "push   {r4-r11, lr}\n\t"                                                         \
        "mov    r12, r0\n\t"                                                              \
        "ldr    r1, [r12, #0]\n\t"                                                        \
        "ldr    r10, [r12, #4]\n\t"                                                       \
        "add    r3, r1, r10\n\t"                                                          \
        "ldr    r10, [r12, #8]\n\t"                                                       \
        "add    r5, r1, r10\n\t"                                                          \
        "ldr    r10, [r12, #12]\n\t"                                                      \
        "add    r7, r1, r10\n\t"                                                          \
        "ldr    r9, [r12, #28]\n\t"                                                       \
        "ldr    r11, [r12, #32]\n\t"                                                      \
        "5:\n\t"                                                                          \
        "movs   r0, #0\n\t"                                                               \
        "movs   r2, #0\n\t"                                                               \
        "movs   r4, #0\n\t"                                                               \
        "movs   r6, #0\n\t"                                                               \
        "ldr    r8, [r12, #20]\n\t"                                                       \
        "ldr    r10, [r12, #24]\n\t"                                                      \
        LOOP "   lr, r10, 4f\n\t"                                                         \
        "1:\n\t"                                                                          \
        BODY                                                                              \
        "letp   lr, 1b\n\t"                                                               \
        "4:\n\t"                                                                          \
        STORE                                                                             \
        "ldr    r10, [r12, #16]\n\t"                                                      \
        "add    r1, r1, r10\n\t"                                                          \
        "add    r3, r3, r10\n\t"                                                          \
        "add    r5, r5, r10\n\t"                                                          \
        "add    r7, r7, r10\n\t"                                                          \
        "subs   r9, r9, #1\n\t"                                                           \
        "bne    5b\n\t"                                                                   \
        "pop    {r4-r11, pc}\n\t")
/* clang-format on */

/* Pool: the window's maximum, 16 bytes on (4 channels interleaved). */
/* clang-format off */
#define TD_STORE_MAX                                                                      \
    "vmov   q2[2], q2[0], r2, r4\n\t"                                                     \
    "vmov   q2[3], q2[1], r6, r6\n\t"                                                     \
    "vmaxv.s32  r0, q2\n\t"                                                               \
    "str    r0, [r11], #16\n\t"
/* clang-format on */
/* Unpooled: the 4 positions' sums, 16 bytes apart, 64 bytes on per block of 4. */
/* clang-format off */
#define TD_STORE_ALL                                                                      \
    "str    r0, [r11]\n\t"                                                                \
    "str    r2, [r11, #16]\n\t"                                                           \
    "str    r4, [r11, #32]\n\t"                                                           \
    "str    r6, [r11, #48]\n\t"                                                           \
    "add    r11, r11, #64\n\t"
/* clang-format on */

/* clang-format off */
#define TD_BODY16                                                                         \
    "vld20.16   {q0, q1}, [r8]\n\t"                                                       \
    "vld21.16   {q0, q1}, [r8]!\n\t"                                                      \
    "vldrb.s16  q2, [r1, q0]\n\t"                                                         \
    "vmlava.s16 r0, q1, q2\n\t"                                                           \
    "vldrb.s16  q3, [r3, q0]\n\t"                                                         \
    "vmlava.s16 r2, q1, q3\n\t"                                                           \
    "vldrb.s16  q2, [r5, q0]\n\t"                                                         \
    "vmlava.s16 r4, q1, q2\n\t"                                                           \
    "vldrb.s16  q3, [r7, q0]\n\t"                                                         \
    "vmlava.s16 r6, q1, q3\n\t"
/* clang-format on */

/* clang-format off */
#define TD_BODY32                                                                         \
    "vldrw.u32  q0, [r8], #16\n\t"                                                        \
    "vshr.s32   q1, q0, #16\n\t"                                                          \
    "vmovlb.u16 q0, q0\n\t"                                                               \
    "vldrb.s32  q2, [r1, q0]\n\t"                                                         \
    "vmlava.s32 r0, q1, q2\n\t"                                                           \
    "vldrb.s32  q3, [r3, q0]\n\t"                                                         \
    "vmlava.s32 r2, q1, q3\n\t"                                                           \
    "vldrb.s32  q2, [r5, q0]\n\t"                                                         \
    "vmlava.s32 r4, q1, q2\n\t"                                                           \
    "vldrb.s32  q3, [r7, q0]\n\t"                                                         \
    "vmlava.s32 r6, q1, q3\n\t"
/* clang-format on */

/* 8 taps per iteration: VLD20/VLD21 de-interleave offsets (q0) and values (q1); they are not
 * predicated, so the last iteration reads up to 7 taps past the row (the caller checks that
 * this stays inside the taps array); the gathers and MACs are tail-predicated. */
__attribute__((naked, noinline)) TD_NOIPA static void sparse_pool_row16_asm(sparse_pool_run *run
                                                                            __attribute__((unused)))
{
    TD_SPARSE_ASM("wlstp.16", TD_BODY16, TD_STORE_MAX);
}

/* 4 taps per iteration, every access predicated (the array's last rows): VLDRW of the taps,
 * VMOVLB.U16 offsets, VSHR values, VLDRB.S32 gathers, VMLADAVA.S32. */
__attribute__((naked, noinline)) TD_NOIPA static void sparse_pool_row32_asm(sparse_pool_run *run
                                                                            __attribute__((unused)))
{
    TD_SPARSE_ASM("wlstp.32", TD_BODY32, TD_STORE_MAX);
}

/* The same for unpooled convs: blocks of 4 positions of a conv row, all 4 sums stored. */
__attribute__((naked, noinline)) TD_NOIPA static void sparse_row16_asm(sparse_pool_run *run
                                                                       __attribute__((unused)))
{
    TD_SPARSE_ASM("wlstp.16", TD_BODY16, TD_STORE_ALL);
}

__attribute__((naked, noinline)) TD_NOIPA static void sparse_row32_asm(sparse_pool_run *run
                                                                       __attribute__((unused)))
{
    TD_SPARSE_ASM("wlstp.32", TD_BODY32, TD_STORE_ALL);
}

#define TD_SPARSE_WINDOWS 16 /* windows per asm call (maxima of 4 channels on the stack) */

/* First tap of row r (CSR row pointers, u16 or u32; N:M: fixed slots per row). */
static inline uint32_t row_start(const td_sparse_conv_desc *d, int32_t r)
{
    return d->row_ptr_u16   ? d->row_ptr_u16[r]
           : d->row_ptr_u32 ? d->row_ptr_u32[r]
                            : (uint32_t)(r * d->per_row);
}

/* Whether the 8-tap reads of taps [s, e) stay inside the array (else the 4-lane loop). */
static inline int32_t taps16_ok(const td_conv_taps *tp, uint32_t s, uint32_t e)
{
    return (int32_t)(s + ((e - s + 7) & ~7u)) <= tp->entries;
}

/* Unpooled: per conv row, runs of up to 16 positions in blocks of 4 (a last partial block
 * repeats its last position), 4 channels at a time, then requantised 4 channels per
 * vector (any shift). */
static void unpooled(const td_sparse_conv_desc *d, const td_conv_params *params,
                     const td_quant_params *quant, const td_dims *input_dims, const int8_t *input,
                     int32_t kh, const int32_t *beff, int8_t *band, int32_t conv_h, int32_t conv_w,
                     int8_t *output)
{
    const int32_t rows = d->rows, sx = params->stride_w * input_dims->c;
    const td_conv_taps *tp = d->taps;
    int32_t red[64];
    sparse_pool_run run;
    int32_t oy, ox0, r0, r;
    run.step = 4 * sx;
    for (oy = 0; oy < conv_h; oy++) {
        const int8_t *bnd = td_internal_band(params, input_dims, input,
                                             oy * params->stride_h - params->pad_top, kh, band);
        for (ox0 = 0; ox0 < conv_w; ox0 += 16) {
            const int32_t npos = conv_w - ox0 < 16 ? conv_w - ox0 : 16;
            const int32_t full = npos / 4, rem = npos % 4;
            for (r0 = 0; r0 < rows; r0 += 4) {
                const int32_t nr = rows - r0 < 4 ? rows - r0 : 4;
                for (r = r0; r < r0 + nr; r++) {
                    const uint32_t s = row_start(d, r), e = row_start(d, r + 1);
                    const int32_t wide = taps16_ok(tp, s, e);
                    run.t = tp->taps + s;
                    run.cnt = (int32_t)(e - s);
                    if (full > 0) {
                        run.b0 = bnd + ox0 * sx;
                        run.d1 = sx;
                        run.d2 = 2 * sx;
                        run.d3 = 3 * sx;
                        run.windows = full;
                        run.red = red + (r - r0);
                        if (wide) {
                            sparse_row16_asm(&run);
                        } else {
                            sparse_row32_asm(&run);
                        }
                    }
                    if (rem > 0) {
                        run.b0 = bnd + (ox0 + 4 * full) * sx;
                        run.d1 = rem > 1 ? sx : 0;
                        run.d2 = rem > 2 ? 2 * sx : run.d1;
                        run.d3 = run.d2;
                        run.windows = 1;
                        run.red = red + 16 * full + (r - r0);
                        if (wide) {
                            sparse_row16_asm(&run);
                        } else {
                            sparse_row32_asm(&run);
                        }
                    }
                }
                td_mve_requant_windows(red, 4, beff + r0, quant->multiplier + r0, quant->shift + r0,
                                       nr, npos, params->output_offset, params->activation.min,
                                       params->activation.max,
                                       output + (oy * conv_w + ox0) * rows + r0, rows);
            }
        }
    }
}

int32_t td_conv_sparse_s8_mve(const td_sparse_conv_desc *d, const td_conv_params *params,
                              const td_quant_params *quant, const td_dims *input_dims,
                              const int8_t *input, const td_dims *filter_dims, const int32_t *beff,
                              int8_t *band, int32_t conv_h, int32_t conv_w, int8_t *output)
{
    const int32_t rows = d->rows, c = input_dims->c, kh = filter_dims->h;
    const int32_t wp = input_dims->w + params->pad_left + params->pad_right;
    const int32_t sx = params->stride_w * c, sy = params->stride_h * wp * c;
    const int32_t band_rows = kh + params->stride_h;
    const int32_t ph = conv_h / 2, pw = conv_w / 2;
    const int32_t ooff = params->output_offset;
    const int32_t amin = params->activation.min, amax = params->activation.max;
    const td_conv_taps *tp = d->taps;
    int32_t red[4 * TD_SPARSE_WINDOWS];
    sparse_pool_run run;
    int32_t r, py;
    if (!params->fused_maxpool) {
        unpooled(d, params, quant, input_dims, input, kh, beff, band, conv_h, conv_w, output);
        return 1;
    }
    if (pw < 1) {
        return 0;
    }
    for (r = 0; r < rows; r++) {
        if (quant->shift[r] > 0 || quant->multiplier[r] < 0) {
            return 0;
        }
    }
    run.d1 = sx;
    run.d2 = sy;
    run.d3 = sx + sy;
    run.step = 2 * sx;
    for (py = 0; py < ph; py++) {
        const int8_t *bnd =
            td_internal_band(params, input_dims, input, 2 * py * params->stride_h - params->pad_top,
                             band_rows, band);
        int32_t px0;
        for (px0 = 0; px0 < pw; px0 += TD_SPARSE_WINDOWS) {
            const int32_t cnt = pw - px0 < TD_SPARSE_WINDOWS ? pw - px0 : TD_SPARSE_WINDOWS;
            int32_t r0;
            for (r0 = 0; r0 < rows; r0 += 4) { /* 4 channels, then requantised together */
                const int32_t nr = rows - r0 < 4 ? rows - r0 : 4;
                for (r = r0; r < r0 + nr; r++) {
                    const uint32_t s = row_start(d, r), e = row_start(d, r + 1);
                    run.b0 = bnd + px0 * run.step;
                    run.t = tp->taps + s;
                    run.cnt = (int32_t)(e - s);
                    run.windows = cnt;
                    run.red = red + (r - r0);
                    if (taps16_ok(tp, s, e)) {
                        sparse_pool_row16_asm(&run);
                    } else {
                        sparse_pool_row32_asm(&run);
                    }
                }
                td_mve_requant_windows(red, 4, beff + r0, quant->multiplier + r0, quant->shift + r0,
                                       nr, cnt, ooff, amin, amax,
                                       output + (py * pw + px0) * rows + r0, rows);
            }
        }
    }
    return 1;
}

#else
typedef int td_conv_sparse_s8_mve_unused; /* ISO C: no empty translation unit */
#endif /* __ARM_FEATURE_MVE */
