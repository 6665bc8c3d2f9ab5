// Every graph op, once, in generic form. The output must be a fixpoint of
// print -> parse -> print (the round trip of the acceptance criteria).
// RUN: fuser-opt %s > %t.1.mlir
// RUN: fuser-opt %t.1.mlir > %t.2.mlir
// RUN: diff %t.1.mlir %t.2.mlir
// RUN: FileCheck %s < %t.1.mlir

// CHECK-LABEL: func.func @every_graph_op
func.func @every_graph_op(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>, %b: tensor<2x3xi1>, %c: tensor<2x3xi1>, %img: tensor<1x4x8x8xf32>, %w: tensor<8x4x3x3xf32>, %wt: tensor<4x8x3x3xf32>, %ch: tensor<4xf32>, %bias8: tensor<8xf32>, %lo: tensor<f32>, %hi: tensor<f32>, %x43: tensor<4x3xf32>, %shape2: tensor<2xi64>, %cax: tensor<i64>, %m: tensor<3x4xf32>, %shape3: tensor<3xi64>, %idx: tensor<2xi64>, %gi: tensor<2x3xi64>, %g: tensor<3x5xf32>, %gc: tensor<5xf32>, %ls: tensor<3xf32>, %lb: tensor<3xf32>, %row: tensor<3xf32>, %slope: tensor<3xf32>, %pads: tensor<4xi64>, %pv: tensor<f32>, %r0: tensor<i64>, %r1: tensor<i64>, %r2: tensor<i64>, %axes1: tensor<1xi64>, %scales: tensor<4xf32>, %si: tensor<1x1xi64>, %su: tensor<1x3xf32>, %st: tensor<1xi64>, %en: tensor<1xi64>, %ax: tensor<1xi64>, %sp: tensor<2xi64>, %sq: tensor<2x1x3xf32>, %reps: tensor<2xi64>, %k: tensor<1xi64>, %tk: tensor<i64>) {
  // CHECK: "graph.abs"
  %abs_0 = "graph.abs"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.add"
  %add_0 = "graph.add"(%x, %y) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.and"
  %and_0 = "graph.and"(%b, %c) : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  // CHECK: "graph.arg_max"
  %arg_max_0 = "graph.arg_max"(%x) {axis = 1 : i64, keepdims = 1 : i64, select_last_index = 0 : i64} : (tensor<2x3xf32>) -> tensor<2x1xi64>
  // CHECK: "graph.average_pool"
  %average_pool_0 = "graph.average_pool"(%img) {ceil_mode = 0 : i64, count_include_pad = 0 : i64, dilations = array<i64: 1, 1>, kernel_shape = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 2, 2>} : (tensor<1x4x8x8xf32>) -> tensor<1x4x4x4xf32>
  // CHECK: "graph.batch_normalization"
  %batch_normalization_0 = "graph.batch_normalization"(%img, %ch, %ch, %ch, %ch) {epsilon = 9.99999974E-6 : f32, momentum = 0.899999976 : f32} : (tensor<1x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  // CHECK: "graph.cast"
  %cast_0 = "graph.cast"(%x) {saturate = 1 : i64, to = 10 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf16>
  // CHECK: "graph.ceil"
  %ceil_0 = "graph.ceil"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.clip"
  %clip_0 = "graph.clip"(%x, %lo, %hi) {operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<2x3xf32>, tensor<f32>, tensor<f32>) -> tensor<2x3xf32>
  // CHECK: "graph.concat"
  %concat_0 = "graph.concat"(%x, %x43) {axis = 0 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<2x3xf32>, tensor<4x3xf32>) -> tensor<6x3xf32>
  // CHECK: "graph.constant"
  %constant_0 = "graph.constant"() {value = dense<[[1.000000e+00, 2.000000e+00, 3.000000e+00], [4.000000e+00, 5.000000e+00, 6.000000e+00]]> : tensor<2x3xf32>} : () -> tensor<2x3xf32>
  // CHECK: "graph.constant_of_shape"
  %constant_of_shape_0 = "graph.constant_of_shape"(%shape2) {value = dense<5.000000e-01> : tensor<1xf32>} : (tensor<2xi64>) -> tensor<2x3xf32>
  // CHECK: "graph.conv"
  %conv_0 = "graph.conv"(%img, %w, %bias8) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>} : (tensor<1x4x8x8xf32>, tensor<8x4x3x3xf32>, tensor<8xf32>) -> tensor<1x8x8x8xf32>
  // CHECK: "graph.conv_transpose"
  %conv_transpose_0 = "graph.conv_transpose"(%img, %wt) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, output_padding = array<i64: 0, 0>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>} : (tensor<1x4x8x8xf32>, tensor<4x8x3x3xf32>) -> tensor<1x8x8x8xf32>
  // CHECK: "graph.cos"
  %cos_0 = "graph.cos"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.cum_sum"
  %cum_sum_0 = "graph.cum_sum"(%x, %cax) {exclusive = 0 : i64, reverse = 1 : i64} : (tensor<2x3xf32>, tensor<i64>) -> tensor<2x3xf32>
  // CHECK: "graph.depth_to_space"
  %depth_to_space_0 = "graph.depth_to_space"(%img) {blocksize = 2 : i64, mode = "DCR"} : (tensor<1x4x8x8xf32>) -> tensor<1x1x16x16xf32>
  // CHECK: "graph.div"
  %div_0 = "graph.div"(%x, %y) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.dropout"
  %dropout_0 = "graph.dropout"(%x) {operandSegmentSizes = array<i32: 1, 0, 0>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.einsum"
  %einsum_0 = "graph.einsum"(%x, %m) {equation = "ij,jk->ik", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  // CHECK: "graph.elu"
  %elu_0 = "graph.elu"(%x) {alpha = 1.000000e-01 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.equal"
  %equal_0 = "graph.equal"(%x, %y) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xi1>
  // CHECK: "graph.erf"
  %erf_0 = "graph.erf"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.exp"
  %exp_0 = "graph.exp"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.expand"
  %expand_0 = "graph.expand"(%x, %shape3) : (tensor<2x3xf32>, tensor<3xi64>) -> tensor<4x2x3xf32>
  // CHECK: "graph.flatten"
  %flatten_0 = "graph.flatten"(%img) {axis = 1 : i64} : (tensor<1x4x8x8xf32>) -> tensor<1x256xf32>
  // CHECK: "graph.floor"
  %floor_0 = "graph.floor"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.gather"
  %gather_0 = "graph.gather"(%x, %idx) {axis = 0 : i64} : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<2x3xf32>
  // CHECK: "graph.gather_elements"
  %gather_elements_0 = "graph.gather_elements"(%x, %gi) {axis = 1 : i64} : (tensor<2x3xf32>, tensor<2x3xi64>) -> tensor<2x3xf32>
  // CHECK: "graph.gelu"
  %gelu_0 = "graph.gelu"(%x) {approximate = "none"} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.gemm"
  %gemm_0 = "graph.gemm"(%x, %g, %gc) {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = 0 : i64, trans_b = 0 : i64} : (tensor<2x3xf32>, tensor<3x5xf32>, tensor<5xf32>) -> tensor<2x5xf32>
  // CHECK: "graph.global_average_pool"
  %global_average_pool_0 = "graph.global_average_pool"(%img) : (tensor<1x4x8x8xf32>) -> tensor<1x4x1x1xf32>
  // CHECK: "graph.global_max_pool"
  %global_max_pool_0 = "graph.global_max_pool"(%img) : (tensor<1x4x8x8xf32>) -> tensor<1x4x1x1xf32>
  // CHECK: "graph.greater"
  %greater_0 = "graph.greater"(%x, %y) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xi1>
  // CHECK: "graph.hard_sigmoid"
  %hard_sigmoid_0 = "graph.hard_sigmoid"(%x) {alpha = 2.000000e-01 : f32, beta = 5.000000e-01 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.hard_swish"
  %hard_swish_0 = "graph.hard_swish"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.identity"
  %identity_0 = "graph.identity"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.instance_normalization"
  %instance_normalization_0 = "graph.instance_normalization"(%img, %ch, %ch) {epsilon = 9.99999974E-6 : f32} : (tensor<1x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  // CHECK: "graph.layer_normalization"
  %layer_normalization_0 = "graph.layer_normalization"(%x, %ls, %lb) {axis = -1 : i64, epsilon = 9.99999974E-6 : f32, stash_type = 1 : i64, resultSegmentSizes = array<i32: 1, 0, 0>} : (tensor<2x3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.leaky_relu"
  %leaky_relu_0 = "graph.leaky_relu"(%x) {alpha = 1.000000e-01 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.less"
  %less_0 = "graph.less"(%x, %y) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xi1>
  // CHECK: "graph.log"
  %log_0 = "graph.log"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.log_softmax"
  %log_softmax_0 = "graph.log_softmax"(%x) {axis = -1 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.lrn"
  %lrn_0 = "graph.lrn"(%img) {alpha = 9.99999974E-5 : f32, beta = 7.500000e-01 : f32, bias = 1.000000e+00 : f32, size = 3 : i64} : (tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  // CHECK: "graph.mat_mul"
  %mat_mul_0 = "graph.mat_mul"(%x, %m) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  // CHECK: "graph.max"
  %max_0 = "graph.max"(%x, %row, %y) {operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<2x3xf32>, tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.max_pool"
  %max_pool_0 = "graph.max_pool"(%img) {ceil_mode = 0 : i64, dilations = array<i64: 1, 1>, kernel_shape = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 2, 2>, storage_order = 0 : i64} : (tensor<1x4x8x8xf32>) -> tensor<1x4x4x4xf32>
  // CHECK: "graph.mean"
  %mean_0 = "graph.mean"(%x, %row, %y) {operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<2x3xf32>, tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.min"
  %min_0 = "graph.min"(%x, %row, %y) {operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<2x3xf32>, tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.mod"
  %mod_0 = "graph.mod"(%x, %y) {fmod = 1 : i64} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.mul"
  %mul_0 = "graph.mul"(%x, %y) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.neg"
  %neg_0 = "graph.neg"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.not"
  %not_0 = "graph.not"(%b) : (tensor<2x3xi1>) -> tensor<2x3xi1>
  // CHECK: "graph.or"
  %or_0 = "graph.or"(%b, %c) : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  // CHECK: "graph.p_relu"
  %p_relu_0 = "graph.p_relu"(%x, %slope) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.pad"
  %pad_0 = "graph.pad"(%x, %pads, %pv) {mode = "constant", operandSegmentSizes = array<i32: 1, 1, 1, 0>} : (tensor<2x3xf32>, tensor<4xi64>, tensor<f32>) -> tensor<4x5xf32>
  // CHECK: "graph.pow"
  %pow_0 = "graph.pow"(%x, %y) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.range"
  %range_0 = "graph.range"(%r0, %r1, %r2) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<5xi64>
  // CHECK: "graph.reciprocal"
  %reciprocal_0 = "graph.reciprocal"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.reduce_l2"
  %reduce_l2_0 = "graph.reduce_l2"(%x, %axes1) {keepdims = 1 : i64, noop_with_empty_axes = 0 : i64} : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<2x1xf32>
  // CHECK: "graph.reduce_max"
  %reduce_max_0 = "graph.reduce_max"(%x, %axes1) {keepdims = 1 : i64, noop_with_empty_axes = 0 : i64} : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<2x1xf32>
  // CHECK: "graph.reduce_mean"
  %reduce_mean_0 = "graph.reduce_mean"(%x, %axes1) {keepdims = 1 : i64, noop_with_empty_axes = 0 : i64} : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<2x1xf32>
  // CHECK: "graph.reduce_min"
  %reduce_min_0 = "graph.reduce_min"(%x, %axes1) {keepdims = 1 : i64, noop_with_empty_axes = 0 : i64} : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<2x1xf32>
  // CHECK: "graph.reduce_prod"
  %reduce_prod_0 = "graph.reduce_prod"(%x, %axes1) {keepdims = 1 : i64, noop_with_empty_axes = 0 : i64} : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<2x1xf32>
  // CHECK: "graph.reduce_sum"
  %reduce_sum_0 = "graph.reduce_sum"(%x, %axes1) {keepdims = 1 : i64, noop_with_empty_axes = 0 : i64} : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<2x1xf32>
  // CHECK: "graph.relu"
  %relu_0 = "graph.relu"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.reshape"
  %reshape_0 = "graph.reshape"(%x, %shape2) {allowzero = 0 : i64} : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<3x2xf32>
  // CHECK: "graph.resize"
  %resize_0 = "graph.resize"(%img, %scales) {antialias = 0 : i64, coordinate_transformation_mode = "half_pixel", cubic_coeff_a = -7.500000e-01 : f32, exclude_outside = 0 : i64, extrapolation_value = 0.000000e+00 : f32, keep_aspect_ratio_policy = "stretch", mode = "nearest", nearest_mode = "round_prefer_floor", operandSegmentSizes = array<i32: 1, 0, 1, 0>} : (tensor<1x4x8x8xf32>, tensor<4xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: "graph.rms_normalization"
  %rms_normalization_0 = "graph.rms_normalization"(%x, %ls) {axis = -1 : i64, epsilon = 9.99999974E-6 : f32, stash_type = 1 : i64} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.scatter_nd"
  %scatter_nd_0 = "graph.scatter_nd"(%x, %si, %su) {reduction = "none"} : (tensor<2x3xf32>, tensor<1x1xi64>, tensor<1x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.selu"
  %selu_0 = "graph.selu"(%x) {alpha = 1.67326319 : f32, gamma = 1.05070102 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.shape"
  %shape_0 = "graph.shape"(%x) {end = 2 : i64, start = 0 : i64} : (tensor<2x3xf32>) -> tensor<2xi64>
  // CHECK: "graph.sigmoid"
  %sigmoid_0 = "graph.sigmoid"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.sign"
  %sign_0 = "graph.sign"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.sin"
  %sin_0 = "graph.sin"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.slice"
  %slice_0 = "graph.slice"(%x, %st, %en, %ax) {operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<2x3xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x2xf32>
  // CHECK: "graph.softmax"
  %softmax_0 = "graph.softmax"(%x) {axis = -1 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.softplus"
  %softplus_0 = "graph.softplus"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.softsign"
  %softsign_0 = "graph.softsign"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.space_to_depth"
  %space_to_depth_0 = "graph.space_to_depth"(%img) {blocksize = 2 : i64, mode = "DCR"} : (tensor<1x4x8x8xf32>) -> tensor<1x16x4x4xf32>
  // CHECK: "graph.split"
  %split_0, %split_1 = "graph.split"(%x, %sp) {axis = 1 : i64, resultSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<2x3xf32>, tensor<2xi64>) -> (tensor<2x1xf32>, tensor<2x2xf32>)
  // CHECK: "graph.sqrt"
  %sqrt_0 = "graph.sqrt"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.squeeze"
  %squeeze_0 = "graph.squeeze"(%sq, %axes1) : (tensor<2x1x3xf32>, tensor<1xi64>) -> tensor<2x3xf32>
  // CHECK: "graph.sub"
  %sub_0 = "graph.sub"(%x, %y) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.sum"
  %sum_0 = "graph.sum"(%x, %row, %y) {operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<2x3xf32>, tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.tanh"
  %tanh_0 = "graph.tanh"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: "graph.tile"
  %tile_0 = "graph.tile"(%x, %reps) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<4x3xf32>
  // CHECK: "graph.top_k"
  %top_k_0, %top_k_1 = "graph.top_k"(%x, %k) {axis = -1 : i64, largest = 1 : i64, sorted = 1 : i64} : (tensor<2x3xf32>, tensor<1xi64>) -> (tensor<2x2xf32>, tensor<2x2xi64>)
  // CHECK: "graph.transpose"
  %transpose_0 = "graph.transpose"(%x) {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  // CHECK: "graph.trilu"
  %trilu_0 = "graph.trilu"(%x, %tk) {upper = 1 : i64} : (tensor<2x3xf32>, tensor<i64>) -> tensor<2x3xf32>
  // CHECK: "graph.unsqueeze"
  %unsqueeze_0 = "graph.unsqueeze"(%x, %axes1) : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<2x1x3xf32>
  // CHECK: "graph.weight"
  %weight_0 = "graph.weight"() {name = "conv1.weight"} : () -> tensor<8x4x3x3xf32>
  // CHECK: "graph.where"
  %where_0 = "graph.where"(%b, %x, %y) : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}
