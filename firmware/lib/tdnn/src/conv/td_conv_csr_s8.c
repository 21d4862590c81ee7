/* conv2d with CSR weights: per call, the input is copied into a zero-point padded buffer,
 * every nonzero's column becomes a byte offset into a receptive field, and the input offset
 * is folded into a per-row bias; the inner loop is then load-offset/load-value/MLA, shared
 * by up to four output positions. */
#include "../common/td_internal.h"

static int32_t padded_bytes(const td_conv_params *p, const td_dims *in)
{
    return (in->h + p->pad_top + p->pad_bottom) * (in->w + p->pad_left + p->pad_right) * in->c;
}

int32_t td_conv_csr_s8_get_buffer_size(const td_conv_params *params, const td_dims *input_dims,
                                       const td_dims *filter_dims, const td_csr_weights *weights)
{
    const int32_t rows = filter_dims->n;
    return 3 + 4 * rows * (1 + TD_SPARSE_BATCH) + 4 * (rows + 1) + TD_ALIGN4(2 * weights->nnz) +
           padded_bytes(params, input_dims);
}

td_status td_conv_csr_s8(const td_conv_params *params, const td_quant_params *quant,
                         const td_dims *input_dims, const int8_t *input,
                         const td_dims *filter_dims, const td_csr_weights *weights,
                         const int32_t *bias, const td_dims *output_dims, int8_t *output,
                         void *scratch)
{
    int32_t conv_h, conv_w, r;
    const int32_t rows = filter_dims->n, c = input_dims->c, kw = filter_dims->w;
    const int32_t wp = input_dims->w + params->pad_left + params->pad_right;
    td_sparse_conv_plan plan;
    int32_t *beff;
    uint32_t *row_ptr;
    uint16_t *offsets;
    int8_t *padded;
    td_status st = td_internal_check_conv(params, quant, input_dims, input, filter_dims,
                                          output_dims, output, &conv_h, &conv_w);
    if (st != TD_OK) {
        return st;
    }
    if (!scratch || td_internal_check_csr(weights, rows, filter_dims->h * kw * c) != TD_OK) {
        return TD_ERR_ARG;
    }
    if (((filter_dims->h - 1) * wp + kw) * c > 65536) {
        return TD_ERR_UNSUPPORTED; /* receptive field too wide for 16-bit offsets */
    }
    beff = (int32_t *)td_align_ptr4(scratch);
    plan.acc = beff + rows;
    row_ptr = (uint32_t *)(plan.acc + rows * TD_SPARSE_BATCH);
    offsets = (uint16_t *)(row_ptr + rows + 1);
    padded = (int8_t *)offsets + TD_ALIGN4(2 * weights->nnz);

    for (r = 0; r <= rows; r++) {
        row_ptr[r] = td_csr_row_ptr(weights, r);
    }
    for (r = 0; r < rows; r++) {
        int32_t sum = 0;
        uint32_t j;
        for (j = row_ptr[r]; j < row_ptr[r + 1]; j++) {
            const int32_t col = td_csr_col(weights, j);
            const int32_t ky = col / (kw * c), kx = (col / c) % kw, ic = col % c;
            offsets[j] = (uint16_t)((ky * wp + kx) * c + ic);
            sum += weights->values[j];
        }
        beff[r] = (bias ? bias[r] : 0) + params->input_offset * sum;
    }
    td_internal_pad_input(params, input_dims, input, padded);

    plan.rows = rows;
    plan.row_ptr = row_ptr;
    plan.offsets = offsets;
    plan.values = weights->values;
    plan.beff = beff;
    plan.padded = padded;
    plan.padded_w = wp;
    plan.in_c = c;
    return td_internal_sparse_conv_run(&plan, params, quant, conv_h, conv_w, output);
}
