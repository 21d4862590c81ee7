/* td_internal.h - helpers private to the tdnn sources (not part of the public API). */
#ifndef TD_INTERNAL_H
#define TD_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "tdnn.h"

#define TD_ALIGN4(n) (((n) + 3) & ~3)

/* Fixed-size copies must become single loads/stores even under -ffreestanding (which
 * disables the memcpy builtin), so the GCC/Clang builtin is used explicitly. */
#if defined(__GNUC__)
#define TD_MEMCPY __builtin_memcpy
#else
#define TD_MEMCPY memcpy
#endif

/* Full unrolling of short constant-trip loops (GCC -O2 does not unroll by itself). */
#if defined(__clang__)
#define TD_UNROLL8 _Pragma("unroll 8")
#elif defined(__GNUC__)
#define TD_UNROLL8 _Pragma("GCC unroll 8")
#else
#define TD_UNROLL8
#endif

/* Keeps a specialised path out of its caller, so the caller's other paths compile as before. */
#if defined(__GNUC__)
#define TD_NOINLINE __attribute__((noinline))
#else
#define TD_NOINLINE
#endif

/* For naked asm routines that take their arguments through a struct pointer: GCC must not
 * derive (from the asm-only body) that a call leaves memory alone. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define TD_NOIPA __attribute__((noipa))
#else
#define TD_NOIPA
#endif

static inline uint32_t td_read_u32(const void *p)
{
    uint32_t v;
    TD_MEMCPY(&v, p, 4);
    return v;
}

static inline void td_write_u32(void *p, uint32_t v)
{
    TD_MEMCPY(p, &v, 4);
}

static inline void *td_align_ptr4(void *p)
{
    return (void *)(((uintptr_t)p + 3u) & ~(uintptr_t)3u);
}

#if defined(__ARM_FEATURE_DSP)
/* SXTB16 / SXTAB16 with the ROR #8 operand (not expressible through ACLE in GCC 12). */
static inline int32_t td_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

static inline int32_t td_sxtab16_ror8(int32_t a, int32_t x)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}

/* The 2 weight rows x 2 columns SMLAD loop shared by the two kernels below: n groups of 4
 * K entries; q0/q1 walk the weight rows, p the interleaved int16 columns. */
#define TD_ASM_DOT_2X2_LOOP                                                                      \
    "1:\n\t"                                                                             \
    "ldrd %[xa], %[xb], [%[p]], #8\n\t"                                                  \
    "ldrd %[ya], %[yb], [%[p]], #8\n\t"                                                  \
    "ldr %[w], [%[q0]], #4\n\t"                                                          \
    "sxtb16 %[t], %[w]\n\t"                                                              \
    "smlad %[a00], %[t], %[xa], %[a00]\n\t"                                              \
    "smlad %[a01], %[t], %[ya], %[a01]\n\t"                                              \
    "sxtb16 %[t], %[w], ror #8\n\t"                                                      \
    "smlad %[a00], %[t], %[xb], %[a00]\n\t"                                              \
    "smlad %[a01], %[t], %[yb], %[a01]\n\t"                                              \
    "ldr %[w], [%[q1]], #4\n\t"                                                          \
    "sxtb16 %[t], %[w]\n\t"                                                              \
    "smlad %[a10], %[t], %[xa], %[a10]\n\t"                                              \
    "smlad %[a11], %[t], %[ya], %[a11]\n\t"                                              \
    "sxtb16 %[t], %[w], ror #8\n\t"                                                      \
    "smlad %[a10], %[t], %[xb], %[a10]\n\t"                                              \
    "smlad %[a11], %[t], %[yb], %[a11]\n\t"                                              \
    "subs %[n], %[n], #1\n\t"                                                            \
    "bne 1b\n\t"

/* 2 weight rows x 2 interleaved int16 columns, `groups` >= 1 groups of 4 K entries.
 * x layout per group: col0 (x0,x2,x1,x3), col1 (x0,x2,x1,x3) (16 bytes, 4-byte aligned). */
static inline void td_dsp_dot_2x2(const int8_t *w0, const int8_t *w1, const int16_t *x,
                                  int32_t groups, int32_t *a00p, int32_t *a01p, int32_t *a10p,
                                  int32_t *a11p)
{
    int32_t a00 = *a00p, a01 = *a01p, a10 = *a10p, a11 = *a11p;
    int32_t xa, xb, ya, yb, w, t;
    __asm__ volatile(
        TD_ASM_DOT_2X2_LOOP
        : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [q0] "+r"(w0),
          [q1] "+r"(w1), [p] "+r"(x), [n] "+r"(groups), [xa] "=&r"(xa), [xb] "=&r"(xb),
          [ya] "=&r"(ya), [yb] "=&r"(yb), [w] "=&r"(w), [t] "=&r"(t)
        :
        : "cc", "memory");
    *a00p = a00;
    *a01p = a01;
    *a10p = a10;
    *a11p = a11;
}

/* Whole 2-column matrix kernel for K % 4 == 0 and an even number of rows: for each pair of
 * weight rows, the 2x2 SMLAD loop over the interleaved columns, then the four
 * accumulators (bias included) are stored and the pointers advanced, all in one asm block
 * (the C version spilled ~60 instructions per row pair around the inner loop). */
typedef struct {
    int32_t k;              /* bytes per weight row, multiple of 4 */
    const int16_t *cols;    /* interleaved columns */
    int32_t groups;         /* k / 4, >= 1 */
    const int32_t *bias;    /* current bias pair */
    int32_t bias_step;      /* 4 (bytes) or 0 when bias is a zero pair */
    int32_t *acc;           /* acc[0] col0 ch0, acc[col_stride] col1 ch0, acc[ch_stride] ch1 */
    int32_t col_stride;     /* bytes */
    int32_t ch_stride;      /* bytes */
    int32_t pairs;          /* row pairs, >= 1 */
} td_dsp_mm_plan;

static inline void td_dsp_mat_mult_2col(const int8_t *w0, td_dsp_mm_plan *plan)
{
    int32_t a00, a01, a10, a11, xa, xb, ya, yb, w, n;
    const int16_t *p;
    const int8_t *w1 = w0 + plan->k;
    td_dsp_mm_plan *t = plan;
    __asm__ volatile(
        "push {%[t]}\n\t"
        "2:\n\t"
        "ldr %[xa], [%[t], #12]\n\t"
        "ldr %[xb], [%[t], #16]\n\t"
        "ldr %[a00], [%[xa]]\n\t"
        "ldr %[a10], [%[xa], %[xb]]\n\t"
        "add %[xa], %[xa], %[xb], lsl #1\n\t"
        "str %[xa], [%[t], #12]\n\t"
        "mov %[a01], %[a00]\n\t"
        "mov %[a11], %[a10]\n\t"
        "ldr %[p], [%[t], #4]\n\t"
        "ldr %[n], [%[t], #8]\n\t"
        TD_ASM_DOT_2X2_LOOP
        "ldr %[t], [sp]\n\t"
        "ldr %[xa], [%[t], #20]\n\t"
        "ldr %[xb], [%[t], #24]\n\t"
        "ldr %[ya], [%[t], #28]\n\t"
        "str %[a00], [%[xa]]\n\t"
        "str %[a01], [%[xa], %[xb]]\n\t"
        "str %[a10], [%[xa], %[ya]]\n\t"
        "add %[yb], %[xa], %[ya]\n\t"
        "str %[a11], [%[yb], %[xb]]\n\t"
        "add %[xa], %[xa], %[ya], lsl #1\n\t"
        "str %[xa], [%[t], #20]\n\t"
        "ldr %[xa], [%[t], #0]\n\t"
        "mov %[q0], %[q1]\n\t"
        "add %[q1], %[q1], %[xa]\n\t"
        "ldr %[xa], [%[t], #32]\n\t"
        "subs %[xa], %[xa], #1\n\t"
        "str %[xa], [%[t], #32]\n\t"
        "bne 2b\n\t"
        "pop {%[t]}\n\t"
        : [a00] "=&r"(a00), [a01] "=&r"(a01), [a10] "=&r"(a10), [a11] "=&r"(a11),
          [q0] "+r"(w0), [q1] "+r"(w1), [p] "=&r"(p), [n] "=&r"(n), [xa] "=&r"(xa),
          [xb] "=&r"(xb), [ya] "=&r"(ya), [yb] "=&r"(yb), [w] "=&r"(w), [t] "+r"(t)
        :
        : "cc", "memory");
}

/* 4 weight rows x 1 int16 vector in (x0,x2,x1,x3) groups, `groups` >= 1. The end pointer
 * lives on the stack so the loop fits in 13 registers. */
static __attribute__((noinline, unused)) void td_dsp_dot_4x1(const int8_t *w0, const int8_t *w1, const int8_t *w2,
                                  const int8_t *w3, const int16_t *x, int32_t groups,
                                  int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t xa, xb = (int32_t)(uintptr_t)(x + 4 * groups), w, t;
    __asm__ volatile(
        "push {%[xb]}\n\t"
        "1:\n\t"
        "ldrd %[xa], %[xb], [%[p]], #8\n\t"
        "ldr %[w], [%[q0]], #4\n\t"
        "sxtb16 %[t], %[w]\n\t"
        "smlad %[a0], %[t], %[xa], %[a0]\n\t"
        "sxtb16 %[t], %[w], ror #8\n\t"
        "smlad %[a0], %[t], %[xb], %[a0]\n\t"
        "ldr %[w], [%[q1]], #4\n\t"
        "sxtb16 %[t], %[w]\n\t"
        "smlad %[a1], %[t], %[xa], %[a1]\n\t"
        "sxtb16 %[t], %[w], ror #8\n\t"
        "smlad %[a1], %[t], %[xb], %[a1]\n\t"
        "ldr %[w], [%[q2]], #4\n\t"
        "sxtb16 %[t], %[w]\n\t"
        "smlad %[a2], %[t], %[xa], %[a2]\n\t"
        "sxtb16 %[t], %[w], ror #8\n\t"
        "smlad %[a2], %[t], %[xb], %[a2]\n\t"
        "ldr %[w], [%[q3]], #4\n\t"
        "sxtb16 %[t], %[w]\n\t"
        "smlad %[a3], %[t], %[xa], %[a3]\n\t"
        "sxtb16 %[t], %[w], ror #8\n\t"
        "smlad %[a3], %[t], %[xb], %[a3]\n\t"
        "ldr %[t], [sp]\n\t"
        "cmp %[p], %[t]\n\t"
        "bne 1b\n\t"
        "add sp, sp, #4\n\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [q0] "+r"(w0),
          [q1] "+r"(w1), [q2] "+r"(w2), [q3] "+r"(w3), [p] "+r"(x), [xa] "=&r"(xa),
          [xb] "+r"(xb), [w] "=&r"(w), [t] "=&r"(t)
        :
        : "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#endif

/* td_mul_by_quant_mult for multiplier >= 0 and shift = -e, 1 <= e <= 31 (bit-exact), in
 * 32-bit steps after one 64-bit multiply. With P = a * multiplier, td_requant_channel_s8
 * shows the result is floor((X + 2^(30+e)) / 2^(31+e)), X = P + 2^30 - [a < 0] * 2^31.
 * 2^(30+e) is a multiple of 2^31, so this is floor((Q + 2^(e-1)) / 2^e) with
 * Q = floor(X / 2^31) (|Q| < 2^31), i.e. (Q >> e) plus bit e-1 of Q. */
static inline int32_t td_mul_by_quant_mult_rshift(int32_t a, int32_t multiplier, int32_t e)
{
    const int32_t q = (int32_t)(((int64_t)a * multiplier + ((int64_t)1 << 30)) >> 31) -
                      (a < 0 ? 1 : 0);
    return (q >> e) + ((q >> (e - 1)) & 1);
}

/* Conv output size for one axis, or -1 if the kernel does not fit. */
static inline int32_t td_conv_out_size(int32_t in, int32_t pad_a, int32_t pad_b, int32_t k,
                                       int32_t stride)
{
    const int32_t span = in + pad_a + pad_b - k;
    return span < 0 ? -1 : span / stride + 1;
}

/* Validates conv arguments; on success writes the (unpooled) conv output size. */
td_status td_internal_check_conv(const td_conv_params *params, const td_quant_params *quant,
                                 const td_dims *input_dims, const void *input,
                                 const td_dims *filter_dims, const td_dims *output_dims,
                                 const void *output, int32_t *conv_h, int32_t *conv_w);

td_status td_internal_check_act(const td_activation *act);

/* Sparse conv (CSR and N:M) after the format-specific checks: row r uses taps
 * [row_ptr[r], row_ptr[r+1]) (CSR, u16 or u32 pointers) or [r*per_row, (r+1)*per_row)
 * (N:M, both row pointers NULL). */
typedef struct {
    int32_t rows;
    const uint16_t *row_ptr_u16;
    const uint32_t *row_ptr_u32;
    int32_t per_row;
    const td_conv_taps *taps;
    const int32_t *row_sum;
} td_sparse_conv_desc;

td_status td_internal_sparse_conv(const td_sparse_conv_desc *d, const td_conv_params *params,
                                  const td_quant_params *quant, const td_dims *input_dims,
                                  const int8_t *input, const td_dims *filter_dims,
                                  const int32_t *bias, int32_t conv_h, int32_t conv_w,
                                  int8_t *output, void *scratch);

/* Scratch of td_internal_sparse_conv: beff[out_c] + one band. */
int32_t td_internal_sparse_conv_buffer_size(const td_conv_params *params,
                                            const td_dims *input_dims,
                                            const td_dims *filter_dims);

/* Band of input rows iy0 .. iy0 + nrows - 1, each (pad_left + W + pad_right) * C bytes,
 * zero-point padded (also rows outside the image). Returns the input itself (no copy) when
 * nothing needs padding, else fills and returns `band`. */
const int8_t *td_internal_band(const td_conv_params *params, const td_dims *input_dims,
                               const int8_t *input, int32_t iy0, int32_t nrows, int8_t *band);

/* N:M descriptor checks shared by the conv and fc kernels; writes log2(m) and the group
 * count G. */
td_status td_internal_check_nm(const td_nm_weights *w, int32_t rows, int32_t cols,
                               int32_t *bits, int32_t *groups);

/* In-group position of slot `slot` of a row's packed metadata (generic, not hot). */
static inline int32_t td_nm_slot_pos(const uint8_t *row, int32_t row_bytes, int32_t slot,
                                     int32_t bits)
{
    const int32_t bit = slot * bits;
    const int32_t byte = bit >> 3;
    uint32_t v = row[byte];
    if (byte + 1 < row_bytes) {
        v |= (uint32_t)row[byte + 1] << 8;
    }
    return (int32_t)((v >> (bit & 7)) & ((1u << bits) - 1u));
}

/* CSR descriptor checks shared by the conv and fc kernels. */
td_status td_internal_check_csr(const td_csr_weights *w, int32_t rows, int32_t cols);

static inline uint32_t td_csr_row_ptr(const td_csr_weights *w, int32_t r)
{
    return w->row_ptr_u16 ? (uint32_t)w->row_ptr_u16[r] : w->row_ptr_u32[r];
}

static inline int32_t td_csr_col(const td_csr_weights *w, uint32_t j)
{
    return w->col_idx_u8 ? (int32_t)w->col_idx_u8[j] : (int32_t)w->col_idx_u16[j];
}

#endif /* TD_INTERNAL_H */
