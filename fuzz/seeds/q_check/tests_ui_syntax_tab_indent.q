// a syntax error on a line indented with tabs: the label must still sit under the token
model m {
	input([28, 28, 1])
	conv2d(8, 3, padding: same same)
}
