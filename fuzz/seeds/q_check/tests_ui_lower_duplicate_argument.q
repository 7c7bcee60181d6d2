// the same argument given twice, by keyword and by position + keyword
model m {
    input([28, 28, 1], scale: 255, scale: 1)
    conv2d(8, 3, padding: same, padding: valid)
    conv2d(8, 3, filters: 16)
    flatten()
    dense(10)
}
