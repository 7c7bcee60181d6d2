//! Execution back ends: the trainable CPU executor's numeric kernels (`cpu`).

pub mod cpu;
