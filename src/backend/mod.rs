//! Back-ends: the trainable CPU executor (`cpu`) and the NSoC integer program (`nsoc`).

pub mod cpu;
pub mod nsoc;
