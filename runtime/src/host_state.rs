//! The state one invocation's `Store` carries, and the composition of the
//! capabilities a guest can link against.
//!
//! Deny by default is built here: the WASI context has no preopened
//! directories, no environment variables, no inherited stdio and a socket
//! check that refuses every address; outbound HTTP and connector calls go
//! through the egress capability (nothing leaves without a grant). Guest
//! stdout and stderr are captured into capped in-memory pipes.

use crate::capabilities::{Capabilities, Grants, States};
use crate::capability::InvocationContext;
use crate::limiter::Limiter;
use warden_host_apis::denial::DenialLog;
use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    /// Each capability's part of this invocation (see `crate::capabilities`).
    pub caps: States,
    pub limiter: Limiter,
    pub denials: DenialLog,
}

/// What the invocation needs to read back after the guest ran.
pub struct Captured {
    pub stdout: MemoryOutputPipe,
    pub stderr: MemoryOutputPipe,
    pub denials: DenialLog,
}

impl HostState {
    /// A fresh, deny-by-default state. `args` is what a `wasi:cli/command`
    /// guest sees as its argument list (argv[0] first); `grants` are the
    /// app's capabilities and `invocation` what they share.
    pub fn new(
        args: &[String],
        output_cap: usize,
        memory_limit: usize,
        grants: &Grants,
        invocation: &InvocationContext,
    ) -> (HostState, Captured) {
        let stdout = MemoryOutputPipe::new(output_cap);
        let stderr = MemoryOutputPipe::new(output_cap);
        let denials = invocation.denials.clone();
        let socket_denials = denials.clone();
        let wasi = WasiCtx::builder()
            .args(args)
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_ip_name_lookup(false)
            // Creating a socket grants nothing: every bind, connect, listen,
            // send and receive goes through the address check below (see
            // `warden_host_apis::sockets`), which refuses and records.
            .allow_tcp(true)
            .allow_udp(true)
            .socket_addr_check(move |addr, use_| {
                let allowed = warden_host_apis::sockets::check(&socket_denials, addr, use_);
                Box::pin(async move { allowed })
            })
            .build();
        let state = HostState {
            wasi,
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            caps: grants.states(invocation),
            limiter: Limiter::new(memory_limit),
            denials: denials.clone(),
        };
        let captured = Captured {
            stdout,
            stderr,
            denials,
        };
        (state, captured)
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            // Outbound wasi:http requests go through governed egress.
            hooks: &mut self.caps.egress,
        }
    }
}

/// The version of `wasi:filesystem` the linked WASI implementation exports.
const PREOPENS: &str = "wasi:filesystem/preopens@0.2.12";

/// Every interface a guest may import: all of WASI 0.2 (deny-by-default
/// through [`HostState`]) and each capability in `crate::capabilities`.
pub fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    Capabilities::link(&mut linker)?;
    deny_preopens(&mut linker)?;
    Ok(linker)
}

/// Replaces `get-directories` so that a guest looking for a filesystem is
/// noted (the guest sees the WASI answer: no directories). A note, not a
/// denial: Python's and JavaScript's runtimes look at every start.
fn deny_preopens(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    linker.allow_shadowing(true);
    linker
        .instance(PREOPENS)?
        .func_wrap("get-directories", |mut store, (): ()| {
            store.data_mut().denials.note_file_lookup();
            let none: Vec<(Resource<wasmtime_wasi::filesystem::Descriptor>, String)> = Vec::new();
            Ok((none,))
        })?;
    linker.allow_shadowing(false);
    Ok(())
}
