// a quantizer and a model defined twice
quantizer q = max(bits: 4)
quantizer q = max(bits: 8)
model m {
    input([28, 28, 1])
    flatten()
    dense(10, quantizer: q)
}
model m {
    input([28, 28, 1])
    flatten()
    dense(10)
}
