//! `wacrm completions` and `wacrm man`: generated from the same clap definition as `--help`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::{Args, CommandFactory};
use clap_complete::Shell;

/// Print a shell completion script.
///
/// Example: wacrm completions bash > ~/.local/share/bash-completion/completions/wacrm
///
/// Example: wacrm completions zsh > "${fpath[1]}/_wacrm"
#[derive(Debug, Args)]
pub struct Completions {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

/// Print the man page, or write one page per command into a directory.
///
/// Example: wacrm man | man -l -
///
/// Example: wacrm man --out /usr/local/share/man/man1
#[derive(Debug, Args)]
pub struct Man {
    /// Write wacrm.1 and a page per subcommand (wacrm-inbox.1, ...) here instead of printing wacrm.1.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn completions(args: Completions) -> Result<()> {
    let mut command = crate::Cli::command();
    // Into a buffer first: clap_complete panics on a write error, and a closed pipe must stay quiet.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "wacrm", &mut script);
    std::io::stdout().lock().write_all(&script)?;
    Ok(())
}

pub fn man(args: Man) -> Result<()> {
    let command = crate::Cli::command();
    match args.out {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(command, &dir)
                .with_context(|| format!("writing man pages to {}", dir.display()))?;
            eprintln!("man pages written to {}", dir.display());
            Ok(())
        }
        None => Ok(clap_mangen::Man::new(command).render(&mut std::io::stdout().lock())?),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command a person can run shows at least one example in its `--help`.
    #[test]
    fn every_command_has_an_example() {
        fn leaves(command: &clap::Command, path: String, missing: &mut Vec<String>) {
            let path = format!("{path} {}", command.get_name()).trim_start().to_string();
            if command.has_subcommands() {
                for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
                    leaves(sub, path.clone(), missing);
                }
            } else if !command
                .get_long_about()
                .or(command.get_about())
                .is_some_and(|a| a.to_string().contains("Example:"))
            {
                missing.push(path);
            }
        }
        let mut missing = Vec::new();
        leaves(&crate::Cli::command(), String::new(), &mut missing);
        assert!(missing.is_empty(), "commands without an `Example:` in their help:\n{}", missing.join("\n"));
    }
}
