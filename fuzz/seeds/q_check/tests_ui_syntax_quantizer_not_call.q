// a quantizer defined as a bare number instead of a call
quantizer q8 = 8
model m {
    input([28, 28, 1])
    dense(10, quantizer: q8)
}
