//! Extraction: choose one node per needed e-class so that the whole program costs least.
//! A kernel shared by several users is paid once (DAG cost), so the default is a greedy
//! DAG-aware heuristic: each class's best node is the one whose set of classes below it
//! (its own plus the union of its children's) costs least, iterated to a fixed point.
//! `ilp` solves the exact 0-1 program with good_lp's pure-Rust solver under a time limit
//! and keeps the heuristic's answer when it finds nothing better. Tree extraction (egg's
//! `Extractor`'s criterion), which pays a shared node once per use, is computed for the
//! report.

use super::{
    analysis::{Graph, Operand, is_absent, split_children},
    cost::{StepShape, TargetModel, kernel_time},
    language::GraphLang,
    rules::fusion::VIEWS,
};
use egg::{Id, Language};
use fuser_dialects::semantics::{Attrs, TypeInfo};
use std::{collections::HashMap, time::Duration};

/// The chosen node of each e-class (canonical ids).
pub type Selection = HashMap<Id, GraphLang>;

/// The time of `node` (in `class`) as a kernel on `target`; 0 for leaves, constants and
/// views.
pub fn node_cost(g: &Graph, target: &TargetModel, class: Id, node: &GraphLang) -> f64 {
    let data = &g[class].data;
    if data.constant {
        return 0.0;
    }
    let Some(result) = data.ty.as_ref() else { return 0.0 };
    let empty = Attrs::default();
    match node {
        GraphLang::Op(name, children) => {
            if VIEWS.contains(&name.as_str()) {
                return 0.0;
            }
            let (slots, attrs) = split_children(g, name.as_str(), children);
            let operands: Vec<Option<&TypeInfo>> = slots
                .iter()
                .map(|&c| if is_absent(g, c) { None } else { g[c].data.ty.as_ref() })
                .collect();
            let mut inputs: Vec<&TypeInfo> = Vec::new();
            let mut seen = Vec::new();
            for &c in &slots {
                let c = g.find(c);
                if !seen.contains(&c) && !is_absent(g, c) {
                    seen.push(c);
                    inputs.extend(g[c].data.ty.as_ref());
                }
            }
            let step = StepShape {
                op: name.as_str(),
                attrs: attrs.map_or(&empty, |k| &g.analysis.attrs_of(k).semantic),
                operands,
                result,
            };
            kernel_time(target, &[step], &inputs, result)
        }
        GraphLang::Fused(key, children) => {
            let body = g.analysis.body(*key);
            let types = &g.analysis.meta(*key).step_types;
            let steps: Vec<StepShape> = body
                .steps
                .iter()
                .zip(types)
                .map(|(step, ty)| StepShape {
                    op: step.op.as_str(),
                    attrs: step.attrs.map_or(&empty, |k| &g.analysis.attrs_of(k).semantic),
                    operands: step
                        .operands
                        .iter()
                        .map(|o| match *o {
                            Operand::Input(i) => g[children[i]].data.ty.as_ref(),
                            Operand::Step(j) => types.get(j),
                            Operand::Absent => None,
                        })
                        .collect(),
                    result: ty,
                })
                .collect();
            let inputs: Vec<&TypeInfo> = children.iter().filter_map(|&c| g[c].data.ty.as_ref()).collect();
            kernel_time(target, &steps, &inputs, result)
        }
        _ => 0.0,
    }
}

/// The classes `selection` reaches from `roots`, each once, or `None` if it has a cycle
/// or misses a class.
pub fn reachable(g: &Graph, selection: &Selection, roots: &[Id]) -> Option<Vec<Id>> {
    let mut order = Vec::new();
    let mut state: HashMap<Id, bool> = HashMap::new(); // false: on the stack, true: done
    let mut stack: Vec<(Id, usize)> = Vec::new();
    for &root in roots {
        let root = g.find(root);
        if state.contains_key(&root) {
            continue;
        }
        state.insert(root, false);
        stack.push((root, 0));
        while let Some(&mut (class, ref mut next)) = stack.last_mut() {
            let node = selection.get(&class)?;
            if let Some(&child) = node.children().get(*next) {
                *next += 1;
                let child = g.find(child);
                match state.get(&child) {
                    Some(false) => return None,
                    Some(true) => {}
                    None => {
                        state.insert(child, false);
                        stack.push((child, 0));
                    }
                }
            } else {
                state.insert(class, true);
                order.push(class);
                stack.pop();
            }
        }
    }
    Some(order)
}

/// The DAG cost of `selection` from `roots`: each reached class's node paid once.
pub fn dag_cost(g: &Graph, target: &TargetModel, selection: &Selection, roots: &[Id]) -> f64 {
    match reachable(g, selection, roots) {
        Some(classes) => classes.iter().map(|&c| node_cost(g, target, c, &selection[&c])).sum(),
        None => f64::INFINITY,
    }
}

/// A set of class indices.
#[derive(Clone)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn insert(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn contains(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn union(&mut self, other: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }
    fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let b = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    w * 64 + b
                })
            })
        })
    }
}

/// The e-graph flattened for extraction: classes by index, each node's cost and the
/// indices of its distinct child classes, and who reads each class.
struct Flat {
    classes: Vec<Id>,
    costs: Vec<Vec<f64>>,
    children: Vec<Vec<Vec<usize>>>,
    readers: Vec<Vec<(usize, usize)>>,
}

impl Flat {
    fn new(g: &Graph, target: &TargetModel) -> Flat {
        let classes: Vec<Id> = g.classes().map(|c| c.id).collect();
        let index: HashMap<Id, usize> = classes.iter().enumerate().map(|(i, &c)| (c, i)).collect();
        let costs: Vec<Vec<f64>> = classes
            .iter()
            .map(|&c| g[c].nodes.iter().map(|node| node_cost(g, target, c, node)).collect())
            .collect();
        let children: Vec<Vec<Vec<usize>>> = classes
            .iter()
            .map(|&c| {
                g[c].nodes
                    .iter()
                    .map(|node| {
                        let mut kids: Vec<usize> = node.children().iter().map(|c| index[&g.find(*c)]).collect();
                        kids.sort_unstable();
                        kids.dedup();
                        kids
                    })
                    .collect()
            })
            .collect();
        let mut readers: Vec<Vec<(usize, usize)>> = vec![Vec::new(); classes.len()];
        for (i, nodes) in children.iter().enumerate() {
            for (k, kids) in nodes.iter().enumerate() {
                for &c in kids {
                    readers[c].push((i, k));
                }
            }
        }
        Flat {
            classes,
            costs,
            children,
            readers,
        }
    }

    /// Runs `evaluate(class, node)` from the leaves up, again for every reader of a class
    /// whose choice changed, until nothing changes (or a generous step budget runs out).
    /// `evaluate` returns whether the class's choice changed.
    fn fixpoint(&self, mut evaluate: impl FnMut(usize, usize) -> bool) {
        let mut queue = std::collections::VecDeque::new();
        let mut queued: Vec<Vec<bool>> = self.children.iter().map(|n| vec![false; n.len()]).collect();
        for (i, nodes) in self.children.iter().enumerate() {
            for (k, kids) in nodes.iter().enumerate() {
                if kids.is_empty() {
                    queue.push_back((i, k));
                    queued[i][k] = true;
                }
            }
        }
        let budget = 64 * self.costs.iter().map(Vec::len).sum::<usize>().max(1);
        let mut steps = 0;
        while let Some((i, k)) = queue.pop_front() {
            queued[i][k] = false;
            steps += 1;
            if steps > budget {
                break;
            }
            if evaluate(i, k) {
                for &(p, pk) in &self.readers[i] {
                    if !queued[p][pk] {
                        queued[p][pk] = true;
                        queue.push_back((p, pk));
                    }
                }
            }
        }
    }

    fn selection(&self, g: &Graph, chosen: &[Option<usize>]) -> Selection {
        self.classes
            .iter()
            .enumerate()
            .filter_map(|(i, &c)| chosen[i].map(|k| (c, g[c].nodes[k].clone())))
            .collect()
    }
}

/// The greedy DAG-aware extraction: a class's cost is that of the set of classes under
/// its chosen node (its own included), each paid once.
pub fn extract_dag(g: &Graph, target: &TargetModel) -> Selection {
    let flat = Flat::new(g, target);
    let n = flat.classes.len();
    // Per class: chosen node index, the classes under it (itself included), total cost.
    let mut best: Vec<Option<(usize, Bits, f64)>> = vec![None; n];
    let mut own: Vec<f64> = vec![0.0; n];
    flat.fixpoint(|i, k| {
        let kids = &flat.children[i][k];
        if kids.contains(&i) || kids.iter().any(|&c| best[c].is_none()) {
            return false;
        }
        let mut under = Bits::new(n);
        for &c in kids {
            under.union(&best[c].as_ref().expect("checked").1);
        }
        if under.contains(i) {
            return false;
        }
        let total = flat.costs[i][k] + under.ones().map(|c| own[c]).sum::<f64>();
        under.insert(i);
        let update = match &best[i] {
            None => true,
            // The current choice again: keep it current (its children may have moved).
            Some((current, set, cost)) if *current == k => set.0 != under.0 || (total - cost).abs() > 1e-15,
            Some((_, _, cost)) => total < *cost * (1.0 - 1e-9),
        };
        if update {
            best[i] = Some((k, under, total));
            own[i] = flat.costs[i][k];
        }
        update
    });
    let chosen: Vec<Option<usize>> = best.iter().map(|b| b.as_ref().map(|(k, _, _)| *k)).collect();
    flat.selection(g, &chosen)
}

/// Tree extraction (as egg's `Extractor` does it): a class's cost is its node's plus its
/// children's, so a node shared by several users is paid once per use.
pub fn extract_tree(g: &Graph, target: &TargetModel) -> Selection {
    let flat = Flat::new(g, target);
    let n = flat.classes.len();
    let mut best: Vec<Option<(usize, f64)>> = vec![None; n];
    flat.fixpoint(|i, k| {
        let kids = &flat.children[i][k];
        if kids.contains(&i) {
            return false;
        }
        let mut total = flat.costs[i][k];
        for &c in kids {
            match best[c] {
                Some((_, cost)) => total += cost,
                None => return false,
            }
        }
        let update = match best[i] {
            None => true,
            Some((current, cost)) if current == k => (total - cost).abs() > 1e-15,
            Some((_, cost)) => total < cost * (1.0 - 1e-9),
        };
        if update {
            best[i] = Some((k, total));
        }
        update
    });
    let chosen: Vec<Option<usize>> = best.iter().map(|b| b.map(|(k, _)| k)).collect();
    flat.selection(g, &chosen)
}

/// The exact 0-1 program: a binary per node, a class's node chosen when a chosen node
/// reads it (roots always), and an order per class that makes the choice acyclic.
/// `Err` when the solver finds no solution within `limit`.
pub fn extract_ilp(g: &Graph, target: &TargetModel, roots: &[Id], limit: Duration) -> Result<Selection, String> {
    use good_lp::{Expression, ProblemVariables, Solution, SolverModel, Variable, WithTimeLimit, microlp, variable};
    // The classes reachable from the roots through any node.
    let mut needed: Vec<Id> = roots.iter().map(|&r| g.find(r)).collect();
    let mut seen: std::collections::HashSet<Id> = needed.iter().copied().collect();
    let mut i = 0;
    while i < needed.len() {
        let class = needed[i];
        for node in &g[class].nodes {
            for &child in node.children() {
                let child = g.find(child);
                if seen.insert(child) {
                    needed.push(child);
                }
            }
        }
        i += 1;
    }
    let big = needed.len() as f64 + 1.0;
    let mut vars = ProblemVariables::new();
    let order: HashMap<Id, Variable> = needed
        .iter()
        .map(|&c| (c, vars.add(variable().min(0.0).max(big))))
        .collect();
    let mut chosen: Vec<(Id, GraphLang, Variable)> = Vec::new();
    for &class in &needed {
        for node in &g[class].nodes {
            if node.children().iter().any(|&c| g.find(c) == class) {
                continue;
            }
            chosen.push((class, node.clone(), vars.add(variable().binary())));
        }
    }
    let objective: Expression = chosen
        .iter()
        .map(|(class, node, x)| node_cost(g, target, *class, node) * *x)
        .sum();
    let mut model = vars
        .minimise(objective)
        .using(microlp)
        .with_time_limit(limit.as_secs_f64());
    let mut of_class: HashMap<Id, Vec<Variable>> = HashMap::new();
    for (class, _, x) in &chosen {
        of_class.entry(*class).or_default().push(*x);
    }
    let any = |class: Id| -> Expression { of_class.get(&class).into_iter().flatten().copied().sum() };
    for &root in roots {
        model.add_constraint(any(g.find(root)).geq(1.0));
    }
    for (class, node, x) in &chosen {
        for &child in node.children() {
            let child = g.find(child);
            model.add_constraint((any(child) - *x).geq(0.0));
            // order[class] ≥ order[child] + 1 when the node is chosen; free otherwise.
            let m = big + 1.0;
            let constraint = Expression::from(order[class]) - order[&child] - m * *x;
            model.add_constraint(constraint.geq(1.0 - m));
        }
    }
    let solution = model.solve().map_err(|e| e.to_string())?;
    let mut selection = Selection::new();
    for (class, node, x) in &chosen {
        if solution.value(*x) > 0.5 {
            selection.entry(*class).or_insert_with(|| node.clone());
        }
    }
    Ok(selection)
}
