// functions a scale formula does not know, with and without a suggestion
quantizer a = linear(bits: 4, scale: kmax / maximum(abs(w)))
quantizer b = linear(bits: 4, scale: kmax / exp(mean(w)))
model m {
    input([28, 28, 1])
    conv2d(8, 3, quantizer: a)
    flatten()
    dense(10, quantizer: b)
}
