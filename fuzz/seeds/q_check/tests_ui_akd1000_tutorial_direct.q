//@ cmd: check --target akd1000 {file} --weights {dir}/tutorial_direct.npz
// errors.json `toy_tutorial_direct_convert`: "The BatchNormalization layer batch_normalization can
// only be folded into a quantized layer that uses a quantizer per axis."
quantizer q8 = max(bits: 8)
quantizer q4 = max(bits: 4)

model toy_tutorial_direct {
    input([28, 28, 1], scale: 255)
    conv2d = conv2d(8, 3, quantizer: q8)
    max_pooling2d = max_pool(2)
    batch_normalization = batch_norm()
    re_lu = quantized_relu(bits: 4)
    flatten = flatten()
    dense = dense(10, quantizer: q4)
    softmax = softmax()
}
