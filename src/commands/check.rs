//! `qnnc check`: every diagnostic of a model file — with `--weights`, of its weights and of
//! what `cnn2snn.quantize` would refuse; with `--target akd1000`, of every AKD1000 rule the
//! model breaks (structure alone, or with `--weights` also thresholds, act_steps and zero
//! kernels, computed as `qnnc compile` computes them). Exit 0 when there is no error.

use super::{emit, CliError, Common, PassArgs, TargetArg};
use crate::backend::nsoc::Target;
use crate::diag::MessageFormat;
use crate::ir::summary::thousands;
use crate::session::Session;
use std::path::PathBuf;

/// `qnnc check`.
#[derive(clap::Args, Clone, Debug)]
pub struct CheckArgs {
    /// The `.q` file.
    pub model: PathBuf,
    /// Also check a weights file (`.npz`) against the model.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// The model to check the weights against when the file defines several.
    #[arg(long = "model", value_name = "NAME")]
    pub model_name: Option<String>,
    /// Also check the rules of this chip (`akd1000`).
    #[arg(long, value_enum)]
    pub target: Option<TargetArg>,
    #[command(flatten)]
    pub passes: PassArgs,
}

impl CheckArgs {
    fn target(&self) -> Target {
        self.target.unwrap_or_default().into()
    }
}

pub fn run(args: &CheckArgs, common: &Common) -> Result<(), CliError> {
    let mut session = Session::read(&args.model)?;
    session.check(
        args.model_name.as_deref(),
        args.weights.as_deref(),
        &args.passes.options(args.target()),
    )?;
    emit(&session.src, &session.diagnostics, common);
    if session.has_errors() {
        return Err(CliError::Reported(format!(
            "`{}` has errors",
            session.src.name()
        )));
    }
    if common.message_format == MessageFormat::Human {
        for line in summary_lines(&session, args) {
            println!("{line}");
        }
    }
    Ok(())
}

/// The `ok: model ...` lines `qnnc check` prints for a file without errors, one per model.
pub fn summary_lines(session: &Session, args: &CheckArgs) -> Vec<String> {
    let module = session
        .module
        .as_ref()
        .expect("summary_lines is only called once the front end succeeded");
    module
        .models
        .iter()
        .map(|m| {
            let params: u64 = m
                .layers
                .iter()
                .map(|l| {
                    let (t, n) = l.param_counts();
                    t + n
                })
                .sum();
            let checked = args.model_name.as_deref().is_none_or(|n| n == m.name);
            let weights = match &args.weights {
                Some(w) if checked => format!(", weights `{}` match", w.display()),
                _ => String::new(),
            };
            let target = match args.target() {
                Target::Akd1000 if checked => ", maps on the AKD1000",
                _ => "",
            };
            format!(
                "ok: model `{}`: {} layers, {} parameters{weights}{target}",
                m.name,
                m.layers.len(),
                thousands(params)
            )
        })
        .collect()
}
