// wrong kinds for enumerations, booleans, quantizers and the input shape
model m {
    input(28)
    conv2d(8, 3, padding: 1, use_bias: yes, quantizer: 4)
}
model n {
    input([28, 28, 1])
    conv2d(8, 3, padding: [same])
    flatten()
    dense(10, quantizer: [max])
}
