//! Lima operations for one machine run: list, create, start (watching provisioning), stop,
//! delete, and calls to the guest helper `machine-guest`, each through the [`Runner`].

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::driver::exec::{Cmd, Event, Flow, Output, Runner};
use crate::driver::lima::{self, ControlOp, Instance, Status};
use crate::error::{Error, Result};

/// The guest helper the core layer installs; the host only ever calls it with argv.
pub const GUEST_HELPER: &str = "machine-guest";

/// How often `start` asks the guest whether a provision step failed.
const STATUS_INTERVAL: Duration = Duration::from_secs(10);

/// How long a guest probe (agent check, status) may take before it counts as "no answer".
const GUEST_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Lima<'a> {
    pub runner: &'a dyn Runner,
    /// `$LIMA_HOME`, where instance folders and their ssh.config live.
    pub home: PathBuf,
    /// machine's state folder, holding each VM's scoped agent socket (see [`Self::agent_socket`]).
    agents: Option<PathBuf>,
}

/// What the guest says about this boot's provisioning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provisioning {
    Done,
    Running,
    /// One line per failed layer: `failed <layer>: <reason>`.
    Failed(Vec<String>),
    /// The guest could not be asked (not up yet, or no helper in a custom core).
    Unknown,
}

impl<'a> Lima<'a> {
    pub fn new(runner: &'a dyn Runner, home: PathBuf) -> Self {
        Self { runner, home, agents: None }
    }

    /// Opens every ssh master of machine's VMs with the VM's scoped agent socket.
    #[must_use]
    pub fn with_agents(mut self, state_dir: &Path) -> Self {
        self.agents = Some(state_dir.to_path_buf());
        self
    }

    /// The socket `limactl start`, `limactl shell` and the master reset of `name` run with as
    /// `SSH_AUTH_SOCK`: Lima's ssh master forwards the agent it was opened with, for every
    /// connection it serves. Always the VM's scoped socket, forwarding or not: with
    /// `forward_agent = false` nothing listens there and Lima forwards nothing, and a master
    /// never inherits the user's whole agent. Bake VMs (no forwarding) keep the caller's.
    pub fn agent_socket(&self, name: &str) -> Option<PathBuf> {
        let state = self.agents.as_ref().filter(|_| !name.starts_with(crate::driver::bake::INSTANCE_PREFIX))?;
        Some(crate::servers::scoped_agent::AgentDir::new(state, name).socket())
    }

    /// `cmd` (which may open `name`'s ssh master) with the VM's scoped agent socket.
    pub fn scoped(&self, name: &str, cmd: Cmd) -> Cmd {
        match self.agent_socket(name) {
            Some(socket) => cmd.env("SSH_AUTH_SOCK", socket),
            None => cmd,
        }
    }

    pub fn instances(&self) -> Result<Vec<Instance>> {
        let cmd = lima::list_json(&[]);
        let out = self.runner.output(&cmd)?;
        if !out.success() {
            return Err(failed(&cmd, &out));
        }
        lima::parse_list_json(&String::from_utf8_lossy(&out.stdout))
            .map_err(|e| Error::failure(format!("cannot read the output of `{cmd}`")).caused_by(e))
    }

    pub fn instance(&self, name: &str) -> Result<Option<Instance>> {
        Ok(self.instances()?.into_iter().find(|i| i.name == name))
    }

    pub fn create(&self, name: &str, template: &Path) -> Result<()> {
        self.checked(&lima::create(name, template))
    }

    pub fn stop(&self, name: &str, force: bool) -> Result<()> {
        self.checked(&lima::stop(name, force))
    }

    pub fn delete(&self, name: &str, force: bool) -> Result<()> {
        self.checked(&lima::delete(name, force))
    }

    /// Boots the instance, passing Lima's progress lines on, and stops waiting as soon as the
    /// guest reports a failed provision step (Lima itself would wait for the probe's timeout).
    pub fn start(&self, name: &str, progress: &mut dyn FnMut(&str)) -> Result<Provisioning> {
        let cmd = self.scoped(name, lima::start(name, None));
        let mut verdict = None;
        let mut last_check = Instant::now();
        let out = self.runner.stream(&cmd, &mut |event| match event {
            Event::Line(line) => {
                progress(&describe(line));
                Flow::Continue
            }
            // Each check is a guest command, which takes CPU from the boot it watches: often
            // enough to stop early on a failed layer, not more.
            Event::Tick if last_check.elapsed() >= STATUS_INTERVAL && self.has_master(name) => {
                last_check = Instant::now();
                match self.provisioning(name) {
                    Provisioning::Failed(lines) => {
                        verdict = Some(Provisioning::Failed(lines));
                        Flow::Stop
                    }
                    _ => Flow::Continue,
                }
            }
            Event::Tick => Flow::Continue,
        })?;
        if let Some(failed) = verdict {
            return Ok(failed);
        }
        if !out.success() {
            // A failed probe still leaves a running VM: ask it why before reporting Lima's error.
            if let Provisioning::Failed(lines) = self.provisioning(name) {
                return Ok(Provisioning::Failed(lines));
            }
            if lima::agent_link_race(&String::from_utf8_lossy(&out.stderr)) {
                return Err(agent_link_race(name, &cmd));
            }
            return Err(failed(&cmd, &out));
        }
        Ok(self.provisioning(name))
    }

    /// Asks the guest helper how this boot's provisioning went.
    pub fn provisioning(&self, name: &str) -> Provisioning {
        let Ok(out) = self.runner.output(&self.guest_cmd(name, &["status"]).timeout(GUEST_PROBE_TIMEOUT)) else {
            return Provisioning::Unknown;
        };
        let text = out.stdout_text();
        match out.code {
            Some(0) => Provisioning::Done,
            Some(3) => Provisioning::Running,
            Some(1) => {
                // `limactl shell` itself also exits 1 (e.g. a stopped VM): only the helper's lines count.
                let failed: Vec<String> = text.lines().filter(|l| l.starts_with("failed")).map(String::from).collect();
                if failed.is_empty() { Provisioning::Unknown } else { Provisioning::Failed(failed) }
            }
            _ => Provisioning::Unknown,
        }
    }

    /// The tail of the guest's provisioning log, or why it could not be read.
    pub fn provisioning_log(&self, name: &str, lines: u32) -> String {
        let cmd = self.guest_cmd(name, &["log", &lines.to_string()]).timeout(Duration::from_secs(20));
        match self.runner.output(&cmd) {
            Ok(out) if out.success() => out.stdout_text(),
            Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
            Err(e) => e.to_string(),
        }
    }

    /// `limactl shell NAME -- machine-guest ARGS…`
    pub fn guest_cmd(&self, name: &str, args: &[&str]) -> Cmd {
        let mut argv: Vec<&OsStr> = vec![OsStr::new(GUEST_HELPER)];
        argv.extend(args.iter().map(OsStr::new));
        self.shell_cmd(name, &argv)
    }

    /// `limactl shell NAME -- ARGV…`, with the VM's scoped agent.
    pub fn shell_cmd(&self, name: &str, argv: &[&OsStr]) -> Cmd {
        self.scoped(name, lima::shell(name, None, argv))
    }

    /// The interactive `limactl shell` of a session, with the VM's scoped agent.
    pub fn user_shell(&self, name: &str, workdir: Option<&str>, login_shell: &str, argv: &[&OsStr]) -> Cmd {
        self.scoped(name, lima::user_shell(name, workdir, login_shell, argv))
    }

    pub fn guest(&self, name: &str, args: &[&str]) -> Result<Output> {
        self.runner.output(&self.guest_cmd(name, args))
    }

    /// The guest user's home (`/home/<user>.guest` on Lima 2.1+), asked of the guest.
    pub fn guest_home(&self, name: &str) -> Option<String> {
        let out = self.guest(name, &["home"]).ok().filter(Output::success)?;
        Some(out.stdout_text()).filter(|h| h.starts_with('/'))
    }

    /// Fails, saying how to fix it, unless the VM exists and runs. `shown` is how the user names
    /// it (`blog@feature` for the Lima instance of a branch).
    pub fn require_running(&self, name: &str, shown: &str) -> Result<()> {
        match self.instance(name)? {
            Some(i) if i.is_running() => Ok(()),
            Some(i) => {
                Err(Error::failure(format!("VM `{shown}` is not running (it is {})", i.status.as_str().to_lowercase()))
                    .hint(format!("start it with `machine up {shown}`")))
            }
            None => Err(Error::failure(format!("there is no VM `{shown}`"))
                .hint(format!("create it with `machine up {shown}`"))),
        }
    }

    /// Whether Lima's ssh master for the instance is up (its control socket exists).
    pub fn has_master(&self, name: &str) -> bool {
        lima::ssh_socket_path(&self.home, name).exists()
    }

    /// Closes the instance's ssh master so the next connection opens a fresh one, inheriting
    /// the caller's agent and the guest user's current login shell.
    pub fn close_master(&self, name: &str) {
        let config = lima::ssh_config_path(&self.home, name);
        if config.is_file() && self.has_master(name) {
            let cmd = self.scoped(name, lima::ssh_control(&config, name, ControlOp::Exit)).timeout(GUEST_PROBE_TIMEOUT);
            if let Ok(out) = self.runner.output(&cmd) {
                tracing::debug!("ssh master exit: {}", String::from_utf8_lossy(&out.stderr).trim());
            }
        }
    }

    /// Rebuilds a master that forwards the wrong agent, so agent-dependent commands see the
    /// VM's scoped agent: one opened before the scoped agent ran (`fresh_agent`: it was started
    /// just now, so the master forwarded another agent or a dead socket), or one whose guest sees
    /// another number of keys than the scoped agent lists (the host's agent was locked or empty
    /// when it was opened, or the master was opened outside machine with the user's whole agent).
    pub fn heal_agent(&self, name: &str, fresh_agent: bool) {
        if !self.has_master(name) {
            return;
        }
        if fresh_agent {
            tracing::info!("the scoped agent was not running: reopening the ssh master");
            self.close_master(name);
            return;
        }
        let host = self.runner.output(&self.scoped(name, Cmd::new("ssh-add").arg("-l")).timeout(GUEST_PROBE_TIMEOUT));
        let Some(keys) = host.ok().filter(Output::success).map(|o| o.stdout_text().lines().count()) else {
            return; // the host has nothing to offer; a new master would not help
        };
        let guest = self.runner.output(&self.guest_cmd(name, &["agent"]).timeout(GUEST_PROBE_TIMEOUT));
        let seen = guest.ok().map(|o| o.stdout_text()).unwrap_or_default();
        if seen != format!("keys {keys}") {
            tracing::info!("the guest sees `{seen}`, the scoped agent lists {keys} key(s): reopening the ssh master");
            self.close_master(name);
        }
    }

    fn checked(&self, cmd: &Cmd) -> Result<()> {
        let out = self.runner.output(cmd)?;
        if out.success() { Ok(()) } else { Err(failed(cmd, &out)) }
    }
}

impl Instance {
    pub fn is_running(&self) -> bool {
        self.status == Status::Running
    }
}

impl Provisioning {
    /// `Ok` when provisioning is done (or cannot be asked, with a custom core); otherwise the
    /// error naming the failed layers with the tail of the guest's log, and how to retry.
    /// `subject` names the VM in the message (e.g. "VM `blog`"); `owners` is the layer of each
    /// provision entry (`Stack::provision_owners`), to name the layer of a failed script.
    pub fn into_result(self, lima: &Lima<'_>, name: &str, subject: &str, retry: &str, owners: &[String]) -> Result<()> {
        match self {
            Self::Done | Self::Unknown => Ok(()),
            Self::Failed(lines) => {
                let log = lima.provisioning_log(name, 40);
                Err(Error::failure(format!("provisioning failed in {subject}"))
                    .caused_by(describe_failures(&lines, owners).join("\n"))
                    .caused_by(format!("the guest's provisioning log ends with:\n{log}"))
                    .hint(format!("{retry}: provisioning skips the layers that already succeeded")))
            }
            Self::Running => Err(Error::failure(format!("{subject} is up, but its provisioning has not finished"))
                .hint(format!("follow it with `limactl shell {name} machine-guest log`, then {retry}"))),
        }
    }
}

/// The guest's `failed…` lines for people: a failed script Lima names by its place in the
/// provision list becomes the layer that added it (unless that layer said why itself).
pub fn describe_failures(lines: &[String], owners: &[String]) -> Vec<String> {
    let layer_lines: Vec<&str> = lines.iter().filter_map(|l| l.strip_prefix("failed ")).collect();
    let reported = |layer: &str| layer_lines.iter().any(|l| l.split_once(':').is_some_and(|(name, _)| name == layer));
    let mut out = Vec::new();
    for line in lines {
        if let Some(path) = line.strip_prefix("failed-script ") {
            match script_owner(path, owners) {
                Some((layer, _)) if reported(layer) => {}
                Some((layer, mode)) => {
                    out.push(format!("failed {layer}: its {mode} script exited non-zero (Lima's {path})"));
                }
                None => out.push(format!("failed script {path}")),
            }
        } else if let Some(code) = line.strip_prefix("failed-boot ") {
            out.push(format!("Lima's boot script exited with code {code} without naming a failed script"));
        } else {
            out.push(line.clone());
        }
    }
    out
}

/// `/mnt/lima-cidata/provision.<mode>/<index>` → the owning layer and the mode.
fn script_owner<'o>(path: &str, owners: &'o [String]) -> Option<(&'o str, String)> {
    let rest = path.strip_prefix("/mnt/lima-cidata/provision.")?;
    let (mode, index) = rest.split_once('/')?;
    let owner = owners.get(index.parse::<usize>().ok()?)?;
    Some((owner.as_str(), mode.to_string()))
}

/// The error for a limactl command that failed: its fatal message, else its last lines.
pub fn failed(cmd: &Cmd, out: &Output) -> Error {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let reason = lima::fatal(&stderr).unwrap_or_else(|| {
        let lines: Vec<&str> = stderr.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    });
    let status = out.code.map_or_else(|| "was stopped".to_string(), |c| format!("exited with {c}"));
    Error::failure(format!("`{cmd}` {status}")).caused_by(if reason.is_empty() { "(no output)".into() } else { reason })
}

/// Lima could not link the forwarded agent: the VM runs, but git over ssh and signing would not.
fn agent_link_race(name: &str, cmd: &Cmd) -> Error {
    Error::failure(format!("Lima could not link the forwarded SSH agent into VM `{name}`"))
        .caused_by(format!(
            "`{cmd}` ended degraded: ln: failed to create symbolic link '/run/host-services/ssh-auth.sock': No such file or directory"
        ))
        .caused_by("/run/host-services did not exist yet when Lima linked the socket (a boot-order race in Lima 2.2.0)")
        .hint(format!(
            "the VM is running: `machine down {name} && machine up {name}` boots it again; a custom `core` profile must keep the built-in core's `mode: boot` step that creates the folder"
        ))
}

/// A progress line for humans: the message of a Lima log line, else the line itself.
fn describe(line: &str) -> String {
    lima::parse_line(line).map_or_else(|| line.to_string(), |l| l.msg)
}

#[cfg(test)]
mod tests {
    use super::describe_failures;

    #[test]
    fn failed_scripts_are_named_by_the_layer_that_added_them() {
        let owners: Vec<String> = ["core", "core", "docker", "mine"].map(String::from).to_vec();
        let lines: Vec<String> = [
            "failed docker: docker (system): command 'apt-get install' exited with status 100",
            "failed-script /mnt/lima-cidata/provision.system/00000002",
            "failed-script /mnt/lima-cidata/provision.user/00000003",
            "failed-script /mnt/lima-cidata/provision.system/00000009",
            "failed-script /mnt/lima-cidata/boot.Linux/30-install-packages.sh",
            "failed-boot 1",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            describe_failures(&lines, &owners),
            [
                "failed docker: docker (system): command 'apt-get install' exited with status 100",
                "failed mine: its user script exited non-zero (Lima's /mnt/lima-cidata/provision.user/00000003)",
                "failed script /mnt/lima-cidata/provision.system/00000009",
                "failed script /mnt/lima-cidata/boot.Linux/30-install-packages.sh",
                "Lima's boot script exited with code 1 without naming a failed script",
            ]
        );
    }
}
