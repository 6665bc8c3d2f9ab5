//! Random graph-dialect functions for the passes' property tests: chains of the ops the
//! passes rewrite, with duplicates, dead values and constant subgraphs, over two
//! `tensor<2x3x4xf32>` inputs. Built as text so that every test also exercises parsing.

/// Reshape targets for 24 elements; 0 copies an input dim and -1 is inferred.
const TARGETS: [&[i64]; 8] = [
    &[24],
    &[4, 6],
    &[2, 12],
    &[2, 3, 4],
    &[6, -1],
    &[0, -1],
    &[0, 0, -1],
    &[3, 8],
];

/// One random step: (kind, operand pick, extra), interpreted deterministically.
pub type Step = (u8, u8, u8);

struct Builder {
    lines: Vec<String>,
    /// (SSA name, shape, result type as written).
    values: Vec<(String, Vec<usize>)>,
    next: usize,
    /// Write every op result type with `?` dims (for graph-infer-shapes).
    dynamic: bool,
    /// Values always written with their static type (flat constants).
    static_names: Vec<String>,
}

pub fn ty(shape: &[usize]) -> String {
    format!(
        "tensor<{}xf32>",
        shape.iter().map(usize::to_string).collect::<Vec<_>>().join("x")
    )
}

fn dyn_ty(rank: usize) -> String {
    format!("tensor<{}f32>", "?x".repeat(rank))
}

impl Builder {
    fn fresh(&mut self) -> String {
        self.next += 1;
        format!("%v{}", self.next)
    }
    fn result_ty(&self, shape: &[usize]) -> String {
        if self.dynamic { dyn_ty(shape.len()) } else { ty(shape) }
    }
    fn operand_ty(&self, index: usize) -> String {
        let (name, shape) = &self.values[index];
        if self.dynamic && name.starts_with("%v") && !self.static_names.contains(name) {
            dyn_ty(shape.len())
        } else {
            ty(shape)
        }
    }
    fn push(&mut self, rhs: String, shape: Vec<usize>) {
        let name = self.fresh();
        self.lines.push(format!("  {name} = {rhs}"));
        self.values.push((name, shape));
    }
    fn unary(&mut self, op: &str, attrs: &str, v: usize) {
        let (name, shape) = self.values[v].clone();
        let (a, r) = (self.operand_ty(v), self.result_ty(&shape));
        self.push(format!("\"graph.{op}\"({name}){attrs} : ({a}) -> {r}"), shape);
    }
    fn constant(&mut self, shape: &[usize], seed: u8) {
        let count: usize = shape.iter().product();
        let values: Vec<String> = (0..count)
            .map(|i| format!("{:.2}", ((i * 7 + seed as usize * 13) % 17) as f32 / 4.0 - 2.0))
            .collect();
        let name = self.fresh();
        // Constants are always written with their static type.
        self.lines.push(format!(
            "  {name} = \"graph.constant\"() {{value = dense<[{}]> : tensor<{count}xf32>}} : () -> tensor<{count}xf32>",
            values.join(", ")
        ));
        self.values.push((name.clone(), vec![count]));
        self.static_names.push(name.clone());
        let s = self.fresh();
        let dims = shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
        self.lines.push(format!(
            "  {s} = \"graph.constant\"() {{value = dense<[{dims}]> : tensor<{}xi64>}} : () -> tensor<{}xi64>",
            shape.len(),
            shape.len()
        ));
        let r = self.fresh();
        self.lines.push(format!("  {r} = \"graph.reshape\"({name}, {s}) {{allowzero = 0 : i64}} : (tensor<{count}xf32>, tensor<{}xi64>) -> {}", shape.len(), self.result_ty(shape)));
        self.values.push((r, shape.to_vec()));
    }
    fn transpose(&mut self, v: usize, seed: u8) {
        let (name, shape) = self.values[v].clone();
        let mut perm: Vec<usize> = (0..shape.len()).collect();
        let mut s = seed as usize;
        for i in (1..perm.len()).rev() {
            perm.swap(i, s % (i + 1));
            s /= i + 1;
        }
        let out: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let perm_text = perm.iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
        let (a, r) = (self.operand_ty(v), self.result_ty(&out));
        self.push(
            format!("\"graph.transpose\"({name}) {{perm = array<i64: {perm_text}>}} : ({a}) -> {r}"),
            out,
        );
    }
    fn reshape(&mut self, v: usize, target: &[i64]) {
        let (name, shape) = self.values[v].clone();
        let mut dims: Vec<i64> = target.to_vec();
        for (i, d) in dims.iter_mut().enumerate() {
            if *d == 0 {
                match shape.get(i) {
                    Some(&s) => *d = s as i64,
                    None => return,
                }
            }
        }
        let known: i64 = dims.iter().filter(|&&d| d != -1).product();
        let count: usize = shape.iter().product();
        if count as i64 % known != 0 {
            return;
        }
        let out: Vec<usize> = dims
            .iter()
            .map(|&d| {
                if d == -1 {
                    (count as i64 / known) as usize
                } else {
                    d as usize
                }
            })
            .collect();
        let constant = self.fresh();
        let values = target.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        self.lines.push(format!(
            "  {constant} = \"graph.constant\"() {{value = dense<[{values}]> : tensor<{}xi64>}} : () -> tensor<{}xi64>",
            target.len(),
            target.len()
        ));
        let (a, r) = (self.operand_ty(v), self.result_ty(&out));
        self.push(
            format!(
                "\"graph.reshape\"({name}, {constant}) {{allowzero = 0 : i64}} : ({a}, tensor<{}xi64>) -> {r}",
                target.len()
            ),
            out,
        );
    }
    fn add(&mut self, v: usize, w_seed: usize) {
        let (a, shape) = self.values[v].clone();
        let same: Vec<usize> = (0..self.values.len()).filter(|&i| self.values[i].1 == shape).collect();
        let w = same[w_seed % same.len()];
        let b = self.values[w].0.clone();
        let (ta, tb, r) = (self.operand_ty(v), self.operand_ty(w), self.result_ty(&shape));
        self.push(format!("\"graph.add\"({a}, {b}) : ({ta}, {tb}) -> {r}"), shape);
    }
}

/// Builds `func.func @f(%x, %y)` from random steps. With `dynamic`, every op result type
/// (and the function's results) is written with `?` dims.
pub fn random_function(steps: &[Step], returns: &[u8], dynamic: bool) -> String {
    let mut b = Builder {
        lines: vec![],
        values: vec![("%x".into(), vec![2, 3, 4]), ("%y".into(), vec![2, 3, 4])],
        next: 0,
        dynamic,
        static_names: vec![],
    };
    for &(kind, pick, extra) in steps {
        let n = b.values.len();
        let v = n - 1 - (pick as usize % n.min(3));
        match kind % 15 {
            0 => b.unary("identity", "", v),
            1 => b.unary("relu", "", v),
            2 => b.unary(
                "dropout",
                " {operandSegmentSizes = array<i32: 1, 0, 0>, resultSegmentSizes = array<i32: 1, 0>}",
                v,
            ),
            3 | 4 => b.transpose(v, extra),
            5 => b.reshape(v, TARGETS[extra as usize % TARGETS.len()]),
            6 => b.unary("cast", " {saturate = 1 : i64, to = 1 : i64}", v),
            7 => b.add(v, extra as usize),
            8 => {
                // A duplicate of an earlier op (same op, same operands).
                if let Some(line) = b.lines.iter().rev().find(|l| !l.contains("graph.constant")).cloned() {
                    let (lhs, rhs) = line.split_once(" = ").unwrap();
                    let shape = b
                        .values
                        .iter()
                        .find(|(name, _)| lhs.trim() == name)
                        .map(|(_, s)| s.clone())
                        .unwrap();
                    b.push(rhs.to_string(), shape);
                }
            }
            9 => b.unary("leaky_relu", &format!(" {{alpha = {}.0e-01 : f32}}", extra % 10), v),
            10 => {
                let shape: Vec<i64> = b.values[v].1.iter().map(|&d| d as i64).collect();
                b.reshape(v, &shape);
            }
            11 => {
                let (name, shape) = b.values[v].clone();
                let perm = (0..shape.len()).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
                let (a, r) = (b.operand_ty(v), b.result_ty(&shape));
                b.push(
                    format!("\"graph.transpose\"({name}) {{perm = array<i64: {perm}>}} : ({a}) -> {r}"),
                    shape,
                );
            }
            12 => {
                b.reshape(v, TARGETS[extra as usize % TARGETS.len()]);
                let last = b.values.len() - 1;
                b.reshape(last, TARGETS[pick as usize % TARGETS.len()]);
            }
            13 => {
                // Softmax along any axis, written either way (from the front or back).
                let rank = b.values[v].1.len() as i64;
                let axis = (extra as i64 % rank) - if extra & 128 != 0 { rank } else { 0 };
                b.unary("softmax", &format!(" {{axis = {axis} : i64}}"), v);
            }
            _ => {
                // A constant subgraph, shaped like an existing value so it can meet it.
                let shape = b.values[v].1.clone();
                b.constant(&shape, extra);
            }
        }
    }
    let mut outputs = vec![b.values.len() - 1];
    for &r in returns {
        outputs.push(r as usize % b.values.len());
    }
    let names: Vec<String> = outputs.iter().map(|&i| b.values[i].0.clone()).collect();
    let types: Vec<String> = outputs.iter().map(|&i| b.operand_ty(i)).collect();
    format!(
        "func.func @f(%x: tensor<2x3x4xf32>, %y: tensor<2x3x4xf32>) -> ({}) {{\n{}\n  return {} : {}\n}}\n",
        types.join(", "),
        b.lines.join("\n"),
        names.join(", "),
        types.join(", ")
    )
}
