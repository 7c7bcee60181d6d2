//@ cmd: compile {file} --weights {dir}/act_step_unusable.npz -o {tmp}/unusable.nsoc
// an act_step the akida engine divides by zero with: tiny weights clip the scale factor at
// 1000, a global average pooling over 64 pixels multiplies a large step by 64, and the last
// layer's act_step is not equalized (cnn2snn lowers only those of the other layers)
model unusable {
    input([8, 8, 1], scale: 255)
    conv0 = conv2d(4, 3, padding: same, quantizer: max_per_axis(bits: 8))
    global_avg_pool()
    quantized_relu(bits: 4, max_value: 1000)
}
