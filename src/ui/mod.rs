//! All printing and prompting: data to stdout, status and warnings to stderr, and progress for long steps.
//! Text for people has its control characters escaped ([`crate::ui::escape`]): it may quote the
//! guest, a repository's files or a config value. Data keeps them unless stdout is a terminal.
//!
//! On a terminal a long step is a spinner with its name, the latest progress line and the
//! elapsed time; otherwise it is one plain line when it starts and one when it ends, so logs and
//! CI output stay readable. `wizard` holds the `create` wizard and its prompts.

pub mod escape;
pub mod wizard;

use std::io::{IsTerminal as _, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

pub struct Ui {
    stdout: Box<dyn Write>,
    stderr: Box<dyn Write>,
    spinners: bool,
    verbose: bool,
    /// Escape control characters in data too (stdout is a terminal).
    escape_data: bool,
    /// Told each step's start, progress lines and closing line (the MCP server turns them into
    /// progress notifications).
    observer: Option<Observer>,
}

/// Receives a long step's lines, control characters escaped.
type Observer = Rc<dyn Fn(&str)>;

impl Ui {
    pub fn new(stdout: Box<dyn Write>, stderr: Box<dyn Write>) -> Self {
        Self { stdout, stderr, spinners: false, verbose: false, escape_data: false, observer: None }
    }

    /// Also tells `observer` every step's start, progress lines and closing line.
    #[must_use]
    pub fn observed(mut self, observer: impl Fn(&str) + 'static) -> Self {
        self.observer = Some(Rc::new(observer));
        self
    }

    /// Real stdio; spinners only when stderr is a terminal.
    pub fn stdio(verbose: bool) -> Self {
        let spinners = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self {
            stdout: Box::new(std::io::stdout()),
            stderr: Box::new(std::io::stderr()),
            spinners,
            verbose,
            escape_data: std::io::stdout().is_terminal(),
            observer: None,
        }
    }

    /// The command's product. A closed pipe (`machine render | head`) is not an error.
    pub fn data(&mut self, text: &str) {
        let text = if self.escape_data { escape::controls(text) } else { text.into() };
        let _ = writeln!(self.stdout, "{text}");
    }

    pub fn note(&mut self, text: &str) {
        let _ = writeln!(self.stderr, "{}", escape::controls(text));
    }

    pub fn warn(&mut self, text: &str) {
        let text = text.strip_prefix("error: ").unwrap_or(text);
        let _ = writeln!(self.stderr, "warning: {}", escape::controls(text));
    }

    /// Starts a long step; finish it with [`Step::done`] or [`Step::failed`].
    pub fn step(&mut self, name: &str) -> Step {
        let shown = escape::controls(name).into_owned();
        if let Some(observer) = &self.observer {
            observer(&shown);
        }
        let bar = if self.spinners {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} {msg:.dim} ({elapsed})").expect("a valid template"),
            );
            bar.set_prefix(escape::controls(name).into_owned());
            bar.enable_steady_tick(Duration::from_millis(100));
            Some(bar)
        } else {
            let _ = writeln!(self.stderr, "==> {}", escape::controls(name));
            None
        };
        Step { name: shown, started: Instant::now(), bar, verbose: self.verbose, observer: self.observer.clone() }
    }

    /// Finishes a step with a closing line.
    pub fn end_step(&mut self, step: Step, ok: bool) {
        let mark = if ok { "✓" } else { "✗" };
        let line = format!("{mark} {} ({})", step.name, seconds(step.started.elapsed()));
        if let Some(observer) = &step.observer {
            observer(&line);
        }
        match step.bar {
            Some(bar) => {
                bar.finish_and_clear();
                let _ = writeln!(self.stderr, "{line}");
            }
            None if !ok || step.started.elapsed() >= Duration::from_secs(1) => {
                let _ = writeln!(self.stderr, "{line}");
            }
            None => {}
        }
    }
}

/// A long step in progress.
pub struct Step {
    name: String,
    started: Instant,
    bar: Option<ProgressBar>,
    verbose: bool,
    observer: Option<Observer>,
}

impl Step {
    /// Shows a progress line: in the spinner on a terminal, on its own line with `-v` otherwise.
    pub fn progress(&self, line: &str) {
        let line = escape::controls(line);
        if let Some(observer) = &self.observer {
            observer(&line);
        }
        match &self.bar {
            Some(bar) => bar.set_message(truncate(&line, 70)),
            None if self.verbose => eprintln!("    {line}"),
            None => {}
        }
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn truncate(line: &str, max: usize) -> String {
    if line.chars().count() <= max { line.to_string() } else { line.chars().take(max - 1).chain(['…']).collect() }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    #[test]
    fn an_observer_sees_each_step_start_progress_and_end() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let mut ui = Ui::new(Box::new(std::io::sink()), Box::new(std::io::sink())).observed({
            let seen = Rc::clone(&seen);
            move |line| seen.borrow_mut().push(line.to_string())
        });
        let step = ui.step("starting `blog`");
        step.progress("Waiting for \u{1b}[31mssh");
        ui.end_step(step, true);
        let seen = seen.borrow();
        assert_eq!(seen[..2], ["starting `blog`", "Waiting for \\u{1b}[31mssh"], "escaped, as printed");
        assert!(seen[2].starts_with("✓ starting `blog` ("), "{seen:?}");
    }
}
