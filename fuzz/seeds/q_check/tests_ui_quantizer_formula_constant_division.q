// a scale formula dividing by a constant zero (not caught before training)
quantizer a = linear(bits: 4, scale: kmax / 0)
model m {
    input([28, 28, 1])
    flatten()
    dense(10, quantizer: a)
}
