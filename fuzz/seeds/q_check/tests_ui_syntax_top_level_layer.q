// a layer statement outside any model
quantizer q4 = max(bits: 4)
conv2d(8, 3)
model m {
    input([28, 28, 1])
}
