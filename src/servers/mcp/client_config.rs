//! What each MCP client needs to start `machine mcp`: the snippets `machine mcp --print-config`
//! prints. The formats follow each client's documentation: Claude Code's `claude mcp add` and
//! `.mcp.json`, Codex's `[mcp_servers.<name>]` table in `~/.codex/config.toml`, and VS Code's
//! `.vscode/mcp.json`.

/// An MCP client machine can print the configuration for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    /// Claude Code: a `claude mcp add` command line, or the `.mcp.json` entry.
    Claude,
    /// The Codex CLI and IDE extension: a table for `~/.codex/config.toml`.
    Codex,
    /// VS Code: the `.vscode/mcp.json` entry.
    Vscode,
}

/// The variables machine reads. Codex passes a server only a few of its own (HOME, PATH, …):
/// these must be named for it to pass them on, the SSH agent's socket above all.
/// The credential proxy's daemon, started by a tool call, inherits them: the built-in
/// providers' keys and `DISPLAY` for the scoped agent's confirmation questions among them.
const VARIABLES: [&str; 22] = [
    "SSH_AUTH_SOCK",
    "ONEPASS_SOCK",
    "LIMA_HOME",
    "PROJECTS_FILE",
    "MACHINE_CONFIG_DIR",
    "MACHINE_STATE_DIR",
    "MACHINE_CACHE_DIR",
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
    "XDG_CACHE_HOME",
    "GIT_NAME",
    "GIT_EMAIL",
    "GIT_SIGNING_KEY",
    "GIT_SIGNING_PUBKEY_FILE",
    "OP_SIGNING_KEY_REF",
    "GIT_SSH_COMMAND",
    "GIT_CONFIG_GLOBAL",
    "MACHINE_CREDENTIAL_PROXY",
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "DISPLAY",
    "WAYLAND_DISPLAY",
];

/// Seconds Codex waits for a tool call by default is 60: far less than a first `up`.
const CODEX_TOOL_TIMEOUT_SECS: u32 = 3600;

/// The snippet for `client`, starting `machine mcp` with `--allow-destroy` when asked to.
pub fn snippet(client: Client, allow_destroy: bool) -> String {
    let mut args = vec!["mcp"];
    if allow_destroy {
        args.push("--allow-destroy");
    }
    match client {
        Client::Claude => claude(&args),
        Client::Codex => codex(&args),
        Client::Vscode => vscode(&args),
    }
}

/// `{"<top>": {"machine": {…}}}` as a person would write it: type, command, then args.
fn json_entry(top: &str, args: &[&str]) -> String {
    format!(
        "{{\n  \"{top}\": {{\n    \"machine\": {{\n      \"type\": \"stdio\",\n      \"command\": \"machine\",\n      \"args\": [{}]\n    }}\n  }}\n}}",
        quoted(args)
    )
}

/// Words as a JSON (and TOML) array's items; machine's own arguments need no escaping.
fn quoted(words: &[&str]) -> String {
    words.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(", ")
}

fn claude(args: &[&str]) -> String {
    let entry = json_entry("mcpServers", args);
    format!(
        "# Add machine to Claude Code (for this project; `--scope user` for all of them):\n\
         claude mcp add --transport stdio machine -- machine {}\n\
         \n\
         # Or share it with everyone on the project: this entry in .mcp.json at the project's root.\n\
         {entry}",
        args.join(" ")
    )
}

fn codex(args: &[&str]) -> String {
    let variables: Vec<String> = VARIABLES.iter().map(|v| format!("\n  \"{v}\",")).collect();
    format!(
        "# In ~/.codex/config.toml (or .codex/config.toml of a trusted project):\n\
         [mcp_servers.machine]\n\
         command = \"machine\"\n\
         args = [{}]\n\
         # Codex passes a server only a few variables of its own: these are the ones machine reads\n\
         # (add the `credential_env` of any [proxy.<name>] provider of yours).\n\
         env_vars = [{}\n]\n\
         # A first `up` takes minutes; Codex stops waiting for a tool after 60 s by default.\n\
         tool_timeout_sec = {CODEX_TOOL_TIMEOUT_SECS}",
        quoted(args),
        variables.concat()
    )
}

fn vscode(args: &[&str]) -> String {
    format!("// In .vscode/mcp.json (or your user profile's mcp.json):\n{}", json_entry("servers", args))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_variables_include_the_built_in_providers_credentials() {
        for provider in crate::compiler::config::proxy::ProxySettings::default().providers {
            let env = provider.sources.env.expect("built-in providers read a variable");
            assert!(VARIABLES.contains(&env.as_str()), "{env}");
        }
    }

    /// The JSON and TOML parts of each snippet, the comments taken out.
    fn body(text: &str, comment: &str) -> String {
        text.lines().filter(|l| !l.starts_with(comment) && !l.starts_with("claude ")).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn the_json_snippets_are_json() {
        let claude: serde_json::Value = serde_json::from_str(&body(&snippet(Client::Claude, false), "#")).unwrap();
        assert_eq!(claude["mcpServers"]["machine"]["args"], json!(["mcp"]));
        let vscode: serde_json::Value = serde_json::from_str(&body(&snippet(Client::Vscode, true), "//")).unwrap();
        assert_eq!(vscode["servers"]["machine"]["args"], json!(["mcp", "--allow-destroy"]));
        assert_eq!(vscode["servers"]["machine"]["type"], "stdio");
    }

    #[test]
    fn the_codex_snippet_is_toml() {
        let table: toml_edit::DocumentMut = snippet(Client::Codex, true).parse().unwrap();
        let server = &table["mcp_servers"]["machine"];
        assert_eq!(server["command"].as_str(), Some("machine"));
        let args: Vec<&str> = server["args"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
        assert_eq!(args, ["mcp", "--allow-destroy"]);
        assert!(server["env_vars"].as_array().unwrap().iter().any(|v| v.as_str() == Some("SSH_AUTH_SOCK")));
        assert_eq!(server["tool_timeout_sec"].as_integer(), Some(3600));
    }

    #[test]
    fn claude_gets_the_add_command() {
        assert!(snippet(Client::Claude, false).contains("\nclaude mcp add --transport stdio machine -- machine mcp\n"));
    }
}
