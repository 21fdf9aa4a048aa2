//! `uniffi-bindgen`, pinned to the workspace's UniFFI version:
//! `cargo run -p uniffi-bindgen -- generate --library target/debug/libmailpresence_phone.so --language kotlin --config uniffi.toml --out-dir …`
fn main() {
    uniffi::uniffi_bindgen_main()
}
