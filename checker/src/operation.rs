//! Operations: the shape every checker works on, whatever format the history came from.

/// One client operation: what was asked, when, and what came back if anything did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    pub client: u64,
    /// Where the operation came from (an op id or a line number), for reports.
    pub label: u64,
    pub invoke_ns: u64,
    pub input: I,
    /// `None` when the outcome is unknown: the operation may take effect at any point after its
    /// invoke, or never, and its output is unconstrained.
    pub completion: Option<Completion<O>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion<O> {
    pub return_ns: u64,
    pub output: O,
}

impl<I, O> Operation<I, O> {
    pub fn completed(
        client: u64,
        label: u64,
        invoke_ns: u64,
        input: I,
        return_ns: u64,
        output: O,
    ) -> Self {
        Operation {
            client,
            label,
            invoke_ns,
            input,
            completion: Some(Completion { return_ns, output }),
        }
    }

    pub fn open(client: u64, label: u64, invoke_ns: u64, input: I) -> Self {
        Operation {
            client,
            label,
            invoke_ns,
            input,
            completion: None,
        }
    }

    pub fn output(&self) -> Option<&O> {
        self.completion
            .as_ref()
            .map(|completion| &completion.output)
    }

    /// The return time; an open operation never returns.
    pub fn return_ns(&self) -> u64 {
        self.completion
            .as_ref()
            .map_or(u64::MAX, |completion| completion.return_ns)
    }

    pub fn is_open(&self) -> bool {
        self.completion.is_none()
    }

    /// Real-time order: `self` finished strictly before `other` started.
    pub fn precedes<P, Q>(&self, other: &Operation<P, Q>) -> bool {
        self.return_ns() < other.invoke_ns
    }
}
