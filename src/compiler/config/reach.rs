//! What of the host a project's `lima` table lets its VM reach. A VM machine builds reaches no
//! host folder, socket, file or port but the forwarded agent; these Lima keys change that.
//! Pure: it reads the table and names each key with what it opens up, one line per key, for
//! the warnings `render` and `up` print (and the trust rules, which refuse them in a file that
//! came with a repository).

use std::collections::BTreeMap;
use std::path::Path;

use crate::compiler::yaml::Value;

/// One line per host-reaching key the table sets: `` `lima.<key>`: <what the VM can reach> ``.
/// `config_dir` is where the user's own files live: a `file:` locator inside it is theirs.
pub fn host_reach(lima: &BTreeMap<String, Value>, config_dir: Option<&Path>) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in lima {
        if let Some(what) = reach_of(key, value, config_dir) {
            out.push(format!("`lima.{key}`: {what}"));
        }
    }
    out
}

fn reach_of(key: &str, value: &Value, config_dir: Option<&Path>) -> Option<String> {
    match key {
        "mounts" => non_empty(value).then(|| {
            let writable = items(value).any(|m| get(m, "writable").and_then(Value::as_bool) == Some(true));
            let what = if writable { "read and change" } else { "read" };
            format!("the VM can {what} these host folders: {}", list(value, "location"))
        }),
        "copyToHost" => {
            non_empty(value).then(|| format!("the VM's files are copied onto the host at {}", list(value, "host")))
        }
        "portForwards" => port_forwards(value),
        "caCerts" => get(value, "files")
            .filter(|f| non_empty(f))
            .map(|files| format!("these host files are read into the VM as CA certificates: {}", strings(files))),
        "additionalDisks" => non_empty(value).then(|| "host disks are attached to the VM".to_string()),
        "networks" => non_empty(value).then(|| "the VM joins host networks beyond user-mode NAT".to_string()),
        "user" => non_empty(value).then(|| "sets the guest user (its name, uid or home)".to_string()),
        "provision" | "probes" => host_files(value, config_dir),
        "ssh" => ssh(value),
        "containerd" => get(value, "archives")
            .filter(|a| items(a).any(|x| get(x, "location").and_then(Value::as_str).is_some_and(is_local_path)))
            .map(|_| "host files are read into the VM as containerd archives".to_string()),
        "firmware" => get(value, "images")
            .filter(|i| non_empty(i))
            .map(|_| "the VM boots firmware images from the host".to_string()),
        "audio" => get(value, "device")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty() && *d != "none")
            .map(|d| format!("the VM uses the host's audio device ({d})")),
        _ => None,
    }
}

fn port_forwards(value: &Value) -> Option<String> {
    let mut found = Vec::new();
    for rule in items(value) {
        let text = |k: &str| get(rule, k).and_then(Value::as_str);
        if get(rule, "reverse").and_then(Value::as_bool) == Some(true) {
            found.push(format!("host socket {} reaches into the VM (reverse)", text("hostSocket").unwrap_or("?")));
        } else if let Some(socket) = text("hostSocket") {
            found.push(format!("a socket on the host at {socket}"));
        }
        if let Some(ip) = text("hostIP").filter(|ip| !is_loopback(ip)) {
            found.push(format!("a host port bound to {ip}, reachable from other machines"));
        }
    }
    (!found.is_empty()).then(|| found.join("; "))
}

fn ssh(value: &Value) -> Option<String> {
    let on = |k: &str| get(value, k).and_then(Value::as_bool) == Some(true);
    let mut found = Vec::new();
    if on("loadDotSSHPubKeys") {
        found.push("your ~/.ssh/*.pub keys are authorised in the VM");
    }
    if on("forwardX11") || on("forwardX11Trusted") {
        found.push("the VM can draw on (and with forwardX11Trusted, read) your X display");
    }
    (!found.is_empty()).then(|| found.join("; "))
}

/// `file:` locators of provision or probe entries that name host files outside the user's
/// config folder (Lima reads them into the VM).
fn host_files(value: &Value, config_dir: Option<&Path>) -> Option<String> {
    let outside: Vec<&str> = items(value)
        .filter_map(|entry| match get(entry, "file")? {
            Value::String(s) => Some(s.as_str()),
            file => get(file, "url").and_then(Value::as_str),
        })
        .filter(|loc| is_local_path(loc) && !config_dir.is_some_and(|dir| inside(loc, dir)))
        .collect();
    (!outside.is_empty()).then(|| format!("these host files are copied into the VM: {}", outside.join(", ")))
}

/// A locator naming a file on this host (not a URL, not a `template:`).
fn is_local_path(loc: &str) -> bool {
    !loc.contains("://") || loc.starts_with("file://")
}

fn inside(loc: &str, dir: &Path) -> bool {
    let path = Path::new(loc.strip_prefix("file://").unwrap_or(loc));
    path.is_absolute() && !path.components().any(|c| c.as_os_str() == "..") && path.starts_with(dir)
}

fn is_loopback(ip: &str) -> bool {
    ip == "localhost" || ip == "::1" || ip.starts_with("127.")
}

fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    crate::compiler::yaml::get(value, key)
}

fn items(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_sequence().into_iter().flatten()
}

fn non_empty(value: &Value) -> bool {
    match value {
        Value::Sequence(s) => !s.is_empty(),
        Value::Mapping(m) => !m.is_empty(),
        Value::Null => false,
        _ => true,
    }
}

/// The `field` of every item, for the message.
fn list(value: &Value, field: &str) -> String {
    let found: Vec<String> =
        items(value).map(|i| get(i, field).and_then(Value::as_str).unwrap_or("?").to_string()).collect();
    found.join(", ")
}

fn strings(value: &Value) -> String {
    items(value).filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(yaml: &str) -> BTreeMap<String, Value> {
        let value: Value = crate::compiler::yaml::parse(yaml).unwrap();
        value.as_mapping().unwrap().iter().map(|(k, v)| (k.as_str().unwrap().to_string(), v.clone())).collect()
    }

    #[test]
    fn every_host_reaching_key_is_named_with_what_it_opens() {
        let lima = table(
            r"
mounts: [{location: '~', writable: true}]
copyToHost: [{guest: /etc/x, host: '~/.bashrc'}]
portForwards:
- {guestSocket: /run/docker.sock, hostSocket: /var/run/docker.sock, reverse: true}
- {guestPort: 80, hostIP: 0.0.0.0}
- {guestPort: 8080, hostPort: 18080}
caCerts: {files: [/etc/ssl/private/key.pem]}
additionalDisks: [data]
networks: [{lima: shared}]
user: {name: root}
provision: [{mode: data, path: /x, file: /home/me/.ssh/id_ed25519}, {mode: system, file: /cfg/ok.sh}]
probes: [{file: ~/probe.sh}]
ssh: {loadDotSSHPubKeys: true}
env: {A: b}
",
        );
        let lines = host_reach(&lima, Some(Path::new("/cfg")));
        let keys: Vec<&str> = lines.iter().map(|l| l.split(':').next().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "`lima.additionalDisks`",
                "`lima.caCerts`",
                "`lima.copyToHost`",
                "`lima.mounts`",
                "`lima.networks`",
                "`lima.portForwards`",
                "`lima.probes`",
                "`lima.provision`",
                "`lima.ssh`",
                "`lima.user`"
            ]
        );
        assert!(lines.iter().any(|l| l.contains("read and change these host folders: ~")), "{lines:?}");
        assert!(lines.iter().any(|l| l.contains("/var/run/docker.sock reaches into the VM")), "{lines:?}");
        assert!(lines.iter().any(|l| l.contains("bound to 0.0.0.0")), "{lines:?}");
        assert!(lines.iter().any(|l| l.contains("copied into the VM: /home/me/.ssh/id_ed25519")), "{lines:?}");
        assert!(
            !lines.iter().any(|l| l.contains("/cfg/ok.sh")),
            "files in the config folder are the user's: {lines:?}"
        );
    }

    #[test]
    fn tables_that_reach_nothing_say_nothing() {
        let lima =
            table("env: {A: b}\nportForwards: [{guestPort: 80, hostPort: 8080, hostIP: 127.0.0.1}]\nmounts: []\n");
        assert_eq!(host_reach(&lima, None), Vec::<String>::new());
    }
}
