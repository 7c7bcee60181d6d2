//! Code generation back-ends: the NSoC integer program (`nsoc`).

pub mod nsoc;
