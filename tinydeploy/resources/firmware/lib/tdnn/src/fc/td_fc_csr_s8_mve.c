/* Fully connected, CSR weights, Helium (MVE) path: per row a tail-predicated loop
 * (WLSTP/LETP) of gather loads: 8-bit columns (K <= 256) load 16 column indices, gather the
 * 16 inputs (VLDRB.U8 offsets) and do one VMLADAVA.S8 with 16 values: 5 instructions per 16
 * nonzeros; 16-bit columns gather 8 inputs (VLDRB.S16 with u16 offsets) for a VMLADAVA.S16
 * with 8 values widened on load: 5 per 8. The input offset is folded through row_sum (as
 * the DSP path); 4 rows are requantised per vector. Delta-coded columns (csrd): 8 deltas
 * per step, their prefix sum in u16 lanes (VSHLC + VADD, 3 steps) plus the running column,
 * then the same gather. No scratch. Compiled to nothing unless __ARM_FEATURE_MVE. */
#include "../common/td_mve.h"
#include "td_fc_internal.h"

#if defined(__ARM_FEATURE_MVE)

static inline int32_t dot_u8(const int8_t *x, const uint8_t *cols, const int8_t *vals, int32_t n)
{
    int32_t acc = 0;
    /* clang-format off */
    __asm__ volatile("wlstp.8 lr, %[n], 2f\n\t"
                     "1:\n\t"
                     "vldrb.u8   q0, [%[c]], #16\n\t"
                     "vldrb.u8   q1, [%[x], q0]\n\t"
                     "vldrb.u8   q2, [%[v]], #16\n\t"
                     "vmlava.s8  %[a], q1, q2\n\t"
                     "letp lr, 1b\n\t"
                     "2:"
                     : [a] "+Te"(acc), [c] "+r"(cols), [v] "+r"(vals)
                     : [x] "r"(x), [n] "r"(n)
                     : "q0", "q1", "q2", "lr", "memory");
    /* clang-format on */
    return acc;
}

static inline int32_t dot_u16(const int8_t *x, const uint16_t *cols, const int8_t *vals, int32_t n)
{
    int32_t acc = 0;
    /* clang-format off */
    __asm__ volatile("wlstp.16 lr, %[n], 2f\n\t"
                     "1:\n\t"
                     "vldrh.u16  q0, [%[c]], #16\n\t"
                     "vldrb.s16  q1, [%[x], q0]\n\t"
                     "vldrb.s16  q2, [%[v]], #8\n\t"
                     "vmlava.s16 %[a], q1, q2\n\t"
                     "letp lr, 1b\n\t"
                     "2:"
                     : [a] "+Te"(acc), [c] "+r"(cols), [v] "+r"(vals)
                     : [x] "r"(x), [n] "r"(n)
                     : "q0", "q1", "q2", "lr", "memory");
    /* clang-format on */
    return acc;
}

/* Inclusive prefix sum of 8 u16 lanes: 3 steps of add-the-vector-shifted-up (VSHLC moves the
 * whole vector towards higher lanes, zeros shifted in; 64 bits = two steps of 32). */
static inline uint16x8_t prefix8(uint16x8_t c)
{
    uint32_t z = 0;
    uint16x8_t t = vshlcq_u16(c, &z, 16);
    c = vaddq_u16(c, t);
    z = 0;
    t = vshlcq_u16(c, &z, 32);
    c = vaddq_u16(c, t);
    z = 0;
    t = vshlcq_u16(c, &z, 32);
    z = 0;
    t = vshlcq_u16(t, &z, 32);
    return vaddq_u16(c, t);
}

/* Delta-coded columns: 8 deltas widened to u16 lanes, their prefix sum plus the running
 * column gives the 8 columns; gathered inputs, VMLADAVA.S16 (K <= 65536 checked by the
 * caller). */
static int32_t dot_delta(const int8_t *x, const uint8_t *d, const int8_t *v, int32_t n)
{
    int32_t acc = 0;
    uint16_t base = 0;
    for (; n >= 8; n -= 8, d += 8, v += 8) {
        const uint16x8_t c = vaddq_n_u16(prefix8(vldrbq_u16(d)), base);
        acc = vmladavaq_s16(acc, vldrbq_gather_offset_s16(x, c), vldrbq_s16(v));
        base = vgetq_lane_u16(c, 7);
    }
    if (n > 0) {
        const mve_pred16_t p = vctp16q((uint32_t)n);
        const uint16x8_t c = vaddq_n_u16(prefix8(vldrbq_z_u16(d, p)), base);
        acc = vmladavaq_s16(acc, vldrbq_gather_offset_z_s16(x, c, p), vldrbq_z_s16(v, p));
    }
    return acc;
}

/* All rows with one column format: 4 rows' sums, then one vector requantisation. */
#define TD_MVE_CSR_ROWS(NAME, COLT, DOT)                                                           \
    static void rows_##NAME(const td_fc_params *params, const td_quant_params *quant,              \
                            const int8_t *input, int32_t out_features, const td_csr_weights *w,    \
                            const COLT *cols, const int32_t *bias, int8_t *output)                 \
    {                                                                                              \
        const int32_t ooff = params->output_offset;                                                \
        const int32_t amin = params->activation.min, amax = params->activation.max;                \
        int32_t acc[4] = {0, 0, 0, 0}, o;                                                          \
        uint32_t start = 0;                                                                        \
        for (o = 0; o < out_features; o += 4) {                                                    \
            const int32_t cnt = out_features - o < 4 ? out_features - o : 4;                       \
            const mve_pred16_t p = vctp32q((uint32_t)cnt);                                         \
            int32_t r;                                                                             \
            for (r = 0; r < cnt; r++) {                                                            \
                const uint32_t end = w->row_ptr_u16 ? (uint32_t)w->row_ptr_u16[o + r + 1]          \
                                                    : w->row_ptr_u32[o + r + 1];                   \
                acc[r] = DOT(input, cols + start, w->values + start, (int32_t)(end - start));      \
                start = end;                                                                       \
            }                                                                                      \
            td_mve_fc_store(acc, vldrwq_z_s32(w->row_sum + o, p), params->input_offset, bias,      \
                            quant->multiplier, quant->shift, o, p, ooff, amin, amax, output);      \
        }                                                                                          \
    }
TD_MVE_CSR_ROWS(u8, uint8_t, dot_u8)
TD_MVE_CSR_ROWS(u16, uint16_t, dot_u16)
TD_MVE_CSR_ROWS(delta, uint8_t, dot_delta)

int32_t td_fc_csr_s8_mve(const td_fc_params *params, const td_quant_params *quant,
                         const int8_t *input, int32_t out_features, const td_csr_weights *w,
                         const int32_t *bias, int8_t *output)
{
    if (w->col_delta_u8) {
        if (w->cols > 65536) {
            return 0; /* u16 lanes hold the columns */
        }
        rows_delta(params, quant, input, out_features, w, w->col_delta_u8, bias, output);
    } else if (w->col_idx_u8) {
        rows_u8(params, quant, input, out_features, w, w->col_idx_u8, bias, output);
    } else if (w->col_idx_u16) {
        rows_u16(params, quant, input, out_features, w, w->col_idx_u16, bias, output);
    } else {
        return 0;
    }
    return 1;
}

#else
typedef int td_fc_csr_s8_mve_unused; /* ISO C: no empty translation unit */
#endif /* __ARM_FEATURE_MVE */
