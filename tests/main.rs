//! The qnnc integration test binary: one module per topic.
mod cpu_kernels;
