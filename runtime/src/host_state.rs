//! The state one invocation's `Store` carries, and the composition of the
//! capabilities a guest can link against.
//!
//! Deny by default is built here: the WASI context has no preopened
//! directories, no environment variables, no inherited stdio and a socket
//! check that refuses every address; outbound HTTP and connector
//! calls go through `GovernedEgress` (nothing leaves without a grant). Guest stdout and stderr are captured into capped
//! in-memory pipes.

use crate::limiter::Limiter;
use std::sync::Arc;
use warden_host_apis::classes::Label;
use warden_host_apis::denial::{Denial, DenialLog};
use warden_host_apis::egress::governed::{EgressContext, GovernedEgress};
use warden_host_apis::log::{LogLimits, LogState};
use warden_host_apis::storage::{StorageContext, StorageState};
use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    pub egress: GovernedEgress,
    pub storage: StorageState,
    pub log: LogState,
    /// The status and content type an HTTP-triggered handler asked for.
    pub reply: warden_host_apis::reply::ReplyState,
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
    /// guest sees as its argument list (argv[0] first).
    pub fn new(
        args: &[String],
        output_cap: usize,
        memory_limit: usize,
        log_limits: LogLimits,
        egress: Arc<EgressContext>,
        storage: Arc<StorageContext>,
    ) -> (HostState, Captured) {
        let label = Label::default();
        let stdout = MemoryOutputPipe::new(output_cap);
        let stderr = MemoryOutputPipe::new(output_cap);
        let denials = DenialLog::default();
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
            egress: GovernedEgress::new(egress, denials.clone(), label.clone()),
            storage: StorageState::new(storage, label).with_denials(denials.clone()),
            log: LogState::new(log_limits),
            reply: Default::default(),
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
            hooks: &mut self.egress,
        }
    }
}

/// The version of `wasi:filesystem` the linked WASI implementation exports.
const PREOPENS: &str = "wasi:filesystem/preopens@0.2.12";

/// Every interface a guest may import, in one place: all of WASI 0.2
/// (deny-by-default through [`HostState`]), `wasi:http`, and Warden's own.
/// Adding a capability adds one line here.
pub fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    warden_host_apis::log::add_to_linker(&mut linker, |s: &mut HostState| &mut s.log)?;
    warden_host_apis::reply::add_to_linker(&mut linker, |s: &mut HostState| &mut s.reply)?;
    warden_host_apis::connectors::add_to_linker(&mut linker, |s: &mut HostState| &mut s.egress)?;
    warden_host_apis::storage::add_to_linker(&mut linker, |s: &mut HostState| &mut s.storage)?;
    warden_host_apis::storage::keyvalue::add_to_linker(&mut linker, |s: &mut HostState| {
        &mut s.storage
    })?;
    deny_preopens(&mut linker)?;
    Ok(linker)
}

/// Replaces `get-directories` so that a guest looking for a filesystem is
/// recorded as a denial (the guest still sees the WASI answer: no
/// directories).
fn deny_preopens(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    linker.allow_shadowing(true);
    linker
        .instance(PREOPENS)?
        .func_wrap("get-directories", |mut store, (): ()| {
            store
                .data_mut()
                .denials
                .record(Denial::Filesystem, "preopened directories");
            let none: Vec<(Resource<wasmtime_wasi::filesystem::Descriptor>, String)> = Vec::new();
            Ok((none,))
        })?;
    linker.allow_shadowing(false);
    Ok(())
}
