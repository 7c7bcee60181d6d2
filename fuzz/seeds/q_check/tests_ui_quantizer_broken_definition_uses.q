// a quantizer whose definition has an error: its uses add nothing and it is not "unused"
quantizer bad = linear(bits: 4, scale: kmax / maxx(abs(w)))
quantizer spare = linear(bits: 4, scale: kmax / max(abs(w)))
model m {
    input([28, 28, 1])
    conv2d(8, 3, quantizer: bad)
    flatten()
    dense(10, quantizer: bad)
}
