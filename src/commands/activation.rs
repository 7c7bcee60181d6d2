//! `qnnc activation`: a quantized activation's step function beside the float ReLU it
//! replaces, as a figure, with its step, threshold and levels.

use super::hist::render_arg_error;
use super::CliError;
use crate::ir::Op;
use crate::plot::{self, Format};
use crate::quant::{ActivationSpec, QuantizedActivation};
use crate::source::SourceFile;
use plotters::style::RGBColor;
use std::path::PathBuf;

/// `qnnc activation`.
#[derive(clap::Args, Clone, Debug)]
pub struct ActivationArgs {
    /// The activation as written in a model, e.g. `"quantized_relu(bits: 4, max_value: 6)"`.
    pub spec: String,
    /// The figure (`.svg` or `.png`).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Lowest input plotted.
    #[arg(long, default_value_t = -1.0, allow_hyphen_values = true)]
    pub from: f32,
    /// Highest input plotted.
    #[arg(long, default_value_t = 8.0)]
    pub to: f32,
    /// Print the output for these inputs (computed in f32, as CNN2SNN does).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub at: Vec<f32>,
}

/// Parses an activation call by lowering a one-layer model around it.
fn parse(text: &str) -> Result<ActivationSpec, CliError> {
    let model = format!("model m {{\n    input([1])\n    {}\n}}\n", text.trim());
    let src = SourceFile::new("activation", model);
    let front = crate::session::Session::new(src.clone());
    if let Some(e) = front.diagnostics.into_iter().find(crate::Error::is_error) {
        return Err(render_arg_error(&src, e));
    }
    let module = front.module.expect("no errors, so a module");
    match &module.models[0].layers[0].op {
        Op::QuantizedActivation(spec) => Ok(spec.clone()),
        _ => Err(CliError::Usage {
            message: format!("`{}` is not a quantized activation", text.trim()),
            help: Some(
                "give `quantized_relu(bits: B, max_value: M)` or `discrete_relu(bits: B)`"
                    .to_string(),
            ),
        }),
    }
}

pub fn run(opts: &ActivationArgs) -> Result<(), CliError> {
    let format = match &opts.output {
        Some(p) => Some(Format::from_path(p).ok_or_else(|| CliError::Usage {
            message: format!("cannot tell the figure type of `{}`", p.display()),
            help: Some("name the output `….svg` or `….png`".to_string()),
        })?),
        None => None,
    };
    let spec = parse(&opts.spec)?;
    let act = QuantizedActivation::new(&spec);
    println!(
        "{}: {} levels above zero ({} output values), step {} (exactly {}), threshold {}, output 0 to {}",
        opts.spec.trim(),
        act.levels as u32,
        act.levels as u32 + 1,
        act.step,
        act.step as f64,
        act.threshold,
        act.max_output()
    );
    println!("fires level n when (n − 1)·step + step/2 < x ≤ n·step + step/2, i.e. n = clip(ceil((x − step/2) / step), 0, levels)");
    for &x in &opts.at {
        let y = act.apply(x);
        println!("x = {x} → {y} (level {})", (y / act.step).round() as u32);
    }
    let (Some(out), Some(format)) = (&opts.output, format) else {
        return Ok(());
    };
    let (lo, hi) = (opts.from, opts.to);
    let n = 2001;
    let xs: Vec<f32> = (0..n)
        .map(|i| lo + (hi - lo) * i as f32 / (n - 1) as f32)
        .collect();
    let max = act.max_output();
    let relu: Vec<(f32, f32)> = xs.iter().map(|&x| (x, x.clamp(0.0, max))).collect();
    let steps: Vec<(f32, f32)> = xs.iter().map(|&x| (x, act.apply(x))).collect();
    let series = vec![
        (
            format!("ReLU capped at {max}"),
            RGBColor(160, 160, 160),
            relu,
        ),
        (opts.spec.trim().to_string(), RGBColor(214, 39, 40), steps),
    ];
    plot::write_lines(
        out,
        format,
        &format!("{} and the ReLU it replaces", opts.spec.trim()),
        "input x",
        &series,
    )?;
    println!("wrote `{}`", out.display());
    Ok(())
}
