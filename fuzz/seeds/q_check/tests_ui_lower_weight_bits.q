// weight quantizers with fewer than 2 bits
quantizer binary = max(bits: 1)
quantizer zero = std(bits: 0)
model m {
    input([28, 28, 1])
    conv2d(8, 3, quantizer: max_per_axis(bits: -4))
    flatten()
    dense(10)
}
