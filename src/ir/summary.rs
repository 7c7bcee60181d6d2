//! `qnnc summary`: the Keras `model.summary()` table of a model as written, with a column for
//! the quantization of each layer when the model has any.

use super::{Model, Op};
use crate::quant::{ActivationSpec, QuantizerKind, QuantizerSpec};
use std::fmt::Write;

/// A number with thousands separators: `13,642`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// How a quantizer reads in a table: `max_per_axis 4-bit`.
pub fn describe_quantizer(q: &QuantizerSpec) -> String {
    let kind = match &q.kind {
        QuantizerKind::Max => "max".to_string(),
        QuantizerKind::MaxPerAxis => "max_per_axis".to_string(),
        QuantizerKind::Std { threshold } => format!("std(t={threshold})"),
        QuantizerKind::StdPerAxis { threshold } => format!("std_per_axis(t={threshold})"),
        QuantizerKind::Linear { per_axis, .. } => {
            if *per_axis {
                "linear per-axis".to_string()
            } else {
                "linear".to_string()
            }
        }
    };
    format!("{kind} {}-bit", q.bits)
}

fn quantization_of(op: &Op) -> String {
    match op {
        Op::Conv2D(c) => c.quantizer.as_ref().map(|q| describe_quantizer(&q.spec)),
        Op::Dense(d) => d.quantizer.as_ref().map(|q| describe_quantizer(&q.spec)),
        Op::SeparableConv2D(s) => s.quantizer.as_ref().map(|q| {
            let dw = s.quantizer_dw.as_ref().map_or_else(String::new, |d| {
                format!("dw {}, ", describe_quantizer(&d.spec))
            });
            format!("{dw}pw {}", describe_quantizer(&q.spec))
        }),
        Op::QuantizedActivation(ActivationSpec::QuantizedRelu { bits, max_value }) => {
            Some(match max_value {
                Some(m) => format!("{bits}-bit, max {m}"),
                None => format!("{bits}-bit"),
            })
        }
        Op::QuantizedActivation(ActivationSpec::DiscreteRelu { bits }) => {
            Some(format!("{bits}-bit discrete"))
        }
        _ => None,
    }
    .unwrap_or_default()
}

/// The summary table of `model`.
pub fn summary(model: &Model) -> String {
    let rows: Vec<[String; 4]> = model
        .layers
        .iter()
        .map(|l| {
            let (t, n) = l.param_counts();
            [
                format!("{} ({})", l.name, l.op.keras_class()),
                l.output_shape.to_string(),
                (t + n).to_string(),
                quantization_of(&l.op),
            ]
        })
        .collect();
    let quantized = rows.iter().any(|r| !r[3].is_empty());
    let mut headers = vec!["Layer (type)", "Output Shape", "Param #"];
    if quantized {
        headers.push("Quantization");
    }
    let ncols = headers.len();
    // Keras' proportions (29/26/10 of 65), widened to fit the longest cell.
    let mins = [28, 25, 9, 20];
    let widths: Vec<usize> = (0..ncols)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([headers[c].len()])
                .max()
                .unwrap_or(0)
                .max(mins[c])
                + 1
        })
        .collect();
    let total_width: usize = widths.iter().sum::<usize>() + 1;
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str]| {
        let mut s = String::from(" ");
        for (c, cell) in cells.iter().enumerate() {
            let _ = write!(s, "{cell:<w$}", w = widths[c]);
        }
        let _ = writeln!(out, "{}", s.trim_end());
    };
    let _ = writeln!(out, "Model: \"{}\"", model.name);
    let _ = writeln!(out, "{}", "_".repeat(total_width));
    line(&mut out, &headers);
    let _ = writeln!(out, "{}", "=".repeat(total_width));
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<&str> = r[..ncols].iter().map(String::as_str).collect();
        line(&mut out, &cells);
        if i + 1 < rows.len() {
            let _ = writeln!(out);
        }
    }
    let _ = writeln!(out, "{}", "=".repeat(total_width));
    let (trainable, non_trainable) = model
        .layers
        .iter()
        .map(|l| l.param_counts())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let _ = writeln!(
        out,
        "Total params: {}",
        thousands(trainable + non_trainable)
    );
    let _ = writeln!(out, "Trainable params: {}", thousands(trainable));
    let _ = writeln!(out, "Non-trainable params: {}", thousands(non_trainable));
    let _ = writeln!(out, "{}", "_".repeat(total_width));
    if let Some(q) = &model.quantize {
        let _ = writeln!(
            out,
            "quantize(weights: {}, activations: {}, input_weights: {}) applies on top of this table",
            q.weights, q.activations, q.input_weights
        );
    }
    let _ = writeln!(
        out,
        "Input: {} (integer inputs: x_u8 = {} · x + {})",
        model.input.shape, model.input.scale, model.input.offset
    );
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_separators() {
        assert_eq!(super::thousands(13642), "13,642");
        assert_eq!(super::thousands(16), "16");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}
