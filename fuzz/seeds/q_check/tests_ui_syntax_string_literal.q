// a quoted string where a bare word is expected
model m {
    input([28, 28, 1])
    conv2d(8, 3, padding: "same")
}
