//@ cmd: quantize {file} --weights {dir}/per_tensor_fold.npz
// the tutorial's hand-quantized model: its batch norm cannot fold into a per-tensor quantizer
quantizer q8 = max(bits: 8)
quantizer q4 = max(bits: 4)

model toy {
    input([28, 28, 1], scale: 255)
    conv2d(8, 3, quantizer: q8)
    max_pool(2)
    batch_norm()
    quantized_relu(bits: 4, max_value: 6)
    flatten()
    dense(10, quantizer: q4)
    softmax()
}
