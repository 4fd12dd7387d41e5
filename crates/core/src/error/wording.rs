//! Hints name what to do, not how a face spells it. Core writes a hint with [`op`] (an operation, such as
//! listing templates) and [`input`] (a value the person gives, such as a template's language); each face
//! words them its own way through [`Wording`]: the CLI as `wacrm templates list` and `--lang`, the TUI as a
//! tab and a field. A face reads a hint only through [`super::Error::hint_in`] or [`word`], so no marker
//! reaches a person.

const OPEN: char = '⟦';
const CLOSE: char = '⟧';
const OP: &str = "op:";
const INPUT: &str = "input:";

/// How a face names an operation and an input.
pub trait Wording {
    /// `path` is the operation's verb path, e.g. `"templates list"` or `"accounts add"`.
    fn op(&self, path: &str) -> String;
    /// `name` is the input's name, e.g. `"lang"` or `"phone-number-id"`.
    fn input(&self, name: &str) -> String;
}

/// The words of text core keeps or logs (a job's last error, a rule's failed run, a billing block), which
/// any face may show later: operations and inputs by their bare names.
pub struct Plain;

impl Wording for Plain {
    fn op(&self, path: &str) -> String {
        format!("`{path}`")
    }

    fn input(&self, name: &str) -> String {
        format!("`{name}`")
    }
}

/// An operation a hint points to, e.g. `op("templates list")`.
pub fn op(path: &str) -> String {
    format!("{OPEN}{OP}{path}{CLOSE}")
}

/// An input a hint asks for, e.g. `input("lang")`.
pub fn input(name: &str) -> String {
    format!("{OPEN}{INPUT}{name}{CLOSE}")
}

/// `text` with its operations and inputs in the face's words.
pub fn word(text: &str, wording: &dyn Wording) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let marked = &rest[start + OPEN.len_utf8()..];
        let Some(end) = marked.find(CLOSE) else {
            rest = "";
            break;
        };
        let reference = &marked[..end];
        match (reference.strip_prefix(OP), reference.strip_prefix(INPUT)) {
            (Some(path), _) => out.push_str(&wording.op(path)),
            (_, Some(name)) => out.push_str(&wording.input(name)),
            _ => out.push_str(reference),
        }
        rest = &marked[end + CLOSE.len_utf8()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Shell;
    impl Wording for Shell {
        fn op(&self, path: &str) -> String {
            format!("`wacrm {path}`")
        }
        fn input(&self, name: &str) -> String {
            format!("--{name}")
        }
    }

    #[test]
    fn each_reference_is_worded_and_the_rest_kept() {
        let hint = format!("give the language ({}), e.g. en_US; see {}", input("lang"), op("templates list"));
        assert_eq!(word(&hint, &Shell), "give the language (--lang), e.g. en_US; see `wacrm templates list`");
        assert_eq!(word("no references {{1}}", &Shell), "no references {{1}}");
    }

    #[test]
    fn an_unclosed_marker_drops_the_broken_tail() {
        assert_eq!(word("see ⟦op:templates", &Shell), "see ");
    }
}
