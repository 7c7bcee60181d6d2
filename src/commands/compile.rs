//! `qnnc compile`: a quantized model and its float weights → an NSoC integer program
//! (`.nsoc`), as `cnn2snn.convert` would build it.

use super::{emit, failed, CliError, Common, ModelArgs, TargetArg};
use crate::backend::nsoc;
use std::path::PathBuf;
use std::time::Instant;

/// `qnnc compile`.
#[derive(clap::Args, Clone, Debug)]
pub struct CompileArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The float weights (`.npz`, `LAYER/VAR` in Keras layouts).
    #[arg(long)]
    pub weights: PathBuf,
    /// The program to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// `software` (the integer simulator; AKD1000 rules only warn) or `akd1000` (a model that
    /// would not map is refused and nothing is written).
    #[arg(long, value_enum, default_value_t = TargetArg::Software)]
    pub target: TargetArg,
}

pub fn run(args: &CompileArgs, common: &Common) -> Result<(), CliError> {
    let m = &args.model;
    crate::io::check_output(&args.output, &[&m.model, &args.weights])?;
    let (session, job) = m.load(Some(&args.weights), args.target.into(), common)?;
    let start = Instant::now();
    let compiled = match job.compile(session.src.text()) {
        Ok(c) => c,
        Err(f) => {
            let what = match args.target {
                TargetArg::Akd1000 => "does not map on the AKD1000; nothing was written",
                TargetArg::Software => "cannot be compiled",
            };
            return Err(failed(&session, f, what, common));
        }
    };
    let elapsed = start.elapsed();
    emit(&session.src, &compiled.diagnostics, common);
    let program = &compiled.program;
    nsoc::write_file(&args.output, program)?;
    let weights: usize = program.layers.iter().map(|l| l.parameter_count()).sum();
    println!(
        "compiled `{}` for {} → `{}`: {} layers, {} weights, in {:.1} ms",
        program.model_name,
        program.target.as_str(),
        args.output.display(),
        program.layers.len(),
        crate::ir::summary::thousands(weights as u64),
        elapsed.as_secs_f64() * 1e3
    );
    Ok(())
}
