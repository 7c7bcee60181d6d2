//! The `qnnc` command line: argument parsing only. Every command lives in `qnnc::commands`.

use clap::{Parser, Subcommand};
use qnnc::commands::{self, Common};
use qnnc::diag::MessageFormat;
use qnnc::driver::{self, CliError};
use std::path::PathBuf;
use std::process::ExitCode;

/// qnnc — a compiler for quantized neural networks on BrainChip's Akida 1.0 (AKD1000).
#[derive(Parser)]
#[command(name = "qnnc", version, about, long_about = None)]
struct Cli {
    /// How diagnostics are printed.
    #[arg(long, global = true, value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Report every problem of a model file (exit 0 when there is no error).
    Check {
        /// The `.q` file.
        model: PathBuf,
        /// Also check a weights file (`.npz`) against the model.
        #[arg(long)]
        weights: Option<PathBuf>,
        /// The model to check the weights against when the file defines several.
        #[arg(long = "model")]
        model_name: Option<String>,
    },
    /// Write initial weights with Keras' default initialisers (glorot-uniform kernels, zero
    /// biases, batch norm gamma 1, beta 0, moving mean 0, moving variance 1).
    Init {
        model: PathBuf,
        /// The `.npz` to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Random seed (same seed, same weights).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long = "model")]
        model_name: Option<String>,
    },
    /// Print the Keras-style table of a model: layers, output shapes, parameter counts.
    Summary {
        model: PathBuf,
        /// The model to show when the file defines several.
        #[arg(long = "model")]
        model_name: Option<String>,
    },
    /// Rewrite `.q` files in canonical form (comments are kept).
    Fmt {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Only check: exit 1 and list the files that are not formatted.
        #[arg(long)]
        check: bool,
        /// Print the formatted text instead of rewriting the file.
        #[arg(long, conflicts_with = "check")]
        stdout: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let common = Common {
        message_format: cli.message_format,
    };
    let result = match cli.command {
        Command::Check {
            model,
            weights,
            model_name,
        } => commands::check::run(
            &commands::check::CheckOptions {
                model,
                model_name,
                weights,
            },
            &common,
        ),
        Command::Init {
            model,
            output,
            seed,
            model_name,
        } => commands::init::run(
            &commands::init::InitOptions {
                model,
                model_name,
                output,
                seed,
            },
            &common,
        ),
        Command::Summary { model, model_name } => commands::summary::run(
            &commands::summary::SummaryOptions { model, model_name },
            &common,
        ),
        Command::Fmt {
            files,
            check,
            stdout,
        } => commands::fmt::run(
            &commands::fmt::FmtOptions {
                files,
                check,
                stdout,
            },
            &common,
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e, &common),
    }
}

fn report(e: &CliError, common: &Common) -> ExitCode {
    if !matches!(e, CliError::Reported(_)) {
        let text = driver::render_cli_error(e, common.render_options());
        if common.message_format == MessageFormat::Json {
            print!("{text}");
        } else {
            eprint!("{text}");
        }
    }
    ExitCode::from(e.exit_code())
}
