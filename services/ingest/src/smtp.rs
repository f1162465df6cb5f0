//! The SMTP listener (RFC 5321, receiving side) for the installation's intake domains:
//! EHLO/HELO, MAIL (with SIZE), RCPT, DATA, RSET, NOOP, QUIT, VRFY, HELP, STARTTLS when a
//! certificate is configured, PIPELINING, 8BITMIME and ENHANCEDSTATUSCODES, with
//! per-connection limits and timeouts. Only recipients in the intake domains (and
//! `postmaster`) are accepted, so it relays nothing.
//!
//! No maintained tokio-based server crate fits (mailin is synchronous, samotop is built on
//! async-std and unmaintained), so the protocol is a small state machine here: command
//! parsing and the session are pure and tested apart from the I/O.

mod command;
mod reader;
mod router;
mod server;
mod session;

pub use router::IngestRouter;
pub(crate) use router::Route;
pub use server::{MailSink, ReceivedMail, SmtpError, SmtpListener, SmtpSettings, load_tls};
