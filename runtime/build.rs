//! Link options for the `warden` binary.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.ends_with("linux-gnu") {
        // Relative relocations packed (DT_RELR): the position-independent
        // binary's ~100,000 relocations come from a table of kilobytes
        // instead of 2.4 MB, which the loader read on every start (a
        // tenth of a short command). Needs binutils 2.38 and glibc 2.36.
        println!("cargo:rustc-link-arg-bin=warden=-Wl,-z,pack-relative-relocs");
    }
}
