/* conv2d with CSR weights: the row structure (row pointers, row sums) comes from the CSR
 * descriptor, the entries' receptive-field offsets and values from the generator's
 * td_conv_taps; values and column indices are not read and may be NULL. The checks of the
 * taps, the variants and their scratch: td_conv_sparse_s8.c. */
#include "td_conv_internal.h"

int32_t td_conv_csr_s8_get_buffer_size(const td_conv_params *params, const td_dims *input_dims,
                                       const td_dims *filter_dims, const td_csr_weights *weights)
{
    (void)weights;
    return td_conv_sparse_s8_get_buffer_size(params, input_dims, filter_dims);
}

td_status td_conv_csr_s8(const td_conv_params *params, const td_quant_params *quant,
                         const td_dims *input_dims, const int8_t *input, const td_dims *filter_dims,
                         const td_csr_weights *weights, const td_conv_taps *taps,
                         const int32_t *bias, const td_dims *output_dims, int8_t *output,
                         void *scratch)
{
    int32_t conv_h, conv_w;
    td_sparse_conv_desc d;
    td_status st = td_internal_check_conv(params, quant, input_dims, input, filter_dims,
                                          output_dims, output, &conv_h, &conv_w);
    if (st != TD_OK) {
        return st;
    }
    if (td_internal_check_csr_rows(weights, filter_dims->n,
                                   filter_dims->h * filter_dims->w * input_dims->c) != TD_OK ||
        !taps || taps->entries != weights->nnz) {
        return TD_ERR_ARG;
    }
    d.rows = filter_dims->n;
    d.row_ptr_u16 = weights->row_ptr_u16;
    d.row_ptr_u32 = weights->row_ptr_u32;
    d.per_row = 0;
    d.taps = taps;
    d.row_sum = weights->row_sum;
    return td_conv_sparse_s8(&d, params, quant, input_dims, input, filter_dims, bias, conv_h,
                             conv_w, output, scratch);
}
