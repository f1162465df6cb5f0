//! The SMTP session state machine (RFC 5321 section 4.1.4 ordering): commands in, replies
//! out. Pure: the listener does the I/O, reads message data and stores the message.

use super::command::{self, Command, SyntaxError};
use std::sync::Arc;

/// What a session allows; one per listener.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    pub(crate) hostname: String,
    /// Lower-case, without a trailing dot.
    pub(crate) intake_domains: Vec<String>,
    pub(crate) max_message_bytes: u64,
    pub(crate) max_recipients: usize,
    pub(crate) max_errors: u32,
    /// A certificate is configured, so `STARTTLS` is offered.
    pub(crate) tls_available: bool,
}

/// One reply: a code and its text lines (each already carrying its enhanced status code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) code: u16,
    pub(crate) lines: Vec<String>,
}

/// What the listener does after sending the reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Read the next command.
    Command,
    /// Read the message data (the reply was `354`).
    Data,
    /// Start TLS on the connection (the reply was `220`).
    StartTls,
    /// Close the connection.
    Close,
}

/// The envelope of a message whose data was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Envelope {
    pub(crate) helo: String,
    pub(crate) mail_from: String,
    pub(crate) rcpt_to: Vec<String>,
}

/// How reading the message data ended, as far as the session cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DataResult {
    /// Stored under this id.
    Stored(String),
    /// Over the size limit; the data was read and dropped.
    TooBig,
    /// The message could not be stored (the sender should retry).
    StoreFailed,
}

/// One connection's state.
#[derive(Debug)]
pub(crate) struct Session {
    policy: Arc<Policy>,
    helo: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
    errors: u32,
    tls: bool,
}

impl Reply {
    pub(crate) fn new(code: u16, text: impl Into<String>) -> Self {
        Self {
            code,
            lines: vec![text.into()],
        }
    }

    /// The reply as sent: `250-first`, …, `250 last`, each ending in CRLF.
    pub(crate) fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            out.extend_from_slice(format!("{}{sep}{line}\r\n", self.code).as_bytes());
        }
        if self.lines.is_empty() {
            out.extend_from_slice(format!("{}\r\n", self.code).as_bytes());
        }
        out
    }
}

impl Session {
    pub(crate) fn new(policy: Arc<Policy>) -> Self {
        Self {
            policy,
            helo: None,
            mail_from: None,
            rcpt_to: Vec::new(),
            errors: 0,
            tls: false,
        }
    }

    /// The `220` greeting.
    pub(crate) fn greeting(&self) -> Reply {
        Reply::new(220, format!("{} ESMTP Postern ready", self.policy.hostname))
    }

    /// TLS is up: everything learnt before is forgotten (RFC 3207 section 4.2).
    pub(crate) fn tls_started(&mut self) {
        self.helo = None;
        self.reset();
        self.tls = true;
    }

    pub(crate) fn is_tls(&self) -> bool {
        self.tls
    }

    /// Handles one command line (without its line ending).
    pub(crate) fn command(&mut self, line: &[u8]) -> (Reply, Next) {
        match command::parse(line) {
            Ok(cmd) => self.run(cmd),
            Err(SyntaxError::Arguments(why)) => self.fail(501, "5.5.4", why),
            Err(SyntaxError::Parameter(p)) => {
                self.fail(555, "5.5.4", &format!("parameter {p} is not supported"))
            }
        }
    }

    /// A command line longer than the limit arrived (and was skipped).
    pub(crate) fn line_too_long(&mut self) -> (Reply, Next) {
        self.fail(500, "5.5.2", "line too long")
    }

    /// The reply to the end of the message data; the transaction is over either way.
    pub(crate) fn data_finished(&mut self, result: DataResult) -> (Reply, Next) {
        self.reset();
        match result {
            DataResult::Stored(id) => ok(250, "2.0.0", &format!("queued as {id}")),
            DataResult::TooBig => self.fail(552, "5.3.4", "message exceeds the size limit"),
            DataResult::StoreFailed => self.fail(
                451,
                "4.3.0",
                "the message could not be stored, try again later",
            ),
        }
    }

    /// The envelope of the transaction whose data is being read.
    pub(crate) fn envelope(&self) -> Envelope {
        Envelope {
            helo: self.helo.clone().unwrap_or_default(),
            mail_from: self.mail_from.clone().unwrap_or_default(),
            rcpt_to: self.rcpt_to.clone(),
        }
    }

    fn run(&mut self, cmd: Command) -> (Reply, Next) {
        match cmd {
            Command::Ehlo(domain) => {
                self.reset();
                self.helo = Some(domain.clone());
                let p = &self.policy;
                let mut lines = vec![
                    format!("{} greets {domain}", p.hostname),
                    "PIPELINING".to_owned(),
                    format!("SIZE {}", p.max_message_bytes),
                    "8BITMIME".to_owned(),
                    "ENHANCEDSTATUSCODES".to_owned(),
                ];
                if p.tls_available && !self.tls {
                    lines.push("STARTTLS".to_owned());
                }
                lines.push("HELP".to_owned());
                (Reply { code: 250, lines }, Next::Command)
            }
            Command::Helo(domain) => {
                self.reset();
                let reply = Reply::new(250, format!("{} greets {domain}", self.policy.hostname));
                self.helo = Some(domain);
                (reply, Next::Command)
            }
            Command::Mail { from, size } => {
                if self.helo.is_none() {
                    return self.fail(503, "5.5.1", "send EHLO or HELO first");
                }
                if self.mail_from.is_some() {
                    return self.fail(503, "5.5.1", "a transaction is already open");
                }
                if size.is_some_and(|s| s > self.policy.max_message_bytes) {
                    return self.fail(552, "5.3.4", "message size exceeds the limit");
                }
                self.mail_from = Some(from);
                ok(250, "2.1.0", "sender ok")
            }
            Command::Rcpt(to) => {
                if self.mail_from.is_none() {
                    return self.fail(503, "5.5.1", "send MAIL first");
                }
                if !self.accepts(&to) {
                    return self.fail(550, "5.7.1", "relaying denied: not an intake domain");
                }
                if self.rcpt_to.len() >= self.policy.max_recipients {
                    return self.fail(452, "4.5.3", "too many recipients");
                }
                if !self.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(&to)) {
                    self.rcpt_to.push(to);
                }
                ok(250, "2.1.5", "recipient ok")
            }
            Command::Data => {
                if self.mail_from.is_none() {
                    return self.fail(503, "5.5.1", "send MAIL first");
                }
                if self.rcpt_to.is_empty() {
                    return self.fail(554, "5.5.1", "no valid recipients");
                }
                (
                    Reply::new(354, "end data with <CR><LF>.<CR><LF>"),
                    Next::Data,
                )
            }
            Command::Rset => {
                self.reset();
                ok(250, "2.0.0", "reset")
            }
            Command::Noop => ok(250, "2.0.0", "ok"),
            Command::Quit => (
                Reply::new(
                    221,
                    format!("2.0.0 {} closing connection", self.policy.hostname),
                ),
                Next::Close,
            ),
            Command::Vrfy => ok(
                252,
                "2.5.0",
                "cannot verify the user, but will accept the message",
            ),
            Command::Help => ok(
                214,
                "2.0.0",
                "commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS",
            ),
            Command::StartTls => {
                if !self.policy.tls_available {
                    return self.fail(502, "5.5.1", "STARTTLS is not available");
                }
                if self.tls {
                    return self.fail(503, "5.5.1", "TLS is already active");
                }
                if self.mail_from.is_some() {
                    return self.fail(503, "5.5.1", "STARTTLS inside a transaction");
                }
                (Reply::new(220, "2.0.0 ready to start TLS"), Next::StartTls)
            }
            Command::NotImplemented(verb) => {
                self.fail(502, "5.5.1", &format!("{verb} is not implemented"))
            }
            Command::Unknown => self.fail(500, "5.5.1", "command unrecognized"),
        }
    }

    /// Whether mail for `address` is taken: the intake domains, and `postmaster`.
    fn accepts(&self, address: &str) -> bool {
        let Some((local, domain)) = address.rsplit_once('@') else {
            return address.eq_ignore_ascii_case("postmaster");
        };
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        !local.is_empty() && self.policy.intake_domains.contains(&domain)
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }

    /// An error reply; past the error limit the connection is closed with `421` instead.
    fn fail(&mut self, code: u16, status: &str, text: &str) -> (Reply, Next) {
        self.errors += 1;
        if self.errors >= self.policy.max_errors {
            return (
                Reply::new(
                    421,
                    format!(
                        "4.7.0 {} too many errors, closing connection",
                        self.policy.hostname
                    ),
                ),
                Next::Close,
            );
        }
        (Reply::new(code, format!("{status} {text}")), Next::Command)
    }
}

fn ok(code: u16, status: &str, text: &str) -> (Reply, Next) {
    (Reply::new(code, format!("{status} {text}")), Next::Command)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Arc<Policy> {
        Arc::new(Policy {
            hostname: "mx.intake.example".into(),
            intake_domains: vec!["intake.example".into()],
            max_message_bytes: 10_000,
            max_recipients: 2,
            max_errors: 10,
            tls_available: true,
        })
    }

    fn code(s: &mut Session, line: &str) -> u16 {
        s.command(line.as_bytes()).0.code
    }

    #[test]
    fn a_whole_transaction_runs_in_order() {
        let mut s = Session::new(policy());
        assert_eq!(s.greeting().code, 220);
        let (ehlo, next) = s.command(b"EHLO client.example");
        assert_eq!((ehlo.code, next), (250, Next::Command));
        for ext in [
            "PIPELINING",
            "SIZE 10000",
            "8BITMIME",
            "ENHANCEDSTATUSCODES",
            "STARTTLS",
        ] {
            assert!(ehlo.lines.iter().any(|l| l == ext), "{ext}");
        }
        assert_eq!(code(&mut s, "MAIL FROM:<> SIZE=500"), 250);
        assert_eq!(code(&mut s, "RCPT TO:<bounces+k1@Intake.Example>"), 250);
        let (reply, next) = s.command(b"DATA");
        assert_eq!((reply.code, next), (354, Next::Data));
        assert_eq!(
            s.envelope(),
            Envelope {
                helo: "client.example".into(),
                mail_from: String::new(),
                rcpt_to: vec!["bounces+k1@Intake.Example".into()],
            }
        );
        let (reply, _) = s.data_finished(DataResult::Stored("abc".into()));
        assert_eq!(reply.to_wire(), b"250 2.0.0 queued as abc\r\n");
        // The transaction is over: a new one needs MAIL again.
        assert_eq!(code(&mut s, "RCPT TO:<a@intake.example>"), 503);
        assert_eq!(s.command(b"QUIT").1, Next::Close);
    }

    #[test]
    fn multiline_replies_use_dashes_until_the_last_line() {
        let r = Reply {
            code: 250,
            lines: vec!["a".into(), "b".into(), "c".into()],
        };
        assert_eq!(r.to_wire(), b"250-a\r\n250-b\r\n250 c\r\n");
    }

    #[test]
    fn commands_out_of_sequence_get_503() {
        let mut s = Session::new(policy());
        assert_eq!(code(&mut s, "MAIL FROM:<a@b.example>"), 503);
        assert_eq!(code(&mut s, "HELO client.example"), 250);
        assert_eq!(code(&mut s, "RCPT TO:<a@intake.example>"), 503);
        assert_eq!(code(&mut s, "DATA"), 503);
        assert_eq!(code(&mut s, "MAIL FROM:<a@b.example>"), 250);
        assert_eq!(code(&mut s, "MAIL FROM:<a@b.example>"), 503);
        assert_eq!(code(&mut s, "DATA"), 554);
    }

    #[test]
    fn other_domains_are_refused_so_the_listener_is_no_relay() {
        let mut s = Session::new(policy());
        code(&mut s, "EHLO c");
        code(&mut s, "MAIL FROM:<a@b.example>");
        let (reply, _) = s.command(b"RCPT TO:<victim@elsewhere.example>");
        assert_eq!(reply.code, 550);
        assert!(reply.lines[0].starts_with("5.7.1"));
        assert_eq!(code(&mut s, "RCPT TO:<a@sub.intake.example>"), 550);
        assert_eq!(code(&mut s, "RCPT TO:<a@intake.example.>"), 250);
        assert_eq!(code(&mut s, "RCPT TO:<postmaster>"), 250);
    }

    #[test]
    fn limits_give_their_codes() {
        let mut s = Session::new(policy());
        code(&mut s, "EHLO c");
        assert_eq!(code(&mut s, "MAIL FROM:<a@b.example> SIZE=10001"), 552);
        assert_eq!(code(&mut s, "MAIL FROM:<a@b.example> SIZE=10000"), 250);
        assert_eq!(code(&mut s, "RCPT TO:<a@intake.example>"), 250);
        assert_eq!(code(&mut s, "RCPT TO:<b@intake.example>"), 250);
        let (reply, _) = s.command(b"RCPT TO:<c@intake.example>");
        assert_eq!(reply.code, 452);
        assert!(reply.lines[0].starts_with("4.5.3"));
        assert_eq!(s.data_finished(DataResult::TooBig).0.code, 552);
        assert_eq!(s.data_finished(DataResult::StoreFailed).0.code, 451);
    }

    #[test]
    fn too_many_errors_close_the_connection() {
        let mut s = Session::new(policy());
        for _ in 0..9 {
            assert_eq!(
                s.command(b"FROB"),
                (Reply::new(500, "5.5.1 command unrecognized"), Next::Command)
            );
        }
        let (reply, next) = s.command(b"FROB");
        assert_eq!((reply.code, next), (421, Next::Close));
    }

    #[test]
    fn small_commands_answer_as_rfc_5321_says() {
        let mut s = Session::new(policy());
        assert_eq!(code(&mut s, "NOOP"), 250);
        assert_eq!(code(&mut s, "VRFY postmaster"), 252);
        assert_eq!(code(&mut s, "HELP"), 214);
        assert_eq!(code(&mut s, "EXPN list"), 502);
        assert_eq!(code(&mut s, "RSET"), 250);
        assert_eq!(code(&mut s, "MAIL FROM:<a@b.example> FOO=1"), 555);
        assert_eq!(s.line_too_long().0.code, 500);
    }

    #[test]
    fn starttls_is_offered_once_and_resets_the_session() {
        let mut s = Session::new(policy());
        code(&mut s, "EHLO c");
        assert_eq!(s.command(b"STARTTLS").1, Next::StartTls);
        s.tls_started();
        assert!(s.is_tls());
        assert_eq!(code(&mut s, "MAIL FROM:<a@b.example>"), 503);
        let (ehlo, _) = s.command(b"EHLO c");
        assert!(!ehlo.lines.iter().any(|l| l == "STARTTLS"));
        assert_eq!(code(&mut s, "STARTTLS"), 503);
        let mut plain = Session::new(Arc::new(Policy {
            tls_available: false,
            ..(*policy()).clone()
        }));
        let (ehlo, _) = plain.command(b"EHLO c");
        assert!(!ehlo.lines.iter().any(|l| l == "STARTTLS"));
        assert_eq!(code(&mut plain, "STARTTLS"), 502);
    }
}
