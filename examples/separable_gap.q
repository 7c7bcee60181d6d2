// separable_gap.q — a small depthwise-separable network ending in global average pooling, the
// shape of BrainChip's keyword-spotting and mobile models: every block is neural layer
// (+ pooling) + batch norm + ReLU, which CNN2SNN folds and converts to one Akida layer each.
//
// examples/separable_gap.npz was trained by qnnc, quantized from the start (fine-tuning the
// float model, 93.04 % after 5 epochs, did worse: 46 %):
//   qnnc train examples/separable_gap.q --data examples/data/mnist --epochs 6 --lr 0.003 --schedule cosine -o separable_gap_6.npz
//   qnnc train examples/separable_gap.q --weights separable_gap_6.npz --data examples/data/mnist --epochs 4 --lr 0.001 --schedule cosine -o examples/separable_gap.npz
// Quantized executor: 67.43 %; integer program (qnnc compile --target akd1000, qnnc run --data examples/data/mnist): 66.63 % on the MNIST test set
// The model is tiny (1,248 weights; it is the model of the reference `sep_q_w4_a4_iw8` in
// tests/data) and loses much at 4/4/8: CNN2SNN gives a depthwise kernel one scale factor for
// all its channels, and the 4-bit ReLUs step by 1 (max_value 15).
model separable_gap {
    input([28, 28, 1], scale: 255)
    quantize(weights: 4, activations: 4, input_weights: 8)

    conv0 = conv2d(8, 3, padding: same)
    bn0 = batch_norm()
    relu0 = relu()

    sep1 = separable_conv2d(16, 3, padding: same, use_bias: false)
    pool1 = max_pool(2, padding: same)
    bn1 = batch_norm()
    relu1 = relu(max_value: 6)

    sep2 = separable_conv2d(32, 3, padding: same, use_bias: false)
    gap2 = global_avg_pool()
    bn2 = batch_norm()
    relu2 = relu()

    dense = dense(10)
}
