//! How the wizard asks its questions: the [`Prompter`] trait and its three implementations.
//!
//! [`Terminal`] asks on the terminal with dialoguer; [`Closed`] is for when there is no terminal
//! (it can print, but any question is the "stdin closed" error); [`Scripted`] answers from a
//! list and records a transcript, so tests drive the whole flow without a terminal.

use std::collections::VecDeque;

use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, Input, MultiSelect, Select};

use crate::error::{Error, Result};
use crate::ui::Ui;

/// What makes an answer acceptable: `Err` says why not.
pub type Check<'a> = &'a dyn Fn(&str) -> std::result::Result<(), String>;

/// One entry of a multi-select: a name, what it is, and whether it starts checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub name: String,
    pub description: String,
    pub checked: bool,
}

impl Choice {
    /// The name, padded to `width`, then the description.
    fn label(&self, width: usize) -> String {
        format!("{:width$}  {}", self.name, self.description).trim_end().to_string()
    }
}

/// Asks questions and says things. Every question fails with [`stdin_closed`] when no answer
/// can come.
pub trait Prompter {
    /// A message between questions (a problem with the last answer, the current values).
    fn say(&mut self, text: &str);

    /// A line of text, trimmed; a blank answer gives `default`, or "" when there is none.
    fn input(&mut self, prompt: &str, default: Option<&str>) -> Result<String>;

    /// As [`Self::input`], asked again until `check` accepts the answer (its error is shown).
    fn input_checked(&mut self, prompt: &str, default: Option<&str>, check: Check<'_>) -> Result<String> {
        loop {
            let answer = self.input(prompt, default)?;
            match check(&answer) {
                Ok(()) => return Ok(answer),
                Err(why) => self.say(&why),
            }
        }
    }

    fn confirm(&mut self, prompt: &str, default: bool) -> Result<bool>;

    /// One of `items`, by index.
    fn select(&mut self, prompt: &str, items: &[&str], default: usize) -> Result<usize>;

    /// The indices of the choices left checked, in list order.
    fn multi_select(&mut self, prompt: &str, choices: &[Choice]) -> Result<Vec<usize>>;
}

/// The error for a question nobody can answer.
pub fn stdin_closed() -> Error {
    Error::usage("stdin closed: `machine create` needs a terminal; use `machine create NAME --repo URL … --yes`")
}

/// Asks on the terminal (prompts go to stderr, like every other message).
pub struct Terminal<'a> {
    ui: &'a mut Ui,
    theme: ColorfulTheme,
}

impl<'a> Terminal<'a> {
    pub fn new(ui: &'a mut Ui) -> Self {
        Self { ui, theme: ColorfulTheme::default() }
    }
}

fn read_error(err: dialoguer::Error) -> Error {
    let io = std::io::Error::from(err);
    // The prompt left the cursor on its own line: what comes next starts on a new one.
    let _ = console::Term::stderr().write_line("");
    match io.kind() {
        std::io::ErrorKind::UnexpectedEof => stdin_closed(),
        std::io::ErrorKind::Interrupted => cancelled(),
        _ => Error::failure("cannot read the answer from the terminal").caused_by(io),
    }
}

fn cancelled() -> Error {
    Error::interrupted("cancelled: nothing was written")
}

/// While a question is on screen the terminal is the prompt's (raw, cursor hidden), and
/// `console` turns Ctrl-C into a SIGINT of our own. That signal must then not kill machine before
/// the terminal is given back; at any other time it does what it always did.
struct Asking;

fn sigint_default() -> Option<&'static std::sync::Arc<std::sync::atomic::AtomicBool>> {
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, OnceLock};
    static DEFAULT: OnceLock<Option<Arc<AtomicBool>>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| {
            let on = Arc::new(AtomicBool::new(true));
            let id = signal_hook::flag::register_conditional_default(signal_hook::consts::SIGINT, Arc::clone(&on));
            id.ok().map(|_| on)
        })
        .as_ref()
}

impl Asking {
    fn start() -> Self {
        if let Some(on) = sigint_default() {
            on.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        Self
    }
}

impl Drop for Asking {
    fn drop(&mut self) {
        // Select and check lists hide the cursor; whatever ended the question, it comes back.
        let _ = console::Term::stderr().show_cursor();
        if let Some(on) = sigint_default() {
            on.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

impl Prompter for Terminal<'_> {
    fn say(&mut self, text: &str) {
        self.ui.note(text);
    }

    fn input(&mut self, prompt: &str, default: Option<&str>) -> Result<String> {
        self.input_checked(prompt, default, &|_| Ok(()))
    }

    /// dialoguer checks the answer before it accepts it, so a rejected one is never ticked.
    fn input_checked(&mut self, prompt: &str, default: Option<&str>, check: Check<'_>) -> Result<String> {
        let _asking = Asking::start();
        let mut question = Input::<String>::with_theme(&self.theme)
            .with_prompt(prompt)
            .allow_empty(true)
            .validate_with(|answer: &String| check(answer.trim()));
        if let Some(default) = default {
            question = question.default(default.to_string());
        }
        question.interact_text().map(|s| s.trim().to_string()).map_err(read_error)
    }

    fn confirm(&mut self, prompt: &str, default: bool) -> Result<bool> {
        let _asking = Asking::start();
        let answer = Confirm::with_theme(&self.theme).with_prompt(prompt).default(default).interact_opt();
        answer.map_err(read_error)?.ok_or_else(cancelled)
    }

    fn select(&mut self, prompt: &str, items: &[&str], default: usize) -> Result<usize> {
        let _asking = Asking::start();
        let answer = Select::with_theme(&self.theme).with_prompt(prompt).items(items).default(default).interact_opt();
        answer.map_err(read_error)?.ok_or_else(cancelled)
    }

    fn multi_select(&mut self, prompt: &str, choices: &[Choice]) -> Result<Vec<usize>> {
        let width = choices.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let labels: Vec<String> = choices.iter().map(|c| c.label(width)).collect();
        let checked: Vec<bool> = choices.iter().map(|c| c.checked).collect();
        let asking = Asking::start();
        let picked = MultiSelect::with_theme(&self.theme)
            .with_prompt(format!("{prompt} (space toggles, enter accepts, esc cancels)"))
            .items(&labels)
            .defaults(&checked)
            .report(false)
            .interact_opt()
            .map_err(read_error)?
            .ok_or_else(cancelled)?;
        drop(asking);
        // The default report repeats every label with its description: name the picks only.
        let names: Vec<&str> = picked.iter().filter_map(|&i| choices.get(i)).map(|c| c.name.as_str()).collect();
        let names = if names.is_empty() { "none".to_string() } else { names.join(", ") };
        self.ui.note(&format!("{prompt}: {names}"));
        Ok(picked)
    }
}

/// For when stdin is not a terminal: messages are printed, questions cannot be asked.
pub struct Closed<'a> {
    ui: &'a mut Ui,
}

impl<'a> Closed<'a> {
    pub fn new(ui: &'a mut Ui) -> Self {
        Self { ui }
    }
}

impl Prompter for Closed<'_> {
    fn say(&mut self, text: &str) {
        self.ui.note(text);
    }

    fn input(&mut self, _: &str, _: Option<&str>) -> Result<String> {
        Err(stdin_closed())
    }

    fn confirm(&mut self, _: &str, _: bool) -> Result<bool> {
        Err(stdin_closed())
    }

    fn select(&mut self, _: &str, _: &[&str], _: usize) -> Result<usize> {
        Err(stdin_closed())
    }

    fn multi_select(&mut self, _: &str, _: &[Choice]) -> Result<Vec<usize>> {
        Err(stdin_closed())
    }
}

/// Answers questions from a list, in order, as a user would type them: "" takes the default,
/// `y`/`n` confirm, an item's text selects it, and a multi-select takes comma-separated names
/// or `none`. Running out of answers is a closed stdin. Everything asked and said is recorded.
#[derive(Debug, Default)]
pub struct Scripted {
    answers: VecDeque<String>,
    transcript: String,
}

impl Scripted {
    pub fn new<I, S>(answers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self { answers: answers.into_iter().map(Into::into).collect(), transcript: String::new() }
    }

    /// Every question (`? prompt [default] > answer`) and message, in order.
    pub fn transcript(&self) -> &str {
        &self.transcript
    }

    /// Answers not used yet.
    pub fn remaining(&self) -> usize {
        self.answers.len()
    }

    fn next(&mut self, question: &str) -> Result<String> {
        let Some(answer) = self.answers.pop_front() else {
            self.transcript.push_str(&format!("? {question} > <EOF>\n"));
            return Err(stdin_closed());
        };
        self.transcript.push_str(&format!("? {question} > {answer}\n"));
        Ok(answer.trim().to_string())
    }
}

fn unscripted(answer: &str, question: &str) -> Error {
    Error::usage(format!("the scripted answer `{answer}` does not fit the question `{question}`"))
}

impl Prompter for Scripted {
    fn say(&mut self, text: &str) {
        for line in text.lines() {
            self.transcript.push_str(&format!("  {line}\n"));
        }
    }

    fn input(&mut self, prompt: &str, default: Option<&str>) -> Result<String> {
        let question = default.map_or_else(|| prompt.to_string(), |d| format!("{prompt} [{d}]"));
        let answer = self.next(&question)?;
        Ok(if answer.is_empty() { default.unwrap_or_default().to_string() } else { answer })
    }

    fn confirm(&mut self, prompt: &str, default: bool) -> Result<bool> {
        let question = format!("{prompt} [{}]", if default { "Y/n" } else { "y/N" });
        let answer = self.next(&question)?;
        match answer.to_ascii_lowercase().as_str() {
            "" => Ok(default),
            "y" | "yes" => Ok(true),
            "n" | "no" => Ok(false),
            _ => Err(unscripted(&answer, prompt)),
        }
    }

    fn select(&mut self, prompt: &str, items: &[&str], default: usize) -> Result<usize> {
        let shown: Vec<String> = items
            .iter()
            .enumerate()
            .map(|(i, s)| if i == default { format!("{s}*") } else { (*s).to_string() })
            .collect();
        let answer = self.next(&format!("{prompt} [{}]", shown.join("/")))?;
        if answer.is_empty() {
            return Ok(default);
        }
        items.iter().position(|i| *i == answer).ok_or_else(|| unscripted(&answer, prompt))
    }

    fn multi_select(&mut self, prompt: &str, choices: &[Choice]) -> Result<Vec<usize>> {
        let shown: Vec<String> =
            choices.iter().map(|c| format!("{}{}", if c.checked { "[x] " } else { "[ ] " }, c.name)).collect();
        let answer = self.next(&format!("{prompt} {{{}}}", shown.join(", ")))?;
        if answer.is_empty() {
            return Ok(choices.iter().enumerate().filter(|(_, c)| c.checked).map(|(i, _)| i).collect());
        }
        if answer.eq_ignore_ascii_case("none") {
            return Ok(Vec::new());
        }
        let mut picked = Vec::new();
        for word in answer.split([',', ' ']).filter(|w| !w.is_empty()) {
            let i = choices.iter().position(|c| c.name == word).ok_or_else(|| unscripted(word, prompt))?;
            picked.push(i);
        }
        picked.sort_unstable();
        picked.dedup();
        Ok(picked)
    }
}
