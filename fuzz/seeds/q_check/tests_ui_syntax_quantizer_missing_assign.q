// a quantizer definition without `=`
quantizer q8 max(bits: 8)
model m {
    input([28, 28, 1])
    dense(10, quantizer: q8)
}
