// a file with quantizers but no model: no model error, and the quantizers are unused
quantizer q4 = max(bits: 4)
quantizer q8 = max_per_axis(bits: 8)
