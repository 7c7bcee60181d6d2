// toy_quantized.q — the tutorial's toy model written in float, quantized by one statement:
// cnn2snn.quantize(model, weight_quantization=4, activ_quantization=4,
// input_weight_quantization=8). BatchNormalization is folded into the convolution, every
// neural layer gets a per-axis max quantizer (8 bits for the first), and every ReLU becomes a
// 4-bit QuantizedReLU.
//
// examples/toy_quantized.npz was trained by qnnc, in float and then fine-tuned quantized:
//   qnnc train examples/toy_quantized.q --float --data examples/data/mnist --epochs 5 --lr 0.003 --schedule cosine -o toy_quantized_float.npz
//   qnnc train examples/toy_quantized.q --weights toy_quantized_float.npz --data examples/data/mnist --epochs 2 --lr 0.0005 --schedule cosine -o examples/toy_quantized.npz
// Quantized executor: 98.22 %; integer program (qnnc compile --target akd1000, qnnc run --data examples/data/mnist): 98.07 % on the MNIST test set
model toy_quantized {
    input([28, 28, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)
    conv2d(8, 3)
    max_pool(2)
    batch_norm()
    relu()
    flatten()
    dense(10)
    softmax()
}
