//! Limits on the size of a GraphQL document, checked in linear time before validation.
//!
//! async-graphql's complexity and validation rules walk a document with its fragments expanded, so a
//! one-kilobyte document whose fragments each spread the previous one twice stands for 2^27 fields and
//! keeps a core busy for seconds before it is refused. Here each fragment's expanded size is computed
//! once and remembered, so the whole document is measured in one pass over its text, and anything over
//! the limits is refused before validation starts.

use std::{collections::HashMap, fmt, sync::Arc};

use async_graphql::{
    ServerError, ValidationResult,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation},
    parser::types::{ExecutableDocument, Selection, SelectionSet},
};

/// What one document may hold.
#[derive(Debug, Clone, Copy)]
pub struct DocumentLimits {
    /// Fields selected, counted with every fragment spread expanded (aliases count as fields).
    pub max_fields: usize,
    /// Fragment definitions.
    pub max_fragments: usize,
    /// Fragment spreads, as written.
    pub max_spreads: usize,
    /// Nesting of selection sets and fragments.
    pub max_nesting: usize,
}

impl DocumentLimits {
    /// The service's limits. GraphiQL's own introspection query (the largest document a developer
    /// sends) has 4 fragments, 9 spreads and about 200 fields expanded.
    pub const SERVICE: Self = Self {
        max_fields: super::MAX_COMPLEXITY,
        max_fragments: 64,
        max_spreads: 256,
        max_nesting: 64,
    };
}

/// Why a document was refused, in words for the person who wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TooLarge {
    Fragments { max: usize },
    Spreads { max: usize },
    Fields { max: usize },
    Nesting { max: usize },
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fragments { max } => write!(
                f,
                "The query defines more than {max} fragments; use fewer fragments or split the query."
            ),
            Self::Spreads { max } => write!(
                f,
                "The query spreads fragments more than {max} times; use fewer spreads or split the query."
            ),
            Self::Fields { max } => write!(
                f,
                "The query selects more than {max} fields once its fragments are expanded; ask for fewer fields or split the query."
            ),
            Self::Nesting { max } => write!(
                f,
                "The query nests selections more than {max} levels deep; flatten it."
            ),
        }
    }
}

/// Measures `doc` against `limits`: its expanded field count, or why it is too large. Fragment cycles
/// and unknown fragments count as empty here; validation reports them.
pub fn check(doc: &ExecutableDocument, limits: &DocumentLimits) -> Result<usize, TooLarge> {
    if doc.fragments.len() > limits.max_fragments {
        return Err(TooLarge::Fragments {
            max: limits.max_fragments,
        });
    }
    let mut walker = Walker {
        doc,
        limits,
        sizes: HashMap::new(),
        spreads: 0,
    };
    // Every fragment once, whether or not an operation uses it: the written spreads all count.
    for name in doc.fragments.keys() {
        walker.fragment(name.as_str(), 0)?;
    }
    let mut total = 0usize;
    for (_, operation) in doc.operations.iter() {
        total = total.saturating_add(walker.selection_set(&operation.node.selection_set.node, 0)?);
        if total > limits.max_fields {
            return Err(TooLarge::Fields {
                max: limits.max_fields,
            });
        }
    }
    Ok(total)
}

struct Walker<'a> {
    doc: &'a ExecutableDocument,
    limits: &'a DocumentLimits,
    /// Expanded size of each fragment, once known; `None` while it is being measured (a cycle).
    sizes: HashMap<&'a str, Option<usize>>,
    /// Spreads seen in the text, each counted once.
    spreads: usize,
}

impl<'a> Walker<'a> {
    fn fragment(&mut self, name: &'a str, depth: usize) -> Result<usize, TooLarge> {
        match self.sizes.get(name) {
            Some(Some(size)) => return Ok(*size),
            Some(None) => return Ok(0),
            None => {}
        }
        let Some((key, definition)) = self.doc.fragments.get_key_value(name) else {
            return Ok(0);
        };
        self.sizes.insert(key.as_str(), None);
        let size = self.selection_set(&definition.node.selection_set.node, depth + 1)?;
        self.sizes.insert(key.as_str(), Some(size));
        Ok(size)
    }

    fn selection_set(&mut self, set: &'a SelectionSet, depth: usize) -> Result<usize, TooLarge> {
        if depth > self.limits.max_nesting {
            return Err(TooLarge::Nesting {
                max: self.limits.max_nesting,
            });
        }
        let mut size = 0usize;
        for item in &set.items {
            let add = match &item.node {
                Selection::Field(field) => {
                    1 + self.selection_set(&field.node.selection_set.node, depth + 1)?
                }
                Selection::InlineFragment(inline) => {
                    self.selection_set(&inline.node.selection_set.node, depth + 1)?
                }
                Selection::FragmentSpread(spread) => {
                    self.spreads += 1;
                    if self.spreads > self.limits.max_spreads {
                        return Err(TooLarge::Spreads {
                            max: self.limits.max_spreads,
                        });
                    }
                    self.fragment(spread.node.fragment_name.node.as_str(), depth)?
                }
            };
            size = size.saturating_add(add);
            if size > self.limits.max_fields {
                return Err(TooLarge::Fields {
                    max: self.limits.max_fields,
                });
            }
        }
        Ok(size)
    }
}

/// A hostile document for tests and benchmarks: `n` fragments, each spreading the previous one twice
/// (27 of them are 1.2 KB of text and 2^26 fields once expanded).
pub fn doubling_fragments(n: usize) -> String {
    let mut q = String::from("fragment G0 on Recipient { userId }\n");
    for i in 1..n.max(1) {
        q.push_str(&format!(
            "fragment G{i} on Recipient {{ ...G{p} ...G{p} }}\n",
            p = i - 1
        ));
    }
    q.push_str(&format!("{{ me {{ ...G{} }} }}", n.max(1) - 1));
    q
}

/// A document's expanded field count, as `check` measured it before validation.
#[derive(Debug, Clone, Copy)]
pub struct Measured(pub usize);

/// Documents up to this many fields are validated in place: a few hundred microseconds.
pub const VALIDATE_IN_PLACE: usize = 200;

/// Runs the validation of a large document off the runtime's worker threads: on the multi-threaded
/// runtime the worker hands its other tasks to a fresh thread while it validates (`block_in_place`),
/// so a document that takes long to validate delays only its own request. Documents are measured
/// first (`check`), so validation's cost is bounded. Small documents (every subscription and nearly
/// every query) are validated in place: handing a worker's tasks to a new thread for each of them
/// multiplied threads (and with them the allocator's per-thread arenas) under WebSocket churn.
pub struct ValidationOffWorkers;

impl ExtensionFactory for ValidationOffWorkers {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ValidationOffWorkers)
    }
}

#[async_trait::async_trait]
impl Extension for ValidationOffWorkers {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let small = ctx
            .data_opt::<Measured>()
            .is_some_and(|m| m.0 <= VALIDATE_IN_PLACE);
        match tokio::runtime::Handle::try_current() {
            Ok(handle)
                if !small
                    && handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread =>
            {
                tokio::task::block_in_place(|| handle.block_on(next.run(ctx)))
            }
            _ => next.run(ctx).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn measure(q: &str) -> Result<usize, TooLarge> {
        check(&parse_query(q).expect("parses"), &DocumentLimits::SERVICE)
    }

    #[test]
    fn exponential_fragments_are_refused_without_expanding_them() {
        let q = doubling_fragments(27);
        assert!(q.len() < 1_300, "{}", q.len());
        let started = std::time::Instant::now();
        assert_eq!(measure(&q), Err(TooLarge::Fields { max: 2_000 }));
        // Linear: even a debug build answers in well under a second (it took 13 s of CPU before).
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // Ten fragments are 2^9 fields plus `me`: under the limit, and counted exactly.
        assert_eq!(measure(&doubling_fragments(10)), Ok(1 + 512));
    }

    #[test]
    fn counts_fields_through_fragments_inline_fragments_and_aliases() {
        let q = "query A { me { userId ...F ... on Recipient { timezone } } }
                 query B { a: me { userId } b: me { ...F } }
                 fragment F on Recipient { phoneNumber preferences { hasConsent } }";
        // A: me, userId, F (3), timezone = 6; B: a, userId, b, F (3) = 6.
        assert_eq!(measure(q), Ok(12));
    }

    #[test]
    fn too_many_fragments_spreads_or_levels() {
        let many: String = (0..65)
            .map(|i| format!("fragment F{i} on Recipient {{ userId }}\n"))
            .collect::<String>()
            + "{ me { userId } }";
        assert_eq!(measure(&many), Err(TooLarge::Fragments { max: 64 }));
        let spreads = format!(
            "fragment F on Recipient {{ userId }} {{ me {{ {} }} }}",
            "...F ".repeat(257)
        );
        assert_eq!(measure(&spreads), Err(TooLarge::Spreads { max: 256 }));
        // The parser refuses deep nesting itself; the walk has its own bound for what it accepts.
        let deep = format!("{}{}", "{ me ".repeat(12), "}".repeat(12));
        let shallow = DocumentLimits {
            max_nesting: 10,
            ..DocumentLimits::SERVICE
        };
        assert_eq!(
            check(&parse_query(&deep).expect("parses"), &shallow),
            Err(TooLarge::Nesting { max: 10 })
        );
    }

    #[test]
    fn cycles_and_unknown_fragments_are_left_to_validation() {
        assert_eq!(
            measure(
                "fragment A on Recipient { ...B } fragment B on Recipient { ...A } { me { ...A } }"
            ),
            Ok(1)
        );
        assert_eq!(measure("{ me { ...Missing } }"), Ok(1));
    }
}
