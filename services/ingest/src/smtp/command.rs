//! SMTP command lines (RFC 5321 section 4.1) parsed into [`Command`]s. Pure.

/// One command line, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Ehlo(String),
    Helo(String),
    /// `MAIL FROM:<path> [params]`; the null path `<>` is an empty string.
    Mail {
        from: String,
        size: Option<u64>,
    },
    /// `RCPT TO:<path>`.
    Rcpt(String),
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Help,
    StartTls,
    /// A command this server knows of but does not offer (EXPN, TURN, ETRN, BDAT, AUTH …).
    NotImplemented(String),
    /// A verb nobody knows.
    Unknown,
}

/// Why a command line could not be parsed; each maps to a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SyntaxError {
    /// Arguments are missing or malformed (`501 5.5.4`).
    Arguments(&'static str),
    /// A MAIL or RCPT parameter this server does not support (`555 5.5.4`).
    Parameter(String),
}

/// Parses one command line (without its line ending).
pub(crate) fn parse(line: &[u8]) -> Result<Command, SyntaxError> {
    let line = String::from_utf8_lossy(line);
    let line = line.trim_end_matches([' ', '\t']);
    let (verb, rest) = match line.find(' ') {
        Some(i) => (&line[..i], line[i + 1..].trim_start()),
        None => (line, ""),
    };
    let verb = verb.to_ascii_uppercase();
    match verb.as_str() {
        "EHLO" | "HELO" => {
            let domain = rest.split_whitespace().next().unwrap_or("");
            if domain.is_empty() {
                return Err(SyntaxError::Arguments(
                    "a domain or address literal is required",
                ));
            }
            Ok(if verb == "EHLO" {
                Command::Ehlo(domain.to_owned())
            } else {
                Command::Helo(domain.to_owned())
            })
        }
        "MAIL" => {
            let args = strip_prefix_ci(rest, "FROM:")
                .ok_or(SyntaxError::Arguments("expected MAIL FROM:<address>"))?;
            let (from, params) = path(args)?;
            let mut size = None;
            for param in params.split_whitespace() {
                let (key, value) = param.split_once('=').unwrap_or((param, ""));
                match key.to_ascii_uppercase().as_str() {
                    "SIZE" => {
                        size = Some(value.parse::<u64>().map_err(|_| {
                            SyntaxError::Arguments("SIZE= needs a number of octets")
                        })?);
                    }
                    "BODY"
                        if value.eq_ignore_ascii_case("7BIT")
                            || value.eq_ignore_ascii_case("8BITMIME") => {}
                    _ => return Err(SyntaxError::Parameter(key.to_owned())),
                }
            }
            Ok(Command::Mail { from, size })
        }
        "RCPT" => {
            let args = strip_prefix_ci(rest, "TO:")
                .ok_or(SyntaxError::Arguments("expected RCPT TO:<address>"))?;
            let (to, params) = path(args)?;
            if let Some(param) = params.split_whitespace().next() {
                let key = param.split_once('=').map_or(param, |(k, _)| k);
                return Err(SyntaxError::Parameter(key.to_owned()));
            }
            if to.is_empty() {
                return Err(SyntaxError::Arguments("the recipient must not be empty"));
            }
            Ok(Command::Rcpt(to))
        }
        "DATA" | "RSET" | "QUIT" | "STARTTLS" if !rest.is_empty() => {
            Err(SyntaxError::Arguments("this command takes no arguments"))
        }
        "DATA" => Ok(Command::Data),
        "RSET" => Ok(Command::Rset),
        "QUIT" => Ok(Command::Quit),
        "STARTTLS" => Ok(Command::StartTls),
        "NOOP" => Ok(Command::Noop),
        "VRFY" if rest.is_empty() => Err(SyntaxError::Arguments("VRFY needs an argument")),
        "VRFY" => Ok(Command::Vrfy),
        "HELP" => Ok(Command::Help),
        "EXPN" | "TURN" | "ETRN" | "BDAT" | "AUTH" | "SEND" | "SOML" | "SAML" | "ATRN" => {
            Ok(Command::NotImplemented(verb))
        }
        _ => Ok(Command::Unknown),
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s[prefix.len()..].trim_start())
}

/// Reads `<path>` (a source route `@a,@b:` is dropped, RFC 5321 4.1.1.3) and returns the
/// address and the parameters after it.
fn path(args: &str) -> Result<(String, &str), SyntaxError> {
    let inner = args.strip_prefix('<').ok_or(SyntaxError::Arguments(
        "the address must be in angle brackets",
    ))?;
    let end = inner.find('>').ok_or(SyntaxError::Arguments(
        "the address must be in angle brackets",
    ))?;
    let mut address = &inner[..end];
    let params = &inner[end + 1..];
    if !params.is_empty() && !params.starts_with(' ') {
        return Err(SyntaxError::Arguments("expected a space after the address"));
    }
    if address.starts_with('@') {
        address = address.split_once(':').map_or("", |(_, a)| a);
    }
    if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(SyntaxError::Arguments("the address holds white space"));
    }
    if !address.is_empty() && !address.contains('@') && !address.eq_ignore_ascii_case("postmaster")
    {
        return Err(SyntaxError::Arguments("the address needs a domain"));
    }
    Ok((address.to_owned(), params.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        parse(line.as_bytes()).unwrap()
    }

    #[test]
    fn verbs_are_case_insensitive_and_take_their_argument() {
        assert_eq!(
            ok("ehlo client.example"),
            Command::Ehlo("client.example".into())
        );
        assert_eq!(ok("HELO [192.0.2.1]"), Command::Helo("[192.0.2.1]".into()));
        assert_eq!(ok("Data"), Command::Data);
        assert_eq!(ok("NOOP anything"), Command::Noop);
        assert_eq!(ok("HELP DATA"), Command::Help);
        assert_eq!(ok("VRFY root"), Command::Vrfy);
        assert_eq!(ok("starttls"), Command::StartTls);
        assert_eq!(ok("EXPN staff"), Command::NotImplemented("EXPN".into()));
        assert_eq!(ok("FROB"), Command::Unknown);
    }

    #[test]
    fn mail_from_reads_the_path_size_and_body() {
        assert_eq!(
            ok("MAIL FROM:<a@b.example> SIZE=1234 BODY=8BITMIME"),
            Command::Mail {
                from: "a@b.example".into(),
                size: Some(1234)
            }
        );
        assert_eq!(
            ok("mail from: <>"),
            Command::Mail {
                from: String::new(),
                size: None
            }
        );
        assert_eq!(
            ok("MAIL FROM:<@relay.example:a@b.example>"),
            Command::Mail {
                from: "a@b.example".into(),
                size: None
            }
        );
    }

    #[test]
    fn mail_from_refuses_bad_paths_and_unknown_parameters() {
        for line in [
            "MAIL FROM:a@b.example",
            "MAIL TO:<a@b.example>",
            "MAIL FROM:<a@b.example",
            "MAIL FROM:<nodomain>",
            "MAIL FROM:<a@b.example> SIZE=big",
            "MAIL FROM:<a@b.example>SIZE=1",
        ] {
            assert!(
                matches!(parse(line.as_bytes()), Err(SyntaxError::Arguments(_))),
                "{line}"
            );
        }
        assert_eq!(
            parse(b"MAIL FROM:<a@b.example> SMTPUTF8"),
            Err(SyntaxError::Parameter("SMTPUTF8".into()))
        );
    }

    #[test]
    fn rcpt_to_needs_an_address_and_takes_postmaster() {
        assert_eq!(
            ok("RCPT TO:<Reports@Intake.Example>"),
            Command::Rcpt("Reports@Intake.Example".into())
        );
        assert_eq!(
            ok("RCPT TO:<Postmaster>"),
            Command::Rcpt("Postmaster".into())
        );
        assert!(parse(b"RCPT TO:<>").is_err());
        assert!(parse(b"RCPT <a@b.example>").is_err());
        assert_eq!(
            parse(b"RCPT TO:<a@b.example> NOTIFY=NEVER"),
            Err(SyntaxError::Parameter("NOTIFY".into()))
        );
    }

    #[test]
    fn argument_less_commands_refuse_arguments_and_helo_needs_one() {
        assert!(parse(b"DATA now").is_err());
        assert!(parse(b"QUIT please").is_err());
        assert!(parse(b"EHLO").is_err());
        assert!(parse(b"VRFY").is_err());
    }

    #[test]
    fn invalid_utf8_and_empty_lines_do_not_panic() {
        assert_eq!(ok(""), Command::Unknown);
        assert_eq!(parse(b"\xff\xfe FROM"), Ok(Command::Unknown));
        assert!(parse(b"MAIL FROM:<\xff@b.example>").is_ok());
    }
}
