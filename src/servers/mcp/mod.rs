//! `machine mcp`: a Model Context Protocol server over stdio, on the official Rust SDK (`rmcp`),
//! so that an agent on the host can drive project VMs: the tools of [`tools`] and two resources
//! per configured project (its compiled stack and its provisioning log's tail).
//!
//! A tool call runs the same command functions as the CLI, on a blocking thread, with a context
//! of its own whose [`Ui`] writes into a buffer: stdout carries nothing but the protocol, and what
//! the command would have printed comes back in the result's `notes` (notes and warnings are also
//! copied to the server's stderr, which MCP clients keep as the server's log). Long steps become
//! progress notifications when the client sent a progress token. Every tool that changes or
//! enters a VM takes the project's lock, as the CLI does, so calls on one project queue up behind
//! each other and behind CLI commands.

pub mod client_config;
mod tools;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    ErrorCode, Implementation, ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
    ProgressNotificationParam, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt as _, tool_handler};

use crate::commands::{Ctx, render};
use crate::compiler::paths::Paths;
use crate::driver::exec::SystemRunner;
use crate::error::{Error, Kind, Result};
use crate::ui::Ui;

/// How many lines of the guest's provisioning log the `provisioning-log` resource holds.
const LOG_LINES: u32 = 200;

/// What the server was started with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// List and serve the `destroy` tool.
    pub allow_destroy: bool,
}

/// The MCP server: its tools (see [`tools`]) and resources.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
    tool_router: ToolRouter<Self>,
}

/// What every call's [`Ctx`] is made of: the server process's folders, working folder and runner.
struct Shared {
    paths: Paths,
    cwd: PathBuf,
    runner: SystemRunner,
}

/// Serves MCP on stdin and stdout until the client closes stdin.
pub fn serve(paths: Paths, cwd: PathBuf, options: Options) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::failure("cannot start the MCP server's runtime").caused_by(e))?;
    let server = Server::new(paths, cwd, options);
    runtime.block_on(async {
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| Error::failure("the MCP client did not complete the handshake").caused_by(e))?;
        running.waiting().await.map_err(|e| Error::failure("the MCP server stopped").caused_by(e))?;
        Ok(())
    })
}

impl Server {
    pub fn new(paths: Paths, cwd: PathBuf, options: Options) -> Self {
        let runner = crate::system_runner(&env);
        let mut tool_router = Self::tool_router();
        if !options.allow_destroy {
            // Not merely refused: a client never learns of a tool it cannot use.
            tool_router.remove_route("destroy");
        }
        Self { shared: Arc::new(Shared { paths, cwd, runner }), tool_router }
    }

    /// Runs `job` on a blocking thread with a fresh context, and returns its result with what it
    /// printed. When the request carries a progress token, each long step's lines are sent to
    /// the client as progress notifications while the job runs.
    async fn call<T: Send + 'static>(
        &self,
        request: &RequestContext<RoleServer>,
        job: impl FnOnce(&mut Ctx<'_>) -> Result<T> + Send + 'static,
    ) -> (Result<T>, String) {
        let (progress, forwarder) = match request.meta.get_progress_token() {
            Some(token) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                let peer = request.peer.clone();
                let forwarder = tokio::spawn(async move {
                    let mut done = 0_u32;
                    while let Some(line) = rx.recv().await {
                        done += 1;
                        let note = ProgressNotificationParam::new(token.clone(), f64::from(done)).with_message(line);
                        if peer.notify_progress(note).await.is_err() {
                            break;
                        }
                    }
                });
                (Some(tx), Some(forwarder))
            }
            None => (None, None),
        };
        let shared = Arc::clone(&self.shared);
        let outcome = tokio::task::spawn_blocking(move || shared.run(progress, job)).await;
        if let Some(forwarder) = forwarder {
            // The job's end closed the channel: this only waits for the last notifications.
            let _ = forwarder.await;
        }
        outcome.unwrap_or_else(|panic| {
            let error = Error::failure("machine failed inside the MCP server")
                .caused_by(panic)
                .hint("the server goes on serving; please report this as a bug");
            (Err(error), String::new())
        })
    }

    /// The configured projects' names.
    async fn project_names(&self, request: &RequestContext<RoleServer>) -> Result<Vec<String>, ErrorData> {
        let (names, _) = self
            .call(request, |ctx| {
                let catalog = ctx.catalog()?;
                Ok(ctx.config(&catalog)?.projects.into_keys().collect::<Vec<_>>())
            })
            .await;
        // Listing fails only when the configuration does: nothing a client asked for is missing.
        names.map_err(|e| ErrorData::internal_error(e.to_string(), None))
    }
}

/// The environment of the server process, as every command reads it.
fn env(key: &str) -> Option<OsString> {
    std::env::var_os(key)
}

impl Shared {
    /// Runs `job` with a context of its own. Everything its [`Ui`] writes lands in one buffer,
    /// returned as text; notes and warnings are also copied to stderr, the server's log.
    fn run<T>(
        &self,
        progress: Option<tokio::sync::mpsc::UnboundedSender<String>>,
        job: impl FnOnce(&mut Ctx<'_>) -> Result<T>,
    ) -> (Result<T>, String) {
        let said = Buffer::default();
        let mut ui = Ui::new(Box::new(said.clone()), Box::new(Tee(said.clone(), std::io::stderr())));
        if let Some(tx) = progress {
            ui = ui.observed(move |line| {
                let _ = tx.send(line.to_string());
            });
        }
        let result = {
            let mut ctx = Ctx {
                paths: self.paths.clone(),
                cwd: self.cwd.clone(),
                env: &env,
                runner: &self.runner,
                ui: &mut ui,
                proxy: None,
            };
            job(&mut ctx)
        };
        // Dropping the Ui drops the progress sender: the forwarder then ends.
        drop(ui);
        (result, said.text())
    }
}

/// A shared byte buffer that a [`Ui`] can write into.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).trim_end().to_string()
    }
}

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes to both: the result's notes and the server's log.
struct Tee<A, B>(A, B);

impl<A: Write, B: Write> Write for Tee<A, B> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(buf)?;
        // The log is best-effort: a closed stderr must not fail the call.
        let _ = self.1.write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = self.1.flush();
        self.0.flush()
    }
}

/// A machine error reading a resource as a protocol error (resources have no tool-error form):
/// a usage error (an unknown project, say) is "not found", anything else an internal error;
/// either way with the text the CLI prints.
fn protocol_error(error: &Error) -> ErrorData {
    let code = if error.kind() == Kind::Usage { ErrorCode::RESOURCE_NOT_FOUND } else { ErrorCode::INTERNAL_ERROR };
    ErrorData::new(code, error.to_string(), None)
}

/// What a resource URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Uri {
    Stack(String),
    ProvisioningLog(String),
}

impl Uri {
    fn stack(name: &str) -> String {
        format!("machine://project/{name}/stack")
    }

    fn provisioning_log(name: &str) -> String {
        format!("machine://project/{name}/provisioning-log")
    }

    fn parse(uri: &str) -> Option<Self> {
        let rest = uri.strip_prefix("machine://project/")?;
        let (name, what) = rest.split_once('/')?;
        match what {
            "stack" => Some(Self::Stack(name.to_string())),
            "provisioning-log" => Some(Self::ProvisioningLog(name.to_string())),
            _ => None,
        }
    }
}

fn resources_of(name: &str) -> [Resource; 2] {
    [
        Resource::new(Uri::stack(name), format!("{name}-stack"))
            .with_title(format!("{name}: compiled stack"))
            .with_description(format!(
                "The Lima templates `machine up {name}` would create the VM from, as `machine render {name}` prints them: each layer's lima.yaml, lowest first, then the instance's"
            ))
            .with_mime_type("text/plain"),
        Resource::new(Uri::provisioning_log(name), format!("{name}-provisioning-log"))
            .with_title(format!("{name}: provisioning log"))
            .with_description(format!(
                "The last {LOG_LINES} lines of the provisioning log of VM `{name}` (it must be running)"
            ))
            .with_mime_type("text/plain"),
    ]
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder().enable_tools().enable_resources().build();
        let mut info = ServerConfig::new(capabilities);
        info.server_info = Implementation::new("machine", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(
            "machine gives each software project its own disposable Lima VM. Hand risky work to a project's VM: \
             `up` creates or starts it (slow the first time), `run` runs a command in it (argv, no shell) in one of \
             the project's repos under ~/code, `down` stops it. `list_projects` and `status` say what exists; \
             `render` shows what the VM is made of."
                .into(),
        );
        info
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let names = self.project_names(&context).await?;
        Ok(ListResourcesResult::with_all_items(names.iter().flat_map(|n| resources_of(n)).collect()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(Uri::stack("{project}"), "stack")
                .with_title("A project's compiled stack")
                .with_mime_type("text/plain"),
            ResourceTemplate::new(Uri::provisioning_log("{project}"), "provisioning-log")
                .with_title("The tail of a project VM's provisioning log")
                .with_mime_type("text/plain"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri;
        let Some(what) = Uri::parse(&uri) else {
            return Err(ErrorData::resource_not_found(
                format!(
                    "no resource `{uri}`: machine serves machine://project/<name>/stack and machine://project/<name>/provisioning-log"
                ),
                None,
            ));
        };
        let (text, _) = self
            .call(&context, move |ctx| match what {
                Uri::Stack(name) => {
                    let args = render::Args { project: Some(name), all: false, json: false };
                    Ok(render::stacks(&args, ctx)?.iter().map(render::to_text).collect::<Vec<_>>().join("\n"))
                }
                Uri::ProvisioningLog(name) => {
                    let (_, project) = ctx.project(Some(&name))?;
                    let lima = ctx.lima()?;
                    lima.require_running(&project.name, &project.name)?;
                    Ok(lima.provisioning_log(&project.name, LOG_LINES))
                }
            })
            .await;
        let text = text.map_err(|e| protocol_error(&e))?;
        Ok(ReadResourceResult::new(vec![ResourceContents::text(text, uri)]).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_uris_round_trip() {
        assert_eq!(Uri::parse(&Uri::stack("blog")), Some(Uri::Stack("blog".into())));
        assert_eq!(Uri::parse(&Uri::provisioning_log("blog")), Some(Uri::ProvisioningLog("blog".into())));
        for other in ["machine://project/blog", "machine://project/blog/other", "file:///etc/passwd", ""] {
            assert_eq!(Uri::parse(other), None, "{other}");
        }
    }

    #[test]
    fn the_tee_keeps_everything_in_the_buffer() {
        let buffer = Buffer::default();
        let mut tee = Tee(buffer.clone(), std::io::sink());
        writeln!(tee, "warning: one").unwrap();
        writeln!(tee, "two").unwrap();
        assert_eq!(buffer.text(), "warning: one\ntwo");
    }
}
