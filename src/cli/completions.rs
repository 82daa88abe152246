//! `artlens completions SHELL`: a completion script on stdout.

use anyhow::Result;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  artlens completions bash > artlens.bash   # then: source artlens.bash"
)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    shell: Shell,
}

pub fn run(args: CompletionsArgs) -> Result<i32> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "artlens", &mut std::io::stdout());
    Ok(0)
}
