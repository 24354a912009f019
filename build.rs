//! Link-time settings for the `sms-notify` executable.

use std::env;
use std::path::Path;

fn main() {
    let linux_gnu = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    // Packed relative relocations (DT_RELR, glibc 2.36 and binutils 2.38 or later): the position-
    // independent executable's 110,000 relocations take a few kilobytes instead of 2.6 MB, which the
    // loader would otherwise read, and keep, in memory at every start.
    if linux_gnu {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    if linux_gnu && release() && links_with_lld() {
        // The functions `serve` runs at start-up and while idle, side by side at the front of the
        // code (scripts/startup-order records them): the kernel maps code 64 KiB around each page
        // touched, so scattered they keep 14 MiB of code resident, together 4.5 MiB. A name the
        // executable lacks (the list is older than a change) only loses its place.
        let manifest = env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
        let order = Path::new(&manifest).join("link/startup.order");
        if order.is_file() {
            println!(
                "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
                order.display()
            );
            println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/startup.order");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
}

/// An optimised build (`--release`, and `cargo bench`, which inherits it).
fn release() -> bool {
    env::var("PROFILE").as_deref() == Ok("release")
}

/// Whether the executable is linked by LLD, which reads a symbol ordering file: Rust's own `rust-lld`
/// is the default linker on x86_64 Linux since Rust 1.90 (this crate needs 1.94), unless a linker or
/// linker flags were chosen, which may be GNU ld's (it has no such option).
fn links_with_lld() -> bool {
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64")
        && env::var_os("RUSTC_LINKER").is_none()
        && !flags.contains("linker")
        && !flags.contains("fuse-ld")
}
