// errors in `quantize(...)`: a duplicate, a name, bad bit-widths, an unknown argument
model m {
    q = quantize(weights: 1, activations: -1, bias: 8)
    input([28, 28, 1])
    quantize(weights: 4, activations: 4)
    flatten()
    dense(10)
}
model n {
    input([28, 28, 1])
    quantize(4, 4)
    flatten()
    dense(10)
}
