//! Amazon SES notifications (SNS/e-mail JSON, documented by AWS): `Bounce`,
//! `Complaint` and `Delivery` objects sent as the body of a message.

use serde_json::Value;

/// One recipient of an SES notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SesRecipient {
    pub address: String,
    pub kind: SesKind,
    pub status: Option<String>,
    pub action: Option<String>,
    pub diagnostic: String,
    pub reporting_mta: Option<String>,
    pub timestamp: Option<String>,
    /// `bounceType/bounceSubType` or the complaint feedback type.
    pub detail: Option<String>,
}

/// What the notification reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SesKind {
    Bounce,
    Complaint,
    Delivery,
}

/// Reads an SES notification from the body text, when the body is one.
pub(crate) fn parse(body: &str, max: usize) -> Option<Vec<SesRecipient>> {
    let start = body.find('{')?;
    let end = body.rfind('}')?;
    if end <= start
        || !body[start..end].contains("notificationType") && !body[start..end].contains("eventType")
    {
        return None;
    }
    // Mail transport may have wrapped the JSON: retry with the line breaks removed.
    let slice = &body[start..=end];
    let value: Value = serde_json::from_str(slice)
        .or_else(|_| serde_json::from_str(&slice.replace('\n', "")))
        .ok()?;
    // SNS wraps the notification as a string in "Message".
    let value = match value.get("Message").and_then(Value::as_str) {
        Some(inner) => serde_json::from_str(inner).ok()?,
        None => value,
    };
    let kind = value
        .get("notificationType")
        .or_else(|| value.get("eventType"))
        .and_then(Value::as_str)?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut out = Vec::new();
    match kind {
        "Bounce" => {
            let bounce = value.get("bounce")?;
            let detail = format!(
                "{}/{}",
                text(bounce, "bounceType").unwrap_or_default(),
                text(bounce, "bounceSubType").unwrap_or_default()
            );
            for r in bounce
                .get("bouncedRecipients")?
                .as_array()?
                .iter()
                .take(max)
            {
                out.push(SesRecipient {
                    address: text(r, "emailAddress")?,
                    kind: SesKind::Bounce,
                    status: text(r, "status"),
                    action: text(r, "action"),
                    diagnostic: text(r, "diagnosticCode").unwrap_or_default(),
                    reporting_mta: text(bounce, "reportingMTA"),
                    timestamp: text(bounce, "timestamp"),
                    detail: Some(detail.clone()),
                });
            }
        }
        "Complaint" => {
            let complaint = value.get("complaint")?;
            for r in complaint
                .get("complainedRecipients")?
                .as_array()?
                .iter()
                .take(max)
            {
                out.push(SesRecipient {
                    address: text(r, "emailAddress")?,
                    kind: SesKind::Complaint,
                    status: None,
                    action: None,
                    diagnostic: String::new(),
                    reporting_mta: None,
                    timestamp: text(complaint, "timestamp"),
                    detail: Some(
                        text(complaint, "complaintFeedbackType")
                            .unwrap_or_else(|| "abuse".to_owned()),
                    ),
                });
            }
        }
        "Delivery" => {
            let delivery = value.get("delivery")?;
            let response = text(delivery, "smtpResponse").unwrap_or_default();
            for r in delivery.get("recipients")?.as_array()?.iter().take(max) {
                out.push(SesRecipient {
                    address: r.as_str()?.to_owned(),
                    kind: SesKind::Delivery,
                    status: crate::smtp::find_status(&response),
                    action: Some("delivered".to_owned()),
                    diagnostic: response.clone(),
                    reporting_mta: text(delivery, "reportingMTA"),
                    timestamp: text(delivery, "timestamp"),
                    detail: None,
                });
            }
        }
        _ => return None,
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounce_complaint_and_delivery_notifications_are_read() {
        let bounce = r#"{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General","bouncedRecipients":[{"emailAddress":"a@example.org","action":"failed","status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 user unknown"}],"timestamp":"2016-01-27T14:59:38.237Z","reportingMTA":"dsn; a.example"}}"#;
        let found = parse(bounce, 10).unwrap();
        assert_eq!(found[0].address, "a@example.org");
        assert_eq!(found[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(found[0].detail.as_deref(), Some("Permanent/General"));

        let complaint = r#"{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"c@example.org"}],"complaintFeedbackType":"abuse"}}"#;
        assert_eq!(parse(complaint, 10).unwrap()[0].kind, SesKind::Complaint);

        let delivery = r#"{"notificationType":"Delivery","delivery":{"recipients":["d@example.org"],"smtpResponse":"250 2.6.0 Message received"}}"#;
        let found = parse(delivery, 10).unwrap();
        assert_eq!(found[0].status.as_deref(), Some("2.6.0"));
    }

    #[test]
    fn other_text_is_not_a_notification() {
        assert!(parse("hello {not json}", 10).is_none());
        assert!(parse(r#"{"a":1}"#, 10).is_none());
    }
}
