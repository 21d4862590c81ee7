/* Fully connected, CSR weights. The input offset is folded into the bias with the
 * generator's row sums (acc = bias + input_offset * row_sum + sum v * x), so the int8 input
 * is read as it is: no widened copy, no scratch. Inner loop: load column, load input, load
 * value, multiply-accumulate, unrolled by 8. */
#include "td_fc_internal.h"

int32_t td_fc_csr_s8_get_buffer_size(int32_t in_features, const td_csr_weights *weights)
{
    (void)in_features;
    (void)weights;
    return 0;
}

/* Sum of v[e] * x[col[e]] over n entries (COL = uint8_t or uint16_t). DSP: four values per
 * (unaligned) word load, split by SXTB16 and multiplied by SMLABB / SMLATB. */
#if defined(__ARM_FEATURE_DSP)
#define TD_CSR_DOT8(c, v, x, acc)                                                                  \
    do {                                                                                           \
        const int32_t wa = (int32_t)td_read_u32(v), wb = (int32_t)td_read_u32((v) + 4);            \
        const int32_t a02 = __sxtb16(wa), a13 = td_sxtb16_ror8(wa);                                \
        const int32_t b02 = __sxtb16(wb), b13 = td_sxtb16_ror8(wb);                                \
        acc = __smlabb(a02, x[c[0]], acc);                                                         \
        acc = __smlabb(a13, x[c[1]], acc);                                                         \
        acc = __smlatb(a02, x[c[2]], acc);                                                         \
        acc = __smlatb(a13, x[c[3]], acc);                                                         \
        acc = __smlabb(b02, x[c[4]], acc);                                                         \
        acc = __smlabb(b13, x[c[5]], acc);                                                         \
        acc = __smlatb(b02, x[c[6]], acc);                                                         \
        acc = __smlatb(b13, x[c[7]], acc);                                                         \
    } while (0)
#else
#define TD_CSR_DOT8(c, v, x, acc)                                                                  \
    do {                                                                                           \
        int32_t e_;                                                                                \
        for (e_ = 0; e_ < 8; e_++) {                                                               \
            acc += (v)[e_] * x[c[e_]];                                                             \
        }                                                                                          \
    } while (0)
#endif
#define TD_CSR_DOT(COL)                                                                            \
    static inline int32_t dot_##COL(const int8_t *x, const COL *c, const int8_t *v, int32_t n,     \
                                    int32_t acc)                                                   \
    {                                                                                              \
        for (; n >= 8; n -= 8, c += 8, v += 8) {                                                   \
            TD_CSR_DOT8(c, v, x, acc);                                                             \
        }                                                                                          \
        switch (n) { /* the last 0..7 entries, straight-line (no loop overhead) */                 \
        case 7: acc += v[6] * x[c[6]]; /* fall through */                                          \
        case 6: acc += v[5] * x[c[5]]; /* fall through */                                          \
        case 5: acc += v[4] * x[c[4]]; /* fall through */                                          \
        case 4: acc += v[3] * x[c[3]]; /* fall through */                                          \
        case 3: acc += v[2] * x[c[2]]; /* fall through */                                          \
        case 2: acc += v[1] * x[c[1]]; /* fall through */                                          \
        case 1: acc += v[0] * x[c[0]]; /* fall through */                                          \
        default: break;                                                                            \
        }                                                                                          \
        return acc;                                                                                \
    }
TD_CSR_DOT(uint8_t)
TD_CSR_DOT(uint16_t)

/* Delta-coded columns (col_delta_u8): the column is a running sum, so the byte deltas are
 * read as they come. Smaller (1 byte per entry), about one instruction per entry slower. */
typedef uint8_t delta_u8; /* names the third row loop below */
static inline int32_t dot_delta_u8(const int8_t *x, const delta_u8 *d, const int8_t *v, int32_t n,
                                   int32_t acc)
{
    int32_t col = 0;
    for (; n >= 4; n -= 4, d += 4, v += 4) {
        /* one word of deltas (UXTAB adds byte k straight into the column) */
        const uint32_t dw = td_read_u32(d);
        const int32_t c0 = col + (int32_t)(dw & 0xFFu);
        const int32_t c1 = c0 + (int32_t)((dw >> 8) & 0xFFu);
        const int32_t c2 = c1 + (int32_t)((dw >> 16) & 0xFFu);
        col = c2 + (int32_t)(dw >> 24);
#if defined(__ARM_FEATURE_DSP)
        {
            const int32_t vw = (int32_t)td_read_u32(v);
            const int32_t v02 = __sxtb16(vw), v13 = td_sxtb16_ror8(vw);
            acc = __smlabb(v02, x[c0], acc);
            acc = __smlabb(v13, x[c1], acc);
            acc = __smlatb(v02, x[c2], acc);
            acc = __smlatb(v13, x[col], acc);
        }
#else
        acc += v[0] * x[c0] + v[1] * x[c1] + v[2] * x[c2] + v[3] * x[col];
#endif
    }
    for (; n > 0; n--) {
        col += *d++;
        acc += *v++ * x[col];
    }
    return acc;
}

/* Everything the row loop reads is passed in registers / locals: the int8 output stores may
 * alias any descriptor field, which would otherwise be re-read after every row. One loop per
 * column-index type, so the type test is not paid per row. */
typedef struct {
    const int8_t *values;
    const uint16_t *ptr16;
    const uint32_t *ptr32;
    const int32_t *row_sum, *bias, *mults, *shifts;
    int32_t in_off, out_off, act_min, act_max;
} fc_csr_rows;

#define TD_FC_CSR_ROWS(COL)                                                                        \
    static void rows_##COL(const fc_csr_rows *r, const COL *cols, const int8_t *x,                 \
                           int32_t out_features, int8_t *output)                                   \
    {                                                                                              \
        const fc_csr_rows k = *r;                                                                  \
        uint32_t start = 0;                                                                        \
        int32_t o;                                                                                 \
        for (o = 0; o < out_features; o++) {                                                       \
            const uint32_t end = k.ptr16 ? (uint32_t)k.ptr16[o + 1] : k.ptr32[o + 1];              \
            const int32_t mult = k.mults[o], shift = k.shifts[o];                                  \
            int32_t acc = (k.bias ? k.bias[o] : 0) + k.in_off * k.row_sum[o];                      \
            acc = dot_##COL(x, cols + start, k.values + start, (int32_t)(end - start), acc);       \
            if (mult >= 0 && shift < 0) {                                                          \
                int32_t v = td_mul_by_quant_mult_rshift(acc, mult, -shift) + k.out_off;            \
                v = v < k.act_min ? k.act_min : v;                                                 \
                output[o] = (int8_t)(v > k.act_max ? k.act_max : v);                               \
            } else {                                                                               \
                output[o] = td_requant_s8(acc, mult, shift, k.out_off, k.act_min, k.act_max);      \
            }                                                                                      \
            start = end;                                                                           \
        }                                                                                          \
    }
TD_FC_CSR_ROWS(uint8_t)
TD_FC_CSR_ROWS(uint16_t)
TD_FC_CSR_ROWS(delta_u8)

td_status td_fc_csr_s8(const td_fc_params *params, const td_quant_params *quant,
                       int32_t in_features, const int8_t *input, int32_t out_features,
                       const td_csr_weights *weights, const int32_t *bias, int8_t *output,
                       void *scratch)
{
    fc_csr_rows r;
    (void)scratch;
    if (td_fc_check(params, quant, in_features, input, out_features, output) != TD_OK ||
        td_internal_check_csr(weights, out_features, in_features) != TD_OK) {
        return TD_ERR_ARG;
    }
#if defined(__ARM_FEATURE_MVE)
    if (td_fc_csr_s8_mve(params, quant, input, out_features, weights, bias, output)) {
        return TD_OK;
    }
#endif
    r.values = weights->values;
    r.ptr16 = weights->row_ptr_u16;
    r.ptr32 = weights->row_ptr_u32;
    r.row_sum = weights->row_sum;
    r.bias = bias;
    r.mults = quant->multiplier;
    r.shifts = quant->shift;
    r.in_off = params->input_offset;
    r.out_off = params->output_offset;
    r.act_min = params->activation.min;
    r.act_max = params->activation.max;
    if (weights->col_delta_u8) {
        rows_delta_u8(&r, weights->col_delta_u8, input, out_features, output);
    } else if (weights->col_idx_u8) {
        rows_uint8_t(&r, weights->col_idx_u8, input, out_features, output);
    } else {
        rows_uint16_t(&r, weights->col_idx_u16, input, out_features, output);
    }
    return TD_OK;
}
