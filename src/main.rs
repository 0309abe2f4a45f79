//! The `anpr-edge` command line: the edges of the program, where typed errors become messages
//! for a person and exit codes for a script.

mod cli;

fn main() -> std::process::ExitCode {
    // Before anything allocates a frame or starts a thread: see src/allocator.rs.
    anpr_edge::allocator::tune();
    cli::main()
}
