//! The etcdkit command line (in progress).
fn main() {}
