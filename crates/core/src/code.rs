//! Registration codes: the kinds a user may choose (seed 000, claims 1 and 8) and their
//! canonical text, which is what the hub and the bank hash, bind and compare.
//!
//! A phone number or a user name cannot collide with a code of another kind, because their
//! canonical forms use characters the others never do (a personal code of 10 digits has the form
//! of a random one; uniqueness of every code on the platform settles that):
//!
//! | kind | the user gives | canonical text |
//! |---|---|---|
//! | random | — | 10 digits |
//! | personalised | 6–32 of `A–Z a–z 0–9 - _` | as given |
//! | phone | `+1 (555) 010-0199` | `+15550100199` |
//! | password | user name `Michael.S` + a password | `user:michael.s` (the password is checked apart) |
//!
//! A payment names its code the way the user knows it; [`for_payment`] turns that into the
//! canonical text, and refuses the `user:` form without a password, so a user-name code cannot
//! be used as if it were a plain one.

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("a personal code is 6 to 32 letters, digits, `-` or `_`")]
    Personalised,
    #[error("a phone number is `+` and 8 to 15 digits, with the country code")]
    Phone,
    #[error("a user name is 3 to 32 letters, digits, `.`, `-` or `_`")]
    Username,
    #[error("a password is 8 to 128 characters")]
    Password,
}

const USER_PREFIX: &str = "user:";
pub const PASSWORD_LENGTH_MIN: usize = 8;
pub const PASSWORD_LENGTH_MAX: usize = 128;

pub fn personalised(code: &str) -> Result<String, CodeError> {
    let ok = (6..=32).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(code.to_string())
    } else {
        Err(CodeError::Personalised)
    }
}

/// `+` and 8 to 15 digits (E.164), ignoring spaces, `-`, `.` and brackets.
pub fn phone(text: &str) -> Result<String, CodeError> {
    let text = text.trim();
    let Some(rest) = text.strip_prefix('+') else {
        return Err(CodeError::Phone);
    };
    let mut digits = String::with_capacity(16);
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(CodeError::Phone),
        }
    }
    if (8..=15).contains(&digits.len()) && !digits.starts_with('0') {
        Ok(format!("+{digits}"))
    } else {
        Err(CodeError::Phone)
    }
}

/// A user name's canonical code: `user:` and the name in lower case.
pub fn username(name: &str) -> Result<String, CodeError> {
    let name = name.trim();
    let ok = (3..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(format!("{USER_PREFIX}{}", name.to_ascii_lowercase()))
    } else {
        Err(CodeError::Username)
    }
}

pub fn password(password: &str) -> Result<(), CodeError> {
    if (PASSWORD_LENGTH_MIN..=PASSWORD_LENGTH_MAX).contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(CodeError::Password)
    }
}

/// True for the canonical code of a user name (it pays only with its password).
pub fn needs_password(canonical: &str) -> bool {
    canonical.starts_with(USER_PREFIX)
}

/// The canonical code a payment means: the user name's code when it comes with a password, the
/// phone number's when it starts with `+`, else the code as given. `None` for text no code can
/// have (a `user:` code without its password).
pub fn for_payment(code: &str, with_password: bool) -> Option<String> {
    if with_password {
        let name = code.trim();
        return username(name.strip_prefix(USER_PREFIX).unwrap_or(name)).ok();
    }
    if code.trim_start().starts_with('+') {
        return phone(code).ok();
    }
    (!code.contains(':')).then(|| code.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_normalised() {
        assert_eq!(phone("+1 (555) 010-0199").unwrap(), "+15550100199");
        assert_eq!(phone(" +44 20.7946.0958 ").unwrap(), "+442079460958");
        for bad in [
            "15550100199",
            "+1555",
            "+1234567890123456",
            "+0123456789",
            "+1 555 CALL NOW",
        ] {
            assert_eq!(phone(bad), Err(CodeError::Phone), "{bad}");
        }
    }

    #[test]
    fn user_names_are_case_insensitive_and_cannot_pass_for_plain_codes() {
        assert_eq!(username("Michael.S").unwrap(), "user:michael.s");
        assert_eq!(username("ab"), Err(CodeError::Username));
        assert_eq!(username("a b c"), Err(CodeError::Username));
        assert_eq!(for_payment("MICHAEL.s", true).unwrap(), "user:michael.s");
        assert_eq!(
            for_payment("user:michael.s", true).unwrap(),
            "user:michael.s"
        );
        // Without the password, the user-name form names no code.
        assert_eq!(for_payment("user:michael.s", false), None);
        assert!(needs_password("user:michael.s"));
        assert!(!needs_password("+15550100199"));
    }

    #[test]
    fn payments_name_codes_as_users_know_them() {
        assert_eq!(for_payment("0123456789", false).unwrap(), "0123456789");
        assert_eq!(for_payment("MICHAEL-2026", false).unwrap(), "MICHAEL-2026");
        assert_eq!(
            for_payment("+1 555 010 0199", false).unwrap(),
            "+15550100199"
        );
        assert_eq!(for_payment("+12", false), None);
    }

    #[test]
    fn kinds_do_not_collide() {
        // A personal code never holds `+` or `:`; a random one is digits only.
        assert!(personalised("+15550100199").is_err());
        assert!(personalised("user:michael").is_err());
        assert!(personalised("michael").is_ok());
        assert_ne!(
            username("michael").unwrap(),
            personalised("michael").unwrap()
        );
    }

    #[test]
    fn passwords_have_bounds() {
        assert!(password("correct horse").is_ok());
        assert_eq!(password("short"), Err(CodeError::Password));
        assert_eq!(password(&"x".repeat(129)), Err(CodeError::Password));
    }
}
