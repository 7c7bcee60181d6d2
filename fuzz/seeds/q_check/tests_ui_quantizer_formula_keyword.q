// a keyword argument inside a formula function, and a list as a formula
quantizer a = linear(bits: 4, scale: kmax / max(x: abs(w)))
quantizer b = linear(bits: 4, scale: [1, 2])
model m {
    input([28, 28, 1])
    conv2d(8, 3, quantizer: a)
    flatten()
    dense(10, quantizer: b)
}
