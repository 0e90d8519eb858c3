//! The account page's settings form: every setting of an account ([`AccountSettings`]) as
//! one form field named by its path in the settings document (`limits.recipients_per_day`),
//! with its label and a one-line explanation, in the seeds' order ([`SECTIONS`]).
//!
//! In: an account's settings (to show them), or a posted form (to change them). Out: the
//! form's values, the fields to render, and the partial settings document the update
//! operation merges ([`patch`]). The operation checks every value; here a field is only
//! read as the type its setting has (a number, a list of lines, a checkbox).
//!
//! Defends against: a setting without a field (a test walks every leaf of the settings
//! document), fields of another kind of account overwriting settings the page did not
//! show (only the shown fields are sent), and numbers that are not numbers (refused here
//! naming the field, before anything is changed).

use std::collections::HashMap;

use postern_core::tenancy::{AccountKind, AccountSettings};
use serde_json::{Map, Number, Value};

use crate::forms::FieldError;

/// How a setting is typed in.
pub enum Input {
    /// A whole number, 0 or more; empty is 0.
    Number,
    /// A decimal number.
    Decimal,
    /// One line of text, kept as typed (trimmed).
    Text,
    /// One line of text; empty clears the setting.
    OptionalText,
    /// One item per line.
    Lines,
    Checkbox,
    /// One of (value, label).
    Select(&'static [(&'static str, &'static str)]),
}

/// One setting's field.
pub struct Spec {
    /// The setting's path in the settings document, and the field's name.
    pub path: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub input: Input,
    /// Shown (and sent) for ip accounts only.
    pub ip_only: bool,
}

pub struct Section {
    pub title: &'static str,
    pub fields: &'static [Spec],
}

const fn field(path: &'static str, label: &'static str, hint: &'static str, input: Input) -> Spec {
    Spec { path, label, hint, input, ip_only: false }
}

const METHODS: &[(&str, &str)] = &[
    ("auth", "Authenticated user (the AUTH user name)"),
    ("sender", "Sender (the envelope sender, MAIL FROM)"),
    ("header", "Message header (the header lines below)"),
];

const REACTIONS: &[(&str, &str)] =
    &[("reject", "Rejected (550 5.7.1: the sender learns it)"), ("accept", "Accepted (250: the sender sees success)")];

const BEHAVIOUR_ACTIONS: &[(&str, &str)] = &[
    ("monitor", "Monitor: log the finding only (recommended while profiles learn)"),
    ("quarantine", "Quarantine the message"),
    ("lock_identity", "Lock the identity (automatic lock)"),
    ("lock_account", "Lock the account (automatic lock)"),
    ("off", "Off"),
];

/// Every setting, in the order of the seeds' "Manage users" page.
pub const SECTIONS: &[Section] = &[
    Section {
        title: "Identification",
        fields: &[
            field(
                "identification.method",
                "Identification method",
                "How the sender behind this account is found: the AUTH user name, the envelope sender (usual for \
                 a smarthost), or a header line.",
                Input::Select(METHODS),
            ),
            field(
                "identification.headers",
                "Identification header lines",
                "Method \"message header\": one header name per line (e.g. X-Client-ID); the first one present \
                 is used, else the envelope sender.",
                Input::Lines,
            ),
            field(
                "identification.regex",
                "Identification regex",
                "Method \"message header\": takes the identity from the value (group 1 if it has one); empty: the \
                 whole value.",
                Input::OptionalText,
            ),
            field(
                "identification.strip",
                "Strip the identification headers",
                "Method \"message header\": removes these headers before the message is queued.",
                Input::Checkbox,
            ),
        ],
    },
    Section {
        title: "Automatic lock",
        fields: &[
            field(
                "lock.automatic",
                "Lock automatically",
                "Locks the account when it sends more spam than the threshold within the window; not for a \
                 smarthost.",
                Input::Checkbox,
            ),
            field(
                "lock.lock_identities",
                "Lock identities automatically",
                "The same for each sender of the account; unlock them under Identities.",
                Input::Checkbox,
            ),
            field(
                "lock.spam_threshold",
                "Spam messages before a lock",
                "More spam messages than this within the window lock (default 5).",
                Input::Number,
            ),
            field(
                "lock.spam_window_secs",
                "Spam window (seconds)",
                "The window spam messages are counted in; 600 is 10 minutes.",
                Input::Number,
            ),
            field(
                "lock.timeout_minutes",
                "Lock timeout (minutes)",
                "An automatic lock ends by itself after this many minutes (at most 10080, one week); 0: it stays \
                 until unlocked by hand.",
                Input::Number,
            ),
            field(
                "lock.max_automatic_unlocks",
                "Maximum automatic unlocks",
                "After this many automatic unlocks the next lock stays until an administrator unlocks it (which \
                 resets the count).",
                Input::Number,
            ),
            field(
                "lock.template",
                "Lock template",
                "What a locked sender reads in the 550 5.7.1 reply and in the lock notice: one line of printable \
                 ASCII, at most 512 characters.",
                Input::Text,
            ),
        ],
    },
    Section {
        title: "Connection limits",
        fields: &[
            field(
                "limits.connections_per_minute",
                "Limit per minute",
                "SMTP sessions the account may open per minute (sliding); 0: no limit.",
                Input::Number,
            ),
            field(
                "limits.connections_per_hour",
                "Limit per hour",
                "SMTP sessions per hour; 0: no limit.",
                Input::Number,
            ),
            field("limits.connections_per_day", "Limit per day", "SMTP sessions per day; 0: no limit.", Input::Number),
            field(
                "limits.connections_per_week",
                "Limit per week",
                "SMTP sessions per week; 0: no limit.",
                Input::Number,
            ),
            field(
                "limits.connections_per_month",
                "Limit per month",
                "SMTP sessions per month; 0: no limit.",
                Input::Number,
            ),
            field(
                "limits.messages_per_session",
                "Messages per session",
                "Messages one SMTP session may send; 0: the listener's limit.",
                Input::Number,
            ),
            field(
                "limits.recipients_per_day",
                "Maximum recipients per day",
                "Recipients a sender may write to per day; 0: no limit.",
                Input::Number,
            ),
            field(
                "limits.recipients_per_message",
                "Maximum recipients per message",
                "Further recipients get 452 4.5.3 and the message goes to the first ones; 0: the listener's limit.",
                Input::Number,
            ),
            field(
                "limits.max_message_size",
                "Maximum message size (bytes)",
                "Larger messages get 552 5.3.4; 0: the listener's limit.",
                Input::Number,
            ),
            field(
                "limits.max_hops",
                "Maximum hops",
                "Received: headers a message may carry before 554 5.4.6; 0: the server's default.",
                Input::Number,
            ),
        ],
    },
    Section {
        title: "Signing",
        fields: &[field(
            "dkim_selector",
            "DKIM selector",
            "Signs with this selector's key of the domain (publish its DNS record first); empty: the domain's \
             active keys.",
            Input::OptionalText,
        )],
    },
    Section {
        title: "Content checks",
        fields: &[
            field(
                "quarantine_reaction",
                "Quarantine reaction",
                "What the client hears when a message is held as spam; only the support can release outgoing \
                 quarantine.",
                Input::Select(REACTIONS),
            ),
            field(
                "checks.spam",
                "Scan for spam",
                "Scores every message; spam is held in the quarantine.",
                Input::Checkbox,
            ),
            field(
                "checks.spam_threshold",
                "Spam threshold",
                "A message scoring this or more is spam (0.5 to 50).",
                Input::Decimal,
            ),
            field(
                "checks.block_macros",
                "Block attachments with macros",
                "Blocks documents with macros (VBA, .docm/.xlsm, XLM sheets), also inside archives and whatever \
                 their name.",
                Input::Checkbox,
            ),
            field(
                "checks.block_dangerous_attachments",
                "Block dangerous attachments",
                "Blocks executables, packed executables and scripts, by content and by name, also inside archives.",
                Input::Checkbox,
            ),
            field(
                "checks.block_encrypted_archives",
                "Block encrypted archives",
                "With the attachment checks on: an encrypted archive they cannot look into is blocked.",
                Input::Checkbox,
            ),
            field(
                "checks.clamav",
                "Scan with ClamAV",
                "Also asks the virus scanner, when the server has one configured.",
                Input::Checkbox,
            ),
            field(
                "checks.block_new_domains",
                "Refuse newly registered domains",
                "Blocks senders whose domain is younger than the minimum age; an unknown age never blocks.",
                Input::Checkbox,
            ),
            field(
                "checks.new_domain_min_age_hours",
                "Minimum domain age (hours)",
                "From 1 to 8760; 24 is one day.",
                Input::Number,
            ),
        ],
    },
    Section {
        title: "Archive",
        fields: &[
            field(
                "archive.enabled",
                "Archive messages",
                "Keeps a copy of every outgoing message of this account, searchable under Archive.",
                Input::Checkbox,
            ),
            field(
                "archive.retention_days",
                "Retention (days)",
                "Copies are purged this many days after Postern received them (1 to 3650).",
                Input::Number,
            ),
            field(
                "archive.legal_hold",
                "Legal hold",
                "Nothing of this account's archive is purged while it is on.",
                Input::Checkbox,
            ),
        ],
    },
    Section {
        title: "Compromise detection",
        fields: &[
            field(
                "behaviour.action",
                "On unusual sending",
                "When an identity sends far above its own usual (recipients, new recipients, near-spam...), \
                 and above a floor. Monitor first, for a week or two, while the profiles learn.",
                Input::Select(BEHAVIOUR_ACTIONS),
            ),
            field(
                "behaviour.multiple",
                "Times the usual",
                "How far above its usual an identity must go (at least 2; default 4).",
                Input::Number,
            ),
            field(
                "behaviour.warmup_hours",
                "Warm-up (hours)",
                "A new profile is judged only against high floors until it is this old...",
                Input::Number,
            ),
            field(
                "behaviour.warmup_messages",
                "Warm-up (messages)",
                "...and has seen this many messages.",
                Input::Number,
            ),
        ],
    },
    Section {
        title: "Sending",
        fields: &[
            Spec {
                path: "allow_reauthentication",
                label: "Re-authentication allowed",
                hint: "Several domains send from this range: a client may AUTH as a user or domain account and \
                       is counted as that one; otherwise AUTH gets 503 5.5.1.",
                input: Input::Checkbox,
                ip_only: true,
            },
            Spec {
                path: "allow_foreign_sender_domains",
                label: "Senders of any domain",
                hint: "The envelope sender may be of any domain, not only of this account's domain.",
                input: Input::Checkbox,
                ip_only: true,
            },
            field(
                "monitor_only",
                "Monitor only",
                "Logs what the limits and checks would refuse, and refuses nothing.",
                Input::Checkbox,
            ),
        ],
    },
];

/// A form's values by field name; a checked checkbox is present (`on`), an unchecked one
/// absent.
pub type Values = HashMap<String, String>;

fn shown(spec: &Spec, kind: AccountKind) -> bool {
    !spec.ip_only || kind == AccountKind::Ip
}

fn specs() -> impl Iterator<Item = &'static Spec> {
    SECTIONS.iter().flat_map(|s| s.fields.iter())
}

/// The form's values for `settings`.
pub fn values_of(settings: &AccountSettings) -> Values {
    let document = serde_json::to_value(settings).unwrap_or(Value::Null);
    let mut values = Values::new();
    for spec in specs() {
        let pointer = format!("/{}", spec.path.replace('.', "/"));
        let text = match (document.pointer(&pointer), &spec.input) {
            (Some(Value::Bool(true)), Input::Checkbox) => "on".to_string(),
            (_, Input::Checkbox) | (None | Some(Value::Null), _) => continue,
            (Some(Value::Array(items)), _) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"),
            (Some(Value::String(s)), _) => s.clone(),
            (Some(other), _) => other.to_string(),
        };
        values.insert(spec.path.to_string(), text);
    }
    values
}

/// The partial settings document the posted `form` asks for: every field shown for an
/// account of `kind`, read as its setting's type.
pub fn patch(kind: AccountKind, form: &Values) -> Result<Value, FieldError> {
    let mut document = Value::Object(Map::new());
    for spec in specs().filter(|s| shown(s, kind)) {
        let raw = form.get(spec.path).map_or("", |v| v.trim());
        let value = match spec.input {
            Input::Checkbox => Value::Bool(form.contains_key(spec.path)),
            Input::Number if raw.is_empty() => Value::from(0u64),
            Input::Number => raw
                .parse::<u64>()
                .map(Value::from)
                .map_err(|_| FieldError::bad(spec.path, "a whole number, 0 or more"))?,
            Input::Decimal => raw
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| FieldError::bad(spec.path, "a number such as 5 or 7.5"))?,
            Input::OptionalText if raw.is_empty() => Value::Null,
            Input::Text | Input::OptionalText | Input::Select(_) => Value::String(raw.to_string()),
            Input::Lines => Value::Array(
                raw.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| Value::String(l.to_string())).collect(),
            ),
        };
        insert(&mut document, spec.path, value);
    }
    Ok(document)
}

fn insert(document: &mut Value, path: &str, value: Value) {
    let mut at = document;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let Value::Object(map) = at else { return };
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return;
        }
        at = map.entry(part.to_string()).or_insert_with(|| Value::Object(Map::new()));
    }
}

/// The form field an operation's field names: `settings.identification.headers[1]` is
/// `identification.headers`.
pub fn form_field(op_field: &str) -> String {
    let name = op_field.strip_prefix("settings.").unwrap_or(op_field);
    name.split('[').next().unwrap_or(name).to_string()
}

/// Whether `name` is a field the page shows for an account of `kind`.
pub fn is_field(kind: AccountKind, name: &str) -> bool {
    specs().any(|s| s.path == name && shown(s, kind))
}

/// One field as the template renders it.
pub struct FieldView {
    pub name: &'static str,
    pub id: String,
    pub label: &'static str,
    pub hint: &'static str,
    /// `number`, `decimal`, `text`, `lines`, `checkbox` or `select`.
    pub input: &'static str,
    pub value: String,
    pub checked: bool,
    pub options: Vec<Choice>,
    pub error: Option<String>,
}

pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

pub struct SectionView {
    pub title: &'static str,
    pub fields: Vec<FieldView>,
}

/// The sections and fields for an account of `kind` with `values`, `error` next to its
/// field.
pub fn view(kind: AccountKind, values: &Values, error: Option<&FieldError>) -> Vec<SectionView> {
    SECTIONS
        .iter()
        .map(|section| SectionView {
            title: section.title,
            fields: section
                .fields
                .iter()
                .filter(|s| shown(s, kind))
                .map(|spec| {
                    let value = values.get(spec.path).cloned().unwrap_or_default();
                    let (input, options) = match spec.input {
                        Input::Number => ("number", Vec::new()),
                        Input::Decimal => ("decimal", Vec::new()),
                        Input::Text | Input::OptionalText => ("text", Vec::new()),
                        Input::Lines => ("lines", Vec::new()),
                        Input::Checkbox => ("checkbox", Vec::new()),
                        Input::Select(choices) => (
                            "select",
                            choices
                                .iter()
                                .map(|&(v, label)| Choice { value: v, label, selected: v == value })
                                .collect(),
                        ),
                    };
                    FieldView {
                        name: spec.path,
                        id: format!("f-{}", spec.path.replace(['.', '_'], "-")),
                        label: spec.label,
                        hint: spec.hint,
                        input,
                        checked: values.contains_key(spec.path),
                        value,
                        options,
                        error: error.and_then(|e| e.at(spec.path)).map(str::to_string),
                    }
                })
                .collect(),
        })
        .filter(|s| !s.fields.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use postern_core::tenancy::IdentificationMethod;
    use postern_ops::settings::apply;

    use super::*;

    /// Every leaf of a settings document, as a dotted path.
    fn leaves(value: &Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    leaves(v, &path, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }

    #[test]
    fn every_setting_has_a_field() {
        let mut full = AccountSettings { dkim_selector: Some("s1".into()), ..AccountSettings::default() };
        full.identification.regex = Some("x".into());
        let mut paths = Vec::new();
        leaves(&serde_json::to_value(&full).unwrap(), "", &mut paths);
        assert!(paths.len() > 30, "{paths:?}");
        for path in paths {
            assert!(specs().any(|s| s.path == path), "no field for the setting {path}");
        }
        let mut names: Vec<_> = specs().map(|s| s.path).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), specs().count(), "each field once");
    }

    #[test]
    fn shown_values_posted_back_change_nothing() {
        for kind in [AccountKind::Ip, AccountKind::User, AccountKind::Domain] {
            let mut base = AccountSettings::for_kind(kind);
            base.allow_reauthentication = kind == AccountKind::Ip;
            base.identification.headers = vec!["X-Client-ID".into(), "X-AuthUser".into()];
            base.dkim_selector = Some("s2024".into());
            base.checks.spam_threshold = 7.5;
            let form = values_of(&base);
            assert_eq!(form.get("identification.headers").unwrap(), "X-Client-ID\nX-AuthUser");
            let again = apply(&base, patch(kind, &form).unwrap()).unwrap();
            assert_eq!(again, base, "{kind:?}");
        }
    }

    #[test]
    fn a_form_becomes_a_settings_patch() {
        let mut form = values_of(&AccountSettings::for_kind(AccountKind::User));
        form.remove("checks.spam");
        form.extend(
            [
                ("identification.method", "header"),
                ("identification.headers", " X-Client-ID \r\n\r\nX-AuthUser\r\n"),
                ("identification.regex", ""),
                ("identification.strip", "on"),
                ("limits.connections_per_minute", "10"),
                ("limits.recipients_per_day", ""),
                ("checks.spam_threshold", "6"),
                ("dkim_selector", " s1 "),
                ("lock.template", "Locked."),
                ("quarantine_reaction", "accept"),
                ("allow_reauthentication", "on"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let user = patch(AccountKind::User, &form).unwrap();
        assert!(user.get("allow_reauthentication").is_none(), "not shown for a user account: kept");
        let s = apply(&AccountSettings::for_kind(AccountKind::User), user).unwrap();
        assert_eq!(s.identification.method, IdentificationMethod::Header);
        assert_eq!(s.identification.headers, ["X-Client-ID", "X-AuthUser"]);
        assert_eq!((s.identification.regex, s.identification.strip), (None, true));
        assert_eq!((s.limits.connections_per_minute, s.limits.recipients_per_day), (10, 0));
        assert_eq!(s.dkim_selector.as_deref(), Some("s1"));
        assert!(!s.checks.spam, "an unchecked box is off");
        let ip = patch(AccountKind::Ip, &form).unwrap();
        assert_eq!(ip["allow_reauthentication"], Value::Bool(true));
    }

    #[test]
    fn numbers_that_are_not_are_refused_by_field() {
        let mut form = values_of(&AccountSettings::default());
        form.insert("limits.connections_per_hour".into(), "-1".into());
        let e = patch(AccountKind::User, &form).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("limits.connections_per_hour"));
        form.insert("limits.connections_per_hour".into(), "1".into());
        form.insert("checks.spam_threshold".into(), "NaN".into());
        assert_eq!(patch(AccountKind::User, &form).unwrap_err().field.as_deref(), Some("checks.spam_threshold"));
    }

    #[test]
    fn operation_fields_name_form_fields() {
        assert_eq!(form_field("settings.identification.headers[1]"), "identification.headers");
        assert_eq!(form_field("settings.lock.template"), "lock.template");
        assert_eq!(form_field("password"), "password");
        assert!(is_field(AccountKind::Ip, "allow_reauthentication"));
        assert!(!is_field(AccountKind::User, "allow_reauthentication"));
        assert!(!is_field(AccountKind::User, "settings"));
    }
}
