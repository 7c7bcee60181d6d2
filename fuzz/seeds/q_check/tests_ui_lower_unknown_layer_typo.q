// misspelled layer names get a did-you-mean suggestion
model m {
    input([28, 28, 1])
    conv2 = conv(8, 3)
    flaten()
    Dense(10)
}
