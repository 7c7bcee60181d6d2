// a quantizer call written as a model statement
model m {
    input([28, 28, 1])
    flatten()
    max_per_axis(bits: 4)
    dense(10)
}
