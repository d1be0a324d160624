//! machine: one disposable, agent-ready Lima VM per software project.
//!
//! `compiler` is the pure core (TOML → validated model → layers → stack of Lima templates), `driver`
//! runs limactl and keeps machine's state, `commands` holds one file per subcommand, `servers`
//! the credential proxy, the scoped SSH agent and the MCP server, `guest` what runs inside the VM,
//! `ui` all printing and prompting. See ARCHITECTURE.md.

pub mod cli;
pub mod commands;
pub mod compiler;
pub mod driver;
pub mod error;
pub mod guest;
pub mod servers;
pub mod ui;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

/// Runs machine with these arguments and returns the process exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            if let Some(hint) = run_without_dashes(&e, &args) {
                eprintln!("\nhint: {}", ui::escape::controls(&hint));
            }
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    init_logging(cli.verbose);
    let mut ui = ui::Ui::stdio(cli.verbose > 0);
    let env = |k: &str| std::env::var_os(k);
    let result = (|| {
        let cwd = std::env::current_dir()
            .map_err(|e| error::Error::failure("cannot read the current directory").caused_by(e))?;
        let paths = compiler::paths::Paths::from_env(env)?.absolute(&cwd);
        let runner = system_runner(&env);
        let mut ctx = commands::Ctx { paths, cwd, env: &env, runner: &runner, ui: &mut ui, proxy: None };
        commands::dispatch(&cli.command, &mut ctx)
    })();
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            ui.note(&e.to_string());
            ExitCode::from(e.exit_code())
        }
    }
}

/// The runner of real programs, giving them the 1Password SSH agent when that is the one to use.
pub fn system_runner(env: &dyn Fn(&str) -> Option<OsString>) -> driver::exec::SystemRunner {
    let mut runner = driver::exec::SystemRunner::default();
    if let Some(sock) = driver::ssh_agent::select(env) {
        tracing::info!("using the 1Password SSH agent at {}", sock.display());
        runner.env.push(("SSH_AUTH_SOCK".into(), sock.into_os_string()));
    }
    runner
}

/// `machine run blog ls` (no `--`): the command line with the `--` it needs.
fn run_without_dashes(e: &clap::Error, args: &[OsString]) -> Option<String> {
    if e.kind() != clap::error::ErrorKind::UnknownArgument {
        return None;
    }
    let words: Vec<String> = args.iter().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let at = words.iter().position(|w| w == "run")?;
    // Options before the project (`-v`), the project, then the command with its own options.
    let mut rest = words[at + 1..].iter().skip_while(|w| w.starts_with('-'));
    let project = rest.next()?;
    let command: Vec<&str> = rest.map(String::as_str).collect();
    if command.is_empty() || command.contains(&"--") {
        return None;
    }
    Some(format!("put the command after `--`: `machine run {project} -- {}`", command.join(" ")))
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        // Log lines quote commands and their output, which can come from the guest; escaping
        // would show colour codes as text, so there are none.
        .with_writer(|| ui::escape::Escaping(std::io::stderr()))
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_level(false)
        .try_init();
}
