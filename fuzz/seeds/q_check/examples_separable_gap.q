// separable_gap.q — a small depthwise-separable network ending in global average pooling, the
// shape of BrainChip's keyword-spotting and mobile models: every block is neural layer
// (+ pooling) + batch norm + ReLU, which CNN2SNN folds and converts to one Akida layer each.
model separable_gap {
    input([28, 28, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)

    conv0 = conv2d(8, 3, padding: same)
    bn0 = batch_norm()
    relu0 = relu()

    sep1 = separable_conv2d(16, 3, padding: same, use_bias: false)
    pool1 = max_pool(2, padding: same)
    bn1 = batch_norm()
    relu1 = relu(max_value: 6)

    sep2 = separable_conv2d(32, 3, padding: same, use_bias: false)
    gap2 = global_avg_pool()
    bn2 = batch_norm()
    relu2 = relu()

    dense = dense(10)
}
