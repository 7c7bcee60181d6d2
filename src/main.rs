//! The `qnnc` command line: the argument declarations (each command's own in its module) and a
//! dispatch. Every command lives in `qnnc::commands`.

use clap::{Parser, Subcommand};
use qnnc::commands::{self, CliError, Common};
use qnnc::diag::MessageFormat;
use std::process::ExitCode;

/// qnnc — a compiler for quantized neural networks on BrainChip's Akida 1.0 (AKD1000).
#[derive(Parser)]
#[command(name = "qnnc", version, about, long_about = None)]
struct Cli {
    /// How diagnostics are printed.
    #[arg(long, global = true, value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
    /// The most memory one model, file or batch may take, e.g. `512M`, `2G` (default: the
    /// `QNNC_MEMORY_BUDGET` environment variable, else a quarter of the RAM).
    #[arg(long, global = true, value_name = "SIZE", value_parser = memory_budget)]
    memory_budget: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Report every problem of a model file (exit 0 when there is no error).
    Check(commands::check::CheckArgs),
    /// Quantize a model's weights as `cnn2snn.quantize` does: batch norms folded, then per
    /// quantized kernel `LAYER/VAR_q` (discretized floats), `_int` (integers) and `_sf` (scale
    /// factors), with a per-layer report.
    Quantize(commands::quantize::QuantizeArgs),
    /// Draw a layer's float weights beside their quantized values (the CNN2SNN tutorial's
    /// histogram), to SVG or PNG.
    Hist(commands::hist::HistArgs),
    /// Run the CPU executor on images from a `.npy` (uint8 images are mapped by the model's
    /// input scaling; float32 values are used as they are).
    Predict(commands::predict::PredictArgs),
    /// Train or fine-tune a model on an MNIST-style dataset (IDX files, gzipped or not, or
    /// `.npy` pairs), with straight-through estimators through quantizers.
    Train(commands::train::TrainArgs),
    /// Accuracy of a model and its weights on the test split of a dataset.
    Eval(commands::train::EvalArgs),
    /// Compile a quantized model and its float weights into an NSoC integer program (`.nsoc`).
    Compile(commands::compile::CompileArgs),
    /// Run an NSoC program on uint8 images with the bit-exact integer simulator.
    Run(commands::run::RunArgs),
    /// Compare the quantized CPU executor with the integer program, layer by layer.
    Diff(commands::diff::DiffArgs),
    /// Show what an NSoC program holds, layer by layer.
    Inspect(commands::inspect::InspectArgs),
    /// Write a program in a form another runtime loads: `--akida OUT.json` for BrainChip's
    /// akida package (`akida.model_from_json`, or `python -m qnnc_akida build OUT.json` for an
    /// `.fbz`).
    Export(commands::export::ExportArgs),
    /// The whole flow on the shipped example and MNIST: float training, quantization (4/4/8)
    /// and fine-tuning, compilation for the AKD1000, and the integer program on the test set.
    Demo(commands::demo::DemoArgs),
    /// Measure training, prediction and integer-inference speed against BrainChip's flow.
    Bench(commands::bench::BenchArgs),
    /// Show a quantized activation's step function (step, threshold, levels), and plot it
    /// beside the float ReLU it replaces.
    Activation(commands::activation::ActivationArgs),
    /// Write initial weights with Keras' default initialisers (glorot-uniform kernels, zero
    /// biases, batch norm gamma 1, beta 0, moving mean 0, moving variance 1).
    Init(commands::init::InitArgs),
    /// Print the Keras-style table of a model: layers, output shapes, parameter counts.
    Summary(commands::summary::SummaryArgs),
    /// Rewrite `.q` files in canonical form (comments are kept).
    Fmt(commands::fmt::FmtArgs),
}

fn memory_budget(s: &str) -> Result<u64, String> {
    qnnc::io::budget::parse_size(s).map_err(|e| match e.help_text() {
        Some(help) => format!("{}; {help}", e.cause()),
        None => e.cause().to_string(),
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let common = Common {
        message_format: cli.message_format,
    };
    // The budget: the flag, else a valid `QNNC_MEMORY_BUDGET`, else a quarter of the RAM. A
    // malformed variable is a usage error, reported before any work.
    match cli.memory_budget {
        Some(bytes) => qnnc::io::budget::set_limit(bytes),
        None => match qnnc::io::budget::limit() {
            Ok(bytes) => qnnc::io::budget::set_limit(bytes),
            Err(e) => {
                let e = CliError::Usage {
                    message: e.cause().to_string(),
                    help: e.help_text().map(str::to_string),
                };
                return report(&e, &common);
            }
        },
    }
    let c = &common;
    let result = match &cli.command {
        Command::Check(a) => commands::check::run(a, c),
        Command::Quantize(a) => commands::quantize::run(a, c),
        Command::Hist(a) => commands::hist::run(a, c),
        Command::Predict(a) => commands::predict::run(a, c),
        Command::Train(a) => commands::train::train(a, c).map(|_| ()),
        Command::Eval(a) => commands::train::eval(a, c).map(|_| ()),
        Command::Compile(a) => commands::compile::run(a, c),
        Command::Run(a) => commands::run::main(a),
        Command::Diff(a) => commands::diff::run(a, c),
        Command::Inspect(a) => commands::inspect::run(a),
        Command::Export(a) => commands::export::run(a),
        Command::Demo(a) => commands::demo::run(a, c),
        Command::Bench(a) => commands::bench::run(a),
        Command::Activation(a) => commands::activation::run(a),
        Command::Init(a) => commands::init::run(a, c),
        Command::Summary(a) => commands::summary::run(a, c),
        Command::Fmt(a) => commands::fmt::run(a, c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e, &common),
    }
}

fn report(e: &CliError, common: &Common) -> ExitCode {
    if !matches!(e, CliError::Reported(_)) {
        let text = commands::render_cli_error(e, common.render_options());
        if common.message_format == MessageFormat::Json {
            print!("{text}");
        } else {
            eprint!("{text}");
        }
    }
    ExitCode::from(e.exit_code())
}
