/* Sparse conv (CSR and N:M) after the format-specific checks of td_conv_csr_s8 /
 * td_conv_nm_s8: the checks of the taps, then the variant.
 *
 * Everything that depends only on the weights and the geometry (receptive-field offsets,
 * row sums) was computed by the generator (td_conv_taps, row_sum), so a call only folds the
 * input offset into the biases (beff = bias + input_offset * row_sum, in scratch) and walks
 * the taps; the values, column indices and N:M metadata of the descriptor are never read.
 * Variants (declared in td_conv_internal.h), the first that takes the call:
 *  1. td_conv_sparse_s8_mve (Cortex-M55, __ARM_FEATURE_MVE): unpooled convs, and pooled ones
 *     at least 2 columns wide whose channels all have multiplier >= 0 and a right shift.
 *  2. td_conv_sparse_s8_2x2: everything (portable C; UXTAH/SMLATB asm on DSP cores).
 * Both use the same scratch: beff[out_c] and a band of kh + stride_h padded input rows. */
#include "td_conv_internal.h"

int32_t td_conv_sparse_s8_get_buffer_size(const td_conv_params *params, const td_dims *input_dims,
                                          const td_dims *filter_dims)
{
    return td_conv_sparse_s8_2x2_get_buffer_size(params, input_dims, filter_dims);
}

td_status td_conv_sparse_s8(const td_sparse_conv_desc *d, const td_conv_params *params,
                            const td_quant_params *quant, const td_dims *input_dims,
                            const int8_t *input, const td_dims *filter_dims, const int32_t *bias,
                            int32_t conv_h, int32_t conv_w, int8_t *output, void *scratch)
{
    const int32_t rows = d->rows, c = input_dims->c, kh = filter_dims->h;
    const int32_t wp = input_dims->w + params->pad_left + params->pad_right;
    const td_conv_taps *tp = d->taps;
    int32_t *beff;
    int8_t *band;
    int32_t r;

    if (!scratch || !tp || tp->band_w != wp || tp->in_c != c || (tp->entries > 0 && !tp->taps)) {
        return TD_ERR_ARG;
    }
    if (((kh - 1) * wp + filter_dims->w) * c > 65536) {
        return TD_ERR_UNSUPPORTED; /* receptive field too wide for 16-bit offsets */
    }
#if defined(TD_VALIDATE_INDICES)
    {   /* every tap inside the kh x kw x in_c window of the band */
        int32_t j;
        for (j = 0; j < tp->entries; j++) {
            const int32_t off = (int32_t)(tp->taps[j] & 0xFFFFu);
            if (off / (wp * c) >= kh || (off / c) % wp >= filter_dims->w) {
                return TD_ERR_ARG;
            }
        }
    }
#endif
    beff = (int32_t *)td_align_ptr4(scratch);
    band = (int8_t *)(beff + rows);
    for (r = 0; r < rows; r++) {
        beff[r] = (bias ? bias[r] : 0) + params->input_offset * d->row_sum[r];
    }
#if defined(__ARM_FEATURE_MVE)
    if (td_conv_sparse_s8_mve(d, params, quant, input_dims, input, filter_dims, beff, band, conv_h,
                              conv_w, output)) {
        return TD_OK;
    }
#endif
    return td_conv_sparse_s8_2x2(d, params, quant, input_dims, input, filter_dims, beff, band,
                                 conv_h, conv_w, output);
}
