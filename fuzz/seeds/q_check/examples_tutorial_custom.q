// tutorial_custom.q — the CNN2SNN advanced tutorial's toy model with its custom quantizer:
// the tutorial subclasses LinearWeightQuantizer with scale_factor(w) = kmax / (2 * std(w)),
// which keeps the bulk of a weight distribution with outliers on more levels than `max` does.
quantizer q8 = max(bits: 8)
quantizer custom_std = linear(bits: 4, scale: kmax / (2 * std(w)))

model tutorial_custom {
    input([28, 28, 1], scale: 255)
    conv2d = conv2d(8, 3, quantizer: q8)
    max_pooling2d = max_pool(2)
    batch_normalization = batch_norm()
    re_lu = quantized_relu(bits: 4, max_value: 6)
    flatten = flatten()
    dense = dense(10, quantizer: custom_std)
    softmax = softmax()
}
