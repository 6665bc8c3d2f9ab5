// The graph dialect: ONNX operator semantics on ranked builtin tensors.
//
// This file is the single source of truth for the op set: dialects/build.rs reads it
// to generate the Rust op table, typed builders and accessors, and docs/dialects/graph.md.
// Conventions (docs/dialects/graph.md): op names are ONNX op types in snake_case; attributes
// keep their ONNX names; every attribute with an ONNX default is always present; each
// operand and result has its own constraint variable (a shared one forces equal types).
// IRDL checks every value of a `variadic` slot against one constraint variable, which
// forces them to one type (checked with MLIR 22). So ONNX's variadic inputs and outputs,
// whose shapes differ (Concat, Split, Max, Min, Mean, Sum), are a family of slots
// `<name>_0` (required) to `<name>_15` (optional); the Rust API treats a family as one
// list, and importers nest ops for more than 16 values (these ops are associative).
// Element types and shapes are checked by the Rust verifier (dialects/src/verify/).
irdl.dialect @graph {
  // ONNX `Abs`.
  irdl.operation @abs {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `Add`.
  irdl.operation @add {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %r_c = irdl.base "!builtin.tensor"
    irdl.operands(a: %a, b: %b)
    irdl.results(c: %r_c)
  }
  // ONNX `And`.
  irdl.operation @and {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %r_c = irdl.base "!builtin.tensor"
    irdl.operands(a: %a, b: %b)
    irdl.results(c: %r_c)
  }
  // ONNX `ArgMax`.
  irdl.operation @arg_max {
    %data = irdl.base "!builtin.tensor"
    %r_reduced = irdl.base "!builtin.tensor"
    %attr_axis = irdl.base "#builtin.integer"
    %attr_keepdims = irdl.base "#builtin.integer"
    %attr_select_last_index = irdl.base "#builtin.integer"
    irdl.operands(data: %data)
    irdl.results(reduced: %r_reduced)
    irdl.attributes {"axis" = %attr_axis, "keepdims" = %attr_keepdims, "select_last_index" = %attr_select_last_index}
  }
  // ONNX `AveragePool`.
  irdl.operation @average_pool {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_ceil_mode = irdl.base "#builtin.integer"
    %attr_count_include_pad = irdl.base "#builtin.integer"
    %attr_dilations = irdl.base "#builtin.dense_array"
    %attr_kernel_shape = irdl.base "#builtin.dense_array"
    %attr_pads = irdl.base "#builtin.dense_array"
    %attr_strides = irdl.base "#builtin.dense_array"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
    irdl.attributes {"ceil_mode" = %attr_ceil_mode, "count_include_pad" = %attr_count_include_pad, "dilations" = %attr_dilations, "kernel_shape" = %attr_kernel_shape, "pads" = %attr_pads, "strides" = %attr_strides}
  }
  // ONNX `BatchNormalization`.
  irdl.operation @batch_normalization {
    %x = irdl.base "!builtin.tensor"
    %scale = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %input_mean = irdl.base "!builtin.tensor"
    %input_var = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_epsilon = irdl.base "#builtin.float"
    %attr_momentum = irdl.base "#builtin.float"
    irdl.operands(x: %x, scale: %scale, b: %b, input_mean: %input_mean, input_var: %input_var)
    irdl.results(y: %r_y)
    irdl.attributes {"epsilon" = %attr_epsilon, "momentum" = %attr_momentum}
  }
  // ONNX `Cast`.
  irdl.operation @cast {
    %input = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    %attr_saturate = irdl.base "#builtin.integer"
    %attr_to = irdl.base "#builtin.integer"
    irdl.operands(input: %input)
    irdl.results(output: %r_output)
    irdl.attributes {"saturate" = %attr_saturate, "to" = %attr_to}
  }
  // ONNX `Ceil`.
  irdl.operation @ceil {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `Clip`.
  irdl.operation @clip {
    %input = irdl.base "!builtin.tensor"
    %min = irdl.base "!builtin.tensor"
    %max = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    irdl.operands(input: %input, min: optional %min, max: optional %max)
    irdl.results(output: %r_output)
  }
  // ONNX `Concat`.
  irdl.operation @concat {
    %inputs_0 = irdl.base "!builtin.tensor"
    %inputs_1 = irdl.base "!builtin.tensor"
    %inputs_2 = irdl.base "!builtin.tensor"
    %inputs_3 = irdl.base "!builtin.tensor"
    %inputs_4 = irdl.base "!builtin.tensor"
    %inputs_5 = irdl.base "!builtin.tensor"
    %inputs_6 = irdl.base "!builtin.tensor"
    %inputs_7 = irdl.base "!builtin.tensor"
    %inputs_8 = irdl.base "!builtin.tensor"
    %inputs_9 = irdl.base "!builtin.tensor"
    %inputs_10 = irdl.base "!builtin.tensor"
    %inputs_11 = irdl.base "!builtin.tensor"
    %inputs_12 = irdl.base "!builtin.tensor"
    %inputs_13 = irdl.base "!builtin.tensor"
    %inputs_14 = irdl.base "!builtin.tensor"
    %inputs_15 = irdl.base "!builtin.tensor"
    %r_concat_result = irdl.base "!builtin.tensor"
    %attr_axis = irdl.base "#builtin.integer"
    irdl.operands(inputs_0: %inputs_0, inputs_1: optional %inputs_1, inputs_2: optional %inputs_2, inputs_3: optional %inputs_3, inputs_4: optional %inputs_4, inputs_5: optional %inputs_5, inputs_6: optional %inputs_6, inputs_7: optional %inputs_7, inputs_8: optional %inputs_8, inputs_9: optional %inputs_9, inputs_10: optional %inputs_10, inputs_11: optional %inputs_11, inputs_12: optional %inputs_12, inputs_13: optional %inputs_13, inputs_14: optional %inputs_14, inputs_15: optional %inputs_15)
    irdl.results(concat_result: %r_concat_result)
    irdl.attributes {"axis" = %attr_axis}
  }
  // ONNX `Constant`, normalized: the value is always a dense elements attribute `value`.
  irdl.operation @constant {
    %r_output = irdl.base "!builtin.tensor"
    %attr_value = irdl.base "#builtin.dense_int_or_fp_elements"
    irdl.results(output: %r_output)
    irdl.attributes {"value" = %attr_value}
  }
  // ONNX `ConstantOfShape`.
  irdl.operation @constant_of_shape {
    %input = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    %attr_value = irdl.base "#builtin.dense_int_or_fp_elements"
    irdl.operands(input: %input)
    irdl.results(output: %r_output)
    irdl.attributes {"value" = %attr_value}
  }
  // ONNX `Conv`.
  irdl.operation @conv {
    %x = irdl.base "!builtin.tensor"
    %w = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_dilations = irdl.base "#builtin.dense_array"
    %attr_group = irdl.base "#builtin.integer"
    %attr_kernel_shape = irdl.base "#builtin.dense_array"
    %attr_pads = irdl.base "#builtin.dense_array"
    %attr_strides = irdl.base "#builtin.dense_array"
    irdl.operands(x: %x, w: %w, b: optional %b)
    irdl.results(y: %r_y)
    irdl.attributes {"dilations" = %attr_dilations, "group" = %attr_group, "kernel_shape" = %attr_kernel_shape, "pads" = %attr_pads, "strides" = %attr_strides}
  }
  // ONNX `ConvTranspose`.
  irdl.operation @conv_transpose {
    %x = irdl.base "!builtin.tensor"
    %w = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_dilations = irdl.base "#builtin.dense_array"
    %attr_group = irdl.base "#builtin.integer"
    %attr_kernel_shape = irdl.base "#builtin.dense_array"
    %attr_output_padding = irdl.base "#builtin.dense_array"
    %attr_pads = irdl.base "#builtin.dense_array"
    %attr_strides = irdl.base "#builtin.dense_array"
    irdl.operands(x: %x, w: %w, b: optional %b)
    irdl.results(y: %r_y)
    irdl.attributes {"dilations" = %attr_dilations, "group" = %attr_group, "kernel_shape" = %attr_kernel_shape, "output_padding" = %attr_output_padding, "pads" = %attr_pads, "strides" = %attr_strides}
  }
  // ONNX `Cos`.
  irdl.operation @cos {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `CumSum`.
  irdl.operation @cum_sum {
    %x = irdl.base "!builtin.tensor"
    %axis = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_exclusive = irdl.base "#builtin.integer"
    %attr_reverse = irdl.base "#builtin.integer"
    irdl.operands(x: %x, axis: %axis)
    irdl.results(y: %r_y)
    irdl.attributes {"exclusive" = %attr_exclusive, "reverse" = %attr_reverse}
  }
  // ONNX `DepthToSpace`.
  irdl.operation @depth_to_space {
    %input = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    %attr_blocksize = irdl.base "#builtin.integer"
    %attr_mode = irdl.base "#builtin.string"
    irdl.operands(input: %input)
    irdl.results(output: %r_output)
    irdl.attributes {"blocksize" = %attr_blocksize, "mode" = %attr_mode}
  }
  // ONNX `Div`.
  irdl.operation @div {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %r_c = irdl.base "!builtin.tensor"
    irdl.operands(a: %a, b: %b)
    irdl.results(c: %r_c)
  }
  // ONNX `Dropout`.
  irdl.operation @dropout {
    %data = irdl.base "!builtin.tensor"
    %ratio = irdl.base "!builtin.tensor"
    %training_mode = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    %r_mask = irdl.base "!builtin.tensor"
    irdl.operands(data: %data, ratio: optional %ratio, training_mode: optional %training_mode)
    irdl.results(output: %r_output, mask: optional %r_mask)
  }
  // ONNX `Einsum`.
  irdl.operation @einsum {
    %inputs_0 = irdl.base "!builtin.tensor"
    %inputs_1 = irdl.base "!builtin.tensor"
    %inputs_2 = irdl.base "!builtin.tensor"
    %inputs_3 = irdl.base "!builtin.tensor"
    %inputs_4 = irdl.base "!builtin.tensor"
    %inputs_5 = irdl.base "!builtin.tensor"
    %inputs_6 = irdl.base "!builtin.tensor"
    %inputs_7 = irdl.base "!builtin.tensor"
    %inputs_8 = irdl.base "!builtin.tensor"
    %inputs_9 = irdl.base "!builtin.tensor"
    %inputs_10 = irdl.base "!builtin.tensor"
    %inputs_11 = irdl.base "!builtin.tensor"
    %inputs_12 = irdl.base "!builtin.tensor"
    %inputs_13 = irdl.base "!builtin.tensor"
    %inputs_14 = irdl.base "!builtin.tensor"
    %inputs_15 = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    %attr_equation = irdl.base "#builtin.string"
    irdl.operands(inputs_0: %inputs_0, inputs_1: optional %inputs_1, inputs_2: optional %inputs_2, inputs_3: optional %inputs_3, inputs_4: optional %inputs_4, inputs_5: optional %inputs_5, inputs_6: optional %inputs_6, inputs_7: optional %inputs_7, inputs_8: optional %inputs_8, inputs_9: optional %inputs_9, inputs_10: optional %inputs_10, inputs_11: optional %inputs_11, inputs_12: optional %inputs_12, inputs_13: optional %inputs_13, inputs_14: optional %inputs_14, inputs_15: optional %inputs_15)
    irdl.results(output: %r_output)
    irdl.attributes {"equation" = %attr_equation}
  }
  // ONNX `Elu`.
  irdl.operation @elu {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_alpha = irdl.base "#builtin.float"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
    irdl.attributes {"alpha" = %attr_alpha}
  }
  // ONNX `Equal`.
  irdl.operation @equal {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %r_c = irdl.base "!builtin.tensor"
    irdl.operands(a: %a, b: %b)
    irdl.results(c: %r_c)
  }
  // ONNX `Erf`.
  irdl.operation @erf {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `Exp`.
  irdl.operation @exp {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `Expand`.
  irdl.operation @expand {
    %input = irdl.base "!builtin.tensor"
    %shape = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    irdl.operands(input: %input, shape: %shape)
    irdl.results(output: %r_output)
  }
  // ONNX `Flatten`.
  irdl.operation @flatten {
    %input = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    %attr_axis = irdl.base "#builtin.integer"
    irdl.operands(input: %input)
    irdl.results(output: %r_output)
    irdl.attributes {"axis" = %attr_axis}
  }
  // ONNX `Floor`.
  irdl.operation @floor {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `Gather`.
  irdl.operation @gather {
    %data = irdl.base "!builtin.tensor"
    %indices = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    %attr_axis = irdl.base "#builtin.integer"
    irdl.operands(data: %data, indices: %indices)
    irdl.results(output: %r_output)
    irdl.attributes {"axis" = %attr_axis}
  }
  // ONNX `GatherElements`.
  irdl.operation @gather_elements {
    %data = irdl.base "!builtin.tensor"
    %indices = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    %attr_axis = irdl.base "#builtin.integer"
    irdl.operands(data: %data, indices: %indices)
    irdl.results(output: %r_output)
    irdl.attributes {"axis" = %attr_axis}
  }
  // ONNX `Gelu`.
  irdl.operation @gelu {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_approximate = irdl.base "#builtin.string"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
    irdl.attributes {"approximate" = %attr_approximate}
  }
  // ONNX `Gemm`.
  irdl.operation @gemm {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %c = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_alpha = irdl.base "#builtin.float"
    %attr_beta = irdl.base "#builtin.float"
    %attr_trans_a = irdl.base "#builtin.integer"
    %attr_trans_b = irdl.base "#builtin.integer"
    irdl.operands(a: %a, b: %b, c: optional %c)
    irdl.results(y: %r_y)
    irdl.attributes {"alpha" = %attr_alpha, "beta" = %attr_beta, "trans_a" = %attr_trans_a, "trans_b" = %attr_trans_b}
  }
  // ONNX `GlobalAveragePool`.
  irdl.operation @global_average_pool {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `GlobalMaxPool`.
  irdl.operation @global_max_pool {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `Greater`.
  irdl.operation @greater {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %r_c = irdl.base "!builtin.tensor"
    irdl.operands(a: %a, b: %b)
    irdl.results(c: %r_c)
  }
  // ONNX `HardSigmoid`.
  irdl.operation @hard_sigmoid {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_alpha = irdl.base "#builtin.float"
    %attr_beta = irdl.base "#builtin.float"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
    irdl.attributes {"alpha" = %attr_alpha, "beta" = %attr_beta}
  }
  // ONNX `HardSwish`.
  irdl.operation @hard_swish {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `Identity`.
  irdl.operation @identity {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `InstanceNormalization`.
  irdl.operation @instance_normalization {
    %input = irdl.base "!builtin.tensor"
    %scale = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    %attr_epsilon = irdl.base "#builtin.float"
    irdl.operands(input: %input, scale: %scale, b: %b)
    irdl.results(output: %r_output)
    irdl.attributes {"epsilon" = %attr_epsilon}
  }
  // ONNX `LayerNormalization`.
  irdl.operation @layer_normalization {
    %x = irdl.base "!builtin.tensor"
    %scale = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %r_mean = irdl.base "!builtin.tensor"
    %r_inv_std_dev = irdl.base "!builtin.tensor"
    %attr_axis = irdl.base "#builtin.integer"
    %attr_epsilon = irdl.base "#builtin.float"
    %attr_stash_type = irdl.base "#builtin.integer"
    irdl.operands(x: %x, scale: %scale, b: optional %b)
    irdl.results(y: %r_y, mean: optional %r_mean, inv_std_dev: optional %r_inv_std_dev)
    irdl.attributes {"axis" = %attr_axis, "epsilon" = %attr_epsilon, "stash_type" = %attr_stash_type}
  }
  // ONNX `LeakyRelu`.
  irdl.operation @leaky_relu {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_alpha = irdl.base "#builtin.float"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
    irdl.attributes {"alpha" = %attr_alpha}
  }
  // ONNX `Less`.
  irdl.operation @less {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %r_c = irdl.base "!builtin.tensor"
    irdl.operands(a: %a, b: %b)
    irdl.results(c: %r_c)
  }
  // ONNX `Log`.
  irdl.operation @log {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `LogSoftmax`.
  irdl.operation @log_softmax {
    %input = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    %attr_axis = irdl.base "#builtin.integer"
    irdl.operands(input: %input)
    irdl.results(output: %r_output)
    irdl.attributes {"axis" = %attr_axis}
  }
  // ONNX `LRN`.
  irdl.operation @lrn {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_alpha = irdl.base "#builtin.float"
    %attr_beta = irdl.base "#builtin.float"
    %attr_bias = irdl.base "#builtin.float"
    %attr_size = irdl.base "#builtin.integer"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
    irdl.attributes {"alpha" = %attr_alpha, "beta" = %attr_beta, "bias" = %attr_bias, "size" = %attr_size}
  }
  // ONNX `MatMul`.
  irdl.operation @mat_mul {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(a: %a, b: %b)
    irdl.results(y: %r_y)
  }
  // ONNX `Max`.
  irdl.operation @max {
    %data_0 = irdl.base "!builtin.tensor"
    %data_1 = irdl.base "!builtin.tensor"
    %data_2 = irdl.base "!builtin.tensor"
    %data_3 = irdl.base "!builtin.tensor"
    %data_4 = irdl.base "!builtin.tensor"
    %data_5 = irdl.base "!builtin.tensor"
    %data_6 = irdl.base "!builtin.tensor"
    %data_7 = irdl.base "!builtin.tensor"
    %data_8 = irdl.base "!builtin.tensor"
    %data_9 = irdl.base "!builtin.tensor"
    %data_10 = irdl.base "!builtin.tensor"
    %data_11 = irdl.base "!builtin.tensor"
    %data_12 = irdl.base "!builtin.tensor"
    %data_13 = irdl.base "!builtin.tensor"
    %data_14 = irdl.base "!builtin.tensor"
    %data_15 = irdl.base "!builtin.tensor"
    %r_result = irdl.base "!builtin.tensor"
    irdl.operands(data_0: %data_0, data_1: optional %data_1, data_2: optional %data_2, data_3: optional %data_3, data_4: optional %data_4, data_5: optional %data_5, data_6: optional %data_6, data_7: optional %data_7, data_8: optional %data_8, data_9: optional %data_9, data_10: optional %data_10, data_11: optional %data_11, data_12: optional %data_12, data_13: optional %data_13, data_14: optional %data_14, data_15: optional %data_15)
    irdl.results(result: %r_result)
  }
  // ONNX `MaxPool`.
  irdl.operation @max_pool {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %r_indices = irdl.base "!builtin.tensor"
    %attr_ceil_mode = irdl.base "#builtin.integer"
    %attr_dilations = irdl.base "#builtin.dense_array"
    %attr_kernel_shape = irdl.base "#builtin.dense_array"
    %attr_pads = irdl.base "#builtin.dense_array"
    %attr_storage_order = irdl.base "#builtin.integer"
    %attr_strides = irdl.base "#builtin.dense_array"
    irdl.operands(x: %x)
    irdl.results(y: %r_y, indices: optional %r_indices)
    irdl.attributes {"ceil_mode" = %attr_ceil_mode, "dilations" = %attr_dilations, "kernel_shape" = %attr_kernel_shape, "pads" = %attr_pads, "storage_order" = %attr_storage_order, "strides" = %attr_strides}
  }
  // ONNX `Mean`.
  irdl.operation @mean {
    %data_0 = irdl.base "!builtin.tensor"
    %data_1 = irdl.base "!builtin.tensor"
    %data_2 = irdl.base "!builtin.tensor"
    %data_3 = irdl.base "!builtin.tensor"
    %data_4 = irdl.base "!builtin.tensor"
    %data_5 = irdl.base "!builtin.tensor"
    %data_6 = irdl.base "!builtin.tensor"
    %data_7 = irdl.base "!builtin.tensor"
    %data_8 = irdl.base "!builtin.tensor"
    %data_9 = irdl.base "!builtin.tensor"
    %data_10 = irdl.base "!builtin.tensor"
    %data_11 = irdl.base "!builtin.tensor"
    %data_12 = irdl.base "!builtin.tensor"
    %data_13 = irdl.base "!builtin.tensor"
    %data_14 = irdl.base "!builtin.tensor"
    %data_15 = irdl.base "!builtin.tensor"
    %r_result = irdl.base "!builtin.tensor"
    irdl.operands(data_0: %data_0, data_1: optional %data_1, data_2: optional %data_2, data_3: optional %data_3, data_4: optional %data_4, data_5: optional %data_5, data_6: optional %data_6, data_7: optional %data_7, data_8: optional %data_8, data_9: optional %data_9, data_10: optional %data_10, data_11: optional %data_11, data_12: optional %data_12, data_13: optional %data_13, data_14: optional %data_14, data_15: optional %data_15)
    irdl.results(result: %r_result)
  }
  // ONNX `Min`.
  irdl.operation @min {
    %data_0 = irdl.base "!builtin.tensor"
    %data_1 = irdl.base "!builtin.tensor"
    %data_2 = irdl.base "!builtin.tensor"
    %data_3 = irdl.base "!builtin.tensor"
    %data_4 = irdl.base "!builtin.tensor"
    %data_5 = irdl.base "!builtin.tensor"
    %data_6 = irdl.base "!builtin.tensor"
    %data_7 = irdl.base "!builtin.tensor"
    %data_8 = irdl.base "!builtin.tensor"
    %data_9 = irdl.base "!builtin.tensor"
    %data_10 = irdl.base "!builtin.tensor"
    %data_11 = irdl.base "!builtin.tensor"
    %data_12 = irdl.base "!builtin.tensor"
    %data_13 = irdl.base "!builtin.tensor"
    %data_14 = irdl.base "!builtin.tensor"
    %data_15 = irdl.base "!builtin.tensor"
    %r_result = irdl.base "!builtin.tensor"
    irdl.operands(data_0: %data_0, data_1: optional %data_1, data_2: optional %data_2, data_3: optional %data_3, data_4: optional %data_4, data_5: optional %data_5, data_6: optional %data_6, data_7: optional %data_7, data_8: optional %data_8, data_9: optional %data_9, data_10: optional %data_10, data_11: optional %data_11, data_12: optional %data_12, data_13: optional %data_13, data_14: optional %data_14, data_15: optional %data_15)
    irdl.results(result: %r_result)
  }
  // ONNX `Mod`.
  irdl.operation @mod {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %r_c = irdl.base "!builtin.tensor"
    %attr_fmod = irdl.base "#builtin.integer"
    irdl.operands(a: %a, b: %b)
    irdl.results(c: %r_c)
    irdl.attributes {"fmod" = %attr_fmod}
  }
  // ONNX `Mul`.
  irdl.operation @mul {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %r_c = irdl.base "!builtin.tensor"
    irdl.operands(a: %a, b: %b)
    irdl.results(c: %r_c)
  }
  // ONNX `Neg`.
  irdl.operation @neg {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `Not`.
  irdl.operation @not {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `Or`.
  irdl.operation @or {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %r_c = irdl.base "!builtin.tensor"
    irdl.operands(a: %a, b: %b)
    irdl.results(c: %r_c)
  }
  // ONNX `PRelu`.
  irdl.operation @p_relu {
    %x = irdl.base "!builtin.tensor"
    %slope = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x, slope: %slope)
    irdl.results(y: %r_y)
  }
  // ONNX `Pad`.
  irdl.operation @pad {
    %data = irdl.base "!builtin.tensor"
    %pads = irdl.base "!builtin.tensor"
    %constant_value = irdl.base "!builtin.tensor"
    %axes = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    %attr_mode = irdl.base "#builtin.string"
    irdl.operands(data: %data, pads: %pads, constant_value: optional %constant_value, axes: optional %axes)
    irdl.results(output: %r_output)
    irdl.attributes {"mode" = %attr_mode}
  }
  // ONNX `Pow`.
  irdl.operation @pow {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %r_c = irdl.base "!builtin.tensor"
    irdl.operands(a: %a, b: %b)
    irdl.results(c: %r_c)
  }
  // ONNX `Range`.
  irdl.operation @range {
    %start = irdl.base "!builtin.tensor"
    %limit = irdl.base "!builtin.tensor"
    %delta = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    irdl.operands(start: %start, limit: %limit, delta: %delta)
    irdl.results(output: %r_output)
  }
  // ONNX `Reciprocal`.
  irdl.operation @reciprocal {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `ReduceL2`.
  irdl.operation @reduce_l2 {
    %data = irdl.base "!builtin.tensor"
    %axes = irdl.base "!builtin.tensor"
    %r_reduced = irdl.base "!builtin.tensor"
    %attr_keepdims = irdl.base "#builtin.integer"
    %attr_noop_with_empty_axes = irdl.base "#builtin.integer"
    irdl.operands(data: %data, axes: optional %axes)
    irdl.results(reduced: %r_reduced)
    irdl.attributes {"keepdims" = %attr_keepdims, "noop_with_empty_axes" = %attr_noop_with_empty_axes}
  }
  // ONNX `ReduceMax`.
  irdl.operation @reduce_max {
    %data = irdl.base "!builtin.tensor"
    %axes = irdl.base "!builtin.tensor"
    %r_reduced = irdl.base "!builtin.tensor"
    %attr_keepdims = irdl.base "#builtin.integer"
    %attr_noop_with_empty_axes = irdl.base "#builtin.integer"
    irdl.operands(data: %data, axes: optional %axes)
    irdl.results(reduced: %r_reduced)
    irdl.attributes {"keepdims" = %attr_keepdims, "noop_with_empty_axes" = %attr_noop_with_empty_axes}
  }
  // ONNX `ReduceMean`.
  irdl.operation @reduce_mean {
    %data = irdl.base "!builtin.tensor"
    %axes = irdl.base "!builtin.tensor"
    %r_reduced = irdl.base "!builtin.tensor"
    %attr_keepdims = irdl.base "#builtin.integer"
    %attr_noop_with_empty_axes = irdl.base "#builtin.integer"
    irdl.operands(data: %data, axes: optional %axes)
    irdl.results(reduced: %r_reduced)
    irdl.attributes {"keepdims" = %attr_keepdims, "noop_with_empty_axes" = %attr_noop_with_empty_axes}
  }
  // ONNX `ReduceMin`.
  irdl.operation @reduce_min {
    %data = irdl.base "!builtin.tensor"
    %axes = irdl.base "!builtin.tensor"
    %r_reduced = irdl.base "!builtin.tensor"
    %attr_keepdims = irdl.base "#builtin.integer"
    %attr_noop_with_empty_axes = irdl.base "#builtin.integer"
    irdl.operands(data: %data, axes: optional %axes)
    irdl.results(reduced: %r_reduced)
    irdl.attributes {"keepdims" = %attr_keepdims, "noop_with_empty_axes" = %attr_noop_with_empty_axes}
  }
  // ONNX `ReduceProd`.
  irdl.operation @reduce_prod {
    %data = irdl.base "!builtin.tensor"
    %axes = irdl.base "!builtin.tensor"
    %r_reduced = irdl.base "!builtin.tensor"
    %attr_keepdims = irdl.base "#builtin.integer"
    %attr_noop_with_empty_axes = irdl.base "#builtin.integer"
    irdl.operands(data: %data, axes: optional %axes)
    irdl.results(reduced: %r_reduced)
    irdl.attributes {"keepdims" = %attr_keepdims, "noop_with_empty_axes" = %attr_noop_with_empty_axes}
  }
  // ONNX `ReduceSum`.
  irdl.operation @reduce_sum {
    %data = irdl.base "!builtin.tensor"
    %axes = irdl.base "!builtin.tensor"
    %r_reduced = irdl.base "!builtin.tensor"
    %attr_keepdims = irdl.base "#builtin.integer"
    %attr_noop_with_empty_axes = irdl.base "#builtin.integer"
    irdl.operands(data: %data, axes: optional %axes)
    irdl.results(reduced: %r_reduced)
    irdl.attributes {"keepdims" = %attr_keepdims, "noop_with_empty_axes" = %attr_noop_with_empty_axes}
  }
  // ONNX `Relu`.
  irdl.operation @relu {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `Reshape`.
  irdl.operation @reshape {
    %data = irdl.base "!builtin.tensor"
    %shape = irdl.base "!builtin.tensor"
    %r_reshaped = irdl.base "!builtin.tensor"
    %attr_allowzero = irdl.base "#builtin.integer"
    irdl.operands(data: %data, shape: %shape)
    irdl.results(reshaped: %r_reshaped)
    irdl.attributes {"allowzero" = %attr_allowzero}
  }
  // ONNX `Resize`.
  irdl.operation @resize {
    %x = irdl.base "!builtin.tensor"
    %roi = irdl.base "!builtin.tensor"
    %scales = irdl.base "!builtin.tensor"
    %sizes = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_antialias = irdl.base "#builtin.integer"
    %attr_coordinate_transformation_mode = irdl.base "#builtin.string"
    %attr_cubic_coeff_a = irdl.base "#builtin.float"
    %attr_exclude_outside = irdl.base "#builtin.integer"
    %attr_extrapolation_value = irdl.base "#builtin.float"
    %attr_keep_aspect_ratio_policy = irdl.base "#builtin.string"
    %attr_mode = irdl.base "#builtin.string"
    %attr_nearest_mode = irdl.base "#builtin.string"
    irdl.operands(x: %x, roi: optional %roi, scales: optional %scales, sizes: optional %sizes)
    irdl.results(y: %r_y)
    irdl.attributes {"antialias" = %attr_antialias, "coordinate_transformation_mode" = %attr_coordinate_transformation_mode, "cubic_coeff_a" = %attr_cubic_coeff_a, "exclude_outside" = %attr_exclude_outside, "extrapolation_value" = %attr_extrapolation_value, "keep_aspect_ratio_policy" = %attr_keep_aspect_ratio_policy, "mode" = %attr_mode, "nearest_mode" = %attr_nearest_mode}
  }
  // ONNX `RMSNormalization`.
  irdl.operation @rms_normalization {
    %x = irdl.base "!builtin.tensor"
    %scale = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_axis = irdl.base "#builtin.integer"
    %attr_epsilon = irdl.base "#builtin.float"
    %attr_stash_type = irdl.base "#builtin.integer"
    irdl.operands(x: %x, scale: %scale)
    irdl.results(y: %r_y)
    irdl.attributes {"axis" = %attr_axis, "epsilon" = %attr_epsilon, "stash_type" = %attr_stash_type}
  }
  // ONNX `ScatterND`.
  irdl.operation @scatter_nd {
    %data = irdl.base "!builtin.tensor"
    %indices = irdl.base "!builtin.tensor"
    %updates = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    %attr_reduction = irdl.base "#builtin.string"
    irdl.operands(data: %data, indices: %indices, updates: %updates)
    irdl.results(output: %r_output)
    irdl.attributes {"reduction" = %attr_reduction}
  }
  // ONNX `Selu`.
  irdl.operation @selu {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_alpha = irdl.base "#builtin.float"
    %attr_gamma = irdl.base "#builtin.float"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
    irdl.attributes {"alpha" = %attr_alpha, "gamma" = %attr_gamma}
  }
  // ONNX `Shape`.
  irdl.operation @shape {
    %data = irdl.base "!builtin.tensor"
    %r_shape = irdl.base "!builtin.tensor"
    %attr_end = irdl.base "#builtin.integer"
    %attr_start = irdl.base "#builtin.integer"
    irdl.operands(data: %data)
    irdl.results(shape: %r_shape)
    irdl.attributes {"end" = %attr_end, "start" = %attr_start}
  }
  // ONNX `Sigmoid`.
  irdl.operation @sigmoid {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `Sign`.
  irdl.operation @sign {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `Sin`.
  irdl.operation @sin {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `Slice`.
  irdl.operation @slice {
    %data = irdl.base "!builtin.tensor"
    %starts = irdl.base "!builtin.tensor"
    %ends = irdl.base "!builtin.tensor"
    %axes = irdl.base "!builtin.tensor"
    %steps = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    irdl.operands(data: %data, starts: %starts, ends: %ends, axes: optional %axes, steps: optional %steps)
    irdl.results(output: %r_output)
  }
  // ONNX `Softmax`.
  irdl.operation @softmax {
    %input = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    %attr_axis = irdl.base "#builtin.integer"
    irdl.operands(input: %input)
    irdl.results(output: %r_output)
    irdl.attributes {"axis" = %attr_axis}
  }
  // ONNX `Softplus`.
  irdl.operation @softplus {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `Softsign`.
  irdl.operation @softsign {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `SpaceToDepth`.
  irdl.operation @space_to_depth {
    %input = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    %attr_blocksize = irdl.base "#builtin.integer"
    %attr_mode = irdl.base "#builtin.string"
    irdl.operands(input: %input)
    irdl.results(output: %r_output)
    irdl.attributes {"blocksize" = %attr_blocksize, "mode" = %attr_mode}
  }
  // ONNX `Split`.
  irdl.operation @split {
    %input = irdl.base "!builtin.tensor"
    %split = irdl.base "!builtin.tensor"
    %r_outputs_0 = irdl.base "!builtin.tensor"
    %r_outputs_1 = irdl.base "!builtin.tensor"
    %r_outputs_2 = irdl.base "!builtin.tensor"
    %r_outputs_3 = irdl.base "!builtin.tensor"
    %r_outputs_4 = irdl.base "!builtin.tensor"
    %r_outputs_5 = irdl.base "!builtin.tensor"
    %r_outputs_6 = irdl.base "!builtin.tensor"
    %r_outputs_7 = irdl.base "!builtin.tensor"
    %r_outputs_8 = irdl.base "!builtin.tensor"
    %r_outputs_9 = irdl.base "!builtin.tensor"
    %r_outputs_10 = irdl.base "!builtin.tensor"
    %r_outputs_11 = irdl.base "!builtin.tensor"
    %r_outputs_12 = irdl.base "!builtin.tensor"
    %r_outputs_13 = irdl.base "!builtin.tensor"
    %r_outputs_14 = irdl.base "!builtin.tensor"
    %r_outputs_15 = irdl.base "!builtin.tensor"
    %attr_axis = irdl.base "#builtin.integer"
    irdl.operands(input: %input, split: optional %split)
    irdl.results(outputs_0: %r_outputs_0, outputs_1: optional %r_outputs_1, outputs_2: optional %r_outputs_2, outputs_3: optional %r_outputs_3, outputs_4: optional %r_outputs_4, outputs_5: optional %r_outputs_5, outputs_6: optional %r_outputs_6, outputs_7: optional %r_outputs_7, outputs_8: optional %r_outputs_8, outputs_9: optional %r_outputs_9, outputs_10: optional %r_outputs_10, outputs_11: optional %r_outputs_11, outputs_12: optional %r_outputs_12, outputs_13: optional %r_outputs_13, outputs_14: optional %r_outputs_14, outputs_15: optional %r_outputs_15)
    irdl.attributes {"axis" = %attr_axis}
  }
  // ONNX `Sqrt`.
  irdl.operation @sqrt {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `Squeeze`.
  irdl.operation @squeeze {
    %data = irdl.base "!builtin.tensor"
    %axes = irdl.base "!builtin.tensor"
    %r_squeezed = irdl.base "!builtin.tensor"
    irdl.operands(data: %data, axes: optional %axes)
    irdl.results(squeezed: %r_squeezed)
  }
  // ONNX `Sub`.
  irdl.operation @sub {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %r_c = irdl.base "!builtin.tensor"
    irdl.operands(a: %a, b: %b)
    irdl.results(c: %r_c)
  }
  // ONNX `Sum`.
  irdl.operation @sum {
    %data_0 = irdl.base "!builtin.tensor"
    %data_1 = irdl.base "!builtin.tensor"
    %data_2 = irdl.base "!builtin.tensor"
    %data_3 = irdl.base "!builtin.tensor"
    %data_4 = irdl.base "!builtin.tensor"
    %data_5 = irdl.base "!builtin.tensor"
    %data_6 = irdl.base "!builtin.tensor"
    %data_7 = irdl.base "!builtin.tensor"
    %data_8 = irdl.base "!builtin.tensor"
    %data_9 = irdl.base "!builtin.tensor"
    %data_10 = irdl.base "!builtin.tensor"
    %data_11 = irdl.base "!builtin.tensor"
    %data_12 = irdl.base "!builtin.tensor"
    %data_13 = irdl.base "!builtin.tensor"
    %data_14 = irdl.base "!builtin.tensor"
    %data_15 = irdl.base "!builtin.tensor"
    %r_result = irdl.base "!builtin.tensor"
    irdl.operands(data_0: %data_0, data_1: optional %data_1, data_2: optional %data_2, data_3: optional %data_3, data_4: optional %data_4, data_5: optional %data_5, data_6: optional %data_6, data_7: optional %data_7, data_8: optional %data_8, data_9: optional %data_9, data_10: optional %data_10, data_11: optional %data_11, data_12: optional %data_12, data_13: optional %data_13, data_14: optional %data_14, data_15: optional %data_15)
    irdl.results(result: %r_result)
  }
  // ONNX `Tanh`.
  irdl.operation @tanh {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
  }
  // ONNX `Tile`.
  irdl.operation @tile {
    %input = irdl.base "!builtin.tensor"
    %repeats = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    irdl.operands(input: %input, repeats: %repeats)
    irdl.results(output: %r_output)
  }
  // ONNX `TopK`.
  irdl.operation @top_k {
    %x = irdl.base "!builtin.tensor"
    %k = irdl.base "!builtin.tensor"
    %r_values = irdl.base "!builtin.tensor"
    %r_indices = irdl.base "!builtin.tensor"
    %attr_axis = irdl.base "#builtin.integer"
    %attr_largest = irdl.base "#builtin.integer"
    %attr_sorted = irdl.base "#builtin.integer"
    irdl.operands(x: %x, k: %k)
    irdl.results(values: %r_values, indices: %r_indices)
    irdl.attributes {"axis" = %attr_axis, "largest" = %attr_largest, "sorted" = %attr_sorted}
  }
  // ONNX `Transpose`.
  irdl.operation @transpose {
    %data = irdl.base "!builtin.tensor"
    %r_transposed = irdl.base "!builtin.tensor"
    %attr_perm = irdl.base "#builtin.dense_array"
    irdl.operands(data: %data)
    irdl.results(transposed: %r_transposed)
    irdl.attributes {"perm" = %attr_perm}
  }
  // ONNX `Trilu`.
  irdl.operation @trilu {
    %input = irdl.base "!builtin.tensor"
    %k = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    %attr_upper = irdl.base "#builtin.integer"
    irdl.operands(input: %input, k: optional %k)
    irdl.results(output: %r_output)
    irdl.attributes {"upper" = %attr_upper}
  }
  // ONNX `Unsqueeze`.
  irdl.operation @unsqueeze {
    %data = irdl.base "!builtin.tensor"
    %axes = irdl.base "!builtin.tensor"
    %r_expanded = irdl.base "!builtin.tensor"
    irdl.operands(data: %data, axes: %axes)
    irdl.results(expanded: %r_expanded)
  }
  // A named weight whose bytes live outside the IR (a .safetensors file beside the text,
  // or a resource in bytecode). Not an ONNX op: the importers create it from initializers.
  irdl.operation @weight {
    %r_output = irdl.base "!builtin.tensor"
    %attr_name = irdl.base "#builtin.string"
    irdl.results(output: %r_output)
    irdl.attributes {"name" = %attr_name}
  }
  // ONNX `Where`.
  irdl.operation @where {
    %condition = irdl.base "!builtin.tensor"
    %x = irdl.base "!builtin.tensor"
    %y = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    irdl.operands(condition: %condition, x: %x, y: %y)
    irdl.results(output: %r_output)
  }
}
