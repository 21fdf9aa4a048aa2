//! SIP over TLS with peers that are not ours: SIPp's desk-phone PUBLISH
//! scenario, carried over TLS by OpenSSL's own client, which checks the
//! server's certificate for its name. (Debian's SIPp is built without TLS,
//! `-t l1` refuses to start, so `openssl s_client` carries its TCP stream.)
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Stdio;

use mailpresence_e2e::{World, sipp_passed};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::task::JoinHandle;

/// A local TCP port whose first connection `openssl s_client` carries over
/// TLS to the server's TLS port. The task ends with what OpenSSL said.
async fn openssl_tunnel(world: &World) -> (SocketAddr, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = world.sip_tls_addr().to_string();
    let ca = world.sip_tls.as_ref().unwrap().certificate.clone();
    let task = tokio::spawn(async move {
        let (phone, _) = listener.accept().await.unwrap();
        let mut openssl = Command::new("openssl")
            .args(["s_client", "-quiet", "-connect", &server])
            .args(["-servername", "localhost", "-verify_hostname", "localhost"])
            .args(["-verify_return_error", "-CAfile"])
            .arg(&ca)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("openssl runs");
        let (mut from_phone, mut to_phone) = phone.into_split();
        let mut stdin = openssl.stdin.take().unwrap();
        let mut stdout = openssl.stdout.take().unwrap();
        tokio::select! {
            _ = tokio::io::copy(&mut from_phone, &mut stdin) => {}
            _ = tokio::io::copy(&mut stdout, &mut to_phone) => {}
        }
        let _ = openssl.start_kill();
        let out = openssl.wait_with_output().await.unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn sipp_publishes_and_refreshes_over_tls_through_openssl() {
    let world = World::new(&["yamada", "sato"]).with_sip_tls();
    let server = world.start_server();
    assert!(
        server.log_text().contains("UDP, TCP and TLS"),
        "{}",
        server.log_text()
    );
    let (tunnel, openssl) = openssl_tunnel(&world).await;
    let sipp = world.sipp_at(tunnel, "publish.xml", "yamada", "yamada", &["-t", "t1"]);
    let (ok, err) = sipp_passed(sipp).await;
    let openssl = openssl.await.unwrap();
    assert!(
        ok,
        "SIPp over TLS: {err}\n{}\nopenssl: {openssl}\n{}",
        world.sipp_errors(),
        server.log_text()
    );
    assert!(!openssl.contains("verify error"), "{openssl}");
}
