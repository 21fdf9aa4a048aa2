//! RFC 6186 SRV records: the mail services a domain publishes in DNS —
//! `_imaps._tcp` (implicit TLS) and `_imap._tcp` (STARTTLS) for reading,
//! `_submissions._tcp` (implicit TLS, RFC 8314) and `_submission._tcp`
//! (STARTTLS) for sending. Pure: the records come in, the choice goes out.
//! Never plain text: `_imap` and `_submission` are used with STARTTLS only.

use mailpresence_protocol::enrolment::ServiceSettings;
use mailpresence_protocol::transport::TlsMode;

/// One SRV record (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// Lower case, without the root's trailing dot; `.` when the domain says
    /// the service is not offered.
    pub target: String,
}

/// The four services, in the order a client prefers them within each pair:
/// implicit TLS first (RFC 8314 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailService {
    Imaps,
    Imap,
    Submissions,
    Submission,
}

impl MailService {
    pub const ALL: [MailService; 4] = [
        MailService::Imaps,
        MailService::Imap,
        MailService::Submissions,
        MailService::Submission,
    ];

    /// The SRV owner name's prefix (`_imaps._tcp`).
    pub fn label(self) -> &'static str {
        match self {
            MailService::Imaps => "_imaps._tcp",
            MailService::Imap => "_imap._tcp",
            MailService::Submissions => "_submissions._tcp",
            MailService::Submission => "_submission._tcp",
        }
    }

    fn tls(self) -> TlsMode {
        match self {
            MailService::Imaps | MailService::Submissions => TlsMode::Implicit,
            MailService::Imap | MailService::Submission => TlsMode::Starttls,
        }
    }
}

/// What DNS said for each of the four services (no records: empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SrvAnswers {
    pub imaps: Vec<SrvRecord>,
    pub imap: Vec<SrvRecord>,
    pub submissions: Vec<SrvRecord>,
    pub submission: Vec<SrvRecord>,
}

impl SrvAnswers {
    pub fn set(&mut self, service: MailService, records: Vec<SrvRecord>) {
        match service {
            MailService::Imaps => self.imaps = records,
            MailService::Imap => self.imap = records,
            MailService::Submissions => self.submissions = records,
            MailService::Submission => self.submission = records,
        }
    }
}

/// The IMAP and SMTP services to use, when the domain publishes both (one
/// without the other is not settings a worker can use: the form then).
pub fn choose(answers: &SrvAnswers) -> Option<(ServiceSettings, ServiceSettings)> {
    let imap = best(MailService::Imaps, &answers.imaps)
        .or_else(|| best(MailService::Imap, &answers.imap))?;
    let smtp = best(MailService::Submissions, &answers.submissions)
        .or_else(|| best(MailService::Submission, &answers.submission))?;
    Some((imap, smtp))
}

/// The first target to try for one service. RFC 2782 picks among equal
/// priorities at random by weight; settings are written down once, so the
/// heaviest is taken (the one the domain means most of its clients to use).
/// A record whose target is `.` means "not offered" (RFC 6186 §3.4, RFC
/// 2782); port 0 cannot be connected to.
fn best(service: MailService, records: &[SrvRecord]) -> Option<ServiceSettings> {
    records
        .iter()
        .filter(|r| r.target != "." && !r.target.is_empty() && r.port != 0)
        .min_by_key(|r| (r.priority, std::cmp::Reverse(r.weight)))
        .map(|r| ServiceSettings {
            host: r.target.clone(),
            port: r.port,
            tls: service.tls(),
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use super::*;

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port,
            target: target.into(),
        }
    }

    #[test]
    fn the_lowest_priority_wins_then_the_heaviest_weight() {
        let answers = SrvAnswers {
            imaps: vec![
                srv(20, 100, 993, "backup.example.jp"),
                srv(10, 1, 993, "light.example.jp"),
                srv(10, 60, 9993, "heavy.example.jp"),
            ],
            submission: vec![srv(0, 0, 587, "smtp.example.jp")],
            ..SrvAnswers::default()
        };
        let (imap, smtp) = choose(&answers).unwrap();
        assert_eq!(
            imap,
            ServiceSettings {
                host: "heavy.example.jp".into(),
                port: 9993,
                tls: TlsMode::Implicit
            }
        );
        assert_eq!(
            smtp,
            ServiceSettings {
                host: "smtp.example.jp".into(),
                port: 587,
                tls: TlsMode::Starttls
            }
        );
    }

    #[test]
    fn implicit_tls_is_preferred_and_a_dot_means_not_offered() {
        // RFC 6186 §3.4: `_submissions` says "not here"; `_submission` is used.
        let answers = SrvAnswers {
            imaps: vec![srv(5, 0, 993, "imap.example.jp")],
            imap: vec![srv(0, 0, 143, "imap.example.jp")],
            submissions: vec![srv(0, 0, 0, ".")],
            submission: vec![srv(0, 0, 587, "smtp.example.jp")],
        };
        let (imap, smtp) = choose(&answers).unwrap();
        assert_eq!((imap.port, imap.tls), (993, TlsMode::Implicit));
        assert_eq!((smtp.port, smtp.tls), (587, TlsMode::Starttls));
    }

    #[test]
    fn half_the_settings_or_only_refusals_are_none() {
        let only_imap = SrvAnswers {
            imaps: vec![srv(0, 0, 993, "imap.example.jp")],
            ..SrvAnswers::default()
        };
        assert_eq!(choose(&only_imap), None);
        let refused = SrvAnswers {
            imaps: vec![srv(0, 0, 0, ".")],
            imap: vec![srv(0, 0, 0, ".")],
            submissions: vec![srv(0, 0, 465, "smtp.example.jp")],
            submission: vec![],
        };
        assert_eq!(choose(&refused), None);
        let port_zero = SrvAnswers {
            imaps: vec![srv(0, 0, 0, "imap.example.jp")],
            submissions: vec![srv(0, 0, 465, "smtp.example.jp")],
            ..SrvAnswers::default()
        };
        assert_eq!(choose(&port_zero), None);
        assert_eq!(choose(&SrvAnswers::default()), None);
    }
}
