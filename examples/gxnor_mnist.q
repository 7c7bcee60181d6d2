// gxnor_mnist.q — BrainChip's model-zoo network for MNIST on Akida 1.0 (akida_models'
// `gxnor_mnist`): 2-bit weights, 1-bit (binary spike) activations, 2-bit input weights.
//
// examples/gxnor_mnist.npz was trained by qnnc, in float and then fine-tuned quantized (with
// cnn2snn.quantize's default fold_BN=True, so the batch norms are folded while fine-tuning):
//   qnnc train examples/gxnor_mnist.q --float --data examples/data/mnist --epochs 10 --lr 0.002 --schedule cosine --seed 1 -o gxnor_float.npz
//   qnnc train examples/gxnor_mnist.q --weights gxnor_float.npz --data examples/data/mnist --epochs 24 --batch-size 32 --lr 0.001 --schedule cosine --seed 1 -o gxnor_q24.npz
//   qnnc train examples/gxnor_mnist.q --weights gxnor_q24.npz --data examples/data/mnist --epochs 60 --batch-size 32 --lr 0.0007 --schedule cosine --seed 2 -o gxnor_q84.npz
//   qnnc train examples/gxnor_mnist.q --weights gxnor_q84.npz --data examples/data/mnist --epochs 30 --batch-size 32 --lr 0.0004 --schedule cosine --seed 3 -o gxnor_q114.npz
//   qnnc train examples/gxnor_mnist.q --weights gxnor_q114.npz --data examples/data/mnist --epochs 30 --batch-size 32 --lr 0.0003 --schedule cosine --seed 4 -o examples/gxnor_mnist.npz
// Float: 99.03 %; after the first fine-tuning 97.51 % (integer program 97.23 %), after the second
// 97.94 % (97.71 %), after the third 98.10 % (97.84 %), after the fourth:
// quantized executor 98.07 %; integer program (qnnc compile --target akd1000, qnnc run --data examples/data/mnist): 98.00 % on the MNIST test set
model gxnor_mnist {
    input([28, 28, 1], scale: 255)
    quantize(weights: 2, activations: 1, input_weights: 2)

    conv_0 = conv2d(32, 5, padding: same)
    pool_0 = max_pool(2, padding: same)
    bn_0 = batch_norm()
    relu_0 = relu()

    conv_1 = conv2d(64, 3, strides: 2, padding: same)
    bn_1 = batch_norm()
    relu_1 = relu()

    conv_2 = conv2d(128, 3, padding: same)
    gap_2 = global_avg_pool()
    bn_2 = batch_norm()
    relu_2 = relu()

    dense_3 = dense(512)
    bn_3 = batch_norm()
    relu_3 = relu()

    dense_4 = dense(10)
    bn_4 = batch_norm()
}
