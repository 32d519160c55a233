//! Replaced by the real benchmarks.
fn main() {}
