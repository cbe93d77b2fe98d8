//! A macro's body: text with `{{variable}}` placeholders (spaces inside the braces allowed),
//! checked when the macro is saved so a reply never meets an unknown variable.
use super::FieldError;

pub const VARIABLES: [&str; 5] = [
    "ticket.subject",
    "ticket.id",
    "tenant.name",
    "contact_email",
    "operator.name",
];

/// What the variables stand for on one ticket.
pub struct Values<'a> {
    pub ticket_subject: &'a str,
    pub ticket_id: &'a str,
    pub tenant_name: &'a str,
    pub contact_email: &'a str,
    pub operator_name: &'a str,
}

impl Values<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        Some(match name {
            "ticket.subject" => self.ticket_subject,
            "ticket.id" => self.ticket_id,
            "tenant.name" => self.tenant_name,
            "contact_email" => self.contact_email,
            "operator.name" => self.operator_name,
            _ => return None,
        })
    }
}

enum Piece<'a> {
    Text(&'a str),
    Variable(&'a str),
}

fn pieces(body: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        out.push(Piece::Text(&rest[..start]));
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a `{{` is never closed with `}}`".to_string())?;
        let name = after[..end].trim();
        if !VARIABLES.contains(&name) {
            return Err(format!(
                "unknown variable `{name}`; use one of: {}",
                VARIABLES.join(", ")
            ));
        }
        out.push(Piece::Variable(name));
        rest = &after[end + 2..];
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// Checks every placeholder of `body` names a known variable.
pub fn check(body: &str, field: &'static str) -> Result<(), FieldError> {
    pieces(body)
        .map(|_| ())
        .map_err(|m| FieldError::new(field, m))
}

/// The body with every variable replaced; a body that no longer checks (it cannot, once
/// saved) renders its unknown placeholders as they are.
pub fn render(body: &str, values: &Values<'_>) -> String {
    match pieces(body) {
        Ok(pieces) => pieces
            .into_iter()
            .map(|p| match p {
                Piece::Text(t) => t,
                Piece::Variable(name) => values.get(name).unwrap_or_default(),
            })
            .collect(),
        Err(_) => body.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: Values<'static> = Values {
        ticket_subject: "Calls drop",
        ticket_id: "tkt_1",
        tenant_name: "Acme",
        contact_email: "dev@acme.test",
        operator_name: "alice",
    };

    #[test]
    fn renders_every_variable() {
        let body = "Hi {{ tenant.name }} ({{contact_email}}): about {{ticket.subject}} [{{ticket.id}}]. — {{operator.name}}";
        assert!(check(body, "body").is_ok());
        assert_eq!(
            render(body, &VALUES),
            "Hi Acme (dev@acme.test): about Calls drop [tkt_1]. — alice"
        );
    }

    #[test]
    fn refuses_unknown_and_unclosed() {
        assert!(check("{{ticket.secret}}", "body").is_err());
        assert!(check("Hello {{tenant.name", "body").is_err());
        assert!(check("No variables at all", "body").is_ok());
    }
}
