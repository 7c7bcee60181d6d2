// references to quantizers that are not defined: a typo, a kind name, an unknown name
quantizer q4 = max(bits: 4)
model m {
    input([28, 28, 1])
    conv2d(8, 3, quantizer: q8)
    conv2d(8, 3, quantizer: max)
    flatten()
    dense(10, quantizer: weights4)
}
