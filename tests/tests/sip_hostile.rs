//! Hostile SIP at the running server: a few thousand malformed, truncated and
//! oversized datagrams and TCP streams; thousands of valid SUBSCRIBEs from one
//! source; more connections than one address may hold, a sender of one byte a
//! second, no file descriptors left. Afterwards it must still answer a valid
//! PUBLISH, with bounded memory, and it must not have panicked.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use mailpresence_e2e::{RawSip, World, wait_until};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn valid_publish(port: u16, n: usize) -> Vec<u8> {
    let body = r#"<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:yamada@example.test"><tuple id="a"><status><basic>open</basic></status></tuple><dm:person id="p"><rpid:activities><rpid:busy/></rpid:activities><dm:note>来客対応</dm:note></dm:person></presence>"#;
    format!(
        "PUBLISH sip:yamada@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKh{n};rport\r\nFrom: <sip:yamada@example.test>;tag=h{n}\r\nTo: <sip:yamada@example.test>\r\nCall-ID: h{n}@test\r\nCSeq: 1 PUBLISH\r\nEvent: presence\r\nExpires: 600\r\nContent-Type: application/pidf+xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn valid_subscribe(port: u16, n: usize) -> Vec<u8> {
    format!(
        "SUBSCRIBE sip:yamada@example.test SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKs{n}\r\nf: <sip:sato@example.test>;tag=s{n}\r\nt: <sip:yamada@example.test>\r\ni: s{n}@test\r\nCSeq: 1 SUBSCRIBE\r\no: presence\r\nExpires: 60\r\nl: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Broken variants of valid messages, and plain garbage.
fn hostile(rng: &mut StdRng, port: u16, n: usize) -> Vec<u8> {
    let base = if n.is_multiple_of(2) {
        valid_publish(port, n)
    } else {
        valid_subscribe(port, n)
    };
    match n % 12 {
        0 => base[..rng.random_range(0..base.len())].to_vec(),
        1 => {
            let mut m = base;
            for _ in 0..rng.random_range(1..8) {
                let i = rng.random_range(0..m.len());
                m[i] = rng.random();
            }
            m
        }
        2 => (0..rng.random_range(1..1500))
            .map(|_| rng.random())
            .collect(),
        3 => {
            let mut m = base;
            m.extend(std::iter::repeat_n(b'A', 70_000));
            m
        }
        4 => String::from_utf8_lossy(&base)
            .replace("Content-Length: ", "Content-Length: 99999999")
            .into_bytes(),
        5 => String::from_utf8_lossy(&base)
            .replace("Content-Length: ", "Content-Length: -")
            .into_bytes(),
        6 => {
            let headers: String = (0..500).map(|i| format!("X-H{i}: {i}\r\n")).collect();
            String::from_utf8_lossy(&base)
                .replacen("\r\n", &format!("\r\n{headers}"), 1)
                .into_bytes()
        }
        7 => {
            let deep = format!(
                "<presence>{}{}</presence>",
                "<a>".repeat(5000),
                "</a>".repeat(5000)
            );
            let s = String::from_utf8_lossy(&valid_publish(port, n)).into_owned();
            let head = s.split("\r\n\r\n").next().unwrap_or_default().replace(
                &format!(
                    "Content-Length: {}",
                    s.len() - s.find("\r\n\r\n").unwrap_or(0) - 4
                ),
                &format!("Content-Length: {}", deep.len()),
            );
            format!("{head}\r\n\r\n{deep}").into_bytes()
        }
        8 => b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKnone\r\nCSeq: 1 NOTIFY\r\n\r\n"
            .to_vec(),
        9 => String::from_utf8_lossy(&base)
            .replace("SIP/2.0\r\n", "SIP/3.0\r\n")
            .into_bytes(),
        10 => {
            let mut m = base;
            m.insert(rng.random_range(0..m.len()), 0);
            m
        }
        _ => String::from_utf8_lossy(&base)
            .replace("\r\n", "\n")
            .into_bytes(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn thousands_of_broken_messages_then_a_valid_publish_is_answered() {
    let world = World::new(&["yamada", "sato"]).with_sip();
    let server = world.start_server();
    let mut rng = StdRng::seed_from_u64(20261126);
    let raw = RawSip::new(world.sip_addr()).await;

    for n in 0..3000 {
        // A UDP payload holds at most 65,507 bytes; longer ones go over TCP below.
        let bytes = hostile(&mut rng, raw.port(), n);
        raw.send_bytes(&bytes[..bytes.len().min(65_000)]).await;
        if n.is_multiple_of(200) {
            tokio::task::yield_now().await;
        }
    }
    let mut streams = 0;
    for n in 0..300 {
        let Ok(mut tcp) = TcpStream::connect(world.sip_addr()).await else {
            continue;
        };
        let bytes = hostile(&mut rng, raw.port(), n);
        let cut = rng.random_range(0..=bytes.len());
        let _ = tcp.write_all(&bytes[..cut]).await;
        if n.is_multiple_of(3) {
            let _ = tcp.write_all(&valid_publish(raw.port(), n)).await;
        }
        streams += 1;
        if n.is_multiple_of(2) {
            drop(tcp);
        } else {
            let _ = tcp.shutdown().await;
        }
    }
    assert!(streams > 250);

    // Still there, on UDP …
    let phone = RawSip::new(world.sip_addr()).await;
    let answered = wait_until(Duration::from_secs(15), || async {
        phone
            .send_bytes(&valid_publish(phone.port(), 999_999))
            .await;
        loop {
            match phone.recv(Duration::from_millis(500)).await {
                Some(r) if r.starts_with("SIP/2.0 200") => return true,
                Some(_) => continue,
                None => return false,
            }
        }
    })
    .await;
    assert!(
        answered,
        "no 200 for a valid PUBLISH after the flood:\n{}",
        tail(&server.log_text())
    );
    // … and on TCP.
    let mut tcp = TcpStream::connect(world.sip_addr()).await.unwrap();
    tcp.write_all(&valid_publish(phone.port(), 1_000_000))
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        buf[..n].starts_with(b"SIP/2.0 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert!(
        !server.log_text().contains("panicked"),
        "{}",
        tail(&server.log_text())
    );
}

/// A valid PUBLISH over a new TCP connection from `from` (127.0.0.x): the
/// status line of the answer, or what went wrong.
async fn publish_over_tcp(world: &World, from: [u8; 4], n: usize) -> String {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let Ok(mut tcp) = socket.connect(world.sip_addr()).await else {
        return "connect failed".into();
    };
    if tcp.write_all(&valid_publish(5060, n)).await.is_err() {
        return "write failed".into();
    }
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await {
        Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or("(closed)")
            .to_owned(),
        other => format!("no answer: {other:?}"),
    }
}

fn connect_from(from: [u8; 4], to: SocketAddr) -> impl Future<Output = std::io::Result<TcpStream>> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to)
}

/// CPU time the server has used, in clock ticks (1/100 s).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After "(comm)": state is the 1st field, utime the 12th, stime the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Voluntary context switches of all the process's threads: each time one
/// went to sleep. Preemption by a busy machine is not counted.
fn wakeups(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.starts_with("voluntary_ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// True when the server closes `stream` within `within`.
async fn is_closed(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let until_closed = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, until_closed).await.is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_hog_and_a_slow_sender_do_not_shut_out_a_phone() {
    let mut world = World::new(&["yamada"]).with_sip();
    world.sip_extra = "max_connections_per_ip = 32\nmessage_timeout_secs = 3\n".into();
    let server = world.start_server();
    let rss_before = server.rss_kib();

    // One byte a second: cut off after the 3 s a message may take.
    let mut slow = TcpStream::connect(world.sip_addr()).await.unwrap();
    let publish = valid_publish(5060, 1);
    let slow_sender = tokio::spawn(async move {
        for byte in publish.iter().take(30) {
            if slow.write_all(&[*byte]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        is_closed(&mut slow, Duration::from_secs(1)).await
    });
    // 300 more from the same address: all but 31 (or 32, once the slow one
    // is gone) are closed at once.
    let mut hog = Vec::new();
    for _ in 0..300 {
        hog.push(TcpStream::connect(world.sip_addr()).await.unwrap());
    }
    let checks = hog
        .iter_mut()
        .map(|tcp| is_closed(tcp, Duration::from_secs(2)));
    let refused = futures::future::join_all(checks)
        .await
        .into_iter()
        .filter(|closed| *closed)
        .count();
    // The ones let in each begin a 60 KB message and stop there.
    for tcp in &mut hog {
        let _ = tcp
            .write_all(b"PUBLISH sip:yamada@example.test SIP/2.0\r\nX-Fill: ")
            .await;
        let _ = tcp.write_all(&[b'x'; 60_000]).await;
    }
    // Meanwhile a phone at another address is served.
    let answer = publish_over_tcp(&world, [127, 0, 0, 2], 2).await;
    assert_eq!(answer, "SIP/2.0 200 OK", "{}", tail(&server.log_text()));
    let rss_during = server.rss_kib();

    assert!(
        slow_sender.await.unwrap(),
        "the 1-byte-a-second sender was not cut off"
    );
    drop(hog);
    let answer = publish_over_tcp(&world, [127, 0, 0, 1], 3).await;
    assert_eq!(answer, "SIP/2.0 200 OK", "{}", tail(&server.log_text()));
    let rss_after = server.rss_kib();
    let log = server.log_text();
    let refusal_lines = log.matches("SIP connection refused").count();
    println!(
        "300 connections from one address: {refused} closed at once; {refusal_lines} log line(s); \
         server RSS {rss_before} KiB before, {rss_during} KiB under the hog, {rss_after} KiB after"
    );
    assert!(
        (300 - 32..=300 - 31).contains(&refused),
        "{refused} of 300 closed at once"
    );
    assert!(
        refusal_lines <= 3,
        "refusals flood the log:\n{}",
        tail(&log)
    );
    assert!(rss_after < 256 * 1024, "server RSS {rss_after} KiB");
    assert!(!log.contains("panicked"), "{}", tail(&log));
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_file_descriptors_the_server_pauses_and_then_serves_again() {
    let world = World::new(&["yamada"]).with_sip();
    let server = world.start_server();
    let pid = server.pid();
    let open_files = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let limit = format!("--nofile={}", open_files + 4);
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &limit])
        .status()
        .expect("prlimit (util-linux) runs");
    assert!(status.success());

    // 16 addresses, no per-address bound in the way: four connections get
    // a descriptor, the others wait in the listen backlog.
    let mut waiting = Vec::new();
    for n in 0..40u8 {
        waiting.push(
            connect_from([127, 0, 1, n % 16 + 1], world.sip_addr())
                .await
                .unwrap(),
        );
    }
    let (ticks_before, wakeups_before) = (cpu_ticks(pid), wakeups(pid));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let used = cpu_ticks(pid) - ticks_before;
    // Saturating: a thread that ends takes its count with it.
    let woken = wakeups(pid).saturating_sub(wakeups_before);
    let log = server.log_text();
    let pauses = log.matches("cannot accept SIP connections").count();
    println!(
        "out of descriptors: {used} ticks of CPU and {woken} wake-ups in 3 s, {pauses} log line(s)"
    );
    assert!(pauses >= 1, "no accept failure seen:\n{}", tail(&log));
    assert!(
        pauses <= 2,
        "accept failures flood the log:\n{}",
        tail(&log)
    );
    // A loop that retries at once burns a whole core (300 ticks in 3 s);
    // one that sleeps a millisecond between tries wakes ~3,000 times. The
    // paused loop tries about 8 times. CPU alone is a poor judge (a debug
    // build's own timers showed 8 to 14 ticks here, with or without a 1 ms
    // retry), so wake-ups are checked too: ~90 paused, ~1,500 with a 1 ms
    // retry when last measured.
    assert!(
        used < 100,
        "{used}/300 ticks of CPU in 3 s: the accept loop spins"
    );
    assert!(
        woken < 600,
        "{woken} wake-ups in 3 s: the accept loop retries without pausing"
    );

    drop(waiting);
    let served = wait_until(Duration::from_secs(15), || async {
        publish_over_tcp(&world, [127, 0, 0, 1], 4).await == "SIP/2.0 200 OK"
    })
    .await;
    assert!(
        served,
        "no 200 once descriptors were free:\n{}",
        tail(&server.log_text())
    );
}

fn tail(log: &str) -> String {
    log.lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn thousands_of_subscribes_from_one_source_stop_at_the_per_watcher_bound() {
    let mut world = World::new(&["yamada", "sato"]).with_sip();
    world.sip_extra = "max_dialogs_per_watcher = 300".into();
    let server = world.start_server();
    let before = server.rss_kib();
    let flood = RawSip::new(world.sip_addr()).await;
    let (mut ok, mut refused) = (0, 0);
    for n in 0..3000 {
        flood.send_bytes(&valid_subscribe(flood.port(), n)).await;
        // Read what came back so far (200s, 403s, NOTIFYs), without waiting.
        while let Some(m) = flood
            .recv(Duration::from_millis(if n % 100 == 99 { 200 } else { 0 }))
            .await
        {
            if m.starts_with("SIP/2.0 200") {
                ok += 1;
            } else if m.starts_with("SIP/2.0 403") {
                refused += 1;
            }
        }
    }
    while let Some(m) = flood.recv(Duration::from_millis(500)).await {
        if m.starts_with("SIP/2.0 200") {
            ok += 1;
        } else if m.starts_with("SIP/2.0 403") {
            refused += 1;
        }
    }
    assert_eq!(ok, 300, "accepted up to the bound ({refused} refused)");
    assert!(refused > 2000, "the rest refused: {refused}");
    assert_eq!(world.status()["open_watches"], 300);
    let phone = RawSip::new(world.sip_addr()).await;
    phone.send_bytes(&valid_publish(phone.port(), 7)).await;
    assert_eq!(
        phone.status().await,
        Some(200),
        "{}",
        tail(&server.log_text())
    );
    let after = server.rss_kib();
    println!("server memory: {before} KiB before, {after} KiB after 3,000 SUBSCRIBEs");
    assert!(
        after < before + 64 * 1024,
        "memory grew from {before} to {after} KiB"
    );
}
