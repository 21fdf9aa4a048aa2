//! The configuration files a world writes: the server's (`server.toml`, from
//! the world's settings and people) and a phone's account file.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::sip::SipTls;
use crate::{Security, World, repo_root};

impl World {
    /// Writes the server's configuration file and returns its path.
    pub fn write_config(&self) -> PathBuf {
        let s = &self.servers;
        let (imap_port, imap_tls, smtp_port, smtp_tls, smtp_auth) = match self.security {
            // The inbound port takes the presence address as envelope sender
            // only from its login, as a company MX would.
            Security::Plain => (s.imap_port, "none", s.smtp_port, "none", true),
            Security::Starttls => (s.imap_port, "starttls", s.submission_port, "starttls", true),
            Security::Implicit => (s.imaps_port, "implicit", s.smtps_port, "implicit", true),
        };
        let mut t = String::new();
        writeln!(
            t,
            "[server]\naddress = \"{}\"\nstorage = \"{}\"\nlanguage = \"ja\"\n",
            self.presence,
            self.storage().display()
        )
        .unwrap();
        writeln!(
            t,
            "[imap]\nhost = \"127.0.0.1\"\nport = {imap_port}\ntls = \"{imap_tls}\"\nuser = \"{}\"\npassword = \"secret\"\nca_file = \"{}\"\nidle_timeout_secs = 60\ncommand_timeout_secs = 5\n{}",
            self.presence,
            s.ca.display(),
            self.imap_extra
        )
        .unwrap();
        writeln!(t, "[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\ntls = \"{smtp_tls}\"\nca_file = \"{}\"\nmax_per_second = 200\nmax_retry_secs = {}\ncommand_timeout_secs = 5", s.ca.display(), self.smtp_max_retry_secs).unwrap();
        if smtp_auth {
            writeln!(t, "user = \"{}\"\npassword = \"secret\"", self.presence).unwrap();
        }
        writeln!(t, "\n{}", self.trust).unwrap();
        writeln!(t, "\n[presence]\n{}", self.policy).unwrap();
        if let Some(port) = self.sip_port {
            writeln!(
                t,
                "[sip]\nlisten = \"127.0.0.1:{port}\"\ndomain = \"{}\"\ntrusted_networks = [{}]\ntrusted_over_udp = {}\n{}{}\n",
                s.domain,
                self.sip_trusted,
                self.sip_trusted_over_udp,
                self.sip_tls
                    .as_ref()
                    .map(SipTls::config)
                    .unwrap_or_default(),
                self.sip_extra
            )
            .unwrap();
        }
        if let Some(port) = self.web_port {
            writeln!(
                t,
                "[web]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{}\"\nmap_pack = \"{}\"\n{}\n",
                self.web_url(),
                repo_root().join("assets/mappack.bin").display(),
                self.web_extra
            )
            .unwrap();
        }
        if !self.directory.is_empty() {
            writeln!(t, "{}\n", self.directory).unwrap();
        }
        if !self.extra_sections.is_empty() {
            writeln!(t, "{}\n", self.extra_sections).unwrap();
        }
        if let Some(port) = self.metrics_port {
            writeln!(t, "[metrics]\nlisten = \"127.0.0.1:{port}\"\n").unwrap();
        }
        for p in &self.staff {
            let groups: Vec<String> = p.groups.iter().map(|g| format!("\"{g}\"")).collect();
            writeln!(
                t,
                "[[person]]\naccount = \"{}\"\nmail = \"{}\"\nsip = \"sip:{}@{}\"\ngroups = [{}]",
                p.account,
                p.mail,
                p.account,
                s.domain,
                groups.join(", ")
            )
            .unwrap();
            if let Some(pw) = &p.sip_password {
                writeln!(t, "sip_password = \"{pw}\"").unwrap();
            }
            if !p.details.is_empty() {
                writeln!(t, "{}", p.details).unwrap();
            }
            t.push('\n');
        }
        t.push_str(&self.rules);
        std::fs::write(self.config_path(), t).expect("write config");
        self.config_path()
    }

    /// A phone's account file for `account` (STARTTLS IMAP, submission with
    /// AUTH, as a phone on the road would use), and its state folder.
    pub fn terminal_config(&self, account: &str) -> PathBuf {
        let s = &self.servers;
        let mail = self.mail_of(account);
        let text = format!(
            "{trust}account = \"{account}\"\nmail = \"{mail}\"\npresence_server = \"{presence}\"\n\n\
             [imap]\nhost = \"127.0.0.1\"\nport = {imap}\ntls = \"starttls\"\nuser = \"{mail}\"\npassword = \"secret\"\nca_file = \"{ca}\"\n\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {smtp}\ntls = \"starttls\"\nuser = \"{mail}\"\npassword = \"secret\"\nca_file = \"{ca}\"\n\n\
             [location]\ngranularity = \"city\"\nmin_interval_secs = 0\n",
            presence = self.presence,
            imap = s.imap_port,
            smtp = s.submission_port,
            ca = s.ca.display(),
            trust = self.terminal_trust(),
        );
        let path = self.dir.path().join(format!("{account}.toml"));
        std::fs::write(&path, text).expect("write account file");
        path
    }

    /// The phone believes a Notify only as the test MTA's Authentication-Results
    /// prove it. The server's Notify is signed only when it sends through
    /// submission, so a test whose phones read Notify mails sets `security`
    /// to `Starttls` or `Implicit`.
    fn terminal_trust(&self) -> String {
        format!("authserv_id = \"{}\"\n", self.servers.authserv_id)
    }
}
