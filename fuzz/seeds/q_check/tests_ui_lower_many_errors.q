// several unrelated errors in one file: lowering reports all of them, in source order
quantizer q4 = max(bits: 4)
quantizer q2 = max(bits: 1)
model m {
    input([28, 28, 1], scale: 0)
    conv2d(8, 3, padding: full)
    conv2d(8, quantizer: q3)
    max_pool(2)
    batchnorm()
    flatten()
    dense(10, use_bias: no)
    softmax()
}
