// The `gamma_model` of the reference harness (refs/make_refs.py, gamma_float_model): its
// second batch norm has tiny gammas, so the folded conv2 kernel is tiny, its scale factor
// saturates at 1000 and the Akida threshold of conv2 overflows 20 bits.
model gamma_model {
    input([28, 28, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv1 = conv2d(8, 3)
    pool1 = max_pool(2)
    bn1 = batch_norm()
    relu1 = relu(max_value: 1.0)
    conv2 = conv2d(16, 3, padding: same)
    bn2 = batch_norm()
    relu2 = relu()
    conv3 = conv2d(16, 3, padding: same)
    relu3 = relu()
    flatten = flatten()
    dense = dense(10)
}
