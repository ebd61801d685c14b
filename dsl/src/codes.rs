//! The stable diagnostic codes. A code never changes meaning once published: tools and
//! tests match on them, and `docs/language.md` lists them.

/// Text that does not follow the grammar.
pub const SYNTAX: &str = "E001";
/// An opening `{`, `[` or `(` that is never closed.
pub const UNCLOSED_DELIMITER: &str = "E002";
/// A closing `}`, `]` or `)` without its opening partner.
pub const UNEXPECTED_CLOSER: &str = "E003";
/// A `"` string that reaches the end of its line.
pub const UNCLOSED_STRING: &str = "E004";
/// A `'''` raw string that reaches the end of the file.
pub const UNCLOSED_RAW_STRING: &str = "E005";
/// Brackets nested deeper than [`crate::parse::MAX_DEPTH`].
pub const TOO_DEEP: &str = "E006";
/// A bad `\` escape in a string.
pub const BAD_ESCAPE: &str = "E007";
/// A number that is malformed or does not fit.
pub const BAD_NUMBER: &str = "E008";
/// A number with a unit that is neither a duration nor a size unit.
pub const UNKNOWN_UNIT: &str = "E009";
/// A block keyword that is not `pipeline`, a component kind or `test`.
pub const UNKNOWN_BLOCK: &str = "E010";
/// A component type the catalogue does not have for that kind.
pub const UNKNOWN_TYPE: &str = "E011";
/// An attribute the component does not take.
pub const UNKNOWN_ATTRIBUTE: &str = "E012";
/// A required attribute that is absent.
pub const MISSING_ATTRIBUTE: &str = "E013";
/// An attribute set twice in one block.
pub const DUPLICATE_ATTRIBUTE: &str = "E014";
/// A value of the wrong type for its attribute.
pub const WRONG_TYPE: &str = "E015";
/// Two components with one name in a pipeline.
pub const DUPLICATE_COMPONENT: &str = "E016";
/// A reference to a component that does not exist.
pub const UNKNOWN_COMPONENT: &str = "E017";
/// A reference to an output port the component does not have.
pub const UNKNOWN_PORT: &str = "E018";
/// A reference to a sink, which has no outputs.
pub const REFERENCE_TO_SINK: &str = "E019";
/// `inputs` on a source.
pub const INPUTS_ON_SOURCE: &str = "E020";
/// A component that consumes events but has no inputs.
pub const NO_INPUTS: &str = "E021";
/// Components that feed each other in a loop.
pub const CYCLE: &str = "E022";
/// A regular expression that does not compile.
pub const BAD_REGEX: &str = "E023";
/// A Rhai script that does not compile.
pub const BAD_SCRIPT: &str = "E024";
/// A call of a function that does not exist.
pub const UNKNOWN_FUNCTION: &str = "E025";
/// A call with the wrong number of arguments.
pub const WRONG_ARITY: &str = "E026";
/// A malformed `env()` or `secret()`.
pub const BAD_ENV_OR_SECRET: &str = "E027";
/// `secret()` where the attribute is not sensitive.
pub const SECRET_NOT_ALLOWED: &str = "E028";
/// A pipeline without components.
pub const EMPTY_PIPELINE: &str = "E029";
/// A block label that is empty or not a valid name.
pub const BAD_NAME: &str = "E030";
/// A block of the wrong shape (a component without a type, a statement in a
/// component, ...).
pub const BAD_BLOCK: &str = "E031";
/// A malformed test block.
pub const BAD_TEST: &str = "E032";
/// A string that is not one of an enumeration's words.
pub const BAD_ENUM: &str = "E033";
/// A key given twice in one map.
pub const DUPLICATE_KEY: &str = "E034";
/// A catalogue default that does not check (a bug in a component, not in the file).
pub const BAD_DEFAULT: &str = "E035";
/// An expression that is well formed but meaningless (a map in a condition, named
/// arguments to a function, `=~` without a string pattern, ...).
pub const BAD_EXPRESSION: &str = "E036";
/// An output port name that is invalid or clashes with a fixed output.
pub const BAD_PORT_NAME: &str = "E037";
/// An output no component consumes (warning).
pub const UNUSED_OUTPUT: &str = "W001";
/// A literal value in a sensitive attribute (warning).
pub const LITERAL_SECRET: &str = "W002";

/// Every code with a one-line summary, for the documentation.
pub const ALL: &[(&str, &str)] = &[
    (SYNTAX, "text that does not follow the grammar"),
    (
        UNCLOSED_DELIMITER,
        "an opening `{`, `[` or `(` that is never closed",
    ),
    (
        UNEXPECTED_CLOSER,
        "a closing `}`, `]` or `)` without its opening partner",
    ),
    (
        UNCLOSED_STRING,
        "a `\"` string that reaches the end of its line",
    ),
    (
        UNCLOSED_RAW_STRING,
        "a `'''` raw string that reaches the end of the file",
    ),
    (TOO_DEEP, "brackets nested more than 64 deep"),
    (BAD_ESCAPE, "a bad `\\` escape in a string"),
    (BAD_NUMBER, "a number that is malformed or too large"),
    (
        UNKNOWN_UNIT,
        "a unit that is neither a duration nor a size unit",
    ),
    (UNKNOWN_BLOCK, "an unknown block keyword"),
    (UNKNOWN_TYPE, "an unknown component type"),
    (
        UNKNOWN_ATTRIBUTE,
        "an attribute the component does not take",
    ),
    (MISSING_ATTRIBUTE, "a required attribute is missing"),
    (DUPLICATE_ATTRIBUTE, "an attribute set twice"),
    (WRONG_TYPE, "a value of the wrong type"),
    (DUPLICATE_COMPONENT, "two components with one name"),
    (
        UNKNOWN_COMPONENT,
        "a reference to a component that does not exist",
    ),
    (
        UNKNOWN_PORT,
        "a reference to an output the component does not have",
    ),
    (
        REFERENCE_TO_SINK,
        "a reference to a sink (sinks have no outputs)",
    ),
    (INPUTS_ON_SOURCE, "`inputs` on a source"),
    (NO_INPUTS, "a component that needs inputs has none"),
    (CYCLE, "components feed each other in a loop"),
    (BAD_REGEX, "a regular expression that does not compile"),
    (BAD_SCRIPT, "a Rhai script that does not compile"),
    (UNKNOWN_FUNCTION, "an unknown function"),
    (WRONG_ARITY, "a call with the wrong number of arguments"),
    (BAD_ENV_OR_SECRET, "a malformed `env()` or `secret()`"),
    (
        SECRET_NOT_ALLOWED,
        "`secret()` in an attribute that is not sensitive",
    ),
    (EMPTY_PIPELINE, "a pipeline without components"),
    (
        BAD_NAME,
        "a block name that is empty or not a valid identifier",
    ),
    (BAD_BLOCK, "a block of the wrong shape"),
    (BAD_TEST, "a malformed test block"),
    (BAD_ENUM, "a value that is not one of the allowed words"),
    (DUPLICATE_KEY, "a key given twice in one map"),
    (
        BAD_DEFAULT,
        "a catalogue default that does not check (a component bug)",
    ),
    (
        BAD_EXPRESSION,
        "an expression that is well formed but meaningless",
    ),
    (
        BAD_PORT_NAME,
        "an output name that is invalid or clashes with a fixed output",
    ),
    (UNUSED_OUTPUT, "warning: an output no component consumes"),
    (
        LITERAL_SECRET,
        "warning: a literal value in a sensitive attribute",
    ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (code, _) in super::ALL {
            assert!(seen.insert(*code), "{code} listed twice");
        }
        assert_eq!(seen.len(), 39);
    }
}
