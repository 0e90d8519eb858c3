//! The block and allow lists (SPEC.md §4): a domain's rules on its page, and every rule the
//! user may see at `/rules` — filtered by domain, scope, kind, action and value — where a
//! superadmin also adds global rules. A domain admin never sees a global rule, and adding
//! one is refused by the operation (403).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use postern_core::tenancy::{ListAction, ListKind};
use postern_ops::rules::{self, RuleCreate, RuleQuery};
use serde::Deserialize;

use super::show::{RULE_FIELDS, RuleRow, back, refused, rule_row};
use crate::chrome::Chrome;
use crate::error::render;
use crate::session::{Form, Session, local_path};
use crate::view::{FormState, PER_PAGE, Pager, Refusal, offset_of, page_number, with_status};
use crate::{PanelError, PanelState};

const ACTIONS: [ListAction; 3] = [ListAction::Reject, ListAction::Discard, ListAction::Allow];
const GLOBAL_RULE_FIELDS: &[&str] = &["domain", "kind", "value", "action", "comment"];

fn kind_named(text: &str) -> Option<ListKind> {
    ListKind::ALL.into_iter().find(|k| k.name() == text)
}

fn action_named(text: &str) -> Option<ListAction> {
    ACTIONS.into_iter().find(|a| a.name() == text)
}

/// What was typed into "add a rule" at `/rules`.
#[derive(Default)]
struct NewRuleValues {
    domain: String,
    kind: &'static str,
    value: String,
    action: &'static str,
    comment: String,
}

#[derive(Template)]
#[template(path = "rules.html")]
struct RulesPage {
    chrome: Chrome,
    rows: Vec<RuleRow>,
    pager: Pager,
    /// The filters, as given.
    domain: String,
    scope: String,
    kind: String,
    action: String,
    value: String,
    kinds: Vec<&'static str>,
    actions: Vec<&'static str>,
    /// A domain admin's domains, to choose from when adding a rule.
    own_domains: Vec<String>,
    new: NewRuleValues,
    form: FormState,
}

#[derive(Deserialize, Default)]
pub struct RulesQuery {
    domain: Option<String>,
    /// `global`, `domains` or empty.
    scope: Option<String>,
    kind: Option<String>,
    action: Option<String>,
    value: Option<String>,
    page: Option<String>,
    done: Option<String>,
}

async fn load(state: &PanelState, session: &Session, q: &RulesQuery) -> Result<RulesPage, PanelError> {
    let page = page_number(q.page.as_deref());
    let text = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_string();
    let (domain, scope, kind, action, value) =
        (text(&q.domain), text(&q.scope), text(&q.kind), text(&q.action), text(&q.value));
    let query = RuleQuery {
        domain: Some(domain.clone()).filter(|d| !d.is_empty()),
        global: match scope.as_str() {
            "global" => Some(true),
            "domains" => Some(false),
            _ => None,
        },
        kind: kind_named(&kind),
        action: action_named(&action),
        value: Some(value.clone()).filter(|v| !v.is_empty()),
        limit: PER_PAGE,
        offset: offset_of(page),
    };
    let list = rules::list(&state.ops, &session.caller, query).await?;
    let filters =
        [("domain", domain.as_str()), ("scope", &scope), ("kind", &kind), ("action", &action), ("value", &value)];
    let pager = Pager::of("/rules", &filters, page, &list);
    Ok(RulesPage {
        chrome: Chrome::new(session, "/domains").with_notice(q.done.as_deref()),
        rows: list.items.into_iter().map(rule_row).collect(),
        pager,
        domain,
        scope,
        kind,
        action,
        value,
        kinds: ListKind::ALL.iter().map(|k| k.name()).collect(),
        actions: ACTIONS.iter().map(|a| a.name()).collect(),
        own_domains: session.caller.domains().map(<[String]>::to_vec).unwrap_or_default(),
        new: NewRuleValues { kind: ListKind::Ip.name(), action: ListAction::Reject.name(), ..Default::default() },
        form: FormState::new(GLOBAL_RULE_FIELDS),
    })
}

pub async fn rules_page(State(state): State<PanelState>, session: Session, Query(q): Query<RulesQuery>) -> Response {
    match load(&state, &session, &q).await {
        Ok(page) => render(&page),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct RuleForm {
    /// `/rules` only: empty for a global rule.
    #[serde(default)]
    domain: String,
    kind: ListKind,
    value: String,
    action: ListAction,
    #[serde(default)]
    comment: String,
}

impl RuleForm {
    fn input(&self, domain: Option<String>) -> RuleCreate {
        let comment = Some(self.comment.clone()).filter(|c| !c.trim().is_empty());
        RuleCreate { domain, kind: self.kind, value: self.value.clone(), action: self.action, comment }
    }
}

/// A rule of the domain whose page it is.
pub async fn create_domain_rule(
    State(state): State<PanelState>,
    Path(name): Path<String>,
    form: Form<RuleForm>,
) -> Response {
    let Form { session, data } = form;
    match rules::create(&state.ops, &session.caller, data.input(Some(name.clone()))).await {
        Ok(rule) => back(rule.domain.as_deref().unwrap_or(&name), "created", "rules"),
        Err(e) => {
            refused(&state, &session, &name, e, |p, e| {
                p.values.rule_kind = data.kind.name();
                p.values.rule_value = data.value;
                p.values.rule_action = data.action.name();
                p.values.rule_comment = data.comment;
                p.states.rule = FormState::refused(RULE_FIELDS, e);
            })
            .await
        }
    }
}

/// A rule from `/rules`: a domain's, or a global one (superadmin).
pub async fn create_rule(State(state): State<PanelState>, form: Form<RuleForm>) -> Response {
    let Form { session, data } = form;
    let domain = Some(data.domain.trim().to_string()).filter(|d| !d.is_empty());
    let e = match rules::create(&state.ops, &session.caller, data.input(domain)).await {
        Ok(_) => return Redirect::to("/rules?done=created").into_response(),
        Err(e) => e,
    };
    match Refusal::of(e) {
        Refusal::Page(e) => e.into_response(),
        Refusal::Form(status, e) => match load(&state, &session, &RulesQuery::default()).await {
            Ok(mut page) => {
                page.new = NewRuleValues {
                    domain: data.domain,
                    kind: data.kind.name(),
                    value: data.value,
                    action: data.action.name(),
                    comment: data.comment,
                };
                page.form = FormState::refused(GLOBAL_RULE_FIELDS, &e);
                with_status(status, render(&page))
            }
            Err(e) => e.into_response(),
        },
    }
}

#[derive(Deserialize)]
pub struct RuleDeleteForm {
    /// The page to go back to (a local path only); default `/rules`.
    #[serde(default)]
    back: String,
}

pub async fn delete_rule(
    State(state): State<PanelState>,
    Path(id): Path<String>,
    form: Form<RuleDeleteForm>,
) -> Response {
    let Form { session, data } = form;
    let id = match postern_ops::object::object_id(&id, "rule") {
        Ok(id) => id,
        Err(e) => return PanelError::from(e).into_response(),
    };
    match rules::delete(&state.ops, &session.caller, id).await {
        Ok(_) => {
            let back = local_path(&data.back).unwrap_or("/rules");
            let (path, fragment) = back.split_once('#').unwrap_or((back, ""));
            let path = path.split('?').next().unwrap_or("/rules");
            let fragment = if fragment.is_empty() { String::new() } else { format!("#{fragment}") };
            Redirect::to(&format!("{path}?done=deleted{fragment}")).into_response()
        }
        Err(e) => PanelError::from(e).into_response(),
    }
}
