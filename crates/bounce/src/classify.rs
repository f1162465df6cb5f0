//! The bounce reason, from the structure of the notification: the providers' documented
//! diagnostic texts and codes, the enhanced status code (RFC 3463 and the IANA registry),
//! the SMTP reply code, the command that failed and the DSN action.

use crate::bounce::Reason;

/// What is known about one recipient's failure.
pub(crate) struct Evidence<'a> {
    pub status: Option<&'a str>,
    pub diagnostic: &'a str,
    pub diagnostic_type: Option<&'a str>,
    pub action: Option<&'a str>,
    pub command: Option<&'a str>,
    pub remote_host: Option<&'a str>,
    pub recipient_domain: &'a str,
    /// The diagnostic is the whole notice, not text about this recipient.
    pub vague: bool,
}

/// Texts (lower-case; `*` matches anything in between) and the reason each one means.
/// Checked in order, so specific texts come before general ones.
const PATTERNS: &[(Reason, &[&str])] = &[
    // Microsoft 365 / Exchange Online (documented NDR codes)
    (
        Reason::AuthFailure,
        &[
            "5.7.509",
            "5.7.515",
            "5.7.23 ",
            "does not pass dmarc",
            "dmarc policy",
            "dmarc check failed",
            "dmarc verification",
            "owner dmarc",
            "rejected per dmarc",
            "dmarc validation",
            "failed dmarc",
            "fails dmarc",
            "dmarc fail",
            "not pass dmarc",
            "due to domain's dmarc",
            "required authentication level",
            "authentication checks failed",
            "sender is unauthenticated",
            "unauthenticated email",
            "does not have authentication information",
            "fails to pass authentication",
            "fails to pass spf",
            "spf check",
            "spf fail",
            "spf record",
            "bad spf",
            "spf validation",
            "spf policy",
            "failed spf",
            "fails spf",
            "spf softfail",
            "spf=fail",
            "spf authentication",
            "sender policy framework",
            "dkim signature",
            "dkim validation",
            "dkim check",
            "dkim fail",
            "failed dkim",
            "authentication failure",
            "5.7.26",
        ],
    ),
    (
        Reason::BadReputation,
        &[
            "[tss04]",
            "tss04",
            "due to ip reputation",
            "low reputation of the sending",
            "bad reputation",
            "poor reputation",
            "sender reputation",
            "reputation of the sending",
            "ip reputation",
            "domain reputation",
            "reputation is too low",
            "unexpected volume or user complaints",
        ],
    ),
    (
        Reason::RequirePtr,
        &[
            "missing reverse dns",
            "no ptr record",
            "ptr record",
            "reverse dns",
            "reverse lookup",
            "rdns",
            "no reverse",
            "cannot find your hostname",
            "can't find your hostname",
            "client host name not found",
            "hostname not found",
            "cannot resolve your address",
            "cannot resolve your hostname",
            "unable to resolve your ip",
            "reverse hostname",
            "dns of the sending",
            "ip name lookup failed",
            "no hostname",
            "reverse mapping",
            "unresolvable address",
            "cannot find your reverse",
            "requires that your ip address has a ptr",
            "does not have a ptr",
            "client host rejected: cannot find your",
            "invalid hostname",
            "not resolve your hostname",
            "mismatches client ip",
            "unverifyable sending ip",
            "ip name lookup failed",
            "dns ptr",
            "ptr resource",
        ],
    ),
    (
        Reason::Suspend,
        &[
            "account disabled",
            "account has been disabled",
            "account is disabled",
            "account is locked",
            "account locked",
            "mailbox disabled",
            "mailbox has been disabled",
            "mailbox is disabled",
            "mailbox is frozen",
            "is frozen",
            "account is suspended",
            "account suspended",
            "account has been suspended",
            "has been suspended",
            "suspended account",
            "user suspended",
            "recipient suspended",
            "mailbox suspended",
            "mailbox is suspended",
            "account is inactive",
            "account inactive",
            "inactive account",
            "is inactive",
            "is disabled",
            "disabled or discontinued",
            "recipient account is blocked",
            "account is blocked",
            "account has been blocked",
            "is no longer in use",
            "no longer active",
            "account has expired",
            "account expired",
            "temporarily disabled",
            "mailbox inactive",
            "mailbox is inactive",
            "account is deactivated",
            "account has been deactivated",
            "is not active",
            "compte du destinataire est bloque",
            "has been locked",
            "mailbox unavailable: account",
        ],
    ),
    (
        Reason::ExceedLimit,
        &[
            "exceeds administrative limit",
            "message length exceeds",
            "exceeds fixed maximum message size",
            "recipsizelimit",
            "message too large for this recipient",
            "exceeds limit set by recipient",
            "exceeded the maximum message size allowed",
        ],
    ),
    (
        Reason::MesgTooBig,
        &[
            "message too large",
            "message is too large",
            "message too big",
            "message is too big",
            "message size exceeds",
            "exceeds maximum message size",
            "exceeds the maximum message size",
            "exceeded maximum message size",
            "message exceeds the maximum",
            "size limit exceeded",
            "size of the message exceeds",
            "mail is too large",
            "email is too large",
            "message larger than",
            "message exceeded",
            "exceeds size limit",
            "message too long",
            "exceeds the size limit",
            "maximum message size exceeded",
            "too big for",
            "message size limit",
            "line limit exceeded",
        ],
    ),
    (
        Reason::MailboxFull,
        &[
            "mailbox full",
            "mailbox is full",
            "mailbox_full",
            "mailbox has exceeded",
            "mailbox size limit exceeded",
            "mailbox exceeded",
            "over quota",
            "overquota",
            "quota exceeded",
            "exceeded storage allocation",
            "exceeded storage",
            "quota full",
            "disk quota",
            "mail quota",
            "account is full",
            "over its quota",
            "over their quota",
            "exceeds mailbox quota",
            "exceed mailbox quota",
            "exceed the quota",
            "exceeds the quota",
            "exceeded the quota",
            "inbox is full",
            "mbox full",
            "mailfolder is full",
            "mailbox is over",
            "too much mail data",
            "quota violation",
            "over the storage limit",
            "exceeded its storage",
            "mailbox limit exceeded",
            "user's mailbox is full",
            "not enough storage space",
            "storage limit",
            "insufficient storage",
            "mailbox exceeds",
            "would exceed",
            "quota",
            "mailbox size",
            "boite pleine",
            "boîte pleine",
            "no space left in mailbox",
            "is full",
            "maildir over quota",
            "mailbox is out of storage",
            "out of storage",
            "exceeded its mailbox",
            "not enough space",
        ],
    ),
    (
        Reason::HasMoved,
        &[
            "has moved",
            "address has been changed",
            "user has moved",
            "moved permanently",
            "mailbox has moved",
            "no longer valid at this domain",
        ],
    ),
    (
        Reason::NoRelaying,
        &[
            "relay access denied",
            "relaying denied",
            "relay not permitted",
            "not permitted to relay",
            "relaying not allowed",
            "relay denied",
            "we do not relay",
            "unable to relay",
            "not configured to relay",
            "no relaying",
            "relay prohibited",
            "insecure mail relay",
            "not allowed to relay",
            "relay not allowed",
            "cannot relay",
            "mail relay denied",
            "relaying is not allowed",
            "email address is not verified",
            "relaying mail to",
            "not an open relay",
            "relay access",
            "relaying prohibited",
            "relay is not allowed",
        ],
    ),
    (
        Reason::NotCompliantRfc,
        &[
            "not rfc 5322 compliant",
            "not rfc5322 compliant",
            "not rfc 2822 compliant",
            "not rfc compliant",
            "multiple addresses in from: header",
            "duplicate header",
            "multiple subject headers",
            "rfc 5322",
            "there are multiple",
            "violates rfc",
            "not compliant with rfc",
            "rfc 2822",
            "rfc 822",
        ],
    ),
    (
        Reason::VirusDetected,
        &[
            "virus",
            "infected",
            "malware",
            "malicious content",
            "potentially executable",
            "contains a harmful",
        ],
    ),
    (
        Reason::SpamDetected,
        &[
            "spam",
            "blacklisted url",
            "unsolicited",
            "junk mail",
            "bulk mail",
            "bulk e-mail",
            "ube",
            "content filter",
            "message content rejected",
            "rejected due to content",
            "considered as spam",
            "looks like spam",
            "spam score",
            "identified as spam",
            "classified as spam",
            "scored as spam",
            "likely suspicious",
            "message refused by",
            "blacklisted content",
            "suspicious url",
            "banned content",
            "bad content",
        ],
    ),
    (
        Reason::Speeding,
        &[
            "rate limit",
            "rate-limit",
            "ratelimit",
            "too fast",
            "sending rate",
            "too many messages",
            "temporarily rate limited",
            "exceeded the rate",
            "throttl",
            "slow down",
            "too many emails",
            "too many mails",
        ],
    ),
    (
        Reason::TooManyConn,
        &[
            "too many connections",
            "too many concurrent",
            "too many simultaneous",
            "connection limit",
            "too many sessions",
            "simultaneous connections",
            "concurrent connections",
            "too many smtp sessions",
            "too many errors",
        ],
    ),
    (
        Reason::Blocked,
        &[
            "banned sending ip",
            "5.7.606",
            "5.7.607",
            "5.7.608",
            "5.7.610",
            "5.7.611",
            "5.7.612",
            "5.7.649",
            "blocked using",
            "blacklisted",
            "blocklisted",
            "blocked by",
            "blocklist",
            "blacklist",
            "dnsbl",
            "rbl",
            "spamhaus",
            "spamcop",
            "sorbs",
            "barracuda",
            "client host rejected",
            "client host blocked",
            "ip blocked",
            "ip address blocked",
            "your ip",
            "ip address",
            "host blocked",
            "connection refused",
            "refused to talk",
            "not accepting connections",
            "access denied",
            "service refuse",
            "service refused",
            "service not available",
            "blocked",
            "is not allowed to send",
            "not allowed to send",
            "please use the smtp server of your isp",
            "please use your isp",
            "dynamic ip",
            "dial-up",
            "dialup",
            "residential",
            "open relay",
            "may not be mail exchanger",
            "invalid ip for sending",
            "bloquee",
            "listed in",
            "banned",
            "poor reputation",
            "unfortunately, messages from",
            "no access from mail server",
            "your server",
            "not authorized to send",
            "helo",
            "ehlo",
        ],
    ),
];

/// Texts saying the recipient's mailbox does not exist.
const USER_UNKNOWN: &[&str] = &[
    "user unknown",
    "unknown user",
    "no such user",
    "user not found",
    "unknown recipient",
    "recipient unknown",
    "recipient not found",
    "no such recipient",
    "mailbox not found",
    "no mailbox",
    "not a valid mailbox",
    "invalid recipient",
    "invalid mailbox",
    "recipient address rejected: user unknown",
    "unrouteable address",
    "unknown local part",
    "address unknown",
    "tried to reach does not exist",
    "undeliverable address",
    "recipient does not exist",
    "mailbox does not exist",
    "user does not exist",
    "not our customer",
    "unknown address",
    "no account by that name",
    "addressee unknown",
    "bad destination mailbox address",
    "no such address",
    "address does not exist",
    "invalid address",
    "recipnotfound",
    "user is unknown",
    "unknown or illegal alias",
    "not a known user",
    "account does not exist",
    "mailbox unknown",
    "no mailbox here",
    "user invalid",
    "invalid user",
    "not a valid user",
    "unknown mailbox",
    "doesn't have a",
    "does not have a",
    "user not exist",
    "address couldn't be found",
    "address not found",
    "no such mailbox",
    "mailbox unavailable",
    "recipient address rejected: access denied",
    "user doesn't exist",
    "doesn't exist",
    "does not exist",
    "no such account",
    "recipient is not",
    "unknown e-mail address",
    "unknown email address",
    "not exist",
    "not listed in",
    "no longer available",
    "is not a valid",
    "invalid-recipient",
    "not a registered",
    "unknown destination address",
    "recipient not accepted",
    "mailbox is not available",
    "no user",
    "user doesn't have",
    "non-existent",
    "nonexistent",
    "inexistant",
    "n'existe pas",
    "existiert nicht",
    "bad address",
    "mailbox name not allowed",
    "unknown account",
    "mailbox currently unavailable",
    "unknown alias",
    "user_unknown",
];

/// Texts saying the recipient domain does not exist or has no mail service.
const HOST_UNKNOWN: &[&str] = &[
    "host unknown",
    "unknown host",
    "host not found",
    "domain not found",
    "no such domain",
    "domain does not exist",
    "domain couldn't be found",
    "domain name not found",
    "host or domain name not found",
    "unrouteable mail domain",
    "unknown domain",
    "illegal host/domain",
    "invalid domain",
    "couldn't find any host",
    "could not find any host",
    "no such host",
    "domain is not",
    "domain does not",
    "name or service not known",
    "routing issue",
    "bad destination system address",
    "unroutable domain",
    "domain unknown",
    "not a valid domain",
    "dns lookup failure",
    "nxdomain",
    "non-existent domain",
    "name service error",
    "no mx for",
];

const NOT_ACCEPT: &[&str] = &[
    "does not accept mail",
    "doesn't accept mail",
    "not accepting mail",
    "no mx found",
    "no mx record",
    "null mx",
    "no smtp service",
    "accepts no mail",
    "not accepting network messages",
    "couldn't find a mail exchanger",
    "could not find a mail exchanger",
    "host/domain does not accept",
    "no mail exchanger",
    "mx or srv record indicated no",
];

const EXPIRED: &[&str] = &[
    "message expired",
    "queue too long",
    "too long in the queue",
    "delivery time expired",
    "retry time",
    "timeout waiting",
    "could not be delivered for",
    "timed out",
    "time out",
    "time-out",
    "has not been delivered for",
    "maximum time",
    "gave up",
    "giving up",
    "retry timeout exceeded",
    "deferred",
    "delivery expired",
    "expired",
    "not delivered within",
    "undelivered for",
    "couldn't be delivered within",
    "connection timed out",
    "will-retry-until",
    "did not accept our requests to connect",
    "failed 20 attempts",
    "attempts:",
    "host not reachable",
    "not yet been delivered",
    "delivery attempts will continue",
    "has been delayed",
    "delayed",
    "retry limit",
];

const NETWORK_ERROR: &[&str] = &[
    "no route to host",
    "network is unreachable",
    "network error",
    "lost connection",
    "connection reset",
    "host name lookup failure",
    "name server",
    "dns query failed",
    "could not connect",
    "couldn't connect",
    "can't connect",
    "connection refused",
    "failed to connect",
    "hop count exceeded",
    "too many hops",
    "routing loop",
    "mail loop",
    "loop detected",
    "forwarded more than",
    "maximum hop",
    "malformed or unexpected name server reply",
    "dns error",
    "dns failure",
    "temporary lookup failure",
    "establish an smtp connection",
    "network problem",
    "wasn't able to establish",
    "could not be reached",
    "routing error",
];

const SYSTEM_ERROR: &[&str] = &[
    "system error",
    "internal error",
    "server error",
    "system failure",
    "local error",
    "configuration error",
    "system config error",
    "temporary local problem",
    "processing error",
    "unable to process",
    "internal server error",
    "service unavailable",
    "system problem",
    "mailer daemon error",
    "recursion",
    "system not available",
    "service currently unavailable",
    "transaction failed",
    "upstream error",
    "could not load",
    "unable to contact ldap",
    "multiple retries",
    "duplicated message-id",
];

const SYSTEM_FULL: &[&str] = &[
    "insufficient system storage",
    "disk full",
    "system full",
    "out of disk space",
    "not enough disk space",
    "no space left on device",
    "insufficient disk space",
    "system storage",
];

const POLICY: &[&str] = &[
    "policy violation",
    "denied by policy",
    "policy reasons",
    "policy rejection",
    "local policy",
    "protocol violation",
    "violates our policy",
    "policy",
    "not allowed",
    "prohibited",
    "header error",
    "content presents a potential",
    "security issue",
    "host network not allowed",
];

const SECURITY: &[&str] = &[
    "authentication required",
    "must authenticate",
    "authentication is required",
    "auth required",
    "starttls",
    "tls required",
    "encryption required",
    "security policy",
    "insecure",
    "certificate",
    "sender address has null mx",
    "no valid certificate",
    "not authorised",
    "not authorized",
    "unauthorized",
    "authorization required",
    "unauthenticated senders",
    "smtp authentication",
];

const REJECTED: &[&str] = &[
    "sender address rejected",
    "sender rejected",
    "domain of sender address",
    "unroutable sender",
    "sender verify failed",
    "sender verification",
    "sender domain",
    "sender address",
    "envelope sender",
    "mail from",
    "return path",
    "sender is not allowed",
    "not a member of",
    "you are not allowed to post",
    "may not exist, or you may not have permission",
    "sending to/from an address",
    "mail rejected by destination domain",
    "all recipient addresses rejected",
    "purported responsible address",
    "invalid sender",
    "sender unknown",
    "send mail as",
    "from: domain is invalid",
    "domain is invalid",
    "rejected by destination",
    "blocked sender",
    "sender blocked",
    "refused by recipient",
];

const FILTERED: &[&str] = &[
    "message filtered",
    "filtered",
    "refused due to recipient preferences",
    "because the recipient is only accepting mail",
    "user rules",
    "rejected by the recipient domain",
    "email preferences of the person",
    "domain filter",
    "is not accepting any mail",
    "refuse to receive",
    "notauthorized",
    "not authorized to receive",
    "recipient's preferences",
    "recipient preferences",
    "recipients was rejected by a remote mail server",
];

const CONTENT_ERROR: &[&str] = &[
    "improper use of 8-bit",
    "headers too large",
    "header too large",
    "media error",
    "content error",
    "message content",
    "invalid mime",
    "mime error",
    "bad header",
    "header line too long",
    "malformed header",
    "8-bit data",
    "8bit data",
    "line too long",
    "conversion",
];

const SYNTAX_ERROR: &[&str] = &[
    "syntax error",
    "command unrecognized",
    "unrecognized command",
    "command not recognized",
    "bad sequence of commands",
    "invalid command",
    "parameter not implemented",
    "malformed address",
];

const MAILER_ERROR: &[&str] = &[
    "x-unix",
    "mailer error",
    "exited with",
    "command died",
    "local delivery failed",
    "procmail",
    "unknown mailer",
    "pipe to |",
    "program exited",
    "delivery to a program failed",
    "error in processing",
    "exit code",
];

/// Texts providers document for one reason, checked before anything else.
const DOCUMENTED: &[(Reason, &[&str])] = &[
    (
        Reason::Rejected,
        &[
            "sending to/from an address that has been blacklisted",
            "all recipient addresses rejected",
            "'send mail as'",
        ],
    ),
    (
        Reason::UserUnknown,
        &[
            "the recipient name is not recognized",
            "not listed in domino directory",
            "not listed in public name & address book",
            "invalid final delivery userid",
            "please check if address is correct",
            "no valid recipients for this",
            "#5.1.0 address rejected",
            "recipient address rejected.",
            "delivery error: dd this user doesn't have",
            "because the address couldn't be found",
            "and other recipients in the same domain",
            "destinataire invalide. invalid recipient",
            "recipient address rejected: access denied",
            "resolver.adr.recipnotfound",
            "resolver.adr.recipientnotfound",
        ],
    ),
    (
        Reason::SystemFull,
        &["insufficient disk space", "insufficient system storage"],
    ),
    (
        Reason::Speeding,
        &[
            "too many recipients this hour",
            "sent to too many recipients",
            "receiving mail at a rate that prevents",
        ],
    ),
    (
        Reason::TooManyConn,
        &[
            "frequency limited",
            "connection rate limit",
            "too many recipients",
            "too many connections",
        ],
    ),
    (
        Reason::FailedStartTls,
        &[
            "does not support tls",
            "must issue a starttls",
            "tls is required",
            "starttls failed",
            "requires tls",
        ],
    ),
    (
        Reason::HostUnknown,
        &[
            "unrouteable address",
            "the account or domain may not exist",
            "550 host unknown",
        ],
    ),
    (
        Reason::SpamDetected,
        &["rejected due to spam classification"],
    ),
    (Reason::Suspend, &["temporary locked", "temporarily locked"]),
    (
        Reason::NotCompliantRfc,
        &[
            "multiple addresses in from",
            "not rfc 5322 compliant",
            "duplicate header",
            "multiple subject headers",
            "not rfc5322 compliant",
        ],
    ),
    (
        Reason::PolicyViolation,
        &[
            "its content presents a potential",
            "not accepted for policy reasons",
            "email policy violation",
            "local policy violation",
            "denied by policy",
            "rejected for policy reasons",
            "protocol violation",
        ],
    ),
    (
        Reason::NetworkError,
        &[
            "host name lookup failure",
            "malformed or unexpected name server reply",
            "host not found, try again",
            "lost connection with",
            "no route to host",
            "dns query failed",
            "hop count exceeded",
            "too many hops",
            "routing loop",
            "mail loop",
        ],
    ),
    (
        Reason::Expired,
        &[
            "was aborted after",
            "did not accept our requests to connect",
            "message expired",
            "could not be delivered for",
            "all hosts have been failing for a long time",
            "retry timeout exceeded",
        ],
    ),
    (
        Reason::BadReputation,
        &["due to ip reputation", "low reputation of the sending"],
    ),
    (
        Reason::Blocked,
        &[
            "relay quota",
            "banned sending ip",
            "blocked using",
            "ip address blacklisted",
            "client host blocked",
            "spamhaus.org/query/bl",
        ],
    ),
];

const ONHOLD_HINTS: &[&str] = &["on hold"];

/// The reason for one recipient.
pub(crate) fn reason(e: &Evidence<'_>) -> Reason {
    let status = e.status.unwrap_or_default();
    if (status.starts_with("2.") && e.action.is_some())
        || matches!(
            e.action,
            Some("delivered" | "relayed" | "expanded" | "deliverable")
        )
    {
        return Reason::Delivered;
    }
    let diag = e.diagnostic.to_lowercase();
    let by_status = status_reason(status);
    let mentions = |list: &[&str]| matches_any(&diag, list);
    if e.recipient_domain == "googlegroups.com" && e.status.is_none_or(|s| s.starts_with("5.0")) {
        // Google Groups answers a post it does not accept (not a member, no permission,
        // no such group) with a localised notice: the sender was refused.
        return Reason::Rejected;
    }
    if mentions(ONHOLD_HINTS) {
        return Reason::OnHold;
    }
    if by_status == Some(Reason::Rejected) {
        return Reason::Rejected;
    }
    if mentions(words(Reason::MailboxFull)) && !mentions(&["relay quota"]) {
        return Reason::MailboxFull;
    }
    if let Some(r) = orange_code(&diag) {
        return r;
    }
    for (reason, list) in DOCUMENTED {
        if mentions(list) {
            return *reason;
        }
    }
    if e.diagnostic_type.is_some_and(|t| t.starts_with("X-UNIX")) {
        return Reason::MailerError;
    }
    // Explicit status codes that say more than any text.
    if let Some(
        r @ (Reason::HostUnknown
        | Reason::Rejected
        | Reason::MailboxFull
        | Reason::HasMoved
        | Reason::NoRelaying
        | Reason::MesgTooBig
        | Reason::ExceedLimit
        | Reason::AuthFailure
        | Reason::NotAccept
        | Reason::SystemFull
        | Reason::VirusDetected),
    ) = by_status
    {
        // x.4.4 ("unable to route") says less than a missing domain (x.1.2).
        let vague_host = r == Reason::HostUnknown && !status.contains(".1.2");
        if !(vague_host || r == Reason::NotAccept && mentions(HOST_UNKNOWN)) {
            return r;
        }
    }
    // The MAIL command failed: the sender was refused, unless the words say the
    // sending host was.
    if e.command == Some("MAIL") {
        if mentions(&["[tss04]"]) {
            return Reason::Rejected;
        }
        if mentions(&["transaction failed"]) {
            return Reason::SystemError;
        }
        if mentions(words(Reason::RequirePtr)) {
            return Reason::RequirePtr;
        }
        if mentions(&[
            "unauthenticated sender",
            "authentication required",
            "must authenticate",
        ]) {
            return Reason::SecurityError;
        }
        if !mentions(&[
            "relay",
            "spf",
            "dmarc",
            "blacklist",
            "blocklist",
            "spamhaus",
            "your isp",
            "reputation",
            "messages from",
            "ip address",
        ]) {
            return Reason::Rejected;
        }
    }
    // Refused at connection or greeting: the sending host is blocked.
    if matches!(e.command, Some("CONN" | "EHLO" | "HELO")) {
        if mentions(&[
            "no ptr",
            "ptr record",
            "dns ptr",
            "reverse dns lookup",
            "ptr resource",
        ]) {
            return Reason::RequirePtr;
        }
        if mentions(words(Reason::Speeding)) {
            return Reason::Speeding;
        }
        if mentions(words(Reason::TooManyConn)) {
            return Reason::TooManyConn;
        }
        return Reason::Blocked;
    }
    if status.starts_with("5.4.1") && mentions(&["access denied"]) && !mentions(&["all recipient"])
    {
        // Microsoft 365 directory-based edge blocking: the recipient does not exist.
        return Reason::UserUnknown;
    }
    for (reason, list) in PATTERNS.iter().take(10) {
        if mentions(list) {
            return *reason;
        }
    }
    if mentions(NOT_ACCEPT) {
        return Reason::NotAccept;
    }
    if domain_does_not_exist(&diag) {
        return Reason::HostUnknown;
    }
    if mentions(HOST_UNKNOWN) && !mentions(&["sender"]) {
        return if mentions(&["dns error", "temporary", "try again", "lookup failure"])
            && status.starts_with('4')
        {
            Reason::NetworkError
        } else {
            Reason::HostUnknown
        };
    }
    if e.command == Some("DATA")
        && by_status != Some(Reason::Filtered)
        && e.remote_host
            .is_some_and(|h| h.to_ascii_lowercase().ends_with("docomo.ne.jp"))
        && mentions(&["unknown user"])
    {
        // NTT docomo answers "550 Unknown user" after DATA when the recipient's own
        // settings refuse the sender.
        return Reason::Rejected;
    }
    if mentions(&[
        "due to recipient preferences",
        "email preferences of the person",
    ]) {
        return Reason::Filtered;
    }
    if mentions(&[
        "550 : user unknown",
        "550: : user unknown",
        "550 <> user unknown",
    ]) && e.command != Some("RCPT")
    {
        // Japanese carriers answer a recipient's domain filter with an empty address.
        return Reason::Filtered;
    }
    if mentions(USER_UNKNOWN) || by_status == Some(Reason::UserUnknown) {
        let explicit =
            status.ends_with(".1.1") || status.starts_with("5.1.1") || status.starts_with("4.1.1");
        let filtering = by_status == Some(Reason::Filtered) || e.command == Some("DATA");
        let explicit = explicit || status.starts_with("5.1.0") || status.starts_with("4.1.0");
        // Without the failed command, a status code that names no mailbox problem
        // still came from the recipient stage more often than from a content filter.
        let stated = e.command.is_none()
            && !filtering
            && ["0", "1", "3", "5"].contains(&status.split('.').nth(1).unwrap_or("x"));
        if explicit || e.command == Some("RCPT") || stated {
            return Reason::UserUnknown;
        }
        if mentions(USER_UNKNOWN) {
            return Reason::Filtered;
        }
    }
    if mentions(FILTERED) {
        return Reason::Filtered;
    }
    for (reason, list) in PATTERNS.iter().skip(10) {
        if mentions(list) {
            return *reason;
        }
    }
    if mentions(REJECTED) {
        return Reason::Rejected;
    }
    if mentions(SYSTEM_FULL) {
        return Reason::SystemFull;
    }
    if mentions(CONTENT_ERROR) {
        return Reason::ContentError;
    }
    if mentions(POLICY) {
        return Reason::PolicyViolation;
    }
    if mentions(SECURITY) {
        return Reason::SecurityError;
    }
    if mentions(NETWORK_ERROR) {
        return Reason::NetworkError;
    }
    if mentions(SYSTEM_ERROR) {
        return Reason::SystemError;
    }
    if e.action == Some("delayed") || mentions(EXPIRED) {
        return Reason::Expired;
    }
    if mentions(MAILER_ERROR) {
        return Reason::MailerError;
    }
    if mentions(SYNTAX_ERROR) {
        return Reason::SyntaxError;
    }
    if let Some(r) = by_status {
        return r;
    }
    if matches!(e.command, Some("EHLO" | "HELO" | "CONN")) {
        return Reason::Blocked;
    }
    if status.starts_with("5.6") || status.starts_with("4.6") {
        return Reason::ContentError;
    }
    if status.starts_with("5.7") || status.starts_with("4.7") {
        return Reason::SecurityError;
    }
    // Sisimai's convention: "onhold" when there is text that says nothing known,
    // "undefined" when there is none.
    if e.diagnostic.trim().is_empty() || e.vague {
        Reason::Undefined
    } else {
        Reason::OnHold
    }
}

/// "553 example.com does not exist": the thing that does not exist is a domain.
fn domain_does_not_exist(diag: &str) -> bool {
    diag.match_indices(" does not exist").any(|(at, _)| {
        let before = diag[..at].trim_end();
        let word = before
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .trim_matches(|c: char| c == '<' || c == '>' || c == '\'' || c == '"');
        word.contains('.')
            && !word.contains('@')
            && word.bytes().any(|b| b.is_ascii_alphabetic())
            && !word.ends_with('.')
    })
}

/// Orange and La Poste (France) end their replies with a documented numeric code
/// (`OFR_506`, `OFR005_505 [505]`, `LPN007_416`, `LPN000_630`).
fn orange_code(diag: &str) -> Option<Reason> {
    let code = diag
        .match_indices("ofr")
        .chain(diag.match_indices("lpn"))
        .filter_map(|(at, _)| {
            let token: String = diag[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            token.rsplit_once('_').map(|(_, code)| code.to_owned())
        })
        .next()?;
    Some(match code.as_str() {
        "416" | "418" => Reason::UserUnknown,
        "426" => Reason::Suspend,
        "505" => Reason::SystemError,
        "506" => Reason::SpamDetected,
        "630" => Reason::PolicyViolation,
        "102" => Reason::Blocked,
        _ => return None,
    })
}

/// The texts of one reason in [`PATTERNS`].
fn words(reason: Reason) -> &'static [&'static str] {
    PATTERNS
        .iter()
        .find(|(r, _)| *r == reason)
        .map_or(&[], |(_, list)| list)
}

/// What an enhanced status code means on its own (RFC 3463 and the IANA registry of
/// enhanced status codes), when it names a reason.
pub(crate) fn status_reason(status: &str) -> Option<Reason> {
    let mut parts = status.split('.');
    let class = parts.next()?;
    let subject = parts.next()?;
    let detail = parts.next()?;
    let temporary = class == "4";
    Some(match (subject, detail) {
        ("1", "1") => Reason::UserUnknown,
        ("1", "2") => Reason::HostUnknown,
        ("1", "3") => Reason::UserUnknown,
        ("1", "4") => Reason::UserUnknown,
        ("1", "6") => Reason::HasMoved,
        ("1", "351") => Reason::UserUnknown,
        ("1", "7") | ("1", "8") => Reason::Rejected,
        ("1", "10") => Reason::NotAccept,
        ("2", "0" | "1") => Reason::Filtered,
        ("2", "2") => Reason::MailboxFull,
        ("2", "3") => Reason::ExceedLimit,
        ("2", "4") => Reason::SystemError,
        ("3", "1") => Reason::SystemFull,
        ("3", "2") => Reason::NotAccept,
        ("3", "3") => Reason::SystemError,
        ("3", "4") => Reason::MesgTooBig,
        ("3", "5") => Reason::SystemError,
        ("4", "1") => Reason::NetworkError,
        ("4", "2") => Reason::NetworkError,
        ("4", "3") => Reason::SystemError,
        ("4", "4") => Reason::HostUnknown,
        ("4", "5") => Reason::SystemError,
        ("4", "6") => Reason::NetworkError,
        ("4", "7") => Reason::Expired,
        ("5", "0" | "1" | "2" | "3" | "4" | "5" | "6") => Reason::SyntaxError,
        ("6", _) => Reason::ContentError,
        ("7", "1") => return None,
        ("7", "7") => Reason::SecurityError,
        ("7", "9") => Reason::SecurityError,
        ("7", "13") => Reason::Suspend,
        ("7", "25") => Reason::RequirePtr,
        ("7", "20" | "21" | "22" | "23" | "24" | "26") => Reason::AuthFailure,
        ("7", "27") => Reason::NotAccept,
        ("7", "28") => Reason::SpamDetected,
        ("7", "30") => Reason::FailedStartTls,
        (
            "7",
            "650" | "651" | "652" | "653" | "654" | "655" | "656" | "657" | "658" | "659" | "660"
            | "661" | "662" | "663" | "664" | "665" | "666" | "667" | "668" | "669" | "670" | "671"
            | "672" | "673" | "674" | "675" | "676" | "677" | "678" | "679" | "680" | "681" | "682"
            | "683" | "684" | "685" | "686" | "687" | "688" | "689" | "690" | "691" | "692" | "693"
            | "694" | "695" | "696" | "697" | "698" | "699" | "700" | "701" | "702" | "703" | "704"
            | "705" | "706" | "707" | "708" | "709" | "710" | "711" | "712" | "713" | "714" | "715"
            | "716" | "717" | "718" | "719" | "720" | "721" | "722" | "723" | "724" | "725" | "726"
            | "727" | "728" | "729" | "730" | "731" | "732" | "733" | "734" | "735" | "736" | "737"
            | "738" | "739" | "740" | "741" | "742" | "743" | "744" | "745" | "746" | "747" | "748"
            | "749" | "750",
        ) => Reason::BadReputation,
        ("7", "606" | "607" | "608" | "609" | "610" | "611" | "612" | "649") => Reason::Blocked,
        ("7", "509" | "510" | "511" | "512" | "513" | "514" | "515") => Reason::AuthFailure,
        _ if temporary && subject == "7" => return None,
        _ => return None,
    })
}

/// Whether `text` (lower-case) contains one of `patterns` (`*` = anything between).
fn matches_any(text: &str, patterns: &[&str]) -> bool {
    patterns.iter().any(|p| matches(text, p))
}

fn matches(text: &str, pattern: &str) -> bool {
    let mut rest = text;
    for piece in pattern.split('*') {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(
        status: Option<&'static str>,
        diagnostic: &'static str,
        command: Option<&'static str>,
    ) -> Reason {
        reason(&Evidence {
            status,
            diagnostic,
            diagnostic_type: Some("SMTP"),
            action: Some("failed"),
            command,
            remote_host: None,
            recipient_domain: "example.org",
            vague: false,
        })
    }

    #[test]
    fn enhanced_status_codes_map_to_reasons() {
        assert_eq!(status_reason("5.1.1"), Some(Reason::UserUnknown));
        assert_eq!(status_reason("5.1.2"), Some(Reason::HostUnknown));
        assert_eq!(status_reason("4.2.2"), Some(Reason::MailboxFull));
        assert_eq!(status_reason("5.3.4"), Some(Reason::MesgTooBig));
        assert_eq!(status_reason("5.7.25"), Some(Reason::RequirePtr));
        assert_eq!(status_reason("5.7.26"), Some(Reason::AuthFailure));
        assert_eq!(status_reason("5.7.606"), Some(Reason::Blocked));
        assert_eq!(status_reason("4.7.650"), Some(Reason::BadReputation));
        assert_eq!(status_reason("5.7.1"), None);
    }

    #[test]
    fn microsoft_directory_based_edge_blocking_is_an_unknown_user() {
        assert_eq!(
            with(
                Some("5.4.1"),
                "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)",
                Some("RCPT")
            ),
            Reason::UserUnknown
        );
    }

    #[test]
    fn documented_provider_texts_win_over_generic_codes() {
        assert_eq!(
            with(
                Some("5.7.1"),
                "550 5.7.1 Unauthenticated email from example.jp is not accepted due to domain's DMARC policy",
                None
            ),
            Reason::AuthFailure
        );
        assert_eq!(
            with(
                Some("4.7.0"),
                "421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints",
                None
            ),
            Reason::BadReputation
        );
        assert_eq!(
            with(
                Some("5.7.606"),
                "550 5.7.606 Access denied, banned sending IP [192.0.2.1]",
                Some("RCPT")
            ),
            Reason::Blocked
        );
    }

    #[test]
    fn an_unknown_user_after_data_is_a_filter() {
        assert_eq!(
            with(None, "550 Unknown user kijitora@example.jp", Some("RCPT")),
            Reason::UserUnknown
        );
        assert_eq!(
            with(None, "550 Unknown user kijitora@example.jp", Some("DATA")),
            Reason::Filtered
        );
    }

    #[test]
    fn a_refused_sender_is_rejected_and_a_refused_connection_blocked() {
        assert_eq!(
            with(
                Some("5.1.8"),
                "501 5.1.8 Sender address rejected",
                Some("MAIL")
            ),
            Reason::Rejected
        );
        assert_eq!(
            with(None, "554 Service unavailable", Some("CONN")),
            Reason::Blocked
        );
    }

    #[test]
    fn full_mailboxes_and_success_are_recognised() {
        assert_eq!(
            with(Some("4.2.2"), "452 4.2.2 Mailbox full", Some("RCPT")),
            Reason::MailboxFull
        );
        assert_eq!(with(Some("2.0.0"), "250 2.0.0 OK", None), Reason::Delivered);
    }

    #[test]
    fn nothing_to_go_on_is_undefined_or_on_hold() {
        assert_eq!(with(None, "", None), Reason::Undefined);
        assert_eq!(with(None, "something odd happened", None), Reason::OnHold);
    }

    #[test]
    fn hard_bounces_are_the_permanent_address_failures() {
        assert!(Reason::UserUnknown.is_hard(true));
        assert!(Reason::HostUnknown.is_hard(false));
        assert!(Reason::NotAccept.is_hard(true));
        assert!(!Reason::NotAccept.is_hard(false));
        assert!(!Reason::MailboxFull.is_hard(true));
        assert!(!Reason::Blocked.is_hard(true));
    }
}
