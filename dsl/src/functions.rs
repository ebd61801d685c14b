//! The functions of the expression language, declared once: the checker reads this
//! list for names and arity, the runtime implements each (a test keeps the two in
//! step), and the reference documents them.

/// One function of the expression language.
#[derive(Debug, Clone, Copy)]
pub struct FunctionSpec {
    pub name: &'static str,
    pub min_args: usize,
    pub max_args: usize,
    /// How it is called, e.g. `starts_with(value, prefix)`.
    pub signature: &'static str,
    pub doc: &'static str,
}

/// Every function callable in expressions.
pub const FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "exists",
        min_args: 1,
        max_args: 1,
        signature: "exists(field)",
        doc: "True when the field is present (even if null).",
    },
    FunctionSpec {
        name: "is_null",
        min_args: 1,
        max_args: 1,
        signature: "is_null(value)",
        doc: "True when the value is null or the field is absent.",
    },
    FunctionSpec {
        name: "lower",
        min_args: 1,
        max_args: 1,
        signature: "lower(text)",
        doc: "The text in lower case; non-text values yield null.",
    },
    FunctionSpec {
        name: "upper",
        min_args: 1,
        max_args: 1,
        signature: "upper(text)",
        doc: "The text in upper case; non-text values yield null.",
    },
    FunctionSpec {
        name: "len",
        min_args: 1,
        max_args: 1,
        signature: "len(value)",
        doc: "Characters of a text, items of a list, keys of a map; null otherwise.",
    },
    FunctionSpec {
        name: "starts_with",
        min_args: 2,
        max_args: 2,
        signature: "starts_with(text, prefix)",
        doc: "True when the text begins with the prefix.",
    },
    FunctionSpec {
        name: "ends_with",
        min_args: 2,
        max_args: 2,
        signature: "ends_with(text, suffix)",
        doc: "True when the text ends with the suffix.",
    },
    FunctionSpec {
        name: "contains",
        min_args: 2,
        max_args: 2,
        signature: "contains(text_or_list, needle)",
        doc: "True when the text contains the needle, or the list holds an equal item.",
    },
    FunctionSpec {
        name: "cidr_match",
        min_args: 2,
        max_args: 2,
        signature: "cidr_match(ip, \"10.0.0.0/8\")",
        doc: "True when the IP address (text) lies in the CIDR block (IPv4 or IPv6).",
    },
    FunctionSpec {
        name: "to_string",
        min_args: 1,
        max_args: 1,
        signature: "to_string(value)",
        doc: "The value as text (JSON text for lists and maps).",
    },
    FunctionSpec {
        name: "to_int",
        min_args: 1,
        max_args: 1,
        signature: "to_int(value)",
        doc: "The value as an integer (parsing text); null when it is not one.",
    },
];

/// Looks a function up by name.
pub fn function(name: &str) -> Option<&'static FunctionSpec> {
    FUNCTIONS.iter().find(|f| f.name == name)
}
