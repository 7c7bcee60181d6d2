// ds_cnn_kws.q — BrainChip's DS-CNN keyword-spotting network for Akida 1.0.
//
// Reproduces akida_models' `ds_cnn_kws(input_shape=(49, 10, 1), classes=33,
// input_scaling=(255, 0))` (akida_models/kws/model_ds_cnn.py) built under cnn2snn's
// `set_akida_version(AkidaVersion.v1)`: fused SeparableConv2D, ReLU(6), global average pooling
// before the batch norm. Keras: 23,713 parameters (python/zoo_check.py).
//
// Quantization: the zoo's Akida 1.0 model `ds_cnn_kws_iq8_wq4_aq4_laq1.h5`, i.e.
// `cnn2snn.quantize(model, 4, 4, 8)` then `cnn2snn.quantize_layer(model, 'separable_4/relu', 1)`:
// 8-bit input weights, 4-bit weights, 4-bit activations, the last activation 1 bit.
// `quantize(weights: 4, activations: 4, input_weights: 8)` would silently turn an explicit
// `quantized_relu(bits: 1)` into 4 bits (issue #14), so every quantizer is written out: what
// `quantize` gives (max_per_axis on kernels and pointwise kernels, max on depthwise kernels,
// quantized_relu(A, max_value: 6) for every ReLU6) and the 1-bit override. Unlike
// cnn2snn.quantize, which folds the batch norms before quantizing, a model quantized by hand
// keeps them until conversion (as quantize(fold_BN=False)).
//
// Layer names are Keras' with every `/` replaced by `_` (Keras `conv_0/BN` is `conv_0_BN`):
// `.q` names cannot hold `/`, which separates layer and variable in weight files. The Keras
// `Rescaling(1/255, 0)` layer is `input(scale: 255)`.
quantizer iq8 = max_per_axis(bits: 8)
quantizer wq4 = max_per_axis(bits: 4)
quantizer dwq4 = max(bits: 4)

model ds_cnn_kws {
    input([49, 10, 1], scale: 255)

    conv_0 = conv2d(64, [5, 5], strides: 2, padding: same, use_bias: false, quantizer: iq8)
    conv_0_BN = batch_norm()
    conv_0_relu = quantized_relu(bits: 4, max_value: 6)

    separable_1 = separable_conv2d(64, 3, padding: same, use_bias: false, quantizer: wq4, quantizer_dw: dwq4)
    separable_1_BN = batch_norm()
    separable_1_relu = quantized_relu(bits: 4, max_value: 6)

    separable_2 = separable_conv2d(64, 3, padding: same, use_bias: false, quantizer: wq4, quantizer_dw: dwq4)
    separable_2_BN = batch_norm()
    separable_2_relu = quantized_relu(bits: 4, max_value: 6)

    separable_3 = separable_conv2d(64, 3, padding: same, use_bias: false, quantizer: wq4, quantizer_dw: dwq4)
    separable_3_BN = batch_norm()
    separable_3_relu = quantized_relu(bits: 4, max_value: 6)

    separable_4 = separable_conv2d(64, 3, padding: same, use_bias: false, quantizer: wq4, quantizer_dw: dwq4)
    separable_4_global_avg = global_avg_pool()
    separable_4_BN = batch_norm()
    separable_4_relu = quantized_relu(bits: 1, max_value: 6)  // "laq1"

    dense_5 = dense(33, quantizer: wq4)
    act_softmax = softmax()
}
