// The cann dialect: an extern dialect whose ops mirror the aclnn operator API of Huawei
// Ascend CANN, one op per aclnn entry point (aclnnConvolution -> cann.convolution). Attribute
// names are the aclnn parameter names in snake_case. `convert-ftensor-to-cann` makes them
// from graph ops; the C++ emitter (`--target ascend:910b`) turns each op into the two-phase
// aclnnXxxGetWorkspaceSize / aclnnXxx call pair.
irdl.dialect @cann {
  irdl.operation @convolution {
    %input = irdl.base "!builtin.tensor"
    %weight = irdl.base "!builtin.tensor"
    %bias = irdl.base "!builtin.tensor"
    %r_output = irdl.base "!builtin.tensor"
    %attr_stride = irdl.base "#builtin.dense_array"
    %attr_padding = irdl.base "#builtin.dense_array"
    %attr_dilation = irdl.base "#builtin.dense_array"
    %attr_transposed = irdl.base "#builtin.integer"
    %attr_output_padding = irdl.base "#builtin.dense_array"
    %attr_groups = irdl.base "#builtin.integer"
    %attr_cube_math_type = irdl.base "#builtin.integer"
    irdl.operands(input: %input, weight: %weight, bias: optional %bias)
    irdl.results(output: %r_output)
    irdl.attributes {"stride" = %attr_stride, "padding" = %attr_padding, "dilation" = %attr_dilation, "transposed" = %attr_transposed, "output_padding" = %attr_output_padding, "groups" = %attr_groups, "cube_math_type" = %attr_cube_math_type}
  }
  irdl.operation @matmul {
    %self = irdl.base "!builtin.tensor"
    %mat2 = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    %attr_cube_math_type = irdl.base "#builtin.integer"
    irdl.operands(self: %self, mat2: %mat2)
    irdl.results(out: %r_out)
    irdl.attributes {"cube_math_type" = %attr_cube_math_type}
  }
  // out = self + alpha * other
  irdl.operation @add {
    %self = irdl.base "!builtin.tensor"
    %other = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    %attr_alpha = irdl.base "#builtin.float"
    irdl.operands(self: %self, other: %other)
    irdl.results(out: %r_out)
    irdl.attributes {"alpha" = %attr_alpha}
  }
  irdl.operation @mul {
    %self = irdl.base "!builtin.tensor"
    %other = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    irdl.operands(self: %self, other: %other)
    irdl.results(out: %r_out)
  }
  irdl.operation @relu {
    %self = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    irdl.operands(self: %self)
    irdl.results(out: %r_out)
  }
  irdl.operation @max_pool {
    %self = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    %attr_kernel_shape = irdl.base "#builtin.dense_array"
    %attr_strides = irdl.base "#builtin.dense_array"
    %attr_pads = irdl.base "#builtin.dense_array"
    %attr_dilations = irdl.base "#builtin.dense_array"
    %attr_ceil_mode = irdl.base "#builtin.integer"
    irdl.operands(self: %self)
    irdl.results(out: %r_out)
    irdl.attributes {"kernel_shape" = %attr_kernel_shape, "strides" = %attr_strides, "pads" = %attr_pads, "dilations" = %attr_dilations, "ceil_mode" = %attr_ceil_mode}
  }
  irdl.operation @avg_pool2d {
    %self = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    %attr_kernel_size = irdl.base "#builtin.dense_array"
    %attr_strides = irdl.base "#builtin.dense_array"
    %attr_paddings = irdl.base "#builtin.dense_array"
    %attr_ceil_mode = irdl.base "#builtin.integer"
    %attr_count_include_pad = irdl.base "#builtin.integer"
    %attr_divisor_override = irdl.base "#builtin.integer"
    %attr_cube_math_type = irdl.base "#builtin.integer"
    irdl.operands(self: %self)
    irdl.results(out: %r_out)
    irdl.attributes {"kernel_size" = %attr_kernel_size, "strides" = %attr_strides, "paddings" = %attr_paddings, "ceil_mode" = %attr_ceil_mode, "count_include_pad" = %attr_count_include_pad, "divisor_override" = %attr_divisor_override, "cube_math_type" = %attr_cube_math_type}
  }
  irdl.operation @softmax {
    %self = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    %attr_dim = irdl.base "#builtin.integer"
    irdl.operands(self: %self)
    irdl.results(out: %r_out)
    irdl.attributes {"dim" = %attr_dim}
  }
  // out = self - alpha * other
  irdl.operation @sub {
    %self = irdl.base "!builtin.tensor"
    %other = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    %attr_alpha = irdl.base "#builtin.float"
    irdl.operands(self: %self, other: %other)
    irdl.results(out: %r_out)
    irdl.attributes {"alpha" = %attr_alpha}
  }
  irdl.operation @div {
    %self = irdl.base "!builtin.tensor"
    %other = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    irdl.operands(self: %self, other: %other)
    irdl.results(out: %r_out)
  }
  irdl.operation @sigmoid {
    %self = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    irdl.operands(self: %self)
    irdl.results(out: %r_out)
  }
  irdl.operation @tanh {
    %self = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    irdl.operands(self: %self)
    irdl.results(out: %r_out)
  }
  irdl.operation @exp {
    %self = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    irdl.operands(self: %self)
    irdl.results(out: %r_out)
  }
  irdl.operation @sqrt {
    %self = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    irdl.operands(self: %self)
    irdl.results(out: %r_out)
  }
  // out = self for self >= 0, negative_slope * self otherwise.
  irdl.operation @leaky_relu {
    %self = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    %attr_negative_slope = irdl.base "#builtin.float"
    irdl.operands(self: %self)
    irdl.results(out: %r_out)
    irdl.attributes {"negative_slope" = %attr_negative_slope}
  }
  // aclnnGeluV2: GELU, approximate 0 the exact (erf) formula, 1 the tanh approximation.
  // (aclnnGelu is the tanh approximation only.)
  irdl.operation @gelu {
    %self = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    %attr_approximate = irdl.base "#builtin.integer"
    irdl.operands(self: %self)
    irdl.results(out: %r_out)
    irdl.attributes {"approximate" = %attr_approximate}
  }
  // out = min(max(self, min), max); aclnnClamp takes the bounds as aclScalar.
  irdl.operation @clamp {
    %self = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    %attr_min = irdl.base "#builtin.float"
    %attr_max = irdl.base "#builtin.float"
    irdl.operands(self: %self)
    irdl.results(out: %r_out)
    irdl.attributes {"min" = %attr_min, "max" = %attr_max}
  }
  // out = beta * self + alpha * (mat1 @ mat2); self broadcasts to the product.
  irdl.operation @addmm {
    %self = irdl.base "!builtin.tensor"
    %mat1 = irdl.base "!builtin.tensor"
    %mat2 = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    %attr_beta = irdl.base "#builtin.float"
    %attr_alpha = irdl.base "#builtin.float"
    %attr_cube_math_type = irdl.base "#builtin.integer"
    irdl.operands(self: %self, mat1: %mat1, mat2: %mat2)
    irdl.results(out: %r_out)
    irdl.attributes {"beta" = %attr_beta, "alpha" = %attr_alpha, "cube_math_type" = %attr_cube_math_type}
  }
  irdl.operation @adaptive_avg_pool2d {
    %self = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    %attr_output_size = irdl.base "#builtin.dense_array"
    irdl.operands(self: %self)
    irdl.results(out: %r_out)
    irdl.attributes {"output_size" = %attr_output_size}
  }
  // Normalizes over the trailing normalized_shape dims; aclnnLayerNorm's mean/rstd outputs are not requested.
  irdl.operation @layer_norm {
    %input = irdl.base "!builtin.tensor"
    %weight = irdl.base "!builtin.tensor"
    %bias = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    %attr_normalized_shape = irdl.base "#builtin.dense_array"
    %attr_eps = irdl.base "#builtin.float"
    irdl.operands(input: %input, weight: optional %weight, bias: optional %bias)
    irdl.results(out: %r_out)
    irdl.attributes {"normalized_shape" = %attr_normalized_shape, "eps" = %attr_eps}
  }
  // Inference batch normalization (training = 0) with the running statistics.
  irdl.operation @batch_norm {
    %input = irdl.base "!builtin.tensor"
    %weight = irdl.base "!builtin.tensor"
    %bias = irdl.base "!builtin.tensor"
    %running_mean = irdl.base "!builtin.tensor"
    %running_var = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    %attr_training = irdl.base "#builtin.integer"
    %attr_momentum = irdl.base "#builtin.float"
    %attr_eps = irdl.base "#builtin.float"
    irdl.operands(input: %input, weight: %weight, bias: %bias, running_mean: %running_mean, running_var: %running_var)
    irdl.results(out: %r_out)
    irdl.attributes {"training" = %attr_training, "momentum" = %attr_momentum, "eps" = %attr_eps}
  }
  irdl.operation @permute {
    %self = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    %attr_dims = irdl.base "#builtin.dense_array"
    irdl.operands(self: %self)
    irdl.results(out: %r_out)
    irdl.attributes {"dims" = %attr_dims}
  }
  irdl.operation @reduce_sum {
    %self = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    %attr_dims = irdl.base "#builtin.dense_array"
    %attr_keep_dims = irdl.base "#builtin.integer"
    irdl.operands(self: %self)
    irdl.results(out: %r_out)
    irdl.attributes {"dims" = %attr_dims, "keep_dims" = %attr_keep_dims}
  }
  irdl.operation @mean {
    %self = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    %attr_dim = irdl.base "#builtin.dense_array"
    %attr_keep_dim = irdl.base "#builtin.integer"
    irdl.operands(self: %self)
    irdl.results(out: %r_out)
    irdl.attributes {"dim" = %attr_dim, "keep_dim" = %attr_keep_dim}
  }
  // Not an aclnn call: a new tensor descriptor (the result type's shape) over the same
  // device memory, which a contiguous tensor allows.
  irdl.operation @reshape {
    %self = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    irdl.operands(self: %self)
    irdl.results(out: %r_out)
  }
  // aclnnCat over an aclTensorList: tensors_0 (required) .. tensors_15 (IRDL checks every value of one
  // variadic slot against one type; the inputs of a concatenation differ in shape).
  irdl.operation @cat {
    %tensors_0 = irdl.base "!builtin.tensor"
    %tensors_1 = irdl.base "!builtin.tensor"
    %tensors_2 = irdl.base "!builtin.tensor"
    %tensors_3 = irdl.base "!builtin.tensor"
    %tensors_4 = irdl.base "!builtin.tensor"
    %tensors_5 = irdl.base "!builtin.tensor"
    %tensors_6 = irdl.base "!builtin.tensor"
    %tensors_7 = irdl.base "!builtin.tensor"
    %tensors_8 = irdl.base "!builtin.tensor"
    %tensors_9 = irdl.base "!builtin.tensor"
    %tensors_10 = irdl.base "!builtin.tensor"
    %tensors_11 = irdl.base "!builtin.tensor"
    %tensors_12 = irdl.base "!builtin.tensor"
    %tensors_13 = irdl.base "!builtin.tensor"
    %tensors_14 = irdl.base "!builtin.tensor"
    %tensors_15 = irdl.base "!builtin.tensor"
    %r_out = irdl.base "!builtin.tensor"
    %attr_dim = irdl.base "#builtin.integer"
    irdl.operands(tensors_0: %tensors_0, tensors_1: optional %tensors_1, tensors_2: optional %tensors_2, tensors_3: optional %tensors_3, tensors_4: optional %tensors_4, tensors_5: optional %tensors_5, tensors_6: optional %tensors_6, tensors_7: optional %tensors_7, tensors_8: optional %tensors_8, tensors_9: optional %tensors_9, tensors_10: optional %tensors_10, tensors_11: optional %tensors_11, tensors_12: optional %tensors_12, tensors_13: optional %tensors_13, tensors_14: optional %tensors_14, tensors_15: optional %tensors_15)
    irdl.results(out: %r_out)
    irdl.attributes {"dim" = %attr_dim}
  }
}
