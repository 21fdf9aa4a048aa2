//! `uniffi-bindgen`, pinned to the workspace's UniFFI version:
//! `cargo run -p uniffi-bindgen -- generate --library target/debug/libmailpresence_core.so --language kotlin --config uniffi.toml --out-dir …`
fn main() {
    uniffi::uniffi_bindgen_main()
}
