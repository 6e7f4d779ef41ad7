//! The `taskdist` command line. Everything happens in [`cli`]; this file only parses the
//! arguments and hands over.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main(cli::Cli::parse())
}
