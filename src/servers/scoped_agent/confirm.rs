//! `confirm_signatures = true`: a question on the host's desktop before each signature. The
//! scoped agent runs detached from any terminal, so it asks with a dialog: `osascript` on macOS,
//! `zenity` or else `kdialog` on Linux. No dialog program, no display, an answer other than
//! Allow, or no answer within [`TIMEOUT`]: the signature is denied.

use std::ffi::OsString;
use std::time::Duration;

use crate::driver::exec::{Cmd, Runner};

/// How long a question waits for its answer.
pub const TIMEOUT: Duration = Duration::from_mins(1);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    Allowed,
    /// Why not, for the log.
    Denied(String),
}

/// The dialog asking `question`, or why none can be shown. `env` is the agent's environment
/// (`PATH`, `DISPLAY`, `WAYLAND_DISPLAY`).
pub fn dialog(question: &str, macos: bool, env: &dyn Fn(&str) -> Option<OsString>) -> Result<Cmd, String> {
    let found = |program: &str| crate::commands::doctor::find_on_path(program, env);
    let secs = TIMEOUT.as_secs().to_string();
    if macos {
        let osascript = found("osascript").ok_or("no osascript to ask with")?;
        // The question travels as an argument, never inside the script's text.
        let script = format!(
            "on run argv\ndisplay dialog (item 1 of argv) with title \"machine\" buttons {{\"Deny\", \"Allow\"}} default button \"Deny\" cancel button \"Deny\" giving up after {secs} with icon caution\nend run"
        );
        return Ok(Cmd::new(osascript).arg("-e").arg(script).arg(question).timeout(TIMEOUT + Duration::from_secs(5)));
    }
    let display = ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| env(v).is_some_and(|d| !d.is_empty()));
    if !display {
        return Err("no desktop display (DISPLAY or WAYLAND_DISPLAY) to ask on".into());
    }
    // Deny has the focus in every dialog: a guest can time a request to a key press of yours.
    if let Some(zenity) = found("zenity") {
        return Ok(Cmd::new(zenity)
            .args(["--question", "--title=machine", "--no-markup", "--ok-label=Allow", "--cancel-label=Deny"])
            .arg("--default-cancel")
            .arg(format!("--timeout={secs}"))
            .arg(format!("--text={question}"))
            .timeout(TIMEOUT + Duration::from_secs(5)));
    }
    if let Some(kdialog) = found("kdialog") {
        // kdialog's yes/no boxes cannot move the focus off Yes: a choice with Deny chosen can,
        // and its answer is the chosen tag on stdout.
        return Ok(Cmd::new(kdialog)
            .args(["--title", "machine", "--radiolist"])
            .arg(question)
            .args(["deny", "Deny", "on", "allow", "Allow", "off"])
            .timeout(TIMEOUT));
    }
    Err("neither zenity nor kdialog is installed to ask with".into())
}

/// Asks, and reads the answer: only an explicit Allow allows.
pub fn ask(runner: &dyn Runner, dialog: Result<Cmd, String>) -> Confirmed {
    let cmd = match dialog {
        Ok(cmd) => cmd,
        Err(why) => return Confirmed::Denied(why),
    };
    let is_osascript = cmd.program.to_string_lossy().ends_with("osascript");
    let is_kdialog = cmd.program.to_string_lossy().ends_with("kdialog");
    match runner.output(&cmd) {
        Err(e) => Confirmed::Denied(format!("the dialog did not run: {}", e.message())),
        Ok(out) if out.code.is_none() => Confirmed::Denied("no answer in time".into()),
        Ok(out) if is_osascript => {
            let said = out.stdout_text();
            if out.success() && said.contains("button returned:Allow") && !said.contains("gave up:true") {
                Confirmed::Allowed
            } else if said.contains("gave up:true") {
                Confirmed::Denied("no answer in time".into())
            } else {
                Confirmed::Denied("the user said no".into())
            }
        }
        Ok(out) if is_kdialog => {
            if out.success() && out.stdout_text() == "allow" {
                Confirmed::Allowed
            } else {
                Confirmed::Denied("the user said no".into())
            }
        }
        Ok(out) if out.success() => Confirmed::Allowed,
        // zenity's --timeout ends with 5.
        Ok(out) if out.code == Some(5) => Confirmed::Denied("no answer in time".into()),
        Ok(_) => Confirmed::Denied("the user said no".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::exec::{Event, Flow, Output};
    use crate::error::Error;
    use std::path::Path;

    /// Answers every command with one output and records it.
    struct Answer(Option<i32>, &'static str, std::sync::Mutex<Vec<Cmd>>);

    impl Runner for Answer {
        fn output(&self, cmd: &Cmd) -> Result<Output, Error> {
            self.2.lock().unwrap().push(cmd.clone());
            Ok(Output::new(self.0, self.1.as_bytes(), Vec::new()))
        }
        fn interactive(&self, _: &Cmd) -> Result<i32, Error> {
            unreachable!()
        }
        fn stream(&self, _: &Cmd, _: &mut dyn FnMut(Event<'_>) -> Flow) -> Result<Output, Error> {
            unreachable!()
        }
        fn spawn_detached(&self, _: &Cmd, _: &Path) -> Result<crate::driver::exec::Detached, Error> {
            unreachable!()
        }
    }

    fn host_with(dir: &Path, programs: &[&str], display: bool) -> impl Fn(&str) -> Option<OsString> {
        use std::os::unix::fs::PermissionsExt as _;
        for p in programs {
            let path = dir.join(p);
            std::fs::write(&path, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = dir.as_os_str().to_owned();
        move |k: &str| match k {
            "PATH" => Some(path.clone()),
            "DISPLAY" if display => Some(":0".into()),
            _ => None,
        }
    }

    #[test]
    fn the_question_is_an_argument_never_script_or_markup() {
        let dir = tempfile::tempdir().unwrap();
        let env = host_with(dir.path(), &["osascript", "zenity", "kdialog"], true);
        let question = "sign \"x\" & <b>y</b>";
        let mac = dialog(question, true, &env).unwrap();
        assert_eq!(mac.args.last().unwrap(), question);
        assert!(!mac.args[1].to_string_lossy().contains("<b>"), "the script never holds the question");
        let linux = dialog(question, false, &env).unwrap();
        assert!(linux.program.to_string_lossy().ends_with("zenity"));
        assert!(linux.args.iter().any(|a| a == "--no-markup"));
        assert!(linux.args.iter().any(|a| a == "--default-cancel"), "Deny has the focus");
        assert_eq!(linux.args.last().unwrap().to_string_lossy(), format!("--text={question}"));
    }

    #[test]
    fn without_a_dialog_or_a_display_it_is_denied() {
        let dir = tempfile::tempdir().unwrap();
        assert!(dialog("q", false, &host_with(dir.path(), &["zenity"], false)).is_err(), "no display");
        let dir = tempfile::tempdir().unwrap();
        assert!(dialog("q", false, &host_with(dir.path(), &[], true)).is_err(), "no program");
        let runner = Answer(Some(0), "", std::sync::Mutex::default());
        assert!(matches!(ask(&runner, Err("none".into())), Confirmed::Denied(why) if why == "none"));
        assert!(runner.2.lock().unwrap().is_empty(), "nothing runs");
        let dir = tempfile::tempdir().unwrap();
        let kdialog = dialog("q", false, &host_with(dir.path(), &["kdialog"], true)).unwrap();
        assert!(kdialog.program.to_string_lossy().ends_with("kdialog"), "kdialog when there is no zenity");
        let words: Vec<String> = kdialog.args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(words.ends_with(&["deny", "Deny", "on", "allow", "Allow", "off"].map(String::from)), "Deny is chosen");
    }

    #[test]
    fn only_an_explicit_allow_allows() {
        let zenity = Cmd::new("/usr/bin/zenity");
        let osascript = Cmd::new("/usr/bin/osascript");
        let kdialog = Cmd::new("/usr/bin/kdialog");
        let cases: [(&Cmd, Option<i32>, &str, bool); 11] = [
            (&kdialog, Some(0), "allow\n", true),
            (&kdialog, Some(0), "deny\n", false),
            (&kdialog, Some(0), "", false),
            (&kdialog, Some(1), "allow\n", false),
            (&zenity, Some(0), "", true),
            (&zenity, Some(1), "", false),
            (&zenity, Some(5), "", false),
            (&zenity, None, "", false),
            (&osascript, Some(0), "button returned:Allow, gave up:false", true),
            (&osascript, Some(0), "button returned:, gave up:true", false),
            (&osascript, Some(1), "execution error: User canceled. (-128)", false),
        ];
        for (cmd, code, stdout, allowed) in cases {
            let runner = Answer(code, stdout, std::sync::Mutex::default());
            let got = ask(&runner, Ok(cmd.clone()));
            assert_eq!(got == Confirmed::Allowed, allowed, "{cmd} {code:?} {stdout:?}: {got:?}");
        }
    }
}
