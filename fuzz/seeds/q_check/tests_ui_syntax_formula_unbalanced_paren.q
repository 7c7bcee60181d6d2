// a scale formula with one more `(` than `)`
quantizer q = linear(bits: 4, scale: kmax / (max(abs(w)))
model m {
    input([28, 28, 1])
    flatten()
    dense(10, quantizer: q)
}
