//! The rewrite rules, one file per family (see `passes/RULES.md`), and the helpers their
//! appliers share. Every applier adds its right-hand side through [`add`], which records
//! the rule that made each new node (for the report), and unions only when the new
//! node's inferred type is the matched class's type.

pub mod algebraic;
pub mod folding;
pub mod fusion;
pub mod layout;
pub mod row_reduction;

use super::{
    analysis::{AttrsEntry, Graph},
    language::GraphLang,
};
use egg::{Applier, ENodeOrVar, Id, Language, PatternAst, Rewrite, Subst, Symbol, Var};
use fuser_dialects::semantics::{Attrs, Tensor, TypeInfo};

pub type Rule = Rewrite<GraphLang, super::analysis::GraphAnalysis>;

/// Every rule, by family.
pub fn all_rules() -> Vec<Rule> {
    let mut rules = algebraic::rules();
    rules.extend(folding::rules());
    rules.extend(layout::rules());
    rules.extend(row_reduction::rules());
    rules.extend(fusion::rules());
    rules
}

/// Adds `node`, remembering `rule` as its maker when it is new.
pub fn add(egraph: &mut Graph, node: GraphLang, rule: &'static str) -> Id {
    let canonical = node.clone().map_children(|c| egraph.find(c));
    if egraph.lookup(canonical.clone()).is_none() {
        egraph.analysis.created_by.entry(canonical.clone()).or_insert(rule);
    }
    egraph.add(canonical)
}

/// Adds the op `name(slots..., attrs)`; `None` when its type cannot be inferred.
pub fn add_op(egraph: &mut Graph, rule: &'static str, name: &str, slots: &[Id], attrs: Option<Id>) -> Option<Id> {
    let mut children = slots.to_vec();
    children.extend(attrs);
    let id = add(egraph, GraphLang::Op(Symbol::from(name), children), rule);
    egraph[id].data.ty.is_some().then_some(id)
}

/// Adds an attribute dictionary leaf.
pub fn add_attrs(egraph: &mut Graph, entry: AttrsEntry) -> Id {
    let key = egraph.analysis.intern_attrs(entry);
    egraph.add(GraphLang::Attrs(key))
}

/// Adds a constant made by a rule.
pub fn add_constant(egraph: &mut Graph, tensor: Tensor) -> Id {
    let key = egraph.analysis.constant_leaf(tensor);
    egraph.add(GraphLang::Leaf(key))
}

/// The `absent` leaf.
pub fn absent(egraph: &mut Graph) -> Id {
    egraph.add(GraphLang::Absent)
}

/// Unions `class` with `new` when both have the same known type; the ids changed.
pub fn union_if_same_type(egraph: &mut Graph, class: Id, new: Id, rule: &'static str) -> Vec<Id> {
    let (a, b) = (&egraph[class].data.ty, &egraph[new].data.ty);
    if a.is_none() || a != b {
        return vec![];
    }
    if egraph.union_trusted(class, new, Symbol::from(rule)) {
        vec![class]
    } else {
        vec![]
    }
}

/// The semantic attributes of the class `id` (an `attrs` leaf).
pub fn attrs_of(egraph: &Graph, id: Id) -> Option<Attrs> {
    egraph[id].nodes.iter().find_map(|n| match n {
        GraphLang::Attrs(k) => Some(egraph.analysis.attrs_of(*k).semantic.clone()),
        _ => None,
    })
}

pub fn ty(egraph: &Graph, id: Id) -> Option<&TypeInfo> {
    egraph[id].data.ty.as_ref()
}

pub fn is_constant(egraph: &Graph, id: Id) -> bool {
    egraph[id].data.constant
}

/// Whether the class is a constant whose elements all equal `x`.
pub fn is_splat(egraph: &Graph, id: Id, x: f64) -> bool {
    egraph[id]
        .data
        .value
        .as_ref()
        .is_some_and(|t| !t.is_empty() && t.to_f64().iter().all(|&v| v == x))
}

/// The single element of a one-element constant.
pub fn scalar_value(egraph: &Graph, id: Id) -> Option<f64> {
    let value = egraph[id].data.value.as_ref()?;
    (value.len() == 1).then(|| value.to_f64().iter().next().copied())?
}

/// A rule's right-hand side written as code: `build` gets the matched class and the
/// substitution, adds what it needs and returns the class to union with.
pub struct CodeApplier {
    pub name: &'static str,
    pub build: fn(&mut Graph, Id, &Subst) -> Option<Id>,
    /// The left-hand side (egg hands appliers the searcher's pattern only when
    /// explanations are on).
    pub lhs: PatternAst<GraphLang>,
}

impl Applier<GraphLang, super::analysis::GraphAnalysis> for CodeApplier {
    fn apply_one(
        &self,
        egraph: &mut Graph,
        eclass: Id,
        subst: &Subst,
        _ast: Option<&PatternAst<GraphLang>>,
        _rule: Symbol,
    ) -> Vec<Id> {
        match (self.build)(egraph, eclass, subst) {
            Some(new) => union_matched(egraph, eclass, new, self.name, &self.lhs, subst),
            None => vec![],
        }
    }
}

/// Unions `class` with `new` (same type only, as [`union_if_same_type`]) and records in it
/// the imported ops of the inner nodes `lhs` matched.
pub fn union_matched(
    egraph: &mut Graph,
    class: Id,
    new: Id,
    rule: &'static str,
    lhs: &PatternAst<GraphLang>,
    subst: &Subst,
) -> Vec<Id> {
    let absorbed = matched_originals(egraph, class, lhs, subst);
    let changed = union_if_same_type(egraph, class, new, rule);
    if !changed.is_empty() {
        let class = egraph.find(class);
        egraph[class].data.originals.extend(absorbed);
    }
    changed
}

/// The imported ops of the inner nodes the pattern matched in `class`, which the rule
/// folds into it (a conv folded into a batch normalization's class is reported with it).
pub fn matched_originals(
    egraph: &Graph,
    class: Id,
    ast: &PatternAst<GraphLang>,
    subst: &Subst,
) -> std::collections::BTreeSet<u32> {
    let nodes = ast.as_ref();
    let mut inner = Vec::new();
    if let Some(root) = nodes.len().checked_sub(1) {
        match_at(egraph, nodes, root, class, subst, &mut inner);
    }
    let mut absorbed = std::collections::BTreeSet::new();
    for c in inner.into_iter().filter(|&c| egraph.find(c) != egraph.find(class)) {
        absorbed.extend(egraph[c].data.originals.iter().copied());
    }
    absorbed
}

/// Matches pattern node `at` against `class` as the substitution says, collecting the
/// classes the pattern's op nodes matched.
fn match_at(
    egraph: &Graph,
    nodes: &[ENodeOrVar<GraphLang>],
    at: usize,
    class: Id,
    subst: &Subst,
    found: &mut Vec<Id>,
) -> bool {
    match &nodes[at] {
        ENodeOrVar::Var(v) => subst.get(*v).is_some_and(|&id| egraph.find(id) == egraph.find(class)),
        ENodeOrVar::ENode(pattern) => {
            for node in &egraph[class].nodes {
                if !node.matches(pattern) {
                    continue;
                }
                let mark = found.len();
                let all = pattern
                    .children()
                    .iter()
                    .zip(node.children())
                    .all(|(&p, &c)| match_at(egraph, nodes, usize::from(p), c, subst, found));
                if all {
                    found.push(class);
                    return true;
                }
                found.truncate(mark);
            }
            false
        }
    }
}

/// A rule whose left-hand side is a pattern and whose right-hand side is code.
pub fn code_rule(name: &'static str, pattern: &str, build: fn(&mut Graph, Id, &Subst) -> Option<Id>) -> Rule {
    let searcher: egg::Pattern<GraphLang> = pattern.parse().expect("rule pattern");
    let lhs = searcher.ast.clone();
    Rewrite::new(name, searcher, CodeApplier { name, build, lhs }).expect("rule")
}

/// The class bound to `?name`.
pub fn var(subst: &Subst, name: &str) -> Id {
    subst[name.parse::<Var>().expect("variable")]
}
