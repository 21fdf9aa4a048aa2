//! The test mail servers themselves (`scripts/mail-servers.sh`): a second
//! instance runs beside the shared one on ports of its own and its stop
//! leaves the shared one alone; freezing Dovecot or Postfix stops a command
//! in progress until thawed; SMTP logins can be refused and allowed again.
//! The tests that disrupt servers do it to servers of their own, so the
//! other tests run beside them undisturbed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use mailpresence_e2e::{MailServers, OwnMailServers, World, tag};
use mailpresence_protocol::transport::{Endpoint, TlsMode, smtp};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// How long a frozen server must stay silent.
const SILENT: Duration = Duration::from_secs(2);
/// How soon a thawed server must answer.
const ANSWER: Duration = Duration::from_secs(10);

/// A line-based conversation over plain TCP (IMAP or SMTP).
struct Talk {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Talk {
    async fn connect(port: u16) -> Self {
        let (r, w) = TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"))
            .into_split();
        Self {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write");
    }

    /// The next line, or None when none comes within `wait` (or the peer closed).
    async fn line(&mut self, wait: Duration) -> Option<String> {
        let mut line = String::new();
        match tokio::time::timeout(wait, self.reader.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => Some(line.trim_end().to_owned()),
            _ => None,
        }
    }

    /// Lines until one starts with `prefix` (an IMAP tag): that line, or
    /// None after `wait`.
    async fn until(&mut self, prefix: &str, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let line = self.line(left).await?;
            if line.starts_with(prefix) {
                return Some(line);
            }
        }
    }

    /// The last line of the next SMTP reply ("250 OK", after any "250-…").
    async fn reply(&mut self, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let line = self.line(left).await?;
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some(line);
            }
        }
    }
}

/// Logs in over IMAP as `address`: the greeting and the LOGIN answer.
async fn imap_login(servers: &MailServers, address: &str) -> Talk {
    let mut imap = Talk::connect(servers.imap_port).await;
    let greeting = imap.line(ANSWER).await;
    assert!(
        greeting.as_deref().is_some_and(|g| g.starts_with("* OK")),
        "IMAP greeting on {}: {greeting:?}",
        servers.imap_port
    );
    imap.send(&format!("a LOGIN {address} secret")).await;
    let answer = imap.until("a ", ANSWER).await;
    assert!(
        answer.as_deref().is_some_and(|a| a.starts_with("a OK")),
        "IMAP login on {}: {answer:?}",
        servers.imap_port
    );
    imap
}

/// Connects over SMTP and reads the greeting.
async fn smtp_greeted(servers: &MailServers) -> Talk {
    let mut smtp = Talk::connect(servers.smtp_port).await;
    let greeting = smtp.reply(ANSWER).await;
    assert!(
        greeting.as_deref().is_some_and(|g| g.starts_with("220 ")),
        "SMTP greeting on {}: {greeting:?}",
        servers.smtp_port
    );
    smtp
}

fn mail(from: &str, to: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{}@example.test>\r\n\r\nmail-servers test\r\n",
        tag()
    )
    .into_bytes()
}

/// A world whose mail goes to `servers` (the shared instance, or a test's own).
fn world_on(servers: &MailServers) -> World {
    let mut world = World::new(&["tanaka"]);
    world.servers = servers.clone();
    world
}

/// A mail sent on the inbound port arrives in the mailbox over LMTP: the
/// instance's whole path works, on its own ports.
async fn delivers(servers: &MailServers) {
    let world = world_on(servers);
    let to = world.mail_of("tanaka");
    // From outside: the inbound port takes the company's own addresses as
    // envelope senders only from their logins.
    let from = "someone@outside.test";
    world.send(from, &to, &mail(from, &to, "whole path")).await;
    let mails = world.mailbox(&to).await.wait_for(1, ANSWER * 2).await;
    assert_eq!(
        mails.len(),
        1,
        "the mail sent to {} arrived",
        servers.dir.display()
    );
}

fn pid_in(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// The process ids of the instance's Dovecot and Postfix masters.
fn masters(servers: &MailServers) -> (String, String) {
    (
        pid_in(&servers.dir.join("dovecot/run/master.pid")),
        pid_in(&servers.dir.join("postfix/queue/pid/master.pid")),
    )
}

fn port_set(servers: &MailServers) -> HashSet<u16> {
    servers.ports().into_iter().map(|(_, p)| p).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_instance_runs_beside_the_shared_one_and_stops_alone() {
    let shared = MailServers::from_env();
    let shared_masters = masters(&shared);

    let mut own = OwnMailServers::start();
    let (a, b) = (port_set(&shared), port_set(&own.servers));
    assert_eq!(
        a.len(),
        9,
        "nine listeners, nine ports: {:?}",
        shared.ports()
    );
    assert_eq!(
        b.len(),
        9,
        "nine listeners, nine ports: {:?}",
        own.servers.ports()
    );
    assert!(
        a.is_disjoint(&b),
        "the second instance took ports of its own: {:?} beside {:?}",
        own.servers.ports(),
        shared.ports()
    );

    for servers in [&shared, &own.servers] {
        imap_login(servers, &format!("side.{}@example.test", tag())).await;
        smtp_greeted(servers).await;
        delivers(servers).await;
    }

    // Sessions of the shared instance open across the stop: their imap and
    // smtpd processes must live through it.
    let mut imap = imap_login(&shared, &format!("across.{}@example.test", tag())).await;
    let mut smtp = smtp_greeted(&shared).await;
    own.stop();
    imap.send("b NOOP").await;
    let noop = imap.until("b ", ANSWER).await;
    assert!(
        noop.as_deref().is_some_and(|a| a.starts_with("b OK")),
        "the shared instance's IMAP session lived through the other's stop: {noop:?}"
    );
    smtp.send("EHLO test.example").await;
    let ehlo = smtp.reply(ANSWER).await;
    assert!(
        ehlo.as_deref().is_some_and(|r| r.starts_with("250 ")),
        "the shared instance's SMTP session lived through the other's stop: {ehlo:?}"
    );
    for port in [own.servers.imap_port, own.servers.smtp_port] {
        assert!(
            TcpStream::connect(("127.0.0.1", port)).await.is_err(),
            "port {port} of the stopped instance is closed"
        );
    }
    assert_eq!(
        masters(&shared),
        shared_masters,
        "the shared instance's masters were left alone"
    );
    imap_login(&shared, &format!("after.{}@example.test", tag())).await;
    smtp_greeted(&shared).await;
    delivers(&shared).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_dovecot_answers_no_imap_command_until_thawed() {
    let world = World::on_own_mail_servers(&["tanaka"]);
    let mut imap = imap_login(&world.servers, &world.mail_of("tanaka")).await;

    let frozen = world.freeze_dovecot();
    imap.send("b NOOP").await;
    // The kernel still accepts a connection; nobody greets it.
    let mut fresh = Talk::connect(world.servers.imap_port).await;
    let (noop, greeting) = tokio::join!(imap.until("b ", SILENT), fresh.line(SILENT));
    assert_eq!(noop, None, "a NOOP to a frozen Dovecot gets no answer");
    assert_eq!(greeting, None, "a frozen Dovecot greets no one");

    world.thaw_dovecot();
    let noop = imap.until("b ", ANSWER).await;
    assert!(
        noop.as_deref().is_some_and(|a| a.starts_with("b OK")),
        "the NOOP is answered once thawed: {noop:?}"
    );
    let greeting = fresh.line(ANSWER).await;
    assert!(
        greeting.as_deref().is_some_and(|g| g.starts_with("* OK")),
        "the waiting connection is greeted once thawed: {greeting:?}"
    );
    drop(frozen);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_postfix_leaves_a_mail_half_sent_until_thawed() {
    let world = World::on_own_mail_servers(&["tanaka"]);
    let to = world.mail_of("tanaka");
    let mut smtp = smtp_greeted(&world.servers).await;
    for (command, expect) in [
        ("EHLO test.example".to_owned(), "250 "),
        // From outside: the company's own addresses need their login.
        ("MAIL FROM:<someone@outside.test>".to_owned(), "250 "),
        (format!("RCPT TO:<{to}>"), "250 "),
        ("DATA".to_owned(), "354 "),
    ] {
        smtp.send(&command).await;
        let reply = smtp.reply(ANSWER).await;
        assert!(
            reply.as_deref().is_some_and(|r| r.starts_with(expect)),
            "{command}: {reply:?}"
        );
    }
    let body = String::from_utf8(mail(&to, &to, "half sent")).unwrap();
    smtp.writer.write_all(body.as_bytes()).await.unwrap();

    let frozen = world.freeze_postfix();
    smtp.send(".").await;
    assert_eq!(
        smtp.reply(SILENT).await,
        None,
        "the end of the mail gets no answer from a frozen Postfix"
    );
    world.thaw_postfix();
    let reply = smtp.reply(ANSWER).await;
    assert!(
        reply.as_deref().is_some_and(|r| r.starts_with("250 ")),
        "the mail is taken once thawed: {reply:?}"
    );
    smtp.send("QUIT").await;
    drop(frozen);
    let mails = world.mailbox(&to).await.wait_for(1, ANSWER * 2).await;
    assert_eq!(mails.len(), 1, "and it arrives");
}

/// Logs in on the submission port (STARTTLS) or SMTPS (implicit TLS) as
/// `user`; the SMTP reply code of a refusal.
async fn smtp_login(servers: &MailServers, tls: TlsMode, user: &str) -> Result<(), String> {
    let endpoint = Endpoint {
        host: "127.0.0.1".into(),
        port: match tls {
            TlsMode::Implicit => servers.smtps_port,
            _ => servers.submission_port,
        },
        tls,
        credentials: Some(mailpresence_protocol::transport::Credentials::password(
            user, "secret",
        )),
        ca_file: Some(servers.ca.clone()),
    };
    let transport = smtp::transport(&endpoint, Duration::from_secs(30)).expect("SMTP setup");
    match transport.test_connection().await {
        Ok(_) => Ok(()),
        Err(e) => Err(e
            .status()
            .map_or_else(|| format!("no reply code: {e}"), |c| c.to_string())),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_logins_off_refuses_every_submission_login_with_535_until_on() {
    let world = World::on_own_mail_servers(&["tanaka"]);
    let user = world.mail_of("tanaka");
    let modes = [TlsMode::Starttls, TlsMode::Implicit];
    for tls in modes {
        assert_eq!(
            smtp_login(&world.servers, tls, &user).await,
            Ok(()),
            "{tls:?}"
        );
    }

    let off = world.smtp_logins_off();
    for tls in modes {
        assert_eq!(
            smtp_login(&world.servers, tls, &user).await,
            Err("535".to_owned()),
            "{tls:?} login while SMTP logins are off"
        );
    }
    // IMAP logins go on.
    imap_login(&world.servers, &user).await;

    world.smtp_logins(true);
    for tls in modes {
        assert_eq!(
            smtp_login(&world.servers, tls, &user).await,
            Ok(()),
            "{tls:?} login once SMTP logins are on again"
        );
    }
    world.smtp_logins(false);
    assert_eq!(
        smtp_login(&world.servers, TlsMode::Starttls, &user).await,
        Err("535".to_owned()),
        "off again"
    );
    off.undo();
    assert_eq!(
        smtp_login(&world.servers, TlsMode::Starttls, &user).await,
        Ok(()),
        "on again when the guard ends"
    );
}
