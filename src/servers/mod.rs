//! The servers machine runs beside the commands: the credential proxy (one host daemon), the
//! scoped SSH agent (one daemon per VM) and the MCP server (on stdio, for an agent on the host).

pub mod mcp;
pub mod proxy;
pub mod scoped_agent;
pub mod timestamp;
