//! Link-time settings for the `sms-notify` executable.

fn main() {
    // Packed relative relocations (DT_RELR, glibc 2.36 and binutils 2.38 or later): the position-
    // independent executable's 110,000 relocations take a few kilobytes instead of 2.6 MB, which the
    // loader would otherwise read, and keep, in memory at every start.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
