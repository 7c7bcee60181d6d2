// The reference harness's `toy_tutorial_direct` (refs/make_refs.py): the tutorial's hand-quantized toy
// with `QuantizedReLU(bitwidth=4)` at its default max_value (15, so step 1), not max_value 6.
quantizer q8 = max(bits: 8)
quantizer q4 = max(bits: 4)

model toy {
    input([28, 28, 1], scale: 255)
    conv2d_3 = conv2d(8, 3, quantizer: q8)
    max_pooling2d = max_pool(2)
    batch_normalization_3 = batch_norm()
    re_lu_3 = quantized_relu(bits: 4)
    flatten_2 = flatten()
    dense_2 = dense(10, quantizer: q4)
    softmax = softmax()
}
