// a layer name bound to a number instead of a layer call
model m {
    input([28, 28, 1])
    units = 10
    dense(units)
}
