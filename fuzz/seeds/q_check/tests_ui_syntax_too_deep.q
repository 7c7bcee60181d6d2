// an expression nesting deeper than the parser allows
model m {
    input([4], scale: ------------------1)
    dense(2)
}
