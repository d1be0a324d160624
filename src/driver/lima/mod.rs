//! Talking to Lima 2.2's `limactl`, as data: the commands machine runs and the outputs it reads.
//!
//! [`cmd`] builds every `limactl` (and `ssh -O`) invocation and knows where Lima keeps an
//! instance's files; [`list`] reads `limactl list --json`; [`log`] reads the logrus lines
//! `limactl` writes to stderr. Nothing here spawns a process or touches the file system: the
//! driver runs these [`Cmd`](crate::driver::exec::Cmd)s through the [`Runner`](crate::driver::exec::Runner) seam.

pub mod cmd;
pub mod list;
pub mod log;

pub use cmd::{
    ControlOp, LIST_FORMAT, MIN_VERSION, create, delete, instance_dir, lima_home, list_json, min_version_text,
    parse_version, shell, ssh_config_path, ssh_control, ssh_host, ssh_socket_path, start, stop, user_shell, validate,
    version,
};
pub use list::{Instance, ListError, Status, parse_list_json};
pub use log::{Level, LogLine, agent_link_race, fatal, is_ready, parse_line, problems};
