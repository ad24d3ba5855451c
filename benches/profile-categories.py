#!/usr/bin/env python3
"""Where a `warden serve` request spends its CPU, from `perf script` output.

Reads `perf script -F comm,tid,ip,sym,dso` (samples with call chains) on
stdin and prints each category's share of the samples and, given the
measured CPU time per request in microseconds as the first argument, its
microseconds per request.

A sample belongs to the first category one of its frames matches, walking
from the sampled frame towards the root: a malloc under instantiation counts
as allocation, the kernel's TCP send under hyper's write as socket I/O, and
guest code calling into the host as the host call. `DETAIL="cat;cat"` also
prints the commonest frames of those categories, to refine the rules.
"""
import collections
import os
import re
import sys

RULES = [
    ("allocation (malloc/free)",
     r"^(mi_|_mi_|__libc_malloc|malloc|free|realloc|calloc|__rust_alloc|__rust_dealloc|alloc::alloc::)"),
    ("memory reset after the call (pooling allocator)",
     r"StoreOpaque as core::ops::drop::Drop|deallocate_memory|deallocate_table|reset_with_pagemap"
     r"|DecommitQueue|PoolingInstanceAllocator|drop_in_place<alloc::boxed::Box<wasmtime::runtime::store::StoreInner"),
    ("socket I/O (kernel TCP on loopback)",
     r"^(__GI___writev|__libc_recv|__libc_send|__GI___libc_write|__libc_read|tcp_sendmsg|tcp_recvmsg"
     r"|sock_write_iter|sock_read_iter)"),
    ("fiber stacks (switching into and out of the guest)",
     r"wasmtime_fiber|wasmtime_internal_fiber|FiberStack|fiber::BlockingContext|fiber::Fiber|resume_fiber|StoreFiber"),
    ("guest code (compiled Wasm, its page faults and libcalls)", r"^wasm\["),
    ("instantiation",
     r"InstancePre<T>::instantiate|Instantiator|vm::instance::Instance::new|ModuleRegistry::register"
     r"|OwnedImports|InstanceAllocator>::allocate"),
    ("WASI and wasi-http contexts and resources",
     r"HostState::new|WasiCtxBuilder|WasiHttpCtx|wasmtime_wasi|ResourceTable|new_incoming_request"
     r"|capped_pipe|bindings::generated"),
    ("host calls from the guest (canonical ABI lifting and lowering)",
     r"HostFn::|func::host::|typed::|LowerContext|LiftContext|component::func::"),
    ("tracing and metrics (spans, span store, instruments)",
     r"opentelemetry|telemetry::|SpanStore|Instruments|record_on_span|invocation_span|emit_logs|span_error|signals::"),
    ("quota, kill and limit checks",
     r"metering|Meter|admit_invocation|KillSwitch|kill::|quota|epoch_deadline|set_fuel|limiter|Limiter|contain"),
    ("store and invocation set-up and accounting",
     r"new_store|Store<T>::new|StoreInner|InvocationContext|call_bounded|classify|account|invoke::"),
    ("routing", r"routes::|Routes::|route_owners"),
    ("HTTP server (hyper, request and response)",
     r"hyper::|hyper_util::|serve_http1|Server::handle|respond::|http::header|http_body_util|cookies::|send_deadline"),
    ("tokio scheduler, I/O readiness and timers", r"tokio::|mio::|epoll|futex|schedule|park"),
]
RULES = [(name, re.compile(pattern)) for name, pattern in RULES]
KERNEL_OTHER = "kernel, other (page faults, interrupts, scheduling)"
DETAIL = collections.defaultdict(collections.Counter)


def categorize(frames):
    for i, sym in enumerate(frames):
        for name, rx in RULES:
            if rx.search(sym):
                DETAIL[name][" < ".join(f[:70] for f in frames[max(0, i - 1):i + 2])] += 1
                return name
    if frames and frames[0].startswith("[k]"):
        return KERNEL_OTHER
    return "other"


def frame(line):
    parts = line.strip().split(None, 1)
    if len(parts) < 2:
        return None
    m = re.match(r"(.*) \((.*)\)$", parts[1])
    sym, dso = (m.group(1), m.group(2)) if m else (parts[1], "")
    sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
    if "kallsyms" in dso:
        return "[k]" + sym
    # wasmtime registers compiled Wasm in /tmp/perf-PID.map (or perf sees
    # an anonymous executable mapping): either way it is the guest.
    if dso.startswith("/tmp/perf-") or dso.startswith("[JIT]") or dso.startswith("//anon"):
        return "wasm[" + sym + "]"
    return sym


def main():
    counts = collections.Counter()
    frames = []
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            if frames:
                counts[categorize(frames)] += 1
            frames = []
        elif line[0] in " \t":
            f = frame(line)
            if f:
                frames.append(f)
    if frames:
        counts[categorize(frames)] += 1
    total = sum(counts.values())
    if total == 0:
        sys.exit("profile-categories: no samples with call chains on stdin")
    per_request = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    print(f"{'category':<66}{'share':>7}{'µs/request':>12}")
    for name, n in counts.most_common():
        print(f"{name:<66}{n / total:>7.1%}{per_request * n / total:>12.1f}")
    print(f"{'total (' + str(total) + ' samples)':<66}{1:>7.1%}{per_request:>12.1f}")
    for name in filter(None, os.environ.get("DETAIL", "").split(";")):
        print(f"\n== {name}")
        for k, n in DETAIL[name].most_common(25):
            print(f"{n / total:6.2%}  {k}")


if __name__ == "__main__":
    main()
