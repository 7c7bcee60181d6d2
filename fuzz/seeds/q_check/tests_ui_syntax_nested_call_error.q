// a syntax error inside an inline quantizer call nested in a layer call
model m {
    input([28, 28, 1])
    flatten()
    dense(10, quantizer: max(bits 4))
}
