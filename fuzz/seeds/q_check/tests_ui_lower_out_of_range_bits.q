// bit-widths above the supported maximum
quantizer q = max(bits: 64)
model m {
    input([28, 28, 1])
    conv2d(8, 3, quantizer: q)
    quantized_relu(bits: 33)
    flatten()
    dense(10)
}
