// std quantizers with a non-positive threshold and a positional argument
quantizer a = std(bits: 4, threshold: 0)
quantizer b = std_per_axis(4)
quantizer c = max(bits: 4, threshold: 3)
model m {
    input([28, 28, 1])
    conv2d(8, 3, quantizer: a)
    conv2d(8, 3, quantizer: b)
    flatten()
    dense(10, quantizer: c)
}
