/* conv2d with N:M weights: the packed metadata is decoded once per call into receptive-field
 * offsets (fixed G*n slots per row), then the shared sparse-conv loop runs. */
#include "../common/td_internal.h"

static int32_t padded_bytes(const td_conv_params *p, const td_dims *in)
{
    return (in->h + p->pad_top + p->pad_bottom) * (in->w + p->pad_left + p->pad_right) * in->c;
}

int32_t td_conv_nm_s8_get_buffer_size(const td_conv_params *params, const td_dims *input_dims,
                                      const td_dims *filter_dims, const td_nm_weights *weights)
{
    const int32_t rows = filter_dims->n;
    const int32_t k = filter_dims->h * filter_dims->w * filter_dims->c;
    const int32_t slots = rows * ((k + weights->m - 1) / weights->m) * weights->n;
    return 3 + 4 * rows * (1 + TD_SPARSE_BATCH) + 4 * (rows + 1) + TD_ALIGN4(2 * slots) +
           padded_bytes(params, input_dims);
}

td_status td_conv_nm_s8(const td_conv_params *params, const td_quant_params *quant,
                        const td_dims *input_dims, const int8_t *input,
                        const td_dims *filter_dims, const td_nm_weights *weights,
                        const int32_t *bias, const td_dims *output_dims, int8_t *output,
                        void *scratch)
{
    int32_t conv_h, conv_w, r, bits, groups, per_row;
    const int32_t rows = filter_dims->n, c = input_dims->c, kw = filter_dims->w;
    const int32_t k = filter_dims->h * kw * c;
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
    if (!scratch || td_internal_check_nm(weights, rows, k, &bits, &groups) != TD_OK) {
        return TD_ERR_ARG;
    }
    if (((filter_dims->h - 1) * wp + kw) * c > 65536) {
        return TD_ERR_UNSUPPORTED;
    }
    per_row = groups * weights->n;
    beff = (int32_t *)td_align_ptr4(scratch);
    plan.acc = beff + rows;
    row_ptr = (uint32_t *)(plan.acc + rows * TD_SPARSE_BATCH);
    offsets = (uint16_t *)(row_ptr + rows + 1);
    padded = (int8_t *)offsets + TD_ALIGN4(2 * rows * per_row);

    for (r = 0; r < rows; r++) {
        const uint8_t *meta = weights->meta + r * weights->meta_row_bytes;
        const int8_t *vals = weights->values + r * per_row;
        int32_t sum = 0, s;
        row_ptr[r] = (uint32_t)(r * per_row);
        for (s = 0; s < per_row; s++) {
            const int32_t col = (s / weights->n) * weights->m +
                                td_nm_slot_pos(meta, weights->meta_row_bytes, s, bits);
            uint16_t off = 0;
            if (col < k) {
                const int32_t ky = col / (kw * c), kx = (col / c) % kw, ic = col % c;
                off = (uint16_t)((ky * wp + kx) * c + ic);
            } else if (vals[s] != 0) {
                return TD_ERR_ARG; /* nonzero weight in the zero padding */
            }
            offsets[r * per_row + s] = off;
            sum += vals[s];
        }
        beff[r] = (bias ? bias[r] : 0) + params->input_offset * sum;
    }
    row_ptr[rows] = (uint32_t)(rows * per_row);
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
