// quantizer calls of unknown kinds: a typo, a layer, a foreign quantizer
quantizer a = maxx(bits: 4)
quantizer b = dense(10)
quantizer c = lsq(bits: 4)
model m {
    input([28, 28, 1])
    flatten()
    dense(10, quantizer: mx_per_axis(bits: 4))
}
