//! The `taskdist` command line. Everything happens in [`cli`]; this file only parses the
//! arguments and hands over.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main(cli::Cli::parse())
}

/// mimalloc rather than the system allocator: the worker allocates on the blocking pool's
/// threads what its loop frees, where glibc's arenas spend a tenth of the worker's CPU
/// (reports/broker.md); and a simulation of a big plan takes a hundredth of the page
/// faults (reports/perf.md, big files).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
