/* every lexical form: block comments, trailing commas, number forms, arithmetic and nesting */
quantizer q = linear(bits: 4, scale: -(-kmax) / (max(abs(w)) + .5e-3),) // trailing comma

model forms { /* a comment between tokens */
    input([28, 28, 1,], scale: 255.0, offset: 1 / 2 - 0.5 * 1)
    conv2d(
        8,
        3,
        padding: same,
        quantizer: q,
    )
    flatten()
    dense(2 * 5)
}
