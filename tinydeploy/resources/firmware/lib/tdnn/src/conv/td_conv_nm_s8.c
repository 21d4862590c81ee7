/* conv2d with N:M weights: G*n slots per row (zero-valued slots included, so the row
 * ranges need no pointers); offsets and values come from the generator's td_conv_taps, so
 * values, meta and meta_row_bytes are not read (values and meta may be NULL). The checks of
 * the taps, the variants and their scratch: td_conv_sparse_s8.c. */
#include "td_conv_internal.h"

int32_t td_conv_nm_s8_get_buffer_size(const td_conv_params *params, const td_dims *input_dims,
                                      const td_dims *filter_dims, const td_nm_weights *weights)
{
    (void)weights;
    return td_conv_sparse_s8_get_buffer_size(params, input_dims, filter_dims);
}

td_status td_conv_nm_s8(const td_conv_params *params, const td_quant_params *quant,
                        const td_dims *input_dims, const int8_t *input, const td_dims *filter_dims,
                        const td_nm_weights *weights, const td_conv_taps *taps, const int32_t *bias,
                        const td_dims *output_dims, int8_t *output, void *scratch)
{
    int32_t conv_h, conv_w, bits, groups;
    const int32_t rows = filter_dims->n;
    td_sparse_conv_desc d;
    td_status st = td_internal_check_conv(params, quant, input_dims, input, filter_dims,
                                          output_dims, output, &conv_h, &conv_w);
    if (st != TD_OK) {
        return st;
    }
    if (td_internal_check_nm_rows(weights, rows, filter_dims->h * filter_dims->w * input_dims->c,
                                  &bits, &groups) != TD_OK ||
        !taps || taps->entries != rows * groups * weights->n) {
        return TD_ERR_ARG;
    }
    d.rows = rows;
    d.row_ptr_u16 = NULL;
    d.row_ptr_u32 = NULL;
    d.per_row = groups * weights->n;
    d.taps = taps;
    d.row_sum = weights->row_sum;
    return td_conv_sparse_s8(&d, params, quant, input_dims, input, filter_dims, bias, conv_h,
                             conv_w, output, scratch);
}
