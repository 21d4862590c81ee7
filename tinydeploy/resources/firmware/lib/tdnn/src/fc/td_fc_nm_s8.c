/* Fully connected, N:M weights. The input (+offset) is widened into int16 scratch padded
 * with zeros to Kp, so padding slots need no test. Metadata is decoded with shifts and masks
 * only: 8 consecutive slots always occupy exactly b = log2(m) bytes, so the row is walked in
 * chunks of 8 slots whose positions are extracted with constant shifts (specialised per
 * (n, b) when n divides 8, so group boundaries fall on fixed slots); the < 8 remaining
 * slots of a row and other n use a generic per-slot decode. */
#include "td_fc_internal.h"

int32_t td_fc_nm_s8_get_buffer_size(int32_t in_features, const td_nm_weights *weights)
{
    const int32_t m = weights->m > 0 ? weights->m : 1;
    return 3 + 2 * (((in_features + m - 1) / m) * m);
}

/* Generic per-slot decode from slot `s0` to `slots` (tails and n not dividing 8). */
static int32_t row_generic(const int16_t *xs, const int8_t *v, const uint8_t *meta,
                           int32_t row_bytes, int32_t s0, int32_t slots, int32_t n, int32_t m,
                           int32_t b, int32_t acc)
{
    int32_t s;
    for (s = s0; s < slots; s++) {
        acc += v[s] * xs[(s / n) * m + td_nm_slot_pos(meta, row_bytes, s, b)];
    }
    return acc;
}

/* Chunks of 8 slots for constant n (dividing 8) and b; returns the slots consumed. */
static inline int32_t row_chunks(const int16_t *xs, const int8_t *v, const uint8_t *meta,
                                 int32_t slots, const int32_t n, const int32_t m, const int32_t b,
                                 int32_t *accp)
{
    const uint32_t mask = (1u << b) - 1u;
    const int32_t chunks = slots >> 3;
    int32_t acc = *accp, c, e;
    for (c = 0; c < chunks; c++, meta += b, v += 8, xs += (8 / n) * m) {
        uint32_t w;
        if (b == 4) {
            w = td_read_u32(meta);
        } else {
            w = meta[0];
            if (b > 1) {
                w |= (uint32_t)meta[1] << 8;
            }
            if (b > 2) {
                w |= (uint32_t)meta[2] << 16;
            }
        }
        TD_UNROLL8
        for (e = 0; e < 8; e++) {
            acc += v[e] * xs[(e / n) * m + (int32_t)((w >> (e * b)) & mask)];
        }
    }
    *accp = acc;
    return chunks * 8;
}

#define TD_NM_CASE(N, M, B)                                                                        \
    case (N) * 32 + (M): done = row_chunks(xs, v, meta, slots, (N), (M), (B), &acc); break;

td_status td_fc_nm_s8(const td_fc_params *params, const td_quant_params *quant, int32_t in_features,
                      const int8_t *input, int32_t out_features, const td_nm_weights *weights,
                      const int32_t *bias, int8_t *output, void *scratch)
{
    int32_t bits, groups, o;
    int16_t *xs;
    if (td_fc_check(params, quant, in_features, input, out_features, output) != TD_OK || !scratch ||
        td_internal_check_nm(weights, out_features, in_features, &bits, &groups) != TD_OK) {
        return TD_ERR_ARG;
    }
#if defined(__ARM_FEATURE_MVE)
    if (td_fc_nm_s8_mve(params, quant, in_features, input, out_features, weights, bits, groups,
                        bias, output, scratch)) {
        return TD_OK;
    }
#endif
    xs = (int16_t *)td_align_ptr4(scratch);
    td_fc_widen(input, in_features, groups * weights->m, params->input_offset, xs);
    for (o = 0; o < out_features; o++) {
        const int8_t *v = weights->values + o * groups * weights->n;
        const uint8_t *meta = weights->meta + o * weights->meta_row_bytes;
        const int32_t slots = groups * weights->n;
        int32_t acc = bias ? bias[o] : 0;
        int32_t done = 0;
        switch (weights->n * 32 + weights->m) {
            TD_NM_CASE(1, 2, 1)
            TD_NM_CASE(1, 4, 2)
            TD_NM_CASE(2, 4, 2)
            TD_NM_CASE(1, 8, 3)
            TD_NM_CASE(2, 8, 3)
            TD_NM_CASE(4, 8, 3)
            TD_NM_CASE(1, 16, 4)
            TD_NM_CASE(2, 16, 4)
            TD_NM_CASE(4, 16, 4)
            TD_NM_CASE(8, 16, 4)
        default: break;
        }
        acc = row_generic(xs, v, meta, weights->meta_row_bytes, done, slots, weights->n, weights->m,
                          bits, acc);
        output[o] = td_requant_s8(acc, quant->multiplier[o], quant->shift[o], params->output_offset,
                                  params->activation.min, params->activation.max);
    }
    return TD_OK;
}
