// a zero and a negative input scale
model a {
    input([28, 28, 1], scale: 0)
    flatten()
}
model b {
    input([28, 28, 1], scale: -255)
    flatten()
}
