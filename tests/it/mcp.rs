//! `machine mcp` driven by the MCP SDK's own client over the child's real stdin and stdout,
//! against the fake Lima: the tools and their schemas, each tool's success and failure, the
//! resources, progress, the project lock, and a raw pipe for malformed requests.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ProgressNotificationParam, ReadResourceRequestParams, ResourceContents,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt as _};
use serde_json::{Value, json};

use crate::fake::{FakeEnv, IDENTITY, env_with};

const BLOG: &str = "[blog]\nrepos = [\"git@github.com:you/blog.git\"]\n";
/// Longer than any call of these tests takes, so a hung server fails the test instead of CI.
const PATIENCE: Duration = Duration::from_secs(90);

/// `machine ARGS…` with the hermetic environment and a git identity, as the lifecycle tests run it.
fn machine(env: &FakeEnv, args: &[&str]) -> std::process::Command {
    let mut cmd = env.machine_process();
    cmd.args(args).envs(IDENTITY);
    cmd
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// The test's MCP client: it keeps every progress notification the server sends.
#[derive(Clone, Default)]
struct Client {
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl ClientHandler for Client {
    async fn on_progress(&self, params: ProgressNotificationParam, _context: NotificationContext<RoleClient>) {
        self.progress.lock().unwrap().push(params);
    }
}

/// A running `machine mcp ARGS…` and what it wrote on stderr.
struct Session {
    client: RunningService<RoleClient, Client>,
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    stderr: Arc<Mutex<String>>,
}

async fn connect(env: &FakeEnv, args: &[&str]) -> Session {
    let mut cmd = machine(env, &["mcp"]);
    cmd.args(args);
    let (transport, stderr) =
        TokioChildProcess::builder(tokio::process::Command::from(cmd)).stderr(Stdio::piped()).spawn().unwrap();
    let said = Arc::new(Mutex::new(String::new()));
    if let Some(mut stderr) = stderr {
        let said = Arc::clone(&said);
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt as _;
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut buf).await {
                said.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    let handler = Client::default();
    let progress = Arc::clone(&handler.progress);
    let client = tokio::time::timeout(PATIENCE, handler.serve(transport)).await.expect("the handshake").unwrap();
    Session { client, progress, stderr: said }
}

impl Session {
    async fn call(&self, tool: &'static str, args: Value) -> CallToolResult {
        let Value::Object(args) = args else { panic!("arguments are an object") };
        let params = CallToolRequestParams::new(tool).with_arguments(args);
        tokio::time::timeout(PATIENCE, self.client.call_tool(params)).await.expect("an answer in time").unwrap()
    }

    /// A call that must succeed: its structured result.
    async fn ok(&self, tool: &'static str, args: Value) -> Value {
        let result = self.call(tool, args).await;
        assert_ne!(result.is_error, Some(true), "{tool} failed: {}", text(&result));
        let structured = result.structured_content.clone().expect("a structured result");
        assert_eq!(serde_json::from_str::<Value>(&text(&result)).unwrap(), structured, "the text copy is the same");
        structured
    }

    /// A call that must fail: its error text (the first content block).
    async fn err(&self, tool: &'static str, args: Value) -> String {
        let result = self.call(tool, args).await;
        assert_eq!(result.is_error, Some(true), "{tool} should have failed: {}", text(&result));
        result.content[0].as_text().expect("a text block").text.clone()
    }

    async fn read(&self, uri: &str) -> Result<String, rmcp::ServiceError> {
        let read = self.client.read_resource(ReadResourceRequestParams::new(uri));
        let result = tokio::time::timeout(PATIENCE, read).await.expect("an answer in time")?;
        match &result.contents[..] {
            [ResourceContents::TextResourceContents { text, .. }] => Ok(text.clone()),
            other => panic!("one text content, not {other:?}"),
        }
    }

    async fn tool_names(&self) -> Vec<String> {
        self.client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect()
    }

    async fn close(self) -> String {
        let _ = self.client.cancel().await;
        self.stderr.lock().unwrap().clone()
    }
}

fn text(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.clone()).collect::<Vec<_>>().join("\n")
}

/// What the CLI prints for the same failure (its last stderr lines).
fn cli_error(env: &FakeEnv, args: &[&str]) -> String {
    let out = machine(env, args).stdin(Stdio::null()).output().unwrap();
    assert!(!out.status.success(), "machine {args:?} should fail");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    stderr[stderr.find("error: ").expect("an error line")..].trim_end().to_string()
}

fn cli_json(env: &FakeEnv, args: &[&str]) -> Value {
    let out = machine(env, args).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_tools_and_their_schemas() {
    let env = env_with(BLOG);
    runtime().block_on(async {
        let session = connect(&env, &[]).await;
        let tools = session.client.list_all_tools().await.unwrap();
        let names: Vec<&str> = tools.iter().map(|t| &*t.name).collect();
        assert_eq!(names, ["down", "list_projects", "render", "run", "status", "up"], "no destroy without the flag");
        for tool in &tools {
            assert!(tool.output_schema.is_some(), "{} has a structured result", tool.name);
        }
        insta::assert_snapshot!(serde_json::to_string_pretty(&tools).unwrap());
        session.close().await;

        let session = connect(&env, &["--allow-destroy"]).await;
        assert!(session.tool_names().await.contains(&"destroy".to_string()));
        session.close().await;
    });
}

#[test]
fn list_projects_and_status_are_what_the_cli_says() {
    let env = env_with(&format!("{BLOG}[api]\n"));
    env.given_instance("scratch", true);
    runtime().block_on(async {
        let session = connect(&env, &[]).await;
        let listed = session.ok("list_projects", json!({})).await;
        assert_eq!(listed["projects"], cli_json(&env, &["list", "--json"])["projects"]);
        let names: Vec<&str> =
            listed["projects"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["api", "blog", "scratch"]);

        // status is `machine status --json`'s entry (the guest's disk figures are the host's df here,
        // which may move between two calls, so the guest part is compared by shape).
        let status = session.ok("status", json!({"project": "scratch"})).await;
        let mut cli = cli_json(&env, &["status", "scratch", "--json"])["vms"][0].clone();
        let mut vm = status["vm"].clone();
        for v in [&mut cli, &mut vm] {
            assert!(v["guest"]["disk_used"].is_u64(), "{v}");
            v["guest"]["disk_used"] = json!(null);
        }
        assert_eq!(vm, cli, "the CLI's own entry");
        assert_eq!((&vm["state"], &vm["stack"]), (&json!("Running"), &json!("unknown")), "not made by machine");
        let status = session.ok("status", json!({"project": "blog"})).await;
        assert_eq!(status["vm"]["state"], "not created");

        let unknown = session.err("status", json!({"project": "nope"})).await;
        assert_eq!(unknown, cli_error(&env, &["down", "nope"]), "the CLI's text and hint");
        assert!(unknown.contains("\nhint: "), "{unknown}");
        let invalid = session.err("status", json!({"project": "Bad Name"})).await;
        assert!(invalid.starts_with("error: invalid project name `Bad Name`"), "{invalid}");
        let wrong_type = session.err("status", json!({"project": 7})).await;
        assert!(wrong_type.contains("failed to deserialize parameters"), "{wrong_type}");
        let unknown_field = session.err("status", json!({"name": "blog"})).await;
        assert!(unknown_field.contains("unknown field `name`"), "{unknown_field}");

        // Every call reads the configuration afresh: a broken file fails the next one.
        std::fs::write(env.path().join("config/projects.toml"), "[blog\n").unwrap();
        let broken = session.err("list_projects", json!({})).await;
        assert_eq!(broken, cli_error(&env, &["list"]));
        session.close().await;
    });
}

#[test]
fn up_reports_progress_and_returns_the_summary() {
    let env = env_with(BLOG);
    runtime().block_on(async {
        let session = connect(&env, &[]).await;
        let up = session.ok("up", json!({"project": "blog"})).await;
        assert_eq!(up["project"], "blog");
        assert!(up["summary"].as_str().unwrap().starts_with("✓ blog is ready"), "{up}");
        assert_eq!(up["warnings"], json!([]));
        assert!(up["notes"].as_str().unwrap().contains("==> creating VM `blog`"), "{up}");
        assert_eq!(env.instance_status("blog").as_deref(), Some("Running"));
        assert!(env.guest_home("blog").join("code/blog/.git").is_dir());

        let progress = session.progress.lock().unwrap().clone();
        let messages: Vec<&str> = progress.iter().filter_map(|p| p.message.as_deref()).collect();
        assert!(messages.contains(&"creating VM `blog`"), "{messages:?}");
        assert!(messages.contains(&"starting and provisioning `blog`"), "{messages:?}");
        assert!(messages.iter().any(|m| m.starts_with("✓ cloning git@github.com:you/blog.git")), "{messages:?}");
        let values: Vec<f64> = progress.iter().map(|p| p.progress).collect();
        assert!(values.windows(2).all(|w| w[0] < w[1]), "progress only grows: {values:?}");

        let again = session.ok("up", json!({"project": "blog"})).await;
        assert!(again["summary"].as_str().unwrap().starts_with("✓ blog is ready"));

        // An unknown project is refused as the CLI refuses it (never by the create wizard).
        let unknown = session.err("up", json!({"project": "nope"})).await;
        assert_eq!(unknown, cli_error(&env, &["up", "nope"]));
        let stderr = session.close().await;
        assert!(stderr.contains("==> creating VM `blog`"), "the steps are logged on stderr: {stderr}");
    });
}

#[test]
fn a_failed_up_is_a_tool_error_with_the_cli_text() {
    let env = env_with(BLOG);
    env.faults(json!({"start": {"blog": "provision-fail:docker:apt-get install docker-ce exited 100"}}));
    runtime().block_on(async {
        let session = connect(&env, &[]).await;
        let result = session.call("up", json!({"project": "blog"})).await;
        assert_eq!(result.is_error, Some(true));
        let error = result.content[0].as_text().unwrap().text.clone();
        assert!(error.starts_with("error: provisioning failed in VM `blog`"), "{error}");
        assert!(error.contains("failed docker: apt-get install docker-ce exited 100"), "{error}");
        assert!(error.contains("hint: fix the cause, then run `machine down blog && machine up blog`"), "{error}");
        let before = result.content[1].as_text().unwrap().text.clone();
        assert!(before.starts_with("machine said before that:\n"), "{before}");
        assert!(before.contains("\n==> starting and provisioning `blog`"), "{before}");
        session.close().await;
    });
}

#[test]
fn down_stops_a_vm_and_says_when_there_is_nothing_to_stop() {
    let env = env_with(&format!("{BLOG}[api]\n"));
    runtime().block_on(async {
        let session = connect(&env, &[]).await;
        session.ok("up", json!({"project": "blog"})).await;
        let down = session.ok("down", json!({"project": "blog"})).await;
        assert_eq!((&down["stopped"], &down["status"]), (&json!(true), &json!("Stopped")), "{down}");
        assert_eq!(env.instance_status("blog").as_deref(), Some("Stopped"));
        let again = session.ok("down", json!({"project": "blog"})).await;
        assert_eq!(again["stopped"], false);
        assert!(again["notes"].as_str().unwrap().contains("VM `blog` is already stopped"), "{again}");

        let never_created = session.err("down", json!({"project": "api"})).await;
        assert_eq!(never_created, cli_error(&env, &["down", "api"]));
        assert_eq!(never_created, "error: there is no VM `api`\nhint: create it with `machine up api`");
        session.close().await;
    });
}

#[test]
fn run_returns_the_exit_code_and_both_outputs() {
    let env = env_with(BLOG);
    runtime().block_on(async {
        let session = connect(&env, &[]).await;
        let not_created = session.err("run", json!({"project": "blog", "argv": ["true"]})).await;
        assert_eq!(not_created, "error: there is no VM `blog`\nhint: create it with `machine up blog`");
        session.ok("up", json!({"project": "blog"})).await;

        let ran = session
            .ok("run", json!({"project": "blog", "argv": ["sh", "-c", "echo out; echo 'a b' >&2; exit 3"]}))
            .await;
        assert_eq!(ran["exit_code"], 3);
        assert_eq!((&ran["stdout"], &ran["stderr"]), (&json!("out\n"), &json!("a b\n")));
        assert_eq!((&ran["stdout_truncated"], &ran["timed_out"]), (&json!(false), &json!(false)));

        // argv stays argv: no shell reads it.
        let literal = session.ok("run", json!({"project": "blog", "argv": ["echo", "$HOME;", "`id`"]})).await;
        assert_eq!(literal["stdout"], "$HOME; `id`\n");

        let code = env.guest_home("blog").join("code");
        let primary = session.ok("run", json!({"project": "blog", "argv": ["pwd"]})).await;
        assert_eq!(primary["stdout"], format!("{}\n", code.join("blog").display()));
        std::fs::create_dir_all(code.join("blog/posts")).unwrap();
        for workdir in ["blog/posts", "~/code/blog/posts"] {
            let ran = session.ok("run", json!({"project": "blog", "argv": ["pwd"], "workdir": workdir})).await;
            assert_eq!(ran["stdout"], format!("{}\n", code.join("blog/posts").display()), "{workdir}");
        }
        for outside in ["/etc", "blog/../..", "other"] {
            let refused = session.err("run", json!({"project": "blog", "argv": ["pwd"], "workdir": outside})).await;
            assert!(
                refused.starts_with(&format!(
                    "error: workdir `{outside}` is not a folder under one of project `blog`'s repos"
                )),
                "{refused}"
            );
            assert!(refused.contains("\nhint: give a repo folder (blog)"), "{refused}");
        }

        let empty = session.err("run", json!({"project": "blog", "argv": []})).await;
        assert!(empty.starts_with("error: no command to run\nhint: "), "{empty}");
        let too_long = session.err("run", json!({"project": "blog", "argv": ["true"], "timeout_secs": 99999})).await;
        assert!(too_long.starts_with("error: timeout_secs 99999 is out of range"), "{too_long}");
        let no_shell = session.err("run", json!({"project": "blog", "argv": "echo hi"})).await;
        assert!(no_shell.contains("failed to deserialize parameters"), "{no_shell}");

        let argv = json!(["sh", "-c", "echo before; sleep 30; echo after"]);
        let slow = session.ok("run", json!({"project": "blog", "argv": argv, "timeout_secs": 1})).await;
        assert_eq!((&slow["timed_out"], &slow["exit_code"]), (&json!(true), &json!(124)), "{slow}");
        assert_eq!(slow["stdout"], "before\n", "what it printed until then is kept");
        assert!(slow["notes"].as_str().unwrap().contains("killed at its timeout"), "{slow}");
        let guarded = env.calls_text().lines().any(|l| l.contains("-- timeout -k 5 1 sh -c"));
        assert!(guarded, "the guest's own timeout ends it, so nothing is left running there");

        session.ok("down", json!({"project": "blog"})).await;
        let stopped = session.err("run", json!({"project": "blog", "argv": ["true"]})).await;
        assert_eq!(stopped, "error: VM `blog` is not running (it is stopped)\nhint: start it with `machine up blog`");
        session.close().await;
    });
}

#[test]
fn run_output_over_the_cap_is_cut_in_the_middle() {
    let env = env_with(BLOG);
    runtime().block_on(async {
        let session = connect(&env, &[]).await;
        session.ok("up", json!({"project": "blog"})).await;
        let script = "echo START; head -c 200000 /dev/zero | tr '\\0' x; echo; echo END; echo small >&2";
        let ran = session.ok("run", json!({"project": "blog", "argv": ["sh", "-c", script]})).await;
        assert_eq!(ran["exit_code"], 0);
        let stdout = ran["stdout"].as_str().unwrap();
        assert!(stdout.starts_with("START\nxxx") && stdout.ends_with("xxx\nEND\n"), "the start and the end are kept");
        assert!(stdout.len() <= 64 * 1024 + 64, "{}", stdout.len());
        assert!(stdout.contains(&format!("\n[… {} bytes cut …]\n", 200_011 - 64 * 1024)), "the cut is marked");
        assert_eq!((&ran["stdout_truncated"], &ran["stderr_truncated"]), (&json!(true), &json!(false)));
        assert_eq!(ran["stderr"], "small\n");
        let notes = ran["notes"].as_str().unwrap();
        assert!(notes.contains("stdout was 200011 bytes: only its first and last 32 KiB are shown"), "{notes}");
        session.close().await;
    });
}

#[test]
fn concurrent_up_and_down_of_one_project_take_turns() {
    let env = env_with(BLOG);
    env.faults(json!({"start_delay_ms": {"blog": 1500}}));
    runtime().block_on(async {
        let session = connect(&env, &[]).await;
        let up = session.ok("up", json!({"project": "blog"}));
        let down = async {
            // Well inside the up's 1.5 s boot, which holds the project's lock.
            tokio::time::sleep(Duration::from_millis(400)).await;
            session.ok("down", json!({"project": "blog"})).await
        };
        let (up, down) = tokio::join!(up, down);
        assert!(up["summary"].as_str().unwrap().starts_with("✓ blog is ready"), "the up was not cut short: {up}");
        let notes = down["notes"].as_str().unwrap();
        assert!(notes.contains("waiting for another machine command on `blog` to finish…"), "{notes}");
        assert_eq!(down["stopped"], true, "the down came after the up, and stopped the VM it left: {down}");
        assert_eq!(env.instance_status("blog").as_deref(), Some("Stopped"));
        session.close().await;
    });
}

#[test]
fn render_is_render_json() {
    let env = env_with(BLOG);
    runtime().block_on(async {
        let session = connect(&env, &[]).await;
        let mut rendered = session.ok("render", json!({"project": "blog"})).await;
        let notes = rendered.as_object_mut().unwrap().remove("notes").unwrap();
        assert_eq!(rendered, cli_json(&env, &["render", "blog", "--json"]));
        assert!(notes.is_string());
        assert!(env.instance_status("blog").is_none(), "render touches no VM");

        let unknown = session.err("render", json!({"project": "nope"})).await;
        assert_eq!(unknown, cli_error(&env, &["render", "nope"]));
        session.close().await;
    });
}

#[test]
fn destroy_is_served_only_with_allow_destroy() {
    let env = env_with(BLOG);
    runtime().block_on(async {
        let session = connect(&env, &[]).await;
        session.ok("up", json!({"project": "blog"})).await;
        let refused = session
            .client
            .call_tool(
                CallToolRequestParams::new("destroy")
                    .with_arguments(json!({"project": "blog"}).as_object().unwrap().clone()),
            )
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("tool not found"), "{refused}");
        assert_eq!(env.instance_status("blog").as_deref(), Some("Running"));
        session.close().await;

        let session = connect(&env, &["--allow-destroy"]).await;
        let destroyed = session.ok("destroy", json!({"project": "blog"})).await;
        assert_eq!(destroyed["project"], "blog");
        assert!(destroyed["notes"].as_str().unwrap().contains("✓ destroyed `blog`"), "{destroyed}");
        assert!(env.instance_status("blog").is_none());
        assert!(!env.path().join("state/blog").exists(), "machine's record of it is gone too");

        env.given_instance("default", true);
        let not_ours = session.err("destroy", json!({"project": "default"})).await;
        assert!(not_ours.starts_with("error: the Lima VM `default` was not created by machine"), "{not_ours}");
        assert_eq!(env.instance_status("default").as_deref(), Some("Running"), "never forced");
        session.close().await;
    });
}

#[test]
fn resources_are_each_projects_stack_and_provisioning_log() {
    let env = env_with(&format!("{BLOG}[api]\n"));
    runtime().block_on(async {
        let session = connect(&env, &[]).await;
        let listed = session.client.list_all_resources().await.unwrap();
        let uris: Vec<&str> = listed.iter().map(|r| r.uri.as_str()).collect();
        assert_eq!(
            uris,
            [
                "machine://project/api/stack",
                "machine://project/api/provisioning-log",
                "machine://project/blog/stack",
                "machine://project/blog/provisioning-log",
            ]
        );
        let templates = session.client.list_all_resource_templates().await.unwrap();
        assert_eq!(templates.len(), 2);

        let stack = session.read("machine://project/blog/stack").await.unwrap();
        let out = machine(&env, &["render", "blog"]).output().unwrap();
        assert_eq!(stack.trim_end(), String::from_utf8_lossy(&out.stdout).trim_end(), "as `machine render` prints it");

        let stopped = session.read("machine://project/blog/provisioning-log").await.unwrap_err();
        assert!(stopped.to_string().contains("there is no VM `blog`"), "{stopped}");
        session.ok("up", json!({"project": "blog"})).await;
        let log = session.read("machine://project/blog/provisioning-log").await.unwrap();
        let file = std::fs::read_to_string(env.guest_root("blog").join("var/log/cloud-init-output.log")).unwrap();
        assert!(!log.is_empty() && file.trim_end().ends_with(&log), "the log's tail:\n{log}");

        for bad in ["machine://project/nope/stack", "machine://project/blog/secrets", "file:///etc/passwd"] {
            let err = session.read(bad).await.unwrap_err().to_string();
            assert!(err.contains("no project `nope`") || err.contains("no resource"), "{bad}: {err}");
        }
        session.close().await;
    });
}

/// Lines written by hand to the server's stdin, answers read from its stdout: no SDK in between.
struct RawPipe {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
}

impl RawPipe {
    fn start(env: &FakeEnv) -> Self {
        let mut child =
            machine(env, &["mcp"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, stdin, lines }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next line of stdout, which must be one JSON-RPC message.
    fn next(&self) -> Value {
        let line = self.lines.recv_timeout(PATIENCE).expect("an answer in time");
        let message: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert_eq!(message["jsonrpc"], "2.0", "{line}");
        message
    }

    /// Sends a request and returns its answer.
    fn ask(&mut self, line: &str) -> Value {
        self.send(line);
        self.next()
    }
}

#[test]
fn malformed_requests_get_protocol_errors_and_the_server_keeps_serving() {
    let env = env_with(BLOG);
    let mut pipe = RawPipe::start(&env);
    let init = pipe.ask(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#,
    );
    assert_eq!(init["result"]["serverInfo"]["name"], "machine", "{init}");
    pipe.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);

    // Not JSON at all: there is no id to answer, so the SDK drops the line (as the other
    // official SDKs do) and reads on. The next answer is the next request's.
    pipe.send("this is not json {");
    let invalid = pipe.ask(r#"{"jsonrpc":"2.0","id":2,"method":7}"#);
    assert_eq!(invalid["error"]["code"], -32600, "an invalid request: {invalid}");
    let unknown_method = pipe.ask(r#"{"jsonrpc":"2.0","id":3,"method":"no/such/method"}"#);
    assert_eq!(
        (&unknown_method["id"], &unknown_method["error"]["code"]),
        (&json!(3), &json!(-32601)),
        "{unknown_method}"
    );
    let unknown_tool = pipe.ask(
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"destroy","arguments":{"project":"blog"}}}"#,
    );
    assert_eq!((&unknown_tool["id"], &unknown_tool["error"]["code"]), (&json!(4), &json!(-32602)), "{unknown_tool}");
    let no_resource =
        pipe.ask(r#"{"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"uri":"file:///etc/passwd"}}"#);
    assert_eq!((&no_resource["id"], &no_resource["error"]["code"]), (&json!(5), &json!(-32002)), "{no_resource}");
    let bad_arguments = pipe.ask(
        r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"run","arguments":{"project":["blog"]}}}"#,
    );
    assert_eq!(
        (&bad_arguments["id"], &bad_arguments["result"]["isError"]),
        (&json!(6), &json!(true)),
        "a tool error: {bad_arguments}"
    );

    // Still serving, and a real command (no progress token: no notifications) prints nothing but
    // its answer on stdout.
    let up = pipe
        .ask(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"up","arguments":{"project":"blog"}}}"#);
    assert_eq!(up["id"], 7, "the answer, not a notification: {up}");
    assert!(up["result"]["structuredContent"]["summary"].as_str().unwrap().starts_with("✓ blog is ready"), "{up}");
    let tools = pipe.ask(r#"{"jsonrpc":"2.0","id":8,"method":"tools/list"}"#);
    assert_eq!(tools["result"]["tools"].as_array().unwrap().len(), 6, "{tools}");

    drop(pipe.stdin);
    let status = pipe.child.wait().unwrap();
    assert!(status.success(), "the server ends cleanly when its client closes stdin: {status}");
    assert!(pipe.lines.recv_timeout(Duration::from_secs(5)).is_err(), "and says nothing more");
}
