// The cann dialect: an extern dialect whose ops mirror the aclnn operator API of Huawei
// Ascend CANN, one op per aclnn entry point (aclnnConvolution -> cann.convolution). Attribute
// names are the aclnn parameter names in snake_case. Emission (Ascend issue) turns each op
// into the two-phase aclnnXxxGetWorkspaceSize / aclnnXxx call pair.
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
}
