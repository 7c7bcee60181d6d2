// a depthwise quantizer given without the pointwise one
quantizer q8 = max(bits: 8)
model m {
    input([28, 28, 3])
    separable_conv2d(16, 3, quantizer_dw: q8)
    flatten()
    dense(10)
}
