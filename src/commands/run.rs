//! `qnnc run`: the integer simulator on uint8 inputs — the last layer's potentials (Akida
//! `forward`), or dequantized (Akida `predict`), and optionally every layer's output.

use super::inspect::read_program;
use crate::backend::nsoc::{LayerOutput, Simulator};
use crate::driver::CliError;
use crate::io::{Array, IoError};
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub program: PathBuf,
    pub input: PathBuf,
    pub output: PathBuf,
    pub dequantize: bool,
    /// Write every layer's integer output here as `L<k>_<name>.npy`.
    pub layers: Option<PathBuf>,
}

pub fn run(opts: &RunOptions) -> Result<(), CliError> {
    crate::io::check_output(&opts.output, &[&opts.program, &opts.input])?;
    if let Some(dir) = &opts.layers {
        super::check_layers_dir(dir)?;
    }
    let program = read_program(&opts.program)?;
    let sim = Simulator::new(&program).map_err(sim_error)?;
    let input = load_input(&opts.input, &sim)?;
    super::memory::check_program(&program, input.shape()[0], opts.layers.is_some())?;
    let outputs = if opts.layers.is_some() {
        sim.run_all(input.view()).map_err(sim_error)?
    } else {
        vec![sim.run(input.view()).map_err(sim_error)?]
    };
    if let Some(dir) = &opts.layers {
        for (k, (out, layer)) in outputs.iter().zip(&program.layers).enumerate() {
            let path = dir.join(format!("L{k}_{}.npy", layer.name));
            crate::io::write_npy(&path, &to_array(out))?;
        }
    }
    let last = outputs.last().expect("a program has at least one layer");
    let result = if opts.dequantize {
        let LayerOutput::Potentials(p) = last else {
            return Err(CliError::Usage {
                message: format!(
                    "the last layer `{}` has an activation, so there are no potentials to dequantize",
                    program.layers.last().expect("non-empty").name
                ),
                help: Some("drop `--dequantize`: the output is activation levels".to_string()),
            });
        };
        Array::F32(sim.dequantize(p.view()).map_err(sim_error)?.into_dyn())
    } else {
        to_array(last)
    };
    crate::io::write_npy(&opts.output, &result)?;
    println!(
        "ran `{}` on {} image(s) → `{}` {:?}",
        program.model_name,
        input.shape()[0],
        opts.output.display(),
        result.shape()
    );
    Ok(())
}

fn to_array(out: &LayerOutput) -> Array {
    match out {
        LayerOutput::Levels(l) => Array::U8(l.clone().into_dyn()),
        LayerOutput::Potentials(p) => Array::I32(p.clone().into_dyn()),
    }
}

fn sim_error(e: crate::backend::nsoc::SimError) -> CliError {
    CliError::Io {
        message: e.to_string(),
        help: None,
    }
}

/// Reads a `.npy` of uint8 images (or integers in 0..=255).
fn load_input(path: &std::path::Path, sim: &Simulator) -> Result<ndarray::Array4<u8>, CliError> {
    let array = crate::io::read_npy(path)?;
    let converted = match &array {
        Array::U8(a) => sim.input_from(a.view()),
        Array::I8(a) => sim.input_from(a.view()),
        Array::I16(a) => sim.input_from(a.view()),
        Array::U16(a) => sim.input_from(a.view()),
        Array::I32(a) => sim.input_from(a.view()),
        Array::U32(a) => sim.input_from(a.view()),
        Array::I64(a) => sim.input_from(a.view()),
        other => {
            return Err(IoError::new(
                crate::io::ErrorKind::WrongDtype,
                format!(
                    "the program takes uint8 images, found {} values",
                    other.dtype().name()
                ),
            )
            .at(path)
            .with_help("integer inputs are `x_u8 = scale · x + offset`; convert floats before running the program")
            .into())
        }
    };
    converted.map_err(|e| CliError::Io {
        message: format!("`{}`: {e}", path.display()),
        help: None,
    })
}
