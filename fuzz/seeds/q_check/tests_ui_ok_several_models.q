// two models share quantizers (one defined after them); automatic names restart in each model
quantizer q4 = max(bits: 4)

model a {
    input([28, 28, 1])
    conv2d(8, 3, quantizer: q4)
    conv2d(8, 3)
    flatten()
    dense(10)
}

model b {
    input([784])
    dense(64, quantizer: q4)
    dense(10, quantizer: late)
}

quantizer late = max(bits: 2)
