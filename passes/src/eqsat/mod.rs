//! E-graph fusion discovery (`graph-eqsat-fuse`): each function goes into an egg e-graph
//! (`translate`), is saturated with the rule families (`rules`), the cheapest program by
//! the target's cost model is extracted (`extract`, `cost`), and the function is rebuilt
//! with one outlined `ftensor.kernel` per kernel (`rebuild`). `report` says what was
//! decided and why.

pub mod analysis;
pub mod cost;
pub mod extract;
pub mod language;
pub mod rebuild;
pub mod report;
pub mod rules;
pub mod translate;

#[cfg(test)]
mod rule_tests;
#[cfg(test)]
mod tests;

use analysis::Graph;
use cost::TargetModel;
use egg::{Id, Language, Runner, StopReason};
use extract::{Selection, dag_cost, extract_dag, extract_ilp, extract_tree, node_cost};
use language::GraphLang;
use melior::ir::{OperationRef, operation::OperationLike};
use report::{FunctionReport, GroupReport};
use std::time::{Duration, Instant};
use translate::{Translation, translate, value_key};

/// How kernels are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Equality saturation with every rule family, then extraction.
    Eqsat,
    /// The producer-epilogue heuristic: an elementwise op joins its producer's kernel
    /// when it is that producer's only user; no other rewrite.
    Greedy,
}

/// How the eqsat strategy extracts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extraction {
    /// The greedy DAG-aware heuristic.
    Dag,
    /// The 0-1 program, falling back to the heuristic.
    Ilp,
}

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub target: &'static TargetModel,
    pub strategy: Strategy,
    pub extraction: Extraction,
    pub node_limit: usize,
    pub iter_limit: usize,
    pub time_limit: Duration,
    pub ilp_time_limit: Duration,
}

/// The e-classes a function needs: what it returns, and what its kept ops read.
fn roots(t: &Translation) -> Vec<Id> {
    let mut roots = Vec::new();
    for op in &t.ops {
        let kept = t.kept.iter().any(|(k, _)| k.to_raw().ptr == op.to_raw().ptr);
        if !kept && fuser_dialects::accessors::op_name(op) != "func.return" {
            continue;
        }
        for operand in op.operands() {
            if let Some(&class) = t.class_of.get(&value_key(operand)) {
                roots.push(t.egraph.find(class));
            }
        }
    }
    roots
}

/// The greedy strategy's choice, in the e-graph before saturation: every class its
/// imported node, except that an epilogue whose producer is the tail of a kernel and has
/// no other user joins that kernel (a fused node added for it).
fn greedy_selection(t: &mut Translation) -> Selection {
    let root_classes = roots(t);
    let originals = t.originals.clone();
    let g: &mut Graph = &mut t.egraph;
    let mut uses: std::collections::HashMap<Id, usize> = std::collections::HashMap::new();
    for (_, node, _) in &originals {
        if let GraphLang::Op(name, children) = node {
            let (slots, _) = analysis::split_children(g, name.as_str(), children);
            for slot in slots {
                *uses.entry(g.find(slot)).or_default() += 1;
            }
        }
    }
    for root in root_classes {
        *uses.entry(root).or_default() += 1;
    }
    let mut selection = Selection::new();
    for class in g.classes() {
        if let Some(leaf) = class
            .nodes
            .iter()
            .find(|n| !matches!(n, GraphLang::Op(..) | GraphLang::Fused(..)))
        {
            selection.insert(class.id, leaf.clone());
        }
    }
    for (id, node, _) in &originals {
        let class = g.find(*id);
        if selection.get(&class).is_some_and(|n| matches!(n, GraphLang::Fused(..))) {
            continue;
        }
        let mut chosen = node.clone();
        if let GraphLang::Op(name, children) = node
            && (rules::fusion::ACTIVATIONS.contains(&name.as_str()) || rules::fusion::BINARY.contains(&name.as_str()))
        {
            let (slots, _) = analysis::split_children(g, name.as_str(), children);
            for slot in slots {
                let producer = g.find(slot);
                let Some(tail) = selection.get(&producer).cloned() else {
                    continue;
                };
                let joins = uses.get(&producer) == Some(&1)
                    && rules::fusion::is_producer(g, &tail)
                    && !g[producer].data.constant
                    && g[producer].data.ty == g[class].data.ty;
                if !joins {
                    continue;
                }
                if let Some(fused) = rules::fusion::fused_node(g, &tail, producer, node, class, "greedy-epilogue") {
                    chosen = fused;
                    break;
                }
            }
        }
        selection.insert(class, chosen);
    }
    // The fused nodes join their classes, all at once.
    for (class, node) in &selection {
        if matches!(node, GraphLang::Fused(..)) {
            let id = g.add(node.clone());
            g.union(id, *class);
        }
    }
    g.rebuild();
    selection.into_iter().map(|(c, n)| (g.find(c), n)).collect()
}

fn stop_reason(reason: Option<&StopReason>) -> String {
    match reason {
        Some(StopReason::Saturated) => "saturated".into(),
        Some(StopReason::IterationLimit(n)) => format!("iteration limit ({n})"),
        Some(StopReason::NodeLimit(n)) => format!("node limit ({n})"),
        Some(StopReason::TimeLimit(s)) => format!("time limit ({:.0} ms)", s * 1000.0),
        Some(StopReason::Other(other)) => other.clone(),
        None => "not run".into(),
    }
}

/// Fuses one function in place; its kernels' groups are outlined by the caller.
pub fn fuse_function<'c, 'a>(
    function: OperationRef<'c, 'a>,
    options: &Options,
) -> Result<(FunctionReport, Vec<rebuild::Group<'c, 'a>>, Vec<OperationRef<'c, 'a>>), String> {
    let start = Instant::now();
    let mut t = translate(function).ok_or("the function has no body")?;
    let roots = roots(&t);
    let target = options.target;
    // The greedy grouping adds its fused nodes to a copy: the search starts from the
    // imported graph alone.
    let pristine = t.egraph.clone();
    let greedy = greedy_selection(&mut t);
    let greedy_graph = std::mem::replace(&mut t.egraph, pristine);
    let greedy_cost = dag_cost(&greedy_graph, target, &greedy, &roots);
    let mut report = FunctionReport {
        strategy: options.strategy,
        cost_greedy: greedy_cost,
        ..FunctionReport::default()
    };
    let selection = if options.strategy == Strategy::Greedy {
        report.chosen = "greedy";
        report.cost = greedy_cost;
        t.egraph = greedy_graph;
        greedy
    } else {
        let runner = Runner::default()
            .with_egraph(t.egraph.clone())
            .with_node_limit(options.node_limit)
            .with_iter_limit(options.iter_limit)
            .with_time_limit(options.time_limit)
            .run(&rules::all_rules());
        report.iterations = runner.iterations.len();
        report.stop_reason = stop_reason(runner.stop_reason.as_ref());
        let mut egraph = runner.egraph;
        report.enodes = egraph.total_number_of_nodes();
        report.eclasses = egraph.number_of_classes();
        let canonical = egraph
            .analysis
            .created_by
            .iter()
            .map(|(n, r)| (n.clone().map_children(|c| egraph.find(c)), *r))
            .collect();
        egraph.analysis.created_by = canonical;
        let roots: Vec<Id> = roots.iter().map(|&r| egraph.find(r)).collect();
        let mut selection = extract_dag(&egraph, target);
        let mut cost = dag_cost(&egraph, target, &selection, &roots);
        report.extraction = "dag-greedy".into();
        if options.extraction == Extraction::Ilp {
            match extract_ilp(&egraph, target, &roots, options.ilp_time_limit) {
                Ok(ilp) => {
                    let ilp_cost = dag_cost(&egraph, target, &ilp, &roots);
                    if ilp_cost < cost {
                        (selection, cost) = (ilp, ilp_cost);
                        report.extraction = "ilp".into();
                    } else {
                        report.extraction = "ilp (no better than dag-greedy; kept dag-greedy)".into();
                    }
                }
                Err(e) => report.extraction = format!("dag-greedy (ilp fell back: {e})"),
            }
        }
        let tree = extract_tree(&egraph, target);
        report.cost_tree = dag_cost(&egraph, target, &tree, &roots);
        if cost <= greedy_cost {
            report.chosen = "eqsat";
            report.cost = cost;
            t.egraph = egraph;
            selection
        } else {
            report.chosen = "greedy";
            report.cost = greedy_cost;
            t.egraph = greedy_graph;
            greedy
        }
    };
    report.ms = start.elapsed().as_secs_f64() * 1000.0;
    let groups = rebuild::rebuild(function, &t, &selection)?;
    for group in &groups {
        report.groups.push(group_report(&t, target, group));
    }
    let kept: Vec<OperationRef> = t.kept.iter().filter(|(_, kernel)| *kernel).map(|(op, _)| *op).collect();
    for op in &kept {
        report.groups.push(GroupReport {
            ops: t.names.get(&(op.to_raw().ptr as usize)).cloned().into_iter().collect(),
            rules: vec!["kept: not modeled in the e-graph".into()],
            compute: report::compute_type(&[*op]),
            ..GroupReport::default()
        });
    }
    Ok((report, groups, kept))
}

/// The classes each step of a fused node computes (found again in the e-graph).
fn step_classes(g: &Graph, key: language::BodyKey, children: &[Id]) -> Vec<Id> {
    let body = g.analysis.body(key);
    let absent = g.lookup(GraphLang::Absent);
    let mut classes: Vec<Id> = Vec::new();
    for step in &body.steps {
        let mut operands = Vec::new();
        for operand in &step.operands {
            let id = match *operand {
                analysis::Operand::Input(i) => Some(children[i]),
                analysis::Operand::Step(j) => classes.get(j).copied(),
                analysis::Operand::Absent => absent,
            };
            let Some(id) = id else { return classes };
            operands.push(g.find(id));
        }
        if let Some(attrs) = step.attrs {
            match g.lookup(GraphLang::Attrs(attrs)) {
                Some(a) => operands.push(a),
                None => return classes,
            }
        }
        match g.lookup(GraphLang::Op(step.op, operands)) {
            Some(class) => classes.push(class),
            None => return classes,
        }
    }
    classes
}

fn group_report(t: &Translation, target: &TargetModel, group: &rebuild::Group) -> GroupReport {
    let g = &t.egraph;
    let class = g.find(group.class);
    let mut covered = vec![class];
    let rules: Vec<String> = match &group.node {
        GraphLang::Fused(key, children) => {
            covered.extend(step_classes(g, *key, children));
            g.analysis.body(*key).rules.iter().map(|r| r.to_string()).collect()
        }
        node => g
            .analysis
            .created_by
            .get(node)
            .map(|r| r.to_string())
            .into_iter()
            .collect(),
    };
    let mut originals = std::collections::BTreeSet::new();
    for &c in &covered {
        originals.extend(g[c].data.originals.iter().copied());
    }
    let mut names: Vec<String> = Vec::new();
    let mut before = 0.0;
    for index in originals {
        let (id, node, name) = &t.originals[index as usize];
        before += node_cost(g, target, g.find(*id), node);
        names.extend(name.clone());
    }
    GroupReport {
        kernel: String::new(),
        ops: names,
        rules,
        cost_before: before,
        cost_after: node_cost(g, target, class, &group.node),
        compute: report::compute_type(&group.ops),
    }
}
